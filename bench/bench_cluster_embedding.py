"""Corpus-embedding backfill throughput on the local cluster with 2 Dask workers, then 1.

Starts the cluster profile's services (devtools/cluster.py) under a temporary REACT_HOME, builds
the tiny world, ingests it and pre-trains the base model, then embeds every shard partition as
one run each, all launched at once (a backfill), first with 2 workers and again (embeddings
removed) with 1 worker left. Prints pairs per second of the whole backfill and writes
bench/results/cluster_embedding.json.

    python bench/bench_cluster_embedding.py

Known issue: in its one run so far the preparation succeeded but the backfill (dg.execute_job
from several threads of one process on one instance) submitted no step in 4 minutes and was
stopped; launching the runs from separate processes (or from the daemon's backfill) is the next
thing to try. No figure has been recorded yet.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def backfill() -> None:
    """Inside the cluster's environment: embed every shard, one run each, all at once."""
    import dagster as dg
    from dagster._core.definitions.reconstruct import ReconstructableRepository
    sys.path.insert(0, str(REPO / "tests"))
    from tiny_world import TINY_RUN_CONFIG

    repo = ReconstructableRepository.for_module("dagster_project.definitions", "defs",
                                                working_directory=str(REPO))
    with dg.DagsterInstance.get() as instance:
        shards = instance.get_dynamic_partitions("shards")

        def one(shard: str) -> bool:
            return dg.execute_job(repo.get_reconstructable_job("embedding_job"),
                                  instance=instance, run_config=TINY_RUN_CONFIG["embedding_job"],
                                  tags={"dagster/partition": shard}).success
        started = time.perf_counter()
        with ThreadPoolExecutor(len(shards)) as pool:
            ok = list(pool.map(one, shards))
        seconds = time.perf_counter() - started
    print(json.dumps({"shards": len(shards), "seconds": seconds, "success": all(ok)}))


def main() -> None:
    """Start the cluster, prepare the world, time the backfill with 2 then 1 workers."""
    from react_assets.sql import count_pairs_by_source

    from devtools.cluster import Cluster
    from react_assets.store_parquet import open_store
    figures = {}
    with tempfile.TemporaryDirectory(dir=REPO / "bench") as tmp, \
            Cluster(Path(tmp) / "rh", n_workers=2) as cluster:
        env = {**cluster.env(), "OMP_NUM_THREADS": "1"}
        subprocess.run([sys.executable, str(REPO / "tests/cluster/run_tiny_world.py"),
                        str(Path(tmp) / "prep.json"), "stages=world,corpus,base"], env=env,
                       check=True, cwd=REPO)
        n_pairs = sum(r["n_pairs"] for r in open_store(cluster.react_home, "parquet").fetch(
            count_pairs_by_source))
        for workers in (2, 1):
            if workers == 1:
                from distributed import Client
                with Client(cluster.settings()["REACT_DASK_SCHEDULER"]) as client:
                    client.retire_workers(n=1)
            shutil.rmtree(cluster.react_home / "embeddings", ignore_errors=True)
            out = subprocess.run([sys.executable, __file__, "--inner"], env=env, check=True,
                                 cwd=REPO, capture_output=True, text=True).stdout
            result = json.loads(out.strip().splitlines()[-1])
            result["pairs_per_s"] = n_pairs / result["seconds"]
            figures[f"{workers}_workers"] = result
            print(f"{workers} worker(s): {result['shards']} shards, {n_pairs} pairs in "
                  f"{result['seconds']:.1f}s = {result['pairs_per_s']:.1f} pairs/s "
                  f"(success {result['success']})")
    out_file = REPO / "bench" / "results" / "cluster_embedding.json"
    out_file.parent.mkdir(exist_ok=True)
    out_file.write_text(json.dumps({"n_pairs": n_pairs, "figures": figures,
                                    "cpus": os.cpu_count()}, indent=2))


if __name__ == "__main__":
    if "--inner" in sys.argv:
        backfill()
    else:
        main()
