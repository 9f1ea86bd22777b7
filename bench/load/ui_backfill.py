"""How long a full backfill of the demo world takes from the Dagster UI.

Usage: python -m bench.load.ui_backfill [--react-home DIR] [--fashion-train-limit 10000]

Starts `dagster dev` (webserver + daemon, 127.0.0.1) on an empty REACT_HOME and does what a user
does in the UI, through the same GraphQL mutation the UI's Materialize dialog sends:

1. materialize ``demo_world`` (it registers the shard and domain partitions);
2. "Materialize all" over every other asset and every partition, with default config: one asset
   backfill that the daemon runs as per-partition runs (multiprocess executor, at most
   ``max_concurrent_runs`` at once, DuckDB writers and training limited by pools).

Prints the wall time of each backfill and per-asset run times, and writes
bench/results/ui_backfill.json. The alternative to compare with is the README's demo command
(``python -m dagster_project.demo``: the same jobs executed in-process, one after another).
"""

from __future__ import annotations

import argparse
import collections
import logging
import sys
import tempfile
import time
from pathlib import Path

from bench.common.results import add_results_dir, write_result
from devtools.dagster_server import DagsterServer, DagsterServerConfig
from devtools.ui_client import launch_asset_backfill, wait_for_backfill

PIPELINE_ASSETS = ["corpus_shards", "base_model", "corpus_embeddings", "knn_index",
                   "retrieved_pairs", "react_model", "zeroshot_eval", "leaderboard"]
log = logging.getLogger("bench.ui_backfill")


def run_summary(runs: list[dict]) -> dict[str, dict[str, float]]:
    """Run count and total/max run seconds of partitioned and unpartitioned runs, by status."""
    by_kind: dict[str, list[float]] = collections.defaultdict(list)
    for run in runs:
        tags = {t["key"]: t["value"] for t in run.get("tags") or []}
        kind = "partition " if "dagster/partition" in tags else "unpartitioned "
        if run["startTime"] and run["endTime"]:
            by_kind[kind + run["status"]].append(run["endTime"] - run["startTime"])
    return {k: {"runs": len(v), "total_s": round(sum(v), 1), "max_s": round(max(v), 1)}
            for k, v in by_kind.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--react-home", type=Path, default=None,
                        help="an empty folder (default: a new temporary one)")
    parser.add_argument("--fashion-train-limit", type=int, default=10000)
    parser.add_argument("--timeout-s", type=float, default=4 * 3600)
    add_results_dir(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    react_home = args.react_home or Path(tempfile.mkdtemp(prefix="react-ui-backfill-"))
    if react_home.exists() and any(react_home.iterdir()):
        parser.error(f"{react_home} is not empty: the benchmark starts from nothing")

    def progress(data: dict) -> None:
        states = collections.Counter(r["status"] for r in data["runs"] or [])
        log.info("backfill %s %s runs %s", data["id"], data["status"], dict(states))

    report: dict = {"react_home": str(react_home), "fashion_train_limit": args.fashion_train_limit}
    started = time.monotonic()
    with DagsterServer(DagsterServerConfig(react_home=react_home)) as server:
        report["server_start_s"] = round(time.monotonic() - started, 1)
        stages = [("world", ["demo_world"], {"ops": {"demo_world": {"config": {
                      "fashion_train_limit": args.fashion_train_limit}}}}),
                  ("materialize_all", PIPELINE_ASSETS, None)]
        for name, assets, config in stages:
            backfill = launch_asset_backfill(server.url, assets, config, title=f"bench {name}")
            outcome = wait_for_backfill(server.url, backfill, args.timeout_s, poll_s=15,
                                        on_poll=progress)
            report[name] = {"backfill_id": backfill, "status": outcome.status,
                            "wall_s": round(outcome.wall_s, 1), "runs": len(outcome.runs),
                            "run_times": run_summary(outcome.runs)}
            log.info("%s: %s in %.0f s (%d runs)", name, outcome.status, outcome.wall_s,
                     len(outcome.runs))
            if outcome.status != "COMPLETED_SUCCESS":
                report["log_tail"] = server.log_tail()
                break
    report["total_s"] = round(time.monotonic() - started, 1)
    board = react_home / "reports" / "leaderboard.md"
    if board.exists():
        report["leaderboard_md"] = board.read_text(encoding="utf-8")
        print(report["leaderboard_md"])
    out = write_result("ui_backfill", report, directory=args.results_dir)
    print(f"total {report['total_s']:.0f} s; wrote {out}")
    return 0 if "log_tail" not in report else 1


if __name__ == "__main__":
    sys.exit(main())
