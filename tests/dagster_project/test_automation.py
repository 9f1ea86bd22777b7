"""The assets' automation conditions, evaluated by Dagster's own helper against planted events."""

from __future__ import annotations

import importlib
import time
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from dagster_project import automation
from dagster_project import private_api as private
from dagster_project.definitions import build_definitions

FRIDAY = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
SUNDAY_3AM = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)  # the default re-customization tick
DOMAIN_ASSETS = ("retrieved_pairs", "react_model", "zeroshot_eval")
CONDITIONED = ("knn_index", *DOMAIN_ASSETS, "leaderboard")


@pytest.fixture(scope="module")
def defs(tmp_path_factory) -> dg.Definitions:
    return build_definitions(str(tmp_path_factory.mktemp("automation") / "home"))


@pytest.fixture
def instance() -> dg.DagsterInstance:
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("shards", ["s0", "s1"])
    instance.add_dynamic_partitions("domains", ["birds", "pets"])
    return instance


class Ticks:
    """Successive evaluations of every condition, the cursor carried as the sensor carries it."""

    def __init__(self, defs: dg.Definitions, instance: dg.DagsterInstance) -> None:
        self.defs, self.instance, self.cursor = defs, instance, None

    def __call__(self, when: datetime) -> dict[str, set]:
        """asset name -> the partitions requested at ``when`` ({None} for an unpartitioned one)."""
        result = dg.evaluate_automation_conditions(
            defs=self.defs, instance=self.instance, cursor=self.cursor, evaluation_time=when,
            asset_selection=dg.AssetSelection.assets(*CONDITIONED))
        self.cursor = result.cursor
        return {name: set(result.get_requested_partitions(dg.AssetKey(name)))
                for name in CONDITIONED if result.get_num_requested(dg.AssetKey(name))}


@pytest.fixture
def ticks(defs, instance) -> Ticks:
    return Ticks(defs, instance)


def materialize(instance, asset: str, *partitions: str | None) -> None:
    for partition in partitions or (None,):
        instance.report_runless_asset_event(dg.AssetMaterialization(asset, partition=partition))


def start_run(defs, instance, asset: str, partition: str | None = None) -> dg.DagsterRun:
    """A run that plans ``asset`` (``partition``) and has not reached it: in progress."""
    tags = {"dagster/partition": partition} if partition else {}
    return instance.create_run_for_job(
        job_def=defs.resolve_implicit_global_asset_job_def(), tags=tags,
        asset_selection=frozenset({dg.AssetKey(asset)}), status=dg.DagsterRunStatus.STARTED)


def start_backfill(defs, instance, asset: str, partitions: list[str]) -> None:
    """An asset backfill of ``asset`` that has not launched its runs yet."""
    instance.add_backfill(private.PartitionBackfill.from_asset_partitions(
        backfill_id="upstream", asset_graph=defs.resolve_asset_graph(),
        partition_names=partitions, asset_selection=[dg.AssetKey(asset)],
        backfill_timestamp=time.time(), tags={}, dynamic_partitions_store=instance,
        all_partitions=False, title=None, description=None, run_config=None))


def built_up_to_the_index(instance) -> None:
    materialize(instance, "base_model")
    materialize(instance, "corpus_embeddings", "s0", "s1")
    materialize(instance, "knn_index")
    for asset in DOMAIN_ASSETS:
        materialize(instance, asset, "birds", "pets")
    materialize(instance, "leaderboard")


# the conditions are the assets' own --------------------------------------------------------------

def test_the_freshness_rules_are_conditions_on_the_assets_run_by_the_automation_sensor(defs):
    for name in CONDITIONED:
        condition = defs.resolve_assets_def(name).automation_conditions_by_key[dg.AssetKey(name)]
        assert condition is not None, name
    label = defs.resolve_assets_def("react_model").automation_conditions_by_key[
        dg.AssetKey("react_model")].get_label()
    assert label == "on the re-customization cron 0 3 * * 0 (UTC)"
    for name in ("corpus_shards", "corpus_embeddings", "base_model", "domain_spec"):
        key = dg.AssetKey(name)
        assert defs.resolve_assets_def(name).automation_conditions_by_key.get(key) is None, name
    repo = defs.get_repository_def()
    assert {s.name for s in repo.sensor_defs} == {
        "landing_shards_sensor", "domain_specs_sensor", "default_automation_condition_sensor"}
    assert not repo.schedule_defs
    sensor = repo.get_sensor_def("default_automation_condition_sensor")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert {k.to_user_string() for k in sensor.asset_selection.resolve(
        defs.resolve_asset_graph())} >= set(CONDITIONED)


