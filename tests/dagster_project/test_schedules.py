"""The weekly re-customization picks the right domains from planted materialization order."""

import importlib
from datetime import UTC, datetime

import dagster as dg
import pytest

from dagster_project import schedules, sensors
from dagster_project.assets.customization import ReactModelConfig
from dagster_project.configs import library_config
from dagster_project.partitions import domain_partitions
from react_assets.customize.recipe import CustomizationRecipe

SUNDAY_3AM = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)


@pytest.fixture
def instance(instance):
    """The emptied instance with four registered domains."""
    instance.add_dynamic_partitions(domain_partitions.name, ["birds", "digits", "emoji", "fashion"])
    return instance


def materialize(instance, asset: str, partition: str | None = None) -> None:
    instance.report_runless_asset_event(dg.AssetMaterialization(asset, partition=partition))


def evaluate(schedule, instance):
    return schedule(dg.build_schedule_context(instance=instance,
                                              scheduled_execution_time=SUNDAY_3AM))


def test_domains_older_than_the_index_or_never_retrieved_are_recustomized(instance):
    materialize(instance, "corpus_embeddings", "shard-0")
    materialize(instance, "retrieved_pairs", "digits")   # before the index: stale
    materialize(instance, "retrieved_pairs", "birds")
    materialize(instance, "knn_index")
    materialize(instance, "retrieved_pairs", "fashion")  # after the index: fresh
    materialize(instance, "retrieved_pairs", "birds")    # re-retrieved since: fresh
    requests = evaluate(schedules.weekly_recustomization, instance)
    assert [r.partition_key for r in requests] == ["digits", "emoji"]  # emoji: never retrieved
    assert len({r.run_key for r in requests}) == 2
    assert all(r.tags[schedules.RECUSTOMIZE_TAG] == "true" for r in requests)
    ops = requests[0].run_config["ops"]
    assert set(ops) == {"retrieved_pairs", "react_model", "zeroshot_eval"}
    # retrieval settings left to each domain's spec (else the official defaults)
    assert ops["retrieved_pairs"]["config"].get("k_per_query") is None
    # the recipe is the library's: the launchpad fields stay empty and take its defaults
    recipe = library_config(ReactModelConfig(**ops["react_model"]["config"]), CustomizationRecipe())
    assert ops["react_model"]["config"].get("lr") is None and recipe == CustomizationRecipe()
    assert isinstance(evaluate(schedules.weekly_index_refresh, instance), dg.SkipReason)


def test_nothing_is_recustomized_when_every_domain_is_fresh(instance):
    materialize(instance, "knn_index")
    for domain in ("birds", "digits", "emoji", "fashion"):
        materialize(instance, "retrieved_pairs", domain)
    skip = evaluate(schedules.weekly_recustomization, instance)
    assert skip.skip_message == "every domain's retrieval is at least as new as knn_index"


def test_nothing_is_requested_before_any_index_exists(instance):
    assert schedules.stale_domains(instance) == []
    assert isinstance(evaluate(schedules.weekly_recustomization, instance), dg.SkipReason)


def test_a_stale_index_is_rebuilt_first_and_the_domains_follow_its_success(instance):
    materialize(instance, "knn_index")
    materialize(instance, "retrieved_pairs", "fashion")
    materialize(instance, "corpus_embeddings", "shard-9")  # a new shard since the index
    assert "older than corpus_embeddings" in evaluate(
        schedules.weekly_recustomization, instance).skip_message
    index_request = evaluate(schedules.weekly_index_refresh, instance)
    assert index_request.tags == {schedules.RECUSTOMIZE_TAG: "true"}

    # the tagged index run succeeds: the new index makes every domain stale
    @dg.op
    def rebuild(context: dg.OpExecutionContext) -> None:
        context.log_event(dg.AssetMaterialization("knn_index"))

    @dg.job(name="index_job")
    def index_stand_in() -> None:
        rebuild()

    for tags, expected in (({}, None), (index_request.tags, ["birds", "digits", "emoji",
                                                             "fashion"])):
        run = index_stand_in.execute_in_process(instance=instance, tags=tags)
        context = dg.build_run_status_sensor_context(
            sensor_name="recustomize_after_index_sensor",
            dagster_event=run.get_run_success_event(), dagster_instance=instance,
            dagster_run=instance.get_run_by_id(run.run_id))
        result = sensors.recustomize_after_index_sensor(context)
        if expected is None:  # an index rebuilt by the freshness sensor does not re-customize
            assert isinstance(result, dg.SkipReason)
        else:
            assert [r.partition_key for r in result] == expected


def test_the_cron_is_weekly_by_default_and_configurable(monkeypatch):
    assert schedules.weekly_recustomization.cron_schedule == "0 3 * * 0"
    assert schedules.weekly_recustomization.default_status == dg.DefaultScheduleStatus.RUNNING
    assert schedules.weekly_recustomization.job_name == "domain_job"
    assert schedules.weekly_index_refresh.job_name == "index_job"
    monkeypatch.setenv("REACT_RECUSTOMIZATION_CRON", "30 1 * * 6")
    try:
        reloaded = importlib.reload(schedules)
        assert reloaded.weekly_recustomization.cron_schedule == "30 1 * * 6"
        assert reloaded.weekly_index_refresh.cron_schedule == "30 1 * * 6"
    finally:
        monkeypatch.delenv("REACT_RECUSTOMIZATION_CRON")
        importlib.reload(schedules)


def test_the_definitions_wire_every_check_sensor_and_schedule(tmp_path):
    from dagster_project.definitions import build_definitions

    defs = build_definitions(str(tmp_path / "home"))
    repo = defs.get_repository_def()
    assert {s.name for s in repo.sensor_defs} == {
        "landing_shards_sensor", "domain_specs_sensor", "index_freshness_sensor",
        "leaderboard_freshness_sensor", "recustomize_after_index_sensor"}
    assert {s.name for s in repo.schedule_defs} == {"weekly_recustomization",
                                                      "weekly_index_refresh"}
    assert repo.has_job("shard_ingest_job")
    check_names = {key.name for key in defs.resolve_asset_graph().asset_check_keys}
    assert check_names == {"pair_ids_unique_and_attached", "shard_has_pairs",
                           "embeddings_unit_norm_and_aligned",
                           "recall_meets_target", "min_pairs_per_class", "no_evaluation_images",
                           "customized_not_worse_than_base"}
