"""Shared fixtures: a fresh REACT_HOME per test and helpers to write small shards."""

from __future__ import annotations

import os

# Offline and no telemetry, whatever the caller's environment.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "true")

import pytest  # noqa: E402

from react_assets.paths import ReactPaths  # noqa: E402
from react_assets.store import Store  # noqa: E402


@pytest.fixture
def react_paths(tmp_path) -> ReactPaths:
    return ReactPaths(tmp_path / "react-home").create()


@pytest.fixture
def store(react_paths) -> Store:
    store = Store(react_paths.duckdb)
    store.apply_schema()
    return store
