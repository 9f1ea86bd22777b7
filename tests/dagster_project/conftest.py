"""A Dagster test instance per module, emptied before each test that asks for ``instance``."""

from __future__ import annotations

import dagster as dg
import pytest

from dagster_project.partitions import domain_partitions, shard_partitions


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
