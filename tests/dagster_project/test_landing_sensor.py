"""landing_shards_sensor evaluated in-process (what ``dagster sensor preview`` does) against a
test instance and a temporary REACT_HOME: each tick is checked to change nothing on disk."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
from sensor_ticks import (
    age,
    apply_partitions,
    land,
    record,
    recording,
    run,
    shard_id_of,
    snapshot,
    tick,
)
from shard_factory import good_samples, write_shard

from dagster_project import sensors
from dagster_project.definitions import build_definitions
from dagster_project.partitions import shard_partitions
from react_assets.corpus import intake

REPO = Path(__file__).resolve().parents[2]
SECRET = "TOP-SECRET-LINE of a file a link points to"


def test_a_settled_shard_is_asked_for_under_its_content_id_and_not_moved(instance, home):
    tar = land(home, "shard-00042", age_s=600)
    shard_id = shard_id_of(tar.read_bytes(), "shard-00042")
    first = tick(sensors.landing_shards_sensor, instance, home)
    [request] = first.run_requests
    assert (request.job_name, request.partition_key) == ("shard_ingest_job", shard_id)
    assert [list(r.partition_keys) for r in first.dynamic_partitions_requests] == [[shard_id]]
    assert tar.exists() and list(home.shards.iterdir()) == []
    apply_partitions(instance, first)
    again = tick(sensors.landing_shards_sensor, instance, home, first.cursor)
    assert [r.run_key for r in again.run_requests] == [request.run_key]  # the daemon dedupes it
    assert not again.dynamic_partitions_requests


def test_a_shard_still_being_written_waits_until_it_stops_changing(instance, home):
    tar = land(home, "shard-00007", age_s=0, parquet=False)
    first = tick(sensors.landing_shards_sensor, instance, home)
    assert not first.run_requests
    assert "1 landed shard(s) still changing" in first.skip_reason.skip_message
    write_shard(tar, good_samples(3))  # the writer wrote more since the last tick
    second = tick(sensors.landing_shards_sensor, instance, home, first.cursor)
    assert not second.run_requests
    third = tick(sensors.landing_shards_sensor, instance, home, second.cursor)  # unchanged now
    assert [r.partition_key for r in third.run_requests] == [
        shard_id_of(tar.read_bytes(), "shard-00007")]


def test_an_upper_case_tar_suffix_is_taken(instance, home):
    tar = land(home, "00003", age_s=600, parquet=False)
    data = tar.read_bytes()
    tar.rename(tar.with_name("00003.TAR"))
    result = tick(sensors.landing_shards_sensor, instance, home)
    assert [r.partition_key for r in result.run_requests] == [shard_id_of(data, "00003")]


def test_a_symlink_is_refused_unread(instance, home, tmp_path, monkeypatch, capfd):
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET)
    link = home.landing / "evil.tar"
    link.symlink_to(secret)
    opened = []
    for name in ("shard_file_problem", "file_sha256"):
        monkeypatch.setattr(intake, name, recording(getattr(intake, name), opened))
    result = tick(sensors.landing_shards_sensor, instance, home)
    [request] = result.run_requests
    assert request.job_name == "landing_cleanup_job" and not result.dynamic_partitions_requests
    assert opened == []
    assert "evil.tar is a symbolic link; refused without reading it" in capfd.readouterr().err

    run(build_definitions(str(home.root)), instance, request)
    rejected = home.landing / "rejected"
    assert os.readlink(rejected / "evil.tar") == str(secret) and not link.is_symlink()
    reason = (rejected / "evil.tar.reason.txt").read_text()
    assert "symbolic link" in reason and "TOP-SECRET" not in reason
    assert "TOP-SECRET" not in capfd.readouterr().err and opened == []
    assert secret.read_text() == SECRET
    assert tick(sensors.landing_shards_sensor, instance, home).skip_reason.skip_message == (
        "no new shard")


def test_a_lone_parquet_gets_a_message_once_settled(instance, home):
    parquet = home.landing / "00001.parquet"
    parquet.write_bytes(b"PAR1")
    fresh = tick(sensors.landing_shards_sensor, instance, home)
    assert fresh.skip_reason.skip_message == "no new shard"  # its tar may still be coming
    age(parquet, seconds=600)
    settled = tick(sensors.landing_shards_sensor, instance, home)
    assert "00001.parquet waits for 00001.tar beside it" in settled.skip_reason.skip_message
    assert not settled.run_requests and parquet.exists()


def test_a_failed_run_is_named_in_the_tick_and_not_asked_again(instance, home):
    tar = land(home, "00000", age_s=600)
    [request] = tick(sensors.landing_shards_sensor, instance, home).run_requests
    instance.add_run(dg.DagsterRun(
        job_name="shard_ingest_job", run_id="0f00", status=dg.DagsterRunStatus.FAILURE,
        tags={"dagster/run_key": request.run_key, "dagster/sensor_name": "landing_shards_sensor"}))
    result = tick(sensors.landing_shards_sensor, instance, home)
    assert not result.run_requests
    assert result.skip_reason.skip_message == (
        "00000.tar: run 0f00 (shard_ingest_job) ended FAILURE; re-execute it, or land the file "
        "again")
    age(tar, seconds=300)  # landed again: a new stamp, a new request
    assert len(tick(sensors.landing_shards_sensor, instance, home).run_requests) == 1


def test_without_a_base_model_only_ingestion_is_requested(instance, home, capfd):
    land(home, "00000", age_s=600)
    [request] = tick(sensors.landing_shards_sensor, instance, home).run_requests
    assert request.asset_selection == [dg.AssetKey("corpus_shards")]
    assert request.tags[sensors.EMBEDDING_SKIPPED_TAG] == "no base_model yet"
    assert "not embedded: no base_model yet" in capfd.readouterr().err


def test_once_a_base_model_exists_ingestion_and_embedding_are_requested(instance, home):
    record(instance, "base_model")
    land(home, "00000", age_s=600)
    [request] = tick(sensors.landing_shards_sensor, instance, home).run_requests
    assert request.asset_selection is None  # the whole job: corpus_shards + corpus_embeddings
    assert sensors.EMBEDDING_SKIPPED_TAG not in request.tags


@pytest.mark.slow
def test_dagster_sensor_preview_leaves_landing_as_it_was(home, tmp_path):
    land(home, "00000", age_s=600)
    (home.landing / "evil.tar").symlink_to(tmp_path)
    (home.landing / "00001.parquet").write_bytes(b"PAR1")
    age(home.landing / "00001.parquet", seconds=600)
    before = snapshot(home.root)
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    env = {**os.environ, "REACT_HOME": str(home.root), "DAGSTER_HOME": str(dagster_home)}
    out = subprocess.run([str(Path(sys.executable).with_name("dagster")), "sensor", "preview",
                          "landing_shards_sensor", "-m", "dagster_project.definitions"],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "returning run requests for 2 run(s)" in out.stdout
    assert "00001.parquet waits for 00001.tar" in out.stderr
    assert snapshot(home.root) == before


def test_the_sensors_ask_for_the_right_jobs():
    assert {t.job_name for t in sensors.landing_shards_sensor.targets} == {
        "shard_ingest_job", "landing_cleanup_job"}
    assert sensors.domain_specs_sensor.job_name == "domain_spec_job"
    assert shard_partitions.name == "shards"
