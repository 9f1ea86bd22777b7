"""A Dagster test instance per module, emptied before each test that asks for ``instance``; a new
REACT_HOME (``home``) and the project's definitions over it (``defs``)."""

from __future__ import annotations

import dagster as dg
import pytest

from dagster_project.definitions import build_definitions
from dagster_project.partitions import domain_partitions, shard_partitions
from react_assets.files.paths import ReactPaths


@pytest.fixture(scope="module")
def shared_instance():
    with dg.instance_for_test() as instance:
        yield instance


@pytest.fixture
def instance(shared_instance):
    """The module's instance, emptied: no runs, events or partitions from an earlier test."""
    shared_instance.wipe()
    for name in (shard_partitions.name, domain_partitions.name):
        for key in shared_instance.get_dynamic_partitions(name):
            shared_instance.delete_dynamic_partition(name, key)
    return shared_instance


@pytest.fixture
def home(tmp_path) -> ReactPaths:
    return ReactPaths(tmp_path / "home").create()


@pytest.fixture
def defs(home) -> dg.Definitions:
    return build_definitions(str(home.root))
