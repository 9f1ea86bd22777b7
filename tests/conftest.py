"""Shared fixtures: a fresh REACT_HOME per test and helpers to write small shards."""

from __future__ import annotations

import pytest

import dagster_project  # noqa: F401  (first: sets the offline environment, dagster_project/offline.env)
from react_assets.files.paths import ReactPaths
from react_assets.metadata import Store, open_store


@pytest.fixture
def react_paths(tmp_path) -> ReactPaths:
    return ReactPaths(tmp_path / "react-home").create()


@pytest.fixture
def store(react_paths) -> Store:
    store = open_store(react_paths.root)
    store.apply_schema()
    return store