def test_the_cron_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("REACT_RECUSTOMIZATION_CRON", "30 1 * * 6")
    try:
        reloaded = importlib.reload(automation)
        assert reloaded.RETRIEVAL_CONDITION.get_label() == (
            "on the re-customization cron 30 1 * * 6 (UTC)")
    finally:
        monkeypatch.delenv("REACT_RECUSTOMIZATION_CRON")
        importlib.reload(automation)


# the index -------------------------------------------------------------------------------------

def test_new_embeddings_request_the_index_once(instance, ticks):
    materialize(instance, "base_model")
    assert ticks(FRIDAY) == {}
    materialize(instance, "corpus_embeddings", "s0")
    assert ticks(FRIDAY + timedelta(minutes=1)) == {"knn_index": {None}}
    assert ticks(FRIDAY + timedelta(minutes=2)) == {}  # requested already: not twice
    materialize(instance, "knn_index")
    assert ticks(FRIDAY + timedelta(minutes=3)) == {}
    materialize(instance, "corpus_embeddings", "s1")
    assert ticks(FRIDAY + timedelta(minutes=4)) == {"knn_index": {None}}


def test_an_embedding_that_lands_while_the_requested_index_builds_is_not_forgotten(
        instance, ticks):
    materialize(instance, "base_model")
    ticks(FRIDAY)
    materialize(instance, "corpus_embeddings", "s0")
    assert ticks(FRIDAY + timedelta(minutes=1)) == {"knn_index": {None}}
    assert ticks(FRIDAY + timedelta(minutes=2)) == {}
    materialize(instance, "corpus_embeddings", "s1")  # while the requested index run goes

    @dg.asset(name="knn_index")
    def index_stand_in() -> None:
        """The index the automation sensor asked for, done after s1 landed."""

    dg.materialize([index_stand_in], instance=instance,
                   tags={automation.AUTOMATION_RUN_TAG: "true"})
    assert ticks(FRIDAY + timedelta(minutes=3)) == {"knn_index": {None}}


def test_nothing_is_requested_before_a_base_model_exists(instance, ticks):
    ticks(FRIDAY)
    materialize(instance, "corpus_embeddings", "s0")
    materialize(instance, "zeroshot_eval", "pets")
    assert ticks(FRIDAY + timedelta(minutes=1)) == {}
    assert ticks(SUNDAY_3AM) == {}
    materialize(instance, "base_model")  # the embeddings seen earlier still count
    assert ticks(SUNDAY_3AM + timedelta(minutes=1)) == {"knn_index": {None}}


def test_an_embedding_run_in_flight_holds_the_index_back(defs, instance, ticks):
    materialize(instance, "base_model")
    ticks(FRIDAY)
    run = start_run(defs, instance, "corpus_embeddings", "s1")
    materialize(instance, "corpus_embeddings", "s0")
    assert ticks(FRIDAY + timedelta(minutes=1)) == {}
    instance.report_run_failed(run)
    assert ticks(FRIDAY + timedelta(minutes=2)) == {"knn_index": {None}}


@pytest.mark.parametrize("backfilling", [True, False])
def test_a_backfill_upstream_of_the_index_holds_it_back(defs, instance, ticks, backfilling):
    materialize(instance, "base_model")
    ticks(FRIDAY)
    if backfilling:
        start_backfill(defs, instance, "corpus_shards", ["s0", "s1"])  # two levels up
    materialize(instance, "corpus_embeddings", "s0")
    assert ticks(FRIDAY + timedelta(minutes=1)) == ({} if backfilling else {"knn_index": {None}})


def test_an_index_run_in_flight_is_not_launched_again(defs, instance, ticks):
    materialize(instance, "base_model")
    ticks(FRIDAY)
    start_run(defs, instance, "knn_index")
    materialize(instance, "corpus_embeddings", "s0")
    assert ticks(FRIDAY + timedelta(minutes=1)) == {}


# the domains, on the re-customization cron --------------------------------------------------------

def test_changed_inputs_recustomize_the_domain_at_the_cron_tick_not_before(instance, ticks):
    built_up_to_the_index(instance)
    ticks(FRIDAY)
    materialize(instance, "domain_spec", "pets")  # pets' spec changed on Friday
    assert ticks(FRIDAY + timedelta(hours=1)) == {}
    assert ticks(SUNDAY_3AM - timedelta(minutes=1)) == {}
    requested = ticks(SUNDAY_3AM + timedelta(seconds=30))
    assert requested == {name: {"pets"} for name in DOMAIN_ASSETS}  # birds did not change
    assert ticks(SUNDAY_3AM + timedelta(minutes=1)) == {}


