"""Metadata at scale: the DuckLake store (SQLite catalog, the embedded profile) against one
DuckDB file (the embedded store before DuckLake), on a synthetic corpus.

A ``pairs`` table (``sql/schema/create_pairs.sql``) of ``--rows`` rows is written in
shard-sized batches, one transaction a shard, as ingestion writes them: through
``open_store(home, "sqlite")``, each batch a ``Store.write`` running the real ``insert_pairs``
statement (``insert_table``), by 1 writer process, then into a second lake by ``--writers``
processes that each write their share of the shards at the same time; and by 1 process into a
DuckDB file (``duckdb.connect(file)``, same statement, same batches). A DuckDB file admits one
writing process: the bench shows it (a second process's ``connect`` of the file, read-write
and read-only, while the writer has it open) instead of measuring writers it cannot have.

Then, on the 1-writer lake and on the file: the latency (median of ``--repeats``, and the first)
of a model's lineage (``model_lineage``, on a model trained on a retrieval set naming
``--lineage-pairs`` pairs spread over the corpus, stored with ``store_retrieval_set``; on the
file the same statement without its ``AT (VERSION => ...)`` clauses, which a DuckDB file
lacks), of the count by shard (``SELECT shard_id, count(*) FROM pairs GROUP BY ALL``), and of
replacing one shard's pairs as ``corpus_shards`` does (delete, insert, shard row, one
transaction); and the size on disk (lake: data files + catalog; file: the database + WAL).

Prints the figures and writes them, with the machine, date and command line, to ``--out``:

    python bench/bench_metadata.py [--rows 10000000] [--shard-rows 10000] [--writers 4]
        [--lineage-pairs 5000] [--repeats 7] [--workdir DIR] [--out bench/results/metadata.json]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
from react_assets.metadata.sql import (
    SCHEMA,
    delete_shard_pairs,
    insert_pairs,
    insert_retrievals,
    select_model_lineage,
    upsert_model,
    upsert_retrieval_set,
    upsert_shard,
)

from react_assets.corpus.ingest import PAIR_SCHEMA
from react_assets.customize.model_lineage import model_lineage
from react_assets.domains.settings import RetrievalConfig
from react_assets.metadata import insert_table, open_store
from react_assets.retrieve.sets import store_retrieval_set

SPAWN = multiprocessing.get_context("spawn")  # no fork of a process with DuckDB threads
COUNT_BY_SHARD = "SELECT shard_id, count(*) FROM pairs GROUP BY ALL"
MODEL_ID = "bench-gated-image@sha256:0"
BASE_ID = "bench-base@sha256:0"
DOMAIN = "bench"
N_REPLACED = 5  # shards replaced (re-ingested) on each store, latency measured per shard
# select_model_lineage.sql as a DuckDB file runs it: without the snapshot clauses
LINEAGE_ON_FILE = str(select_model_lineage).replace(" AT (VERSION => $snapshot)", "")


# --- the synthetic corpus ----------------------------------------------------------------------

def splitmix64(x: np.ndarray) -> np.ndarray:
    """A bijective 64-bit mix: row numbers -> ids as spread out as stable_pair_id's hashes."""
    with np.errstate(over="ignore"):
        z = x.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def pair_ids(rows: np.ndarray) -> np.ndarray:
    """The 63-bit pair id of corpus row numbers ``rows``: splitmix64 is a bijection, so two
    rows share an id only when their mixes differ in the top bit alone, about as likely as a
    collision of stable_pair_id's (1e-5 at 10M rows)."""
    return (splitmix64(rows) & np.uint64(2**63 - 1)).astype(np.int64)


def shard_name(shard: int) -> str:
    """Like a landed shard's id: the img2dataset name and 12 hex digits of its sha256."""
    return f"{shard:05d}-{int(splitmix64(np.array([shard]))[0]) & (16**12 - 1):012x}"


def template(shard_rows: int, seed: int = 0) -> pa.Table:
    """A shard's columns but its ids: realistic widths and value spreads (keys, members,
    captions of 40-120 characters, sizes, sha256 hex digests, URLs, a JSON meta on some)."""
    rng = np.random.default_rng(seed)
    words = np.array("a photo of the small large red blue green old new dog cat car tree house "
                     "street beach mountain person people with on in at near by sunset "
                     "night city field flower bird boat".split())
    captions = [" ".join(rng.choice(words, size=rng.integers(8, 22))) for _ in range(shard_rows)]
    digest = rng.integers(0, 2**63, size=(shard_rows, 4), dtype=np.int64)
    sha = [f"{a:016x}{b:016x}{c:016x}{d:016x}" for a, b, c, d in digest]
    keys = [f"{i:09d}" for i in range(shard_rows)]
    return pa.table({
        "pair_id": pa.array(np.zeros(shard_rows, np.int64)),
        "shard_id": pa.array([""] * shard_rows),
        "ordinal": pa.array(np.arange(shard_rows, dtype=np.int32)),
        "key": keys,
        "image_member": [f"{k}.jpg" for k in keys],
        "caption": captions,
        "source": ["laion-bench"] * shard_rows,
        "width": pa.array(rng.integers(128, 1024, shard_rows, dtype=np.int32)),
        "height": pa.array(rng.integers(128, 1024, shard_rows, dtype=np.int32)),
        "image_bytes": pa.array(rng.integers(4_000, 400_000, shard_rows, dtype=np.int32)),
        "image_sha256": sha,
        "url": [f"https://images.example.org/{s[:2]}/{s[2:18]}.jpg" for s in sha],
        "meta": [json.dumps({"nsfw": "UNLIKELY", "similarity": round(float(x), 4)})
                 if x > 0.8 else None for x in rng.random(shard_rows)],
    }, schema=PAIR_SCHEMA)


