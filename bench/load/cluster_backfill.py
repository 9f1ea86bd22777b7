"""Corpus-embedding backfill throughput of the cluster profile with 1 and with 2 Dask workers.

Usage: python -m bench.load.cluster_backfill [--workers 1,2] [--fashion-train-limit 10000]

For each worker count, on a new REACT_HOME: start the local cluster (PostgreSQL, Dask scheduler
and N workers, MLflow server, Dagster webserver and daemon; ``devtools.cluster``), then do what a
user does in the UI, through the GraphQL mutation of its Materialize dialog:

1. materialize ``demo_world``, then every ``corpus_shards`` partition, then ``base_model`` (one
   pre-training epoch: the base's quality does not change the embedding's cost);
2. backfill ``corpus_embeddings`` over every shard: the daemon launches one run per
   REACT_BACKFILL_SHARDS_PER_RUN shards (default 8; at most 8 runs at once) and each run's step
   goes to whichever Dask worker is free.

Reports the embedding backfill's wall time and pairs embedded per second for each worker count,
their ratio, and each run's seconds; writes bench/results/cluster_backfill.json. Each worker gets
the machine's cores shared out (``OMP_NUM_THREADS``, ``devtools.cluster.worker_threads``), so one
worker uses every core and two use half each: the comparison is one process against two on the
same cores.
"""

from __future__ import annotations

import argparse
import collections
import logging
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench.common.results import add_results_dir, write_result
from devtools.cluster import Cluster, missing_requirements, worker_threads
from devtools.ui_client import graphql, launch_asset_backfill, wait_for_backfill
from react_assets.metadata import open_store

LOCATION = "react"
log = logging.getLogger("bench.cluster_backfill")

_WORKSPACE = "query { workspaceOrError { ... on Workspace { locationEntries { name loadStatus } } } }"


def wait_for_ui(url: str, timeout_s: float = 300.0) -> None:
    """Block until the webserver at ``url`` answers with the code location loaded."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            entries = graphql(url, _WORKSPACE)["workspaceOrError"].get("locationEntries", [])
            if any(e["name"] == LOCATION and e["loadStatus"] == "LOADED" for e in entries):
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"Dagster webserver {url} not ready after {timeout_s:.0f} s")
        time.sleep(1.0)


def backfill(url: str, assets: list[str], config: dict | None, timeout_s: float) -> dict:
    """Launch and wait for one asset backfill; its status, wall seconds and run seconds."""
    backfill_id = launch_asset_backfill(url, assets, config, title=f"bench {'+'.join(assets)}")
    outcome = wait_for_backfill(url, backfill_id, timeout_s, poll_s=1.0)
    seconds = sorted(round(r["endTime"] - r["startTime"], 1) for r in outcome.runs
                     if r["startTime"] and r["endTime"])
    statuses = collections.Counter(r["status"] for r in outcome.runs)
    log.info("%s: %s in %.1f s, runs %s", "+".join(assets), outcome.status, outcome.wall_s,
             dict(statuses))
    if outcome.status != "COMPLETED_SUCCESS" or set(statuses) != {"SUCCESS"}:
        raise RuntimeError(f"backfill of {assets} ended {outcome.status}, runs {dict(statuses)}")
    return {"wall_s": round(outcome.wall_s, 1), "runs": len(outcome.runs), "run_s": seconds}


def measure(n_workers: int, fashion_train_limit: int, timeout_s: float) -> dict:
    """The embedding backfill on a new home with ``n_workers`` Dask workers."""
    root = Path(tempfile.mkdtemp(prefix=f"react-bench-cluster-{n_workers}-"))
    root.chmod(0o755)  # PostgreSQL (the postgres user, under root) traverses it
    home = root / "react-home"
    failed = True
    try:
        with Cluster(home, n_workers=n_workers, ui=True) as cluster:
            url = f"http://127.0.0.1:{cluster.ports['ui']}"
            wait_for_ui(url)
            setup = {
                "world": backfill(url, ["demo_world"], {"ops": {"demo_world": {"config": {
                    "fashion_train_limit": fashion_train_limit}}}}, timeout_s),
                "corpus": backfill(url, ["corpus_shards"], None, timeout_s),
                "base": backfill(url, ["base_model"], {"ops": {"base_model": {"config": {
                    "pretrain_epochs": 1}}}}, timeout_s),
            }
            embedding = backfill(url, ["corpus_embeddings"], None, timeout_s)
            store = open_store(home, "postgres", dsn=cluster.settings()["REACT_METADATA_DSN"])
            with store.connect() as conn:
                shards, pairs = conn.execute(
                    "SELECT count(*), sum(n_rows) FROM embedding_sets").fetchone()
            workers = {r["worker"] for r in _materializations(url, "corpus_embeddings")}
            failed = False
    finally:
        if failed:  # the services' logs and the runs (PostgreSQL) are kept to read
            log.error("kept %s (logs under cluster/logs)", root)
        else:
            shutil.rmtree(root, ignore_errors=True)
    return {"workers": n_workers, "threads_per_worker": worker_threads(n_workers),
            "setup": setup, "embedding": embedding, "shards": int(shards), "pairs": int(pairs),
            "pairs_per_s": round(pairs / embedding["wall_s"], 1),
            "worker_processes_used": len(workers)}


_MATERIALIZATIONS = """
query($key: AssetKeyInput!) { assetOrError(assetKey: $key) { ... on Asset {
  assetMaterializations(limit: 1000) { partition metadataEntries {
    label ... on TextMetadataEntry { text } } } } } }
"""


def _materializations(url: str, asset: str) -> list[dict]:
    data = graphql(url, _MATERIALIZATIONS, {"key": {"path": [asset]}})["assetOrError"]
    return [{"partition": m["partition"],
             "worker": next((e.get("text") for e in m["metadataEntries"]
                             if e["label"] == "worker"), None)}
            for m in data.get("assetMaterializations", [])]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", default="1,2", help="comma list of worker counts")
    parser.add_argument("--fashion-train-limit", type=int, default=10000)
    parser.add_argument("--timeout-s", type=float, default=1800)
    add_results_dir(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    missing = missing_requirements()
    if missing:
        parser.error(f"the cluster needs: {', '.join(missing)} (scripts/setup.sh installs them)")
    report: dict = {"fashion_train_limit": args.fashion_train_limit, "runs": []}
    for n in (int(x) for x in args.workers.split(",")):
        result = measure(n, args.fashion_train_limit, args.timeout_s)
        report["runs"].append(result)
        # each worker count's figures kept as soon as they exist
        write_result("cluster_backfill", report, directory=args.results_dir)
        print(f"{n} worker(s) x {result['threads_per_worker']} thread(s): {result['pairs']} pairs "
              f"in {result['shards']} shards, backfill {result['embedding']['wall_s']:.1f} s, "
              f"{result['pairs_per_s']:.1f} pairs/s "
              f"({result['worker_processes_used']} worker processes)", flush=True)
    by_workers = {r["workers"]: r["pairs_per_s"] for r in report["runs"]}
    if 1 in by_workers and 2 in by_workers:
        report["speedup_2_over_1"] = round(by_workers[2] / by_workers[1], 2)
        print(f"2 workers / 1 worker: {report['speedup_2_over_1']:.2f}x")
    print(f"wrote {write_result('cluster_backfill', report, directory=args.results_dir)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