def test_a_new_index_recustomizes_every_domain_at_the_tick(instance, ticks):
    built_up_to_the_index(instance)
    ticks(FRIDAY)
    materialize(instance, "knn_index")
    assert ticks(SUNDAY_3AM + timedelta(seconds=30)) == {
        name: {"birds", "pets"} for name in DOMAIN_ASSETS}


def test_an_unchanged_domain_waits_for_the_next_tick_after_a_later_change(instance, ticks):
    built_up_to_the_index(instance)
    ticks(FRIDAY)
    assert ticks(SUNDAY_3AM + timedelta(seconds=30)) == {}  # nothing changed at the tick
    materialize(instance, "domain_spec", "pets")  # Monday
    assert ticks(SUNDAY_3AM + timedelta(days=1)) == {}
    assert ticks(SUNDAY_3AM + timedelta(days=7, seconds=30)) == {
        name: {"pets"} for name in DOMAIN_ASSETS}


def test_without_an_index_no_domain_is_customized(instance, ticks):
    materialize(instance, "base_model")
    materialize(instance, "domain_spec", "pets")
    ticks(FRIDAY)
    assert ticks(SUNDAY_3AM + timedelta(seconds=30)) == {}


def test_a_missing_domain_is_customized_at_the_tick(instance, ticks):
    materialize(instance, "base_model")
    materialize(instance, "knn_index")
    ticks(FRIDAY)
    assert ticks(SUNDAY_3AM + timedelta(seconds=30)) == {
        name: {"birds", "pets"} for name in DOMAIN_ASSETS}


def test_an_index_rebuild_in_flight_at_the_tick_is_waited_for(defs, instance, ticks):
    built_up_to_the_index(instance)
    ticks(FRIDAY)
    run = start_run(defs, instance, "knn_index")
    assert ticks(SUNDAY_3AM + timedelta(seconds=30)) == {}
    materialize(instance, "knn_index")  # the rebuild ends: the index is newer than the domains
    instance.delete_run(run.run_id)
    assert ticks(SUNDAY_3AM + timedelta(minutes=40)) == {
        name: {"birds", "pets"} for name in DOMAIN_ASSETS}


@pytest.mark.parametrize("backfilling", [True, False])
def test_a_backfill_of_embeddings_holds_the_domains_back(defs, instance, ticks, backfilling):
    built_up_to_the_index(instance)
    ticks(FRIDAY)
    materialize(instance, "knn_index")
    if backfilling:
        start_backfill(defs, instance, "corpus_embeddings", ["s0"])
    requested = ticks(SUNDAY_3AM + timedelta(seconds=30))
    assert requested == ({} if backfilling else {name: {"birds", "pets"} for name in DOMAIN_ASSETS})


def test_a_domain_run_in_flight_is_not_launched_again(defs, instance, ticks):
    built_up_to_the_index(instance)
    ticks(FRIDAY)
    materialize(instance, "domain_spec", "pets", "birds")
    start_run(defs, instance, "retrieved_pairs", "pets")
    requested = ticks(SUNDAY_3AM + timedelta(seconds=30))
    assert requested["retrieved_pairs"] == {"birds"}


# the leaderboard ---------------------------------------------------------------------------------

def test_new_evaluations_refresh_the_leaderboard_once_no_domain_run_is_going(defs, instance, ticks):
    built_up_to_the_index(instance)
    ticks(FRIDAY)
    run = start_run(defs, instance, "react_model", "birds")
    materialize(instance, "zeroshot_eval", "pets")
    assert ticks(FRIDAY + timedelta(minutes=1)) == {}  # birds is still being customized
    instance.report_run_failed(run)
    assert ticks(FRIDAY + timedelta(minutes=2)) == {"leaderboard": {None}}
    assert ticks(FRIDAY + timedelta(minutes=3)) == {}


def test_the_definitions_wire_every_check_and_job(defs):
    repo = defs.get_repository_def()
    assert {"shard_ingest_job", "landing_cleanup_job", "domain_spec_job", "index_job",
            "domain_job", "leaderboard_job"} <= {job.name for job in repo.get_all_jobs()}
    check_names = {key.name for key in defs.resolve_asset_graph().asset_check_keys}
    assert check_names == {"pair_ids_unique_and_attached", "shard_has_pairs",
                           "embeddings_unit_norm_and_aligned",
                           "recall_meets_target", "min_pairs_per_class", "no_evaluation_images",
                           "customized_not_worse_than_base", "champion_by_evidence"}
