"""The metadata bench's writers: spawned processes writing shard batches into a lake or a file."""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import pyarrow as pa
from react_assets.metadata.sql import SCHEMA, insert_pairs

from bench.speed.metadata.workload import shard_batch, template
from react_assets.metadata import insert_table, open_store

SPAWN = multiprocessing.get_context("spawn")  # no fork of a process with DuckDB threads


def _wait_for(go: Path) -> None:
    Path(f"{go}.ready-{os.getpid()}").write_text("ready")  # opened its store, made its batch
    while not go.exists():
        time.sleep(0.002)


def lake_writer(root: str, shards: list[int], shard_rows: int, go: str, out: str) -> None:
    """Write ``shards`` into the lake at ``root``, one ``Store.write`` each; record the wall
    clock of the first and last commit, the tries (a commit refused by a racing writer's is
    tried again) and the time spent making batches (not in the writes)."""
    store = open_store(root, "sqlite")
    base = template(shard_rows)
    _wait_for(Path(go))
    tries, making_s, started = 0, 0.0, time.time()
    for shard in shards:
        t0 = time.perf_counter()
        batch = shard_batch(base, shard)
        making_s += time.perf_counter() - t0

        def work(conn: duckdb.DuckDBPyConnection, batch: pa.Table = batch) -> None:
            nonlocal tries
            tries += 1
            insert_table(conn, insert_pairs, batch)
        store.write(work, what=f"bench shard {shard}")
    Path(out).write_text(json.dumps({"started": started, "ended": time.time(),
                                     "shards": len(shards), "tries": tries,
                                     "making_batches_s": making_s}))


def file_connection(path: str) -> duckdb.DuckDBPyConnection:
    conn = duckdb.connect(path)
    conn.execute("SET enable_progress_bar = false")  # no bars on stderr for statements over 2 s
    return conn


def file_writer(path: str, shards: list[int], shard_rows: int, go: str, out: str) -> None:
    """Write ``shards`` into the DuckDB file ``path``, one transaction each (the same
    statement and batches as the lake's writers)."""
    conn = file_connection(path)
    for statement in SCHEMA:
        conn.execute(statement)
    base = template(shard_rows)
    _wait_for(Path(go))
    making_s, started = 0.0, time.time()
    for shard in shards:
        t0 = time.perf_counter()
        batch = shard_batch(base, shard)
        making_s += time.perf_counter() - t0
        conn.execute("BEGIN TRANSACTION")
        insert_table(conn, insert_pairs, batch)
        conn.execute("COMMIT")
    ended = time.time()
    conn.close()
    Path(out).write_text(json.dumps({"started": started, "ended": ended, "shards": len(shards),
                                     "tries": len(shards), "making_batches_s": making_s}))


def second_process_opens(path: str, read_only: bool, out: str) -> None:
    """Try to open the DuckDB file ``path`` (another process has it open); record the error."""
    try:
        duckdb.connect(path, read_only=read_only).close()
        result = {"opened": True, "error": None}
    except duckdb.Error as err:
        result = {"opened": False, "error": f"{type(err).__name__}: {str(err).splitlines()[0]}"}
    Path(out).write_text(json.dumps(result))


def run_writers(target: Callable, where: str, n_shards: int, shard_rows: int, n_writers: int,
                scratch: Path) -> dict:
    """Start ``n_writers`` processes of ``target`` (shard i to writer i mod n), all at one
    signal after each opened its store; return the ingest figures."""
    go = scratch / f"go-{time.monotonic_ns()}"
    outs = [scratch / f"writer-{i}-{go.name}.json" for i in range(n_writers)]
    procs = [SPAWN.Process(target=target, args=(where, list(range(i, n_shards, n_writers)),
                                                shard_rows, str(go), str(out)))
             for i, out in enumerate(outs)]
    for proc in procs:
        proc.start()
    # every writer has imported, opened its store and made its batch template before the signal
    while len(list(scratch.glob(f"{go.name}.ready-*"))) < n_writers:
        if any(proc.exitcode not in (None, 0) for proc in procs):
            break
        time.sleep(0.01)
    go.write_text("go")
    for proc in procs:
        proc.join()
    if any(proc.exitcode for proc in procs):
        raise RuntimeError(f"a writer failed: exit codes {[proc.exitcode for proc in procs]}")
    results = [json.loads(out.read_text()) for out in outs]
    wall = max(r["ended"] for r in results) - min(r["started"] for r in results)
    rows = n_shards * shard_rows
    tries = sum(r["tries"] for r in results)
    return {"writers": n_writers, "rows": rows, "shards": n_shards, "wall_s": round(wall, 3),
            "rows_per_s": round(rows / wall), "commits_per_s": round(n_shards / wall, 2),
            "retried_commits": tries - n_shards,
            "making_batches_s": round(sum(r["making_batches_s"] for r in results), 3),
            "writer_wall_s": [round(r["ended"] - r["started"], 3) for r in results]}
