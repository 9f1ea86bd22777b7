"""The metadata bench's run: both stores written and queried, the figures and their ratios."""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import duckdb

from bench.common.results import add_results_dir, write_result
from bench.speed.metadata.queries import file_queries, lake_queries
from bench.speed.metadata.writers import file_writer, lake_writer, run_writers
from react_assets.metadata import engine, open_store


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


def software() -> dict:
    """Python, DuckDB and the DuckDB extensions the lake runs on, and the memory."""
    info: dict = {"python": platform.python_version(), "duckdb": duckdb.__version__}
    try:
        mem = Path("/proc/meminfo").read_text().splitlines()[0].split()
        info["memory_gib"] = round(int(mem[1]) / 2**20, 1)
    except (OSError, IndexError):
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
    add_results_dir(parser)
    args = parser.parse_args(argv)
    if args.rows % args.shard_rows:
        parser.error("--rows must be a multiple of --shard-rows")
    n_shards = args.rows // args.shard_rows
    n_pairs = min(args.lineage_pairs, args.rows // 2)
    report: dict = {
        "software": software(), "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "rows": args.rows, "shard_rows": args.shard_rows, "writers": args.writers,
        "repeats": args.repeats, "shards": n_shards, "lineage_pairs": n_pairs}
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
    report["total_s"] = round(time.perf_counter() - started, 1)
    print("ratios DuckLake / DuckDB file:", json.dumps(report["ratios_ducklake_over_duckdb_file"]))
    print(f"DuckLake {args.writers} writers / 1 writer:", json.dumps(report["ratios_ducklake"]))
    out = write_result("metadata", report, directory=args.results_dir)
    print(f"wrote {out} ({report['total_s']} s)")
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
