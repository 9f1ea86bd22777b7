"""Sensors evaluated in-process against a test instance and a temporary REACT_HOME."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import dagster as dg
import pytest
from react_assets.metadata.sql import select_domain
from shard_factory import good_samples, write_shard

from dagster_project import sensors
from dagster_project.partitions import shard_partitions
from dagster_project.resources import ReactHomeResource
from react_assets.files.paths import ReactPaths
from react_assets.metadata import open_store

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


def land(home: ReactPaths, name: str, age_s: float, parquet: bool = True, n: int = 2) -> Path:
    tar = write_shard(home.landing / f"{name}.tar", good_samples(n, source=name))
    files = [tar]
    if parquet:
        files.append(tar.with_suffix(".parquet"))
        files[-1].write_bytes(b"PAR1")
    stamp = time.time() - age_s
    for path in files:
        os.utime(path, (stamp, stamp))
    return tar


def shard_id_of(tar_bytes: bytes, stem: str) -> str:
    return f"{stem}-{hashlib.sha256(tar_bytes).hexdigest()[:12]}"


def record_base_model(instance) -> None:
    instance.report_runless_asset_event(dg.AssetMaterialization(asset_key="base_model"))


# landing_shards_sensor ---------------------------------------------------------------------------

def test_a_settled_shard_is_moved_registered_and_requested_once(instance, home):
    data = land(home, "shard-00042", age_s=600).read_bytes()
    shard_id = shard_id_of(data, "shard-00042")
    first = tick(sensors.landing_shards_sensor, instance, home)
    assert [r.partition_key for r in first.run_requests] == [shard_id]
    assert [list(r.partition_keys) for r in first.dynamic_partitions_requests] == [[shard_id]]
    assert (home.shards / f"{shard_id}.tar").read_bytes() == data
    assert (home.shards / f"{shard_id}.parquet").read_bytes() == b"PAR1"
    assert list(home.landing.iterdir()) == []
    apply_partitions(instance, first)
    assert instance.has_dynamic_partition(shard_partitions.name, shard_id)

    second = tick(sensors.landing_shards_sensor, instance, home, first.cursor)
    assert not second.run_requests
    assert second.skip_reason.skip_message == "no new shard"


def test_a_shard_still_being_written_waits_until_it_stops_changing(instance, home):
    tar = land(home, "shard-00007", age_s=0, parquet=False)
    first = tick(sensors.landing_shards_sensor, instance, home)
    assert not first.run_requests
    assert "1 landed shard(s) still changing" in first.skip_reason.skip_message
    assert tar.exists()

    write_shard(tar, good_samples(3))  # the writer wrote more since the last tick
    second = tick(sensors.landing_shards_sensor, instance, home, first.cursor)
    assert not second.run_requests and tar.exists()

    shard_id = shard_id_of(tar.read_bytes(), "shard-00007")
    third = tick(sensors.landing_shards_sensor, instance, home, second.cursor)  # unchanged now
    assert [r.partition_key for r in third.run_requests] == [shard_id]
    assert (home.shards / f"{shard_id}.tar").exists() and not tar.exists()


def test_the_same_bytes_landing_again_are_a_no_op(instance, home):
    data = land(home, "00000", age_s=600).read_bytes()
    first = tick(sensors.landing_shards_sensor, instance, home)
    apply_partitions(instance, first)
    land(home, "00000", age_s=600)
    again = tick(sensors.landing_shards_sensor, instance, home, first.cursor)
    assert not again.run_requests and not again.dynamic_partitions_requests
    assert "same bytes as shard " + shard_id_of(data, "00000") in again.skip_reason.skip_message
    assert list(home.landing.iterdir()) == []


def test_a_second_corpus_with_the_same_shard_names_becomes_new_shards(instance, home):
    first_bytes = land(home, "00000", age_s=600, n=2).read_bytes()
    first = tick(sensors.landing_shards_sensor, instance, home)
    apply_partitions(instance, first)
    second_bytes = land(home, "00000", age_s=600, n=3).read_bytes()  # another img2dataset run
    second = tick(sensors.landing_shards_sensor, instance, home, first.cursor)
    old_id, new_id = shard_id_of(first_bytes, "00000"), shard_id_of(second_bytes, "00000")
    assert [r.partition_key for r in second.run_requests] == [new_id] and old_id != new_id
    assert (home.shards / f"{old_id}.tar").read_bytes() == first_bytes  # never overwritten
    assert (home.shards / f"{new_id}.tar").read_bytes() == second_bytes


@pytest.mark.parametrize(("name", "content", "reason"), [
    ("bad name.tar", None, "name 'bad name' must be"),
    ("page.tar", b"<!DOCTYPE html><html>404</html>" * 30, "not_a_tar"),
    ("empty-file.tar", b"", "not_a_tar: the file is empty"),
    ("zipped.tar.gz", b"\x1f\x8b\x08\x00" + b"\x00" * 600, "compressed_archive"),
    ("zipped.TGZ", b"\x1f\x8b\x08\x00" + b"\x00" * 600, "compressed_archive"),
])
def test_what_cannot_be_a_shard_is_moved_aside_with_its_reason_and_never_a_partition(
        instance, home, name, content, reason):
    path = home.landing / name
    if content is None:
        write_shard(path, good_samples(1))
    else:
        path.write_bytes(content)
    old = time.time() - 600
    os.utime(path, (old, old))
    result = tick(sensors.landing_shards_sensor, instance, home)
    assert not result.run_requests and not result.dynamic_partitions_requests
    assert reason in result.skip_reason.skip_message
    assert (home.landing / "rejected" / name).exists()
    assert reason in (home.landing / "rejected" / f"{name}.reason.txt").read_text()
    assert list(home.shards.iterdir()) == []
    again = tick(sensors.landing_shards_sensor, instance, home, result.cursor)
    assert again.skip_reason.skip_message == "no new shard"  # reported once


def test_an_upper_case_tar_suffix_is_taken(instance, home):
    tar = land(home, "00003", age_s=600, parquet=False)
    tar.rename(tar.with_name("00003.TAR"))
    result = tick(sensors.landing_shards_sensor, instance, home)
    assert [r.partition_key for r in result.run_requests] == [
        shard_id_of((home.shards / f"{result.run_requests[0].partition_key}.tar").read_bytes(),
                    "00003")]


def test_a_shard_that_cannot_be_moved_stays_and_the_others_go_ahead(instance, home):
    blocked = land(home, "shard-00002", age_s=600, parquet=False)
    blocked_id = shard_id_of(blocked.read_bytes(), "shard-00002")
    (home.shards / f"{blocked_id}.tar" / "occupied").mkdir(parents=True)  # target is a folder
    data = land(home, "shard-00003", age_s=600).read_bytes()
    result = tick(sensors.landing_shards_sensor, instance, home)
    assert [r.partition_key for r in result.run_requests] == [shard_id_of(data, "shard-00003")]
    assert blocked.exists()


def test_without_a_base_model_only_ingestion_is_requested_and_the_skip_is_logged(
        instance, home, capfd):
    land(home, "00000", age_s=600)
    result = tick(sensors.landing_shards_sensor, instance, home)
    [request] = result.run_requests
    assert request.asset_selection == [dg.AssetKey("corpus_shards")]
    assert request.tags[sensors.EMBEDDING_SKIPPED_TAG] == "no base_model yet"
    assert "no base_model yet: corpus_embeddings is not requested" in capfd.readouterr().err


def test_once_a_base_model_exists_ingestion_and_embedding_are_requested(instance, home):
    record_base_model(instance)
    land(home, "00000", age_s=600)
    [request] = tick(sensors.landing_shards_sensor, instance, home).run_requests
    assert request.asset_selection is None  # the whole job: corpus_shards + corpus_embeddings
    assert sensors.EMBEDDING_SKIPPED_TAG not in request.tags


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
    rows = open_store(home.root).fetch(select_domain, {"domain": "pets"})
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
    assert open_store(home.root).fetch(select_domain, {"domain": "Bad Name"}) == []

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


def test_a_spec_with_an_upper_case_suffix_is_registered(instance, home):
    write_spec(home, "pets.YAML", GOOD_SPEC.format(name="pets"))
    result = tick(sensors.domain_specs_sensor, instance, home)
    assert "registered pets" in result.skip_reason.skip_message
    assert open_store(home.root).fetch(select_domain, {"domain": "pets"})
