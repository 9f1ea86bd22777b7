"""Glue between the stages: which base model is current, and where its outputs live."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

from react_assets.files.paths import ReactPaths
from react_assets.metadata import Store
from react_assets.metadata.sql import select_latest_base_model
from react_assets.models.factory import (
    CHECKPOINT_SUFFIXES,
    LOCAL_DIR_PREFIX,
    BaseModelConfig,
    ClipBundle,
    create_base_model,
)


@dataclass(frozen=True)
class BaseModelRecord:
    """The registered base model: its id, how to rebuild it, and its MLflow run."""

    model_id: str
    config: BaseModelConfig
    mlflow_run_id: str | None
    mlflow_model_uri: str | None


def current_base(store: Store) -> BaseModelRecord:
    """The most recently registered base model."""
    rows = store.fetch(select_latest_base_model)
    if not rows:
        raise LookupError("no base model is registered: materialize base_model first")
    row = rows[0]
    config = resolved_base_config(BaseModelConfig(**json.loads(row["config"])), store.home)
    return BaseModelRecord(row["model_id"], config, row["mlflow_run_id"], row["mlflow_model_uri"])


def load_base_bundle(store: Store) -> ClipBundle:
    """Build the current base model (frozen, eval mode) with its transforms and tokenizer."""
    return create_base_model(current_base(store).config)


def model_location(value: str | None, file: bool) -> tuple[str, str] | None:
    """(prefix, path) of a model location that names a folder (``local-dir:/path``) or, with
    ``file``, a checkpoint file (as the factory tells one from a hub tag); None for an
    architecture name, a hub tag or no value."""
    if value is None:
        return None
    if value.startswith(LOCAL_DIR_PREFIX):
        return LOCAL_DIR_PREFIX, value[len(LOCAL_DIR_PREFIX):]
    if file and (Path(value).suffix in CHECKPOINT_SUFFIXES or "/" in value):
        return "", value
    return None


def stored_location(value: str | None, home: ReactPaths, *, file: bool = False) -> str | None:
    """A model's ``arch`` (``file`` False) or ``pretrained`` (``file`` True) as the metadata
    stores it: a folder or file under ``home`` relative to its root, anything else unchanged."""
    found = model_location(value, file)
    return value if found is None else found[0] + home.relative(found[1])


def resolved_location(value: str | None, home: ReactPaths, *, file: bool = False) -> str | None:
    """A stored ``arch`` or ``pretrained`` (:func:`stored_location`) made usable again: a
    home-relative folder or file becomes its absolute path under ``home``."""
    found = model_location(value, file)
    return value if found is None else found[0] + str(home.resolve(found[1]))


def stored_base_config(config: BaseModelConfig, home: ReactPaths) -> BaseModelConfig:
    """``config`` with its local weights under ``home`` named relative to it (for the metadata)."""
    return replace(config, arch=stored_location(config.arch, home),
                   pretrained=stored_location(config.pretrained, home, file=True))


def resolved_base_config(config: BaseModelConfig, home: ReactPaths) -> BaseModelConfig:
    """A stored ``config`` (:func:`stored_base_config`) with its weights' absolute paths."""
    return replace(config, arch=resolved_location(config.arch, home),
                   pretrained=resolved_location(config.pretrained, home, file=True))
