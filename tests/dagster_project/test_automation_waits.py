"""The automation conditions wait for whole backfills: an embedding backfill of ten shards with
three done holds the index and the domains back, whether it was launched from the asset graph
(an asset backfill) or from embedding_job's page (a job backfill, which Dagster's own
``in_progress`` does not see); once it is done the index is rebuilt, and the domains are
re-customized after that rebuild, not beside it. Evaluated by Dagster's own helper."""

from __future__ import annotations

import time
from datetime import timedelta

import dagster as dg
import pytest
from test_automation import DOMAIN_ASSETS, FRIDAY, SUNDAY_3AM, Ticks, built_up_to_the_index, materialize

from dagster_project import automation
from dagster_project import private_api as private
from dagster_project.definitions import build_definitions

SHARDS = [f"s{i}" for i in range(10)]
DONE = SHARDS[:3]
BACKFILL_ID = "embeddings"


@pytest.fixture(scope="module")
def defs(tmp_path_factory) -> dg.Definitions:
    return build_definitions(str(tmp_path_factory.mktemp("automation-waits") / "home"))


@pytest.fixture
def instance() -> dg.DagsterInstance:
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("shards", SHARDS)
    instance.add_dynamic_partitions("domains", ["birds", "pets"])
    return instance


def asset_backfill(defs, instance, asset: str, partitions: list[str]) -> None:
    """An asset backfill of ``asset`` (the asset graph's Materialize dialog)."""
    instance.add_backfill(private.PartitionBackfill.from_asset_partitions(
        backfill_id=BACKFILL_ID, asset_graph=defs.resolve_asset_graph(),
        partition_names=partitions, asset_selection=[dg.AssetKey(asset)],
        backfill_timestamp=time.time(), tags={}, dynamic_partitions_store=instance,
        all_partitions=False, title=None, description=None, run_config=None))


def job_backfill(instance, job: str, partitions: list[str], done: list[str]) -> None:
    """A backfill of ``job`` (its page's Launch backfill) that has submitted the runs of ``done``
    so far: chunk by chunk, the rest not yet."""
    origin = private.RemotePartitionSetOrigin(
        repository_origin=private.RemoteRepositoryOrigin(
            code_location_origin=private.RegisteredCodeLocationOrigin("react"),
            repository_name="__repository__"),
        partition_set_name=f"{job}_partition_set")
    instance.add_backfill(private.PartitionBackfill(
        backfill_id=BACKFILL_ID, partition_set_origin=origin,
        status=private.BulkActionStatus.REQUESTED, partition_names=partitions,
        from_failure=False, reexecution_steps=None, tags={}, backfill_timestamp=time.time(),
        last_submitted_partition_name=done[-1] if done else None))


def start_embedding_backfill(defs, instance, kind: str) -> None:
    """Ten shards' embeddings backfilled, three of them done."""
    if kind == "asset":
        asset_backfill(defs, instance, "corpus_embeddings", SHARDS)
    else:
        job_backfill(instance, "embedding_job", SHARDS, DONE)
    materialize(instance, "corpus_embeddings", *DONE)


def finish_backfill(instance) -> None:
    """The backfill's other shards are built and it ends."""
    materialize(instance, "corpus_embeddings", *SHARDS[len(DONE):])
    backfill = instance.get_backfill(BACKFILL_ID)
    instance.update_backfill(backfill.with_status(private.BulkActionStatus.COMPLETED_SUCCESS))


def build_index_as_requested(instance) -> None:
    """The index run the automation sensor asked for."""

    @dg.asset(name="knn_index")
    def index_stand_in() -> None:
        """The requested index, built from every shard."""

    dg.materialize([index_stand_in], instance=instance,
                   tags={automation.AUTOMATION_RUN_TAG: "true"})


@pytest.mark.parametrize("kind", ["asset", "job"])
def test_the_index_waits_for_the_whole_embedding_backfill(defs, instance, kind):
    ticks = Ticks(defs, instance)
    materialize(instance, "base_model")
    ticks(FRIDAY)
    start_embedding_backfill(defs, instance, kind)
    assert ticks(FRIDAY + timedelta(minutes=1)) == {}  # 3 of 10 shards: not yet
    materialize(instance, "corpus_embeddings", *SHARDS[3:9])
    assert ticks(FRIDAY + timedelta(minutes=2)) == {}  # 9 of 10: not yet either
    finish_backfill(instance)
    assert ticks(FRIDAY + timedelta(minutes=3)) == {"knn_index": {None}}
    assert ticks(FRIDAY + timedelta(minutes=4)) == {}


@pytest.mark.parametrize("kind", ["asset", "job"])
def test_the_domains_wait_for_the_backfill_then_for_the_index_it_feeds(defs, instance, kind):
    ticks = Ticks(defs, instance)
    built_up_to_the_index(instance)
    ticks(FRIDAY)
    materialize(instance, "knn_index")  # rebuilt on Friday: the domains are due at the tick
    start_embedding_backfill(defs, instance, kind)
    assert ticks(SUNDAY_3AM + timedelta(seconds=30)) == {}  # the backfill goes on at the tick
    assert ticks(SUNDAY_3AM + timedelta(minutes=10)) == {}
    finish_backfill(instance)
    # the index is rebuilt from every shard first; the domains do not retrieve from the old one
    assert ticks(SUNDAY_3AM + timedelta(minutes=20)) == {"knn_index": {None}}
    build_index_as_requested(instance)
    assert ticks(SUNDAY_3AM + timedelta(minutes=30)) == {
        name: {"birds", "pets"} for name in DOMAIN_ASSETS}
    assert ticks(SUNDAY_3AM + timedelta(minutes=40)) == {}


def test_a_finished_job_backfill_holds_nothing(defs, instance):
    ticks = Ticks(defs, instance)
    materialize(instance, "base_model")
    ticks(FRIDAY)
    start_embedding_backfill(defs, instance, "job")
    backfill = instance.get_backfill(BACKFILL_ID)
    instance.update_backfill(backfill.with_status(private.BulkActionStatus.COMPLETED_FAILED))
    assert ticks(FRIDAY + timedelta(minutes=1)) == {"knn_index": {None}}


def test_a_job_backfill_of_another_asset_holds_nothing(defs, instance):
    ticks = Ticks(defs, instance)
    materialize(instance, "base_model")
    ticks(FRIDAY)
    job_backfill(instance, "domain_job", ["birds"], [])  # downstream of the index
    materialize(instance, "corpus_embeddings", *DONE)
    assert ticks(FRIDAY + timedelta(minutes=1)) == {"knn_index": {None}}
