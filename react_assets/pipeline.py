"""Glue between the stages: which base model is current, and where its outputs live."""

from __future__ import annotations

import json
import re

from react_assets.models.factory import BaseModelConfig, ClipBundle, create_base_model
from react_assets.store import Store


def model_folder_name(model_id: str) -> str:
    """A file-system-safe folder name for a model id (``react-mini-clip@sha256:ab12``)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", model_id)


def current_base_config(store: Store) -> BaseModelConfig:
    """The config of the most recently registered base model."""
    rows = store.fetch("select_latest_base_model")
    if not rows:
        raise LookupError("no base model is registered: materialize base_model first")
    return BaseModelConfig(**json.loads(rows[0]["config"]))


def load_base_bundle(store: Store) -> ClipBundle:
    """Build the current base model (frozen, eval mode) with its transforms and tokenizer."""
    return create_base_model(current_base_config(store))
