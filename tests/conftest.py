"""Shared fixtures: a fresh REACT_HOME per test, the tiny world built once per session (and copies
of it for tests that write), one torch thread; and the durations file of every run (durations.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from durations import DurationsRecorder, durations_path
from tiny_world import TINY_BASE, TinyWorld, build_tiny_world, copy_tiny_world

import dagster_project  # noqa: F401  (first: sets the offline environment, dagster_project/offline.env)
from react_assets.files.paths import ReactPaths
from react_assets.metadata import Store, open_store


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(DurationsRecorder(durations_path()), "react-durations")


@pytest.fixture
def react_paths(tmp_path) -> ReactPaths:
    return ReactPaths(tmp_path / "react-home").create()


@pytest.fixture
def store(react_paths) -> Store:
    store = open_store(react_paths.root)
    store.apply_schema()
    return store


@pytest.fixture(scope="module")
def one_torch_thread() -> Iterator[None]:
    """One intra-op torch thread for a module's tests: fast and stable on a small shared CPU, and
    bit-reproducible (use with ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``)."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def tiny_world(tmp_path_factory) -> TinyWorld:
    """The tiny demo world, every stage materialized in-process once per session. Read it only: a
    test that materializes or writes anything takes ``tiny_world_copy``."""
    from react_assets.demo.config import DemoSourcePaths

    missing = DemoSourcePaths().missing()
    if missing:
        pytest.skip(f"demo world sources not installed: {missing}")
    return build_tiny_world(tmp_path_factory.mktemp("tiny-world") / "react-home")


@pytest.fixture
def tiny_world_copy(tiny_world, tmp_path) -> TinyWorld:
    """A copy of the session's tiny world (home, metadata, MLflow, Dagster instance) of this
    test's own."""
    return copy_tiny_world(tiny_world, Path(tmp_path) / "react-home")


@pytest.fixture(scope="session")
def tiny_base():
    """The randomly initialised ``react-tiny`` base model (tiny_world.TINY_BASE), created once per
    session. Read it only: a test that trains or customizes it takes ``copy.deepcopy`` of it."""
    from react_assets.models.factory import create_base_model

    return create_base_model(TINY_BASE)
