"""The partitioned Parquet metadata store (cluster profile): same rows as the embedded DuckDB
file, whole partitions replaced per commit, nothing visible from a killed writer, and writers of
different partitions that run at once while a reader queries."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from react_assets.sql import (
    count_pair_integrity,
    count_pairs_by_source,
    delete_shard_pairs,
    delete_shard_skipped,
    insert_pairs,
    insert_skipped_samples,
    select_shard_ids,
    select_shard_pairs,
    upsert_domain,
    upsert_model,
    upsert_shard,
)

from react_assets.store import Store
from react_assets.store_parquet import PartitionedStore, open_store

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
from metadata_writer import PAIRS_PER_COMMIT, run_concurrent, summarize  # noqa: E402


def _pairs(shard_id: str, n: int, caption: str = "a cat") -> pa.Table:
    return pa.Table.from_pylist([{
        "pair_id": hash((shard_id, i)) % 10**12, "shard_id": shard_id, "ordinal": i,
        "key": f"{i:04d}", "image_member": f"{i:04d}.jpg", "caption": f"{caption} {i}",
        "source": "test", "width": 8, "height": 8, "image_bytes": 10, "image_sha256": f"{i:064x}",
        "url": None, "meta": json.dumps({"i": i})} for i in range(n)])


def _ingest(store: Store, shard_id: str, n: int, caption: str = "a cat", skipped: int = 0) -> None:
    with store.transaction() as conn:
        conn.execute(delete_shard_pairs, {"shard_id": shard_id})
        conn.execute(delete_shard_skipped, {"shard_id": shard_id})
        if n:
            conn.register("batch", _pairs(shard_id, n, caption))
            conn.execute(insert_pairs)
            conn.unregister("batch")
        if skipped:
            conn.register("batch", pa.Table.from_pylist([
                {"shard_id": shard_id, "key": f"bad{i}", "reason": "decode", "detail": "x"}
                for i in range(skipped)]))
            conn.execute(insert_skipped_samples)
            conn.unregister("batch")
        conn.execute(upsert_shard, {"shard_id": shard_id, "path": f"/{shard_id}.tar",
                                    "tar_sha256": "0" * 64, "n_members": n + skipped,
                                    "n_pairs": n, "n_skipped": skipped, "skipped": "{}"})


def _writes(store: Store) -> None:
    _ingest(store, "s1", 5, skipped=2)
    _ingest(store, "s2", 3)
    _ingest(store, "s1", 4, caption="a dog")       # re-ingest replaces the shard's rows
    store.execute(upsert_domain, {"domain": "pets", "spec_path": "/p.yaml", "n_classes": 2,
                                  "n_templates": 1, "classes": '["cat", "dog"]'})
    store.execute(upsert_model, {
        "model_id": "m1", "parent_model_id": None, "kind": "base", "domain": None, "arch": "a",
        "pretrained": None, "checkpoint": None, "retrieval_digest": None, "config": "{}",
        "mlflow_run_id": None, "mlflow_model_uri": None, "dagster_run_id": "r1"})


def _snapshot(store: Store) -> dict:
    return {
        "shards": [r["shard_id"] for r in store.fetch(select_shard_ids)],
        "s1": store.fetch(select_shard_pairs, {"shard_id": "s1"}),
        "s2": store.fetch(select_shard_pairs, {"shard_id": "s2"}),
        "sources": store.fetch(count_pairs_by_source),
        "integrity": store.fetch(count_pair_integrity),
    }


def test_partitioned_rows_equal_embedded_rows(tmp_path: Path) -> None:
    embedded, partitioned = open_store(tmp_path / "a", "duckdb"), open_store(tmp_path / "b",
                                                                              "parquet")
    _writes(embedded)
    _writes(partitioned)
    got, want = _snapshot(partitioned), _snapshot(embedded)
    assert got == want
    assert [r["caption"] for r in got["s1"]] == [f"a dog {i}" for i in range(4)]
    assert got["integrity"] == [{"duplicate_pair_ids": 0, "orphan_pairs": 0}]


def test_deleting_a_partition_without_new_rows_empties_it(tmp_path: Path) -> None:
    store = open_store(tmp_path, "parquet")
    _ingest(store, "s1", 5, skipped=3)
    _ingest(store, "s1", 0)
    assert store.fetch(select_shard_pairs, {"shard_id": "s1"}) == []
    with store.connect() as conn:
        assert conn.execute("SELECT count(*) FROM skipped_samples").fetchone() == (0,)


def test_a_partitioned_store_refuses_a_delete_across_partitions(tmp_path: Path) -> None:
    from react_assets.sql import delete_domain_evaluations
    store = open_store(tmp_path, "parquet")
    with store.transaction() as conn:  # evaluations are partitioned by domain: allowed
        conn.execute(delete_domain_evaluations, {"domain": "pets"})
    with pytest.raises(TypeError, match="react_assets.sql"), store.transaction() as conn:
        conn.execute("DELETE FROM pairs")


KILLED_WRITER = """
import os, signal, sys
sys.path.insert(0, {tests!r})
from test_store_parquet import _ingest
from react_assets.store_parquet import PartitionedStore

class Dying(PartitionedStore):
    def _write_marker(self, commit):
        os.kill(os.getpid(), signal.SIGKILL)

store = Dying({folder!r})
store.apply_schema()
_ingest(store, "s1", 7, caption="half written")
"""


def test_a_killed_writer_leaves_no_rows_visible(tmp_path: Path) -> None:
    store = open_store(tmp_path, "parquet")
    _ingest(store, "s1", 3)
    code = KILLED_WRITER.format(tests=str(REPO / "tests"), folder=str(store.path))
    proc = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(REPO)},
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == -9, proc.stderr
    assert len(list((store.path / "pairs").glob("part=s1/*.parquet"))) == 2  # written, unmarked
    rows = store.fetch(select_shard_pairs, {"shard_id": "s1"})
    assert [r["caption"] for r in rows] == [f"a cat {i}" for i in range(3)]
    assert isinstance(store, PartitionedStore) and store.vacuum(older_than_s=-1) == 3
    assert store.fetch(select_shard_pairs, {"shard_id": "s1"}) == rows


def test_the_duckdb_cli_catalog_reads_the_committed_rows(tmp_path: Path) -> None:
    store = open_store(tmp_path, "parquet")
    _ingest(store, "s1", 6)
    assert isinstance(store, PartitionedStore)
    conn = duckdb.connect(str(store.catalog), read_only=True)
    try:
        assert conn.execute("SELECT count(*) FROM pairs WHERE shard_id = 's1'").fetchone() == (6,)
    finally:
        conn.close()


def test_four_writers_of_different_partitions_never_wait_while_a_reader_queries(
        tmp_path: Path) -> None:
    result = run_concurrent("parquet", tmp_path / "rh", n_writers=4, n_commits=5, hold_s=0.3)
    figures = summarize(result)
    assert figures["reader_errors"] == []
    assert figures["reader_queries"] > 0
    # Each shard's pairs are replaced whole: a reader never sees part of a commit.
    assert set(result["reader"]["counts"]) == {PAIRS_PER_COMMIT}
    # Writers held their transactions at the same time: no writer waited for another's lock.
    assert figures["overlapping_commit_pairs"] > 0
    store = open_store(tmp_path / "rh", "parquet")
    assert store.fetch(count_pairs_by_source) == [
        {"source": f"shard-{i}", "n_pairs": PAIRS_PER_COMMIT} for i in range(4)]
