"""Glue between the stages: which base model is current, and where its outputs live."""

from __future__ import annotations

import json
from dataclasses import dataclass

from react_assets.metadata import Store
from react_assets.metadata.sql import select_latest_base_model
from react_assets.models.factory import BaseModelConfig, ClipBundle, create_base_model


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
    return BaseModelRecord(row["model_id"], BaseModelConfig(**json.loads(row["config"])),
                           row["mlflow_run_id"], row["mlflow_model_uri"])


def load_base_bundle(store: Store) -> ClipBundle:
    """Build the current base model (frozen, eval mode) with its transforms and tokenizer."""
    return create_base_model(current_base(store).config)