def shard_batch(base: pa.Table, shard: int) -> pa.Table:
    """Shard ``shard``'s rows: the template with that shard's id and pair ids."""
    n = base.num_rows
    ids = pair_ids(np.arange(shard * n, (shard + 1) * n, dtype=np.uint64))
    table = base.set_column(0, "pair_id", pa.array(ids))
    return table.set_column(1, "shard_id", pa.array([shard_name(shard)] * n))


# --- writers (each a spawned process) ------------------------------------------------------------

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


# --- queries -------------------------------------------------------------------------------------

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


def retrieval_rows(rows: int, n_pairs: int, seed: int = 1) -> pa.Table:
    """A retrieval set of ``n_pairs`` distinct pairs drawn over the whole corpus, 10 classes."""
    rng = np.random.default_rng(seed)
    picked = np.sort(rng.choice(rows, size=n_pairs, replace=False)).astype(np.uint64)
    order = np.arange(n_pairs)
    return pa.table({
        "domain": [DOMAIN] * n_pairs,
        "class_index": pa.array((order % 10).astype(np.int32)),
        "class_name": [f"class {i % 10}" for i in order],
        "pair_id": pa.array(pair_ids(picked)),
        "score": pa.array(np.linspace(0.9, 0.2, n_pairs, dtype=np.float32)),
        "rank": pa.array((order // 10).astype(np.int32)),
        "mode": ["text-to-image"] * n_pairs,
    })


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


def disk_bytes(paths: list[Path]) -> int:
    total = 0
    for path in paths:
        if path.is_file():
            total += path.stat().st_size
        elif path.is_dir():
            total += sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return total


def lake_disk(root: Path) -> dict:
    lake = root / "lake"
    data = disk_bytes([lake / "data"])
    catalog = disk_bytes(sorted(lake.glob("catalog.sqlite*")))
    return {"bytes": data + catalog, "data_bytes": data, "catalog_bytes": catalog,
            "data_files": sum(1 for _ in (lake / "data").rglob("*.parquet"))}


def ratio(a: float, b: float) -> float | None:
    return round(a / b, 3) if b else None


# --- the run -------------------------------------------------------------------------------------

def machine() -> dict:
    import react_assets.metadata.engine as engine

    info = {"cores": os.cpu_count(), "cores_usable": len(os.sched_getaffinity(0)),
            "python": platform.python_version(), "duckdb": duckdb.__version__,
            "platform": platform.platform(), "load_average_at_start": os.getloadavg()}
    try:
        cpu = Path("/proc/cpuinfo").read_text().splitlines()
        info["cpu_model"] = next(line.split(":", 1)[1].strip() for line in cpu
                                 if line.startswith("model name"))
        mem = Path("/proc/meminfo").read_text().splitlines()[0].split()
        info["memory_gib"] = round(int(mem[1]) / 2**20, 1)
    except (OSError, StopIteration, IndexError):
        pass
    with duckdb.connect(config={"extension_directory": str(engine.extension_directory())}) as c:
        for name in ("ducklake", "sqlite"):
            c.execute(f"LOAD {name}")
        info["extensions"] = dict(c.execute(
            "SELECT extension_name, extension_version FROM duckdb_extensions() "
            "WHERE extension_name IN ('ducklake', 'sqlite_scanner', 'parquet')").fetchall())
    return info


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--shard-rows", type=int, default=10_000)
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--lineage-pairs", type=int, default=5_000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--workdir", type=Path, default=None,
                        help="where the stores are made (default: a temporary folder, removed)")
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).parent / "results" / "metadata.json")
    args = parser.parse_args(argv)
    if args.rows % args.shard_rows:
        parser.error("--rows must be a multiple of --shard-rows")
    n_shards = args.rows // args.shard_rows
    n_pairs = min(args.lineage_pairs, args.rows // 2)
    report: dict = {
        "command": " ".join(["python", "bench/bench_metadata.py", *(argv if argv is not None
                                                                     else sys.argv[1:])]),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "machine": machine(),
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "shards": n_shards, "lineage_pairs": n_pairs}
    started = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="bench-metadata-", dir=args.workdir))
    try:
        one, many, file = workdir / "lake-1", workdir / "lake-n", workdir / "pairs.duckdb"
        for root in (one, many):
            open_store(root, "sqlite")  # the schema, before the writers' clocks start
        print(f"{args.rows:,} rows in {n_shards} shards of {args.shard_rows:,} rows", flush=True)

        ducklake: dict = {"ingest_1_writer": run_writers(
            lake_writer, str(one), n_shards, args.shard_rows, 1, workdir)}
        print_ingest("DuckLake, 1 writer", ducklake["ingest_1_writer"])
        ducklake.update(lake_queries(one, args.rows, n_shards, args.shard_rows, n_pairs,
                                     args.repeats))
        ducklake["disk"] = lake_disk(one)
        print_queries("DuckLake", ducklake)
        ducklake[f"ingest_{args.writers}_writers"] = run_writers(
            lake_writer, str(many), n_shards, args.shard_rows, args.writers, workdir)
        print_ingest(f"DuckLake, {args.writers} writers",
                     ducklake[f"ingest_{args.writers}_writers"])
        ducklake[f"disk_{args.writers}_writers"] = lake_disk(many)
        shutil.rmtree(many)

        duckdb_file: dict = {"ingest_1_writer": run_writers(
            file_writer, str(file), n_shards, args.shard_rows, 1, workdir)}
        print_ingest("DuckDB file, 1 writer", duckdb_file["ingest_1_writer"])
        duckdb_file[f"ingest_{args.writers}_writers"] = {
            "possible": False,
            "why": "DuckDB admits one process with a database file open for writing; another "
                   "process can open it neither read-write nor read-only while it is open "
                   "(second_process_while_open)"}
        duckdb_file.update(file_queries(file, args.rows, n_shards, args.shard_rows, n_pairs,
                                        args.repeats, workdir))
        duckdb_file["disk"] = {"bytes": disk_bytes([file, Path(f"{file}.wal")])}
        print_queries("DuckDB file", duckdb_file)
        print(f"  a second process opening the file: {duckdb_file['second_process_while_open']}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    w = f"ingest_{args.writers}_writers"
    lake_1, lake_n = ducklake["ingest_1_writer"], ducklake[w]
    file_1 = duckdb_file["ingest_1_writer"]
    report["ducklake"], report["duckdb_file"] = ducklake, duckdb_file
    report["ratios_ducklake_over_duckdb_file"] = {
        "ingest_rows_per_s_1_writer": ratio(lake_1["rows_per_s"], file_1["rows_per_s"]),
        f"ingest_rows_per_s_{args.writers}_writers_vs_file_1_writer": ratio(
            lake_n["rows_per_s"], file_1["rows_per_s"]),
        "lineage_statement_median_s": ratio(ducklake["lineage_statement"]["median_s"],
                                            duckdb_file["lineage_statement"]["median_s"]),
        "count_by_shard_median_s": ratio(ducklake["count_by_shard"]["median_s"],
                                         duckdb_file["count_by_shard"]["median_s"]),
        "replace_shard_median_s": ratio(ducklake["replace_shard"]["median_s"],
                                        duckdb_file["replace_shard"]["median_s"]),
        "disk_bytes": ratio(ducklake["disk"]["bytes"], duckdb_file["disk"]["bytes"]),
    }
    report["ratios_ducklake"] = {
        f"ingest_rows_per_s_{args.writers}_writers_over_1": ratio(lake_n["rows_per_s"],
                                                                  lake_1["rows_per_s"])}
    report["machine"]["load_average_at_end"] = os.getloadavg()
    report["total_s"] = round(time.perf_counter() - started, 1)
    print("ratios DuckLake / DuckDB file:", json.dumps(report["ratios_ducklake_over_duckdb_file"]))
    print(f"DuckLake {args.writers} writers / 1 writer:", json.dumps(report["ratios_ducklake"]))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out} ({report['total_s']} s)")
    return report


def print_ingest(what: str, f: dict) -> None:
    print(f"{what:24s} {f['rows_per_s']:>10,} rows/s  {f['commits_per_s']:7.2f} commits/s  "
          f"{f['wall_s']:8.1f} s  retried commits {f['retried_commits']}", flush=True)


def print_queries(what: str, f: dict) -> None:
    lineage = f.get("lineage_model_lineage", f["lineage_statement"])
    print(f"{what:24s} lineage median {lineage['median_s'] * 1000:.1f} ms "
          f"(statement {f['lineage_statement']['median_s'] * 1000:.1f} ms), count by shard "
          f"{f['count_by_shard']['median_s'] * 1000:.1f} ms, replace a shard "
          f"{f['replace_shard']['median_s'] * 1000:.1f} ms, disk "
          f"{f['disk']['bytes'] / 2**20:.1f} MiB", flush=True)


if __name__ == "__main__":
    main()
