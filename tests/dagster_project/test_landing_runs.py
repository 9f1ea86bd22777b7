"""The runs landing_shards_sensor asks for: they, not the tick, move landed files; a run that fails
leaves its shard ingestible."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
from sensor_ticks import age, apply_partitions, land, run, shard_id_of, tick
from shard_factory import good_samples, write_shard

from dagster_project import sensors
from dagster_project.assets import corpus
from react_assets.corpus import intake


def test_the_ingest_run_moves_the_shard_then_the_tick_sees_nothing_new(instance, home, defs):
    data = land(home, "shard-00042", age_s=600).read_bytes()
    first = tick(sensors.landing_shards_sensor, instance, home)
    apply_partitions(instance, first)
    assert run(defs, instance, first.run_requests[0]).success
    shard_id = shard_id_of(data, "shard-00042")
    assert (home.shards / f"{shard_id}.tar").read_bytes() == data
    assert (home.shards / f"{shard_id}.parquet").read_bytes() == b"PAR1"
    assert list(home.landing.iterdir()) == []
    assert tick(sensors.landing_shards_sensor, instance, home,
                first.cursor).skip_reason.skip_message == "no new shard"


def test_a_run_that_fails_after_the_move_leaves_the_shard_ingestible(instance, home, defs,
                                                                     monkeypatch):
    data = land(home, "00000", age_s=600).read_bytes()
    first = tick(sensors.landing_shards_sensor, instance, home)
    apply_partitions(instance, first)

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(corpus, "ingest_shard", broken)
    assert not run(defs, instance, first.run_requests[0], raise_on_error=False).success
    shard_id = shard_id_of(data, "00000")
    assert (home.shards / f"{shard_id}.tar").read_bytes() == data  # moved, not ingested
    monkeypatch.undo()

    land(home, "00000", age_s=300)  # the same bytes landed again: ingested, not dropped
    again = tick(sensors.landing_shards_sensor, instance, home)
    [request] = again.run_requests
    assert request.partition_key == shard_id and request.run_key != first.run_requests[0].run_key
    assert run(defs, instance, request).success  # so would a re-execution of the failed run
    assert list(home.landing.iterdir()) == []
    assert instance.fetch_materializations(dg.AssetKey("corpus_shards"), limit=1).records


def test_a_run_that_fails_during_the_move_is_finished_by_its_retry(instance, home, defs,
                                                                   monkeypatch):
    tar = land(home, "00000", age_s=600)
    data = tar.read_bytes()
    first = tick(sensors.landing_shards_sensor, instance, home)
    apply_partitions(instance, first)
    real_move = intake._move

    def tar_move_fails(source: Path, target: Path) -> None:
        if target.suffix == ".tar":
            raise OSError(f"cannot move landed file {source} to {target}: interrupted")
        real_move(source, target)

    monkeypatch.setattr(intake, "_move", tar_move_fails)
    assert not run(defs, instance, first.run_requests[0], raise_on_error=False).success
    assert tar.exists() and not (home.landing / "00000.parquet").exists()  # half moved
    monkeypatch.undo()
    assert run(defs, instance, first.run_requests[0]).success  # the retry
    shard_id = shard_id_of(data, "00000")
    assert (home.shards / f"{shard_id}.tar").read_bytes() == data
    assert (home.shards / f"{shard_id}.parquet").exists() and not tar.exists()


def test_the_same_bytes_of_an_ingested_shard_are_removed_by_a_cleanup_run(instance, home, defs):
    data = land(home, "00000", age_s=600).read_bytes()
    first = tick(sensors.landing_shards_sensor, instance, home)
    apply_partitions(instance, first)
    run(defs, instance, first.run_requests[0])
    land(home, "00000", age_s=600)
    again = tick(sensors.landing_shards_sensor, instance, home, first.cursor)
    [request] = again.run_requests
    assert request.job_name == "landing_cleanup_job" and not again.dynamic_partitions_requests
    run(defs, instance, request)
    assert list(home.landing.iterdir()) == []
    assert (home.shards / f"{shard_id_of(data, '00000')}.tar").read_bytes() == data


def test_a_second_corpus_with_the_same_shard_names_becomes_new_shards(instance, home, defs):
    first_bytes = land(home, "00000", age_s=600, n=2).read_bytes()
    first = tick(sensors.landing_shards_sensor, instance, home)
    apply_partitions(instance, first)
    run(defs, instance, first.run_requests[0])
    second_bytes = land(home, "00000", age_s=600, n=3).read_bytes()  # another img2dataset run
    second = tick(sensors.landing_shards_sensor, instance, home, first.cursor)
    apply_partitions(instance, second)
    run(defs, instance, second.run_requests[0])
    old_id, new_id = shard_id_of(first_bytes, "00000"), shard_id_of(second_bytes, "00000")
    assert old_id != new_id and second.run_requests[0].partition_key == new_id
    assert (home.shards / f"{old_id}.tar").read_bytes() == first_bytes  # never overwritten
    assert (home.shards / f"{new_id}.tar").read_bytes() == second_bytes


@pytest.mark.parametrize(("name", "content", "reason"), [
    ("bad name.tar", None, "name 'bad name' must be"),
    ("page.tar", b"<!DOCTYPE html><html>404</html>" * 30, "not_a_tar"),
    ("empty-file.tar", b"", "not_a_tar: the file is empty"),
    ("zipped.tar.gz", b"\x1f\x8b\x08\x00" + b"\x00" * 600, "compressed_archive"),
    ("zipped.TGZ", b"\x1f\x8b\x08\x00" + b"\x00" * 600, "compressed_archive"),
])
def test_what_cannot_be_a_shard_is_moved_aside_by_a_cleanup_run_and_never_a_partition(
        instance, home, defs, name, content, reason, capfd):
    path = home.landing / name
    if content is None:
        write_shard(path, good_samples(1))
    else:
        path.write_bytes(content)
    age(path, seconds=600)
    result = tick(sensors.landing_shards_sensor, instance, home)
    [request] = result.run_requests
    assert request.job_name == "landing_cleanup_job" and not result.dynamic_partitions_requests
    assert reason in capfd.readouterr().err and path.exists()
    run(defs, instance, request)
    assert (home.landing / "rejected" / name).exists() and not path.exists()
    assert reason in (home.landing / "rejected" / f"{name}.reason.txt").read_text()
    assert list(home.shards.iterdir()) == []
    again = tick(sensors.landing_shards_sensor, instance, home, result.cursor)
    assert again.skip_reason.skip_message == "no new shard"
