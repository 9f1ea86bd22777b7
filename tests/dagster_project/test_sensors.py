"""Sensors evaluated in-process against a test instance and a temporary REACT_HOME."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import dagster as dg
import pytest
from react_assets.sql import select_domain

from dagster_project import sensors
from dagster_project.partitions import shard_partitions
from dagster_project.resources import ReactHomeResource
from react_assets.paths import ReactPaths
from react_assets.store import Store

GOOD_SPEC = """domains:
  - name: {name}
    classes: [cat, dog]
    templates: ['a photo of a {{}}.']
"""


@pytest.fixture
def home(tmp_path) -> ReactPaths:
    return ReactPaths(tmp_path / "home").create()


def tick(sensor, instance, home: ReactPaths, cursor: str | None = None) -> dg.SensorResult:
    context = dg.build_sensor_context(
        instance=instance, cursor=cursor,
        resources={"react_home": ReactHomeResource(root=str(home.root))})
    result = sensor(context)
    assert isinstance(result, dg.SensorResult)
    return result


def apply_partitions(instance, result: dg.SensorResult) -> None:
    """What the sensor daemon does with the tick's dynamic partition requests."""
    for request in result.dynamic_partitions_requests or []:
        instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))


def land(home: ReactPaths, name: str, age_s: float, parquet: bool = True) -> Path:
    tar = home.landing / f"{name}.tar"
    tar.write_bytes(b"tar bytes of " + name.encode())
    files = [tar]
    if parquet:
        files.append(tar.with_suffix(".parquet"))
        files[-1].write_bytes(b"PAR1")
    stamp = time.time() - age_s
    for path in files:
        os.utime(path, (stamp, stamp))
    return tar


# landing_shards_sensor ---------------------------------------------------------------------------

def test_a_settled_shard_is_moved_registered_and_requested_once(instance, home):
    land(home, "shard-00042", age_s=600)
    first = tick(sensors.landing_shards_sensor, instance, home)
    assert [r.partition_key for r in first.run_requests] == ["shard-00042"]
    assert [list(r.partition_keys) for r in first.dynamic_partitions_requests] == [["shard-00042"]]
    assert (home.shards / "shard-00042.tar").read_bytes() == b"tar bytes of shard-00042"
    assert (home.shards / "shard-00042.parquet").read_bytes() == b"PAR1"
    assert list(home.landing.iterdir()) == []
    apply_partitions(instance, first)
    assert instance.has_dynamic_partition(shard_partitions.name, "shard-00042")

    second = tick(sensors.landing_shards_sensor, instance, home, first.cursor)
    assert not second.run_requests
    assert second.skip_reason.skip_message == "no new shard"


def test_a_shard_still_being_written_waits_until_it_stops_changing(instance, home):
    tar = land(home, "shard-00007", age_s=0, parquet=False)
    first = tick(sensors.landing_shards_sensor, instance, home)
    assert not first.run_requests
    assert "1 landed shard(s) still changing" in first.skip_reason.skip_message
    assert tar.exists()

    with tar.open("ab") as handle:  # the writer appended more bytes since the last tick
        handle.write(b"more")
    second = tick(sensors.landing_shards_sensor, instance, home, first.cursor)
    assert not second.run_requests and tar.exists()

    third = tick(sensors.landing_shards_sensor, instance, home, second.cursor)  # unchanged now
    assert [r.partition_key for r in third.run_requests] == ["shard-00007"]
    assert (home.shards / "shard-00007.tar").exists() and not tar.exists()


def test_a_known_shard_landing_again_is_re_ingested_without_a_new_partition(instance, home):
    instance.add_dynamic_partitions(shard_partitions.name, ["shard-00001"])
    land(home, "shard-00001", age_s=600)
    result = tick(sensors.landing_shards_sensor, instance, home)
    assert [r.partition_key for r in result.run_requests] == ["shard-00001"]
    assert not result.dynamic_partitions_requests


def test_a_shard_with_an_unusable_name_stays_in_landing(instance, home):
    land(home, "bad name", age_s=600)
    result = tick(sensors.landing_shards_sensor, instance, home)
    assert not result.run_requests
    assert "'bad name' must match" in result.skip_reason.skip_message
    assert (home.landing / "bad name.tar").exists()


def test_a_shard_that_cannot_be_moved_stays_and_the_others_go_ahead(instance, home):
    (home.shards / "shard-00002.tar" / "occupied").mkdir(parents=True)  # rename target is a folder
    land(home, "shard-00002", age_s=600, parquet=False)
    land(home, "shard-00003", age_s=600)
    result = tick(sensors.landing_shards_sensor, instance, home)
    assert [r.partition_key for r in result.run_requests] == ["shard-00003"]
    assert (home.landing / "shard-00002.tar").exists()
    assert (home.shards / "shard-00003.tar").exists()


def test_the_landing_job_ingests_and_embeds_one_partition():
    assert sensors.landing_shards_sensor.job_name == "shard_ingest_job"
    assert sensors.shard_ingest_job.partitions_def == shard_partitions


# domain_specs_sensor -----------------------------------------------------------------------------

