"""The metadata bench's latencies: lineage, count by shard and shard replacement."""

from __future__ import annotations

import json
import re
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
from react_assets.metadata.sql import (
    delete_shard_pairs,
    insert_pairs,
    insert_retrievals,
    select_model_lineage,
    upsert_model,
    upsert_retrieval_set,
    upsert_shard,
)

from bench.speed.metadata.workload import DOMAIN, retrieval_rows, shard_batch, shard_name, template
from bench.speed.metadata.writers import SPAWN, file_connection, second_process_opens
from react_assets.customize.model_lineage import model_lineage
from react_assets.domains.settings import RetrievalConfig
from react_assets.metadata import insert_table, open_store
from react_assets.retrieve.sets import store_retrieval_set

COUNT_BY_SHARD = "SELECT shard_id, count(*) FROM pairs GROUP BY ALL"
MODEL_ID = "bench-gated-image@sha256:0"
BASE_ID = "bench-base@sha256:0"
N_REPLACED = 5  # shards replaced (re-ingested) on each store, latency measured per shard
# select_model_lineage.sql as a DuckDB file runs it: without the snapshot clauses
LINEAGE_ON_FILE = str(select_model_lineage).replace(" AT (VERSION => $snapshot)", "")


def timed(fn: Callable[[], object], repeats: int) -> tuple[dict, object]:
    """The first run's seconds and the median of ``repeats`` more; the last result."""
    t0 = time.perf_counter()
    result = fn()
    first = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return {"first_s": round(first, 4), "median_s": round(statistics.median(times), 4),
            "min_s": round(min(times), 4), "max_s": round(max(times), 4),
            "repeats": repeats}, result


def bound(statement: str, params: dict) -> dict:
    """``params`` and NULL for every other ``$name`` that ``statement`` binds (a nullable
    column added since, which the bench does not fill)."""
    names = set(re.findall(r"\$([A-Za-z_]\w*)", re.sub(r"--[^\n]*", "", statement)))
    return {**{name: None for name in names}, **params}


def model_row(digest: str | None, snapshot: int | None) -> dict:
    return {"model_id": MODEL_ID, "parent_model_id": BASE_ID, "kind": "gated-image",
            "domain": DOMAIN, "arch": "react-tiny", "pretrained": None, "checkpoint": "/bench",
            "retrieval_digest": digest, "metadata_snapshot": snapshot,
            "config": json.dumps({"variant": "gated-image"}), "mlflow_run_id": None,
            "mlflow_model_uri": None, "dagster_run_id": "bench"}


def replace_params(shard: int) -> dict:
    return {"shard_id": shard_name(shard), "path": f"shards/{shard_name(shard)}.tar",
            "tar_sha256": "0" * 64, "n_members": 0, "n_pairs": 0, "n_skipped": 0,
            "skipped": "{}"}


def lake_queries(root: Path, rows: int, n_shards: int, shard_rows: int, n_pairs: int,
                 repeats: int) -> dict:
    """Lineage, count by shard and shard replacement latencies on the lake at ``root``."""
    store = open_store(root, "sqlite")
    digest = store_retrieval_set(
        store, domain=DOMAIN, rows=retrieval_rows(rows, n_pairs),
        config=RetrievalConfig(k_per_query=10), base_model_id=BASE_ID, n_queries=n_pairs // 10,
        stats={"bench": True})
    store.execute(upsert_model, bound(upsert_model, model_row(digest, store.snapshot_id())))
    lineage, found = timed(lambda: model_lineage(store, MODEL_ID), repeats)
    assert len(found.pair_ids) == n_pairs and found.shards, "the lineage lost pairs"
    lineage["pairs"], lineage["shards"] = len(found.pair_ids), len(found.shards)
    statement, _ = timed(lambda: store.fetch(select_model_lineage, {
        "model_id": MODEL_ID, "snapshot": found.metadata_snapshot}), repeats)

    def count() -> list:
        with store.connect() as conn:
            return conn.execute(COUNT_BY_SHARD).fetchall()
    by_shard, counted = timed(count, repeats)
    assert len(counted) == n_shards and sum(n for _, n in counted) == rows

    base = template(shard_rows)

    def replace(shard: int) -> None:
        batch = shard_batch(base, shard)

        def work(conn: duckdb.DuckDBPyConnection) -> None:
            conn.execute(delete_shard_pairs, {"shard_id": shard_name(shard)})
            insert_table(conn, insert_pairs, batch)
            conn.execute(upsert_shard, bound(upsert_shard, replace_params(shard)))
        store.write(work, what="bench replace")
    replaced = replacements(replace, n_shards)
    with store.connect() as conn:
        assert conn.execute("SELECT count(*) FROM pairs").fetchone()[0] == rows
    return {"lineage_model_lineage": lineage, "lineage_statement": statement,
            "count_by_shard": by_shard, "replace_shard": replaced}


def replacements(replace: Callable[[int], None], n_shards: int) -> dict:
    shards = [int(s) for s in np.linspace(0, n_shards - 1, N_REPLACED)]
    times = []
    for shard in shards:
        t0 = time.perf_counter()
        replace(shard)
        times.append(time.perf_counter() - t0)
    return {"median_s": round(statistics.median(times), 4), "max_s": round(max(times), 4),
            "shards": len(shards)}


def file_queries(path: Path, rows: int, n_shards: int, shard_rows: int, n_pairs: int,
                 repeats: int, scratch: Path) -> dict:
    """The same figures on the DuckDB file, and what a second process gets while it is open."""
    conn = file_connection(str(path))
    digest = "bench-set"
    conn.execute("BEGIN TRANSACTION")
    retrievals = retrieval_rows(rows, n_pairs)
    insert_table(conn, insert_retrievals, retrievals.append_column(
        "set_digest", pa.array([digest] * n_pairs)))
    conn.execute(upsert_retrieval_set, bound(upsert_retrieval_set, {
        "set_digest": digest, "domain": DOMAIN, "model_id": BASE_ID, "mode": "text-to-image",
        "k_per_query": 10, "settings": "{}", "n_queries": n_pairs // 10, "n_pairs": n_pairs,
        "pairs_digest": "bench", "stats": "{}"}))
    conn.execute(upsert_model, bound(upsert_model, model_row(digest, None)))
    conn.execute("COMMIT")

    def lineage() -> list:
        return conn.execute(LINEAGE_ON_FILE, {"model_id": MODEL_ID}).fetchall()
    statement, found = timed(lineage, repeats)
    assert len(found[0][-2]) == n_pairs, "the lineage lost pairs"
    by_shard, counted = timed(lambda: conn.execute(COUNT_BY_SHARD).fetchall(), repeats)
    assert len(counted) == n_shards and sum(n for _, n in counted) == rows

    base = template(shard_rows)

    def replace(shard: int) -> None:
        conn.execute("BEGIN TRANSACTION")
        conn.execute(delete_shard_pairs, {"shard_id": shard_name(shard)})
        insert_table(conn, insert_pairs, shard_batch(base, shard))
        conn.execute(upsert_shard, bound(upsert_shard, replace_params(shard)))
        conn.execute("COMMIT")
    replaced = replacements(replace, n_shards)

    others = {}
    for mode, read_only in (("read_write", False), ("read_only", True)):
        out = scratch / f"second-{mode}.json"
        proc = SPAWN.Process(target=second_process_opens, args=(str(path), read_only, str(out)))
        proc.start()
        proc.join()
        others[mode] = json.loads(out.read_text())
    conn.close()
    return {"lineage_statement": statement, "count_by_shard": by_shard,
            "replace_shard": replaced, "second_process_while_open": others}
