"""Concurrent writers to one home's metadata: separate processes, the same shard, a Dagster backfill,
the same shard partition of the tiny world materialized twice at once.

Each writer is a real OS process (forked) committing to the same DuckLake catalog; a commit that
races another is refused whole and :meth:`Store.write` runs it again.
"""

from __future__ import annotations

import json
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from react_assets.metadata.sql import (
    count_pair_integrity,
    count_pairs_by_source,
    select_shard_ids,
    select_shard_pairs,
)
from shard_factory import good_samples, write_shard
from tiny_world import TinyWorld, shard_state

from react_assets.corpus.ingest import IngestConfig, ingest_shard
from react_assets.files.paths import ReactPaths
from react_assets.metadata import Store, open_store

from . import kill_worker as kw

CLEAN = [{"duplicate_pair_ids": 0, "orphan_pairs": 0}]


class _RetryCounter(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.retries = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.retries += "conflicted" in record.getMessage()


def _ingest_many(home: str, jobs: list[tuple[str, str]], report: str) -> None:
    """Fork target: ingest (tar, shard id) jobs one after another; record lock retries."""
    counter = _RetryCounter()
    store_log = logging.getLogger("react_assets.metadata")
    store_log.setLevel(logging.DEBUG)
    store_log.addHandler(counter)
    store = open_store(home)
    pairs = {shard: ingest_shard(tar, shard, store, IngestConfig(workers=1)).n_pairs
             for tar, shard in jobs}
    Path(report).write_text(json.dumps({"pairs": pairs, "retries": counter.retries}))


def _run_all(targets: list[tuple]) -> None:
    processes = [kw.FORK.Process(target=fn, args=args) for fn, *args in targets]
    for process in processes:
        process.start()
    for process in processes:
        process.join(240)
    codes = [p.exitcode for p in processes]
    assert codes == [0] * len(processes), f"writer exit codes {codes}"


@pytest.fixture
def home(tmp_path) -> tuple[ReactPaths, Store]:
    paths = ReactPaths(tmp_path / "react-home").create()
    store = open_store(paths.root)
    store.apply_schema()
    return paths, store


def test_four_processes_ingest_eight_shards_into_one_home(tmp_path, home):
    paths, store = home
    sizes = {f"s{i}": 10 + 3 * i for i in range(8)}
    tars = {s: write_shard(paths.shards / f"{s}.tar", good_samples(n, source=s))
            for s, n in sizes.items()}
    shards = sorted(sizes)
    reports = [tmp_path / f"writer{w}.json" for w in range(4)]
    _run_all([(_ingest_many, str(paths.root),
               [(str(tars[s]), s) for s in shards[2 * w: 2 * w + 2]], str(reports[w]))
              for w in range(4)])
    done = [json.loads(r.read_text()) for r in reports]
    assert {s: n for d in done for s, n in d["pairs"].items()} == sizes
    assert {r["source"]: r["n_pairs"] for r in store.fetch(count_pairs_by_source)} == sizes
    assert [r["shard_id"] for r in store.fetch(select_shard_ids)] == shards
    assert store.fetch(count_pair_integrity) == CLEAN
    logging.getLogger(__name__).info("lock retries per writer: %s",
                                     [d["retries"] for d in done])


def test_two_processes_ingesting_the_same_shard_leave_one_copy(tmp_path, home):
    paths, store = home
    tar = write_shard(paths.shards / "same.tar", good_samples(40))
    _run_all([(_ingest_many, str(paths.root), [(str(tar), "same")] * 3,
               str(tmp_path / f"w{w}.json")) for w in range(2)])
    rows = store.fetch(select_shard_pairs, {"shard_id": "same"})
    assert len(rows) == 40 and [r["ordinal"] for r in rows] == list(range(40))
    assert len({r["pair_id"] for r in rows}) == 40
    assert store.fetch(count_pair_integrity) == CLEAN
    with store.connect() as conn:
        n_shard_rows, n_pairs = conn.execute(
            "SELECT count(*), max(n_pairs) FROM shards WHERE shard_id = 'same'").fetchone()
    assert (n_shard_rows, n_pairs) == (1, 40)


def _materialize_partitions(root: str, instance_dir: str, partitions: list[str],
                            report: str) -> None:
    """Fork target: one corpus_job run per partition against a shared Dagster instance."""
    import dagster as dg

    from dagster_project.definitions import build_definitions

    job = build_definitions(root).resolve_job_def("corpus_job")
    quiet = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
    with dg.DagsterInstance.local_temp(tempdir=instance_dir) as instance:
        outcome = {p: job.execute_in_process(instance=instance, partition_key=p,
                                             run_config=quiet, raise_on_error=False).success
                   for p in partitions}
    Path(report).write_text(json.dumps(outcome))


@pytest.mark.slow
def test_a_backfill_of_corpus_job_in_parallel_processes_keeps_every_row(tmp_path, home):
    dg = pytest.importorskip("dagster")
    import dagster_project.definitions  # noqa: F401  (imported once, inherited by the forks)
    from dagster_project.partitions import shard_partitions

    paths, store = home
    sizes = {f"b{i}": 12 + i for i in range(6)}
    for shard, n in sizes.items():
        write_shard(paths.shards / f"{shard}.tar", good_samples(n, source=shard))
    instance_dir = tmp_path / "dagster-home"
    instance_dir.mkdir()
    with dg.DagsterInstance.local_temp(tempdir=str(instance_dir)) as instance:
        instance.add_dynamic_partitions(shard_partitions.name, sorted(sizes))
    shards = sorted(sizes)
    reports = [tmp_path / f"backfill{w}.json" for w in range(3)]
    _run_all([(_materialize_partitions, str(paths.root), str(instance_dir),
               shards[2 * w: 2 * w + 2], str(reports[w])) for w in range(3)])
    outcome = {p: ok for r in reports for p, ok in json.loads(r.read_text()).items()}
    assert outcome == dict.fromkeys(shards, True)
    assert {r["source"]: r["n_pairs"] for r in store.fetch(count_pairs_by_source)} == sizes
    assert store.fetch(count_pair_integrity) == CLEAN
    with dg.DagsterInstance.local_temp(tempdir=str(instance_dir)) as instance:
        runs = instance.get_runs()
        assert len(runs) == 6 and {r.status for r in runs} == {dg.DagsterRunStatus.SUCCESS}
        assert sorted(r.tags["dagster/partition"] for r in runs) == shards
    assert os.path.exists(store.catalog.sqlite_path)


def _materialize_shard(root: str, shard: str, report: str) -> None:
    """Fork target: ingest and embed one shard partition in one run (shard_ingest_job, as a
    backfill's run of both shard assets), against the home's persistent Dagster instance."""
    import dagster as dg
    import torch

    from dagster_project.definitions import build_definitions

    torch.set_num_threads(1)  # a forked child may not use the parent's OpenMP threads
    job = build_definitions(root).resolve_job_def("shard_ingest_job")
    config = {"ops": {"corpus_embeddings": {"config": {"batch_size": 64, "workers": 0}}},
              "loggers": {"console": {"config": {"log_level": "ERROR"}}}}
    with dg.DagsterInstance.from_config(str(Path(root) / "dagster_home")) as instance:
        result = job.execute_in_process(instance=instance, partition_key=shard,
                                        run_config=config, raise_on_error=False)
    Path(report).write_text(json.dumps(result.success))


@pytest.mark.slow
def test_the_same_shard_partition_materialized_twice_at_once_changes_nothing(
        tiny_world_copy: TinyWorld, tmp_path):
    import dagster_project.definitions  # noqa: F401  (imported once, inherited by the forks)
    from dagster_project.partitions import shard_partitions

    world = tiny_world_copy.root
    with tiny_world_copy.instance() as instance:
        shard = instance.get_dynamic_partitions(shard_partitions.name)[0]
    before = shard_state(world)
    reports = [tmp_path / f"twice{w}.json" for w in range(2)]
    _run_all([(_materialize_shard, str(world), shard, str(report)) for report in reports])
    assert [json.loads(r.read_text()) for r in reports] == [True, True]
    after = shard_state(world)
    # same rows per shard, byte-identical embeddings, one embedding set per shard, no duplicate
    assert after == before
    assert after["embedding_sets"] == [(s, 1) for s, _, _ in before["pairs"]]
    assert after["integrity"] == CLEAN


def test_creating_the_same_home_at_once_never_fails(tmp_path):
    """Every run and check op calls ReactPaths.create(): a shared write-probe file name once made
    one of two concurrent callers fail with "REACT_HOME ... is not writable"."""
    paths = ReactPaths(tmp_path / "react-home")

    def create_many(_: int) -> None:
        for _ in range(300):
            paths.create()

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(create_many, range(8)))
    assert not list(paths.root.glob(".write-probe*"))  # no probe left behind
