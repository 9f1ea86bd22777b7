"""Corpus-embedding backfill throughput on the cluster profile with 1 and 2 Dask workers.

For each worker count, under a fresh home: start the local cluster (PostgreSQL, a Dask scheduler
and N workers, the MLflow server; ``devtools.cluster``), run the world, ingestion and base stages
through it (a small demo world, a 1-epoch base), then launch the embedding run of every shard at
once, as a backfill does (one run per shard, each step on a Dask worker), and time them:
throughput = embedded pairs / wall seconds from the first launch to the last run's end. The
alternative a user would pick is the embedded profile's one process; the 1-worker cluster is it
plus the engine's overhead. Writes bench/results/cluster_embedding.json.

    python bench/bench_cluster_embedding.py [--workers 1,2] [--fashion-train-limit 3000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
RESULTS = REPO / "bench" / "results" / "cluster_embedding.json"


def child(fashion_train_limit: int) -> dict:
    """Inside the cluster's environment: the first stages, then every shard's embedding at once."""
    import dagster as dg
    from dagster._core.definitions.reconstruct import ReconstructableRepository

    from dagster_project.demo import run_pipeline
    from dagster_project.partitions import shard_partitions
    from react_assets.store_parquet import open_store

    repo = ReconstructableRepository.for_module("dagster_project.definitions", "defs",
                                                working_directory=str(REPO))
    config = {
        "demo_world_job": {"ops": {"demo_world": {"config": {
            "samples_per_shard": 1000, "fashion_train_limit": fashion_train_limit,
            "fashion_test_limit": 100, "clipart_limit": 600, "emoji_limit": 200,
            "digits_limit": 400}}}},
        "base_model_job": {"ops": {"base_model": {"config": {
            "pretrain_epochs": 1, "pretrain_batch_size": 32, "pretrain_max_pairs": 256}}}},
    }
    embed_config = {"ops": {"corpus_embeddings": {"config": {"workers": 0}}}}
    with dg.DagsterInstance.get() as instance:
        def execute(job: str, partition: str | None, run_config: dict) -> bool:
            tags = {"dagster/partition": partition} if partition else {}
            return dg.execute_job(repo.get_reconstructable_job(job), instance=instance,
                                  run_config=run_config, tags=tags).success

        def must(job: str, partition: str | None, run_config: dict) -> None:
            assert execute(job, partition, run_config), f"{job}[{partition}] failed"

        run_pipeline(instance, must, config, ("world", "corpus", "base"))
        shards = instance.get_dynamic_partitions(shard_partitions.name)
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=len(shards)) as pool:
            ok = list(pool.map(lambda s: execute("embedding_job", s, embed_config), shards))
        seconds = time.perf_counter() - started
    home = Path(os.environ["REACT_HOME"])
    store = open_store(home, "parquet")
    with store.connect() as conn:
        rows = conn.execute("SELECT sum(n_rows) FROM embedding_sets").fetchone()[0]
    return {"shards": len(shards), "pairs": int(rows or 0), "seconds": round(seconds, 2),
            "pairs_per_s": round((rows or 0) / seconds, 1), "all_succeeded": all(ok)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--fashion-train-limit", type=int, default=3000)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.fashion_train_limit)))
        return
    from devtools.cluster import Cluster
    from react_assets.models.hardware import machine_description
    results = {}
    for n in [int(w) for w in args.workers.split(",")]:
        home = Path(tempfile.mkdtemp(prefix=f"react-bench-cluster{n}-")) / "react-home"
        with Cluster(home, n_workers=n) as cluster:
            env = cluster.env() | {"OMP_NUM_THREADS": "1"}
            proc = subprocess.run([sys.executable, __file__, "--child", "--fashion-train-limit",
                                   str(args.fashion_train_limit)], env=env, cwd=REPO,
                                  capture_output=True, text=True, timeout=3600)
        if proc.returncode != 0:
            raise SystemExit(f"{n} worker(s): {proc.stderr[-3000:]}")
        results[n] = json.loads(proc.stdout.strip().splitlines()[-1])
        print(f"{n} worker(s): {results[n]}")
    if 1 in results and 2 in results:
        print(f"2 workers / 1 worker: {results[2]['pairs_per_s'] / results[1]['pairs_per_s']:.2f}x")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"workers": results, "machine": machine_description(),
                                    "fashion_train_limit": args.fashion_train_limit},
                                   indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
