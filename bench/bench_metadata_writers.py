"""Concurrent metadata writers: the embedded DuckDB file against the partitioned Parquet store.

Four processes each commit their own shard's pairs repeatedly (each transaction held open a
moment, as a step's writes are) while a reader queries. Prints, per backend, the lock wait
(time to enter a transaction), each writer's wall time and the wall time of all of them, and
writes bench/results/metadata_writers.json.

    python bench/bench_metadata_writers.py [--writers 4] [--commits 10] [--hold 0.2]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from metadata_writer import run_concurrent, summarize


def main() -> None:
    """Run both backends with the same writers and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--commits", type=int, default=10)
    parser.add_argument("--hold", type=float, default=0.2)
    args = parser.parse_args()
    figures = {}
    for backend in ("duckdb", "parquet"):
        with tempfile.TemporaryDirectory() as tmp:
            result = run_concurrent(backend, Path(tmp) / "rh", args.writers, args.commits,
                                    args.hold)
        figures[backend] = summarize(result)
        f = figures[backend]
        print(f"{backend:8s} lock wait total {f['lock_wait_total_s']:.2f}s "
              f"(max {f['lock_wait_max_s']:.2f}s); writers' wall "
              f"{min(f['writer_wall_s']):.2f}-{max(f['writer_wall_s']):.2f}s; all "
              f"{f['all_writers_wall_s']:.2f}s; overlapping commits "
              f"{f['overlapping_commit_pairs']}; reader {f['reader_queries']} rows, "
              f"{len(f['reader_errors'])} errors")
    out = Path(__file__).parent / "results" / "metadata_writers.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"args": vars(args), "figures": figures}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