def write_spec(home: ReactPaths, filename: str, text: str) -> Path:
    spec = home.domains / "incoming" / filename
    spec.parent.mkdir(parents=True, exist_ok=True)
    spec.write_text(text)
    return spec


def test_a_new_spec_registers_its_domain_and_waits_for_an_index(instance, home):
    write_spec(home, "pets.yaml", GOOD_SPEC.format(name="pets"))
    result = tick(sensors.domain_specs_sensor, instance, home)
    assert not result.run_requests
    assert result.skip_reason.skip_message == "registered pets"
    assert [list(r.partition_keys) for r in result.dynamic_partitions_requests] == [["pets"]]
    rows = Store(home.duckdb).fetch(select_domain, {"domain": "pets"})
    assert rows[0]["n_classes"] == 2


def test_a_new_spec_requests_a_domain_run_once_an_index_exists(instance, home):
    instance.report_runless_asset_event(dg.AssetMaterialization("knn_index"))
    write_spec(home, "pets.json", json.dumps({"domains": [{
        "name": "pets", "classes": ["cat"], "templates": ["a {}."]}]}))
    first = tick(sensors.domain_specs_sensor, instance, home)
    assert [r.partition_key for r in first.run_requests] == ["pets"]
    apply_partitions(instance, first)
    second = tick(sensors.domain_specs_sensor, instance, home, first.cursor)
    assert not second.run_requests
    assert second.skip_reason.skip_message == "no new domain spec"


def test_a_bad_spec_is_reported_once_and_does_not_stop_a_good_one(instance, home):
    instance.report_runless_asset_event(dg.AssetMaterialization("knn_index"))
    write_spec(home, "broken.yaml", "domains:\n  - name: Bad Name\n    classes: [a]\n"
                                    "    templates: ['{}']\n")
    first = tick(sensors.domain_specs_sensor, instance, home)
    assert not first.run_requests
    message = first.skip_reason.skip_message
    assert "broken.yaml: domains[0]: name 'Bad Name' must match" in message
    assert Store(home.duckdb).fetch(select_domain, {"domain": "Bad Name"}) == []

    write_spec(home, "pets.yaml", GOOD_SPEC.format(name="pets"))
    second = tick(sensors.domain_specs_sensor, instance, home, first.cursor)
    assert [r.partition_key for r in second.run_requests] == ["pets"]  # broken one not re-read

    write_spec(home, "broken.yaml", GOOD_SPEC.format(name="birds"))  # fixed: digest changed
    third = tick(sensors.domain_specs_sensor, instance, home, second.cursor)
    assert [r.partition_key for r in third.run_requests] == ["birds"]


# freshness sensors -------------------------------------------------------------------------------

def materialize(instance, asset: str, partition: str | None = None) -> None:
    instance.report_runless_asset_event(dg.AssetMaterialization(asset, partition=partition))


def freshness_tick(sensor, instance):
    return sensor(dg.build_sensor_context(instance=instance))


def test_index_is_rebuilt_when_embeddings_are_newer(instance):
    materialize(instance, "corpus_embeddings", "shard-0")
    assert isinstance(freshness_tick(sensors.index_freshness_sensor, instance), dg.RunRequest)
    materialize(instance, "knn_index")
    skip = freshness_tick(sensors.index_freshness_sensor, instance)
    assert skip.skip_message == "knn_index is at least as new as corpus_embeddings"
    materialize(instance, "corpus_embeddings", "shard-1")
    request = freshness_tick(sensors.index_freshness_sensor, instance)
    assert request.run_key.startswith("corpus_embeddings:")


def test_index_rebuild_waits_for_embedding_runs_in_flight(instance):
    materialize(instance, "corpus_embeddings", "shard-0")
    instance.add_run(dg.DagsterRun(job_name="embedding_job", run_id="r1",
                                   status=dg.DagsterRunStatus.STARTED))
    skip = freshness_tick(sensors.index_freshness_sensor, instance)
    assert skip.skip_message == "corpus_embeddings is newer, waiting for runs of embedding_job"


def test_index_rebuild_waits_for_a_backfill_in_flight(instance):
    materialize(instance, "corpus_embeddings", "shard-0")
    instance.add_run(dg.DagsterRun(job_name="__ASSET_JOB", run_id="b1",
                                   status=dg.DagsterRunStatus.STARTED,
                                   tags={"dagster/backfill": "abcdefgh"}))
    skip = freshness_tick(sensors.index_freshness_sensor, instance)
    assert skip.skip_message == "corpus_embeddings is newer, waiting for runs of backfill abcdefgh"
    instance.report_run_failed(instance.get_run_by_id("b1"))
    assert isinstance(freshness_tick(sensors.index_freshness_sensor, instance), dg.RunRequest)


def test_leaderboard_is_refreshed_when_an_evaluation_is_newer(instance):
    materialize(instance, "leaderboard")
    assert isinstance(freshness_tick(sensors.leaderboard_freshness_sensor, instance),
                      dg.SkipReason)
    materialize(instance, "zeroshot_eval", "pets")
    assert isinstance(freshness_tick(sensors.leaderboard_freshness_sensor, instance),
                      dg.RunRequest)
