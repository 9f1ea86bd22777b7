"""Run the whole pipeline on the demo world: `python -m dagster_project.demo`.

Each stage is a job of the code location, executed against the instance in DAGSTER_HOME, so
every run and materialization shows up in the Dagster UI afterwards.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time

import dagster as dg

from dagster_project.definitions import defs
from dagster_project.partitions import domain_partitions, shard_partitions

log = logging.getLogger("react.demo")


def run_job(instance: dg.DagsterInstance, name: str, partition: str | None = None,
            run_config: dict | None = None) -> float:
    """Execute one job (one partition) in-process; raise when it fails. Returns seconds."""
    started = time.perf_counter()
    job = defs.resolve_job_def(name)
    result = job.execute_in_process(instance=instance, partition_key=partition,
                                    run_config=run_config or {}, raise_on_error=True)
    seconds = time.perf_counter() - started
    label = f"{name}[{partition}]" if partition else name
    log.info("%-40s %s in %.1f s (run %s)", label, "ok" if result.success else "FAILED",
             seconds, result.run_id)
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fashion-train-limit", type=int, default=10000)
    parser.add_argument("--stages", default="all", help="comma list: world,corpus,base,embed")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    stages = set(args.stages.split(",")) if args.stages != "all" else None
    timings: dict[str, float] = {}
    with dg.DagsterInstance.get() as instance:
        def want(stage: str) -> bool:
            return stages is None or stage in stages

        if want("world"):
            timings["world"] = run_job(instance, "demo_world_job", run_config={"ops": {
                "demo_world": {"config": {"fashion_train_limit": args.fashion_train_limit}}}})
        shards = instance.get_dynamic_partitions(shard_partitions.name)
        domains = instance.get_dynamic_partitions(domain_partitions.name)
        if want("corpus"):
            timings["corpus"] = sum(run_job(instance, "corpus_job", s) for s in shards)
        if want("base"):
            timings["base"] = run_job(instance, "base_model_job")
        if want("embed"):
            timings["embed"] = sum(run_job(instance, "embedding_job", s) for s in shards)
        log.info("domains: %s", ", ".join(domains))
    for stage, seconds in timings.items():
        log.info("stage %-10s %.1f s", stage, seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
