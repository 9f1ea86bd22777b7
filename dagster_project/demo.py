"""Run the whole pipeline on the demo world: `python -m dagster_project.demo`.

Each stage is a job of the code location, executed against the instance in DAGSTER_HOME, so
every run and materialization shows up in the Dagster UI afterwards.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path

import dagster as dg

from dagster_project.orphans import process_tags, release_orphaned_runs
from dagster_project.partitions import domain_partitions, shard_partitions
from dagster_project.resources import default_react_home
from react_assets.files.atomic import write_json
from react_assets.models.hardware import machine_description

log = logging.getLogger("react.demo")

STAGES = ("world", "corpus", "base", "embed", "index", "domains", "leaderboard")
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}

Execute = Callable[[str, "str | None", dict], None]


def demo_run_config(fashion_train_limit: int, max_steps: int | None = None,
                    pretrain_epochs: int | None = None) -> dict[str, dict]:
    """Per-job run config of the demo: the world's size, and optionally the domain models' step
    budget and the base's pre-training epochs (None: the library's defaults). How each domain is
    retrieved and which models are compared come from the demo's domain spec (see
    react_assets.demo.layout), so a backfill launched from the UI with default config does the
    same."""
    config = {"demo_world_job": {"ops": {"demo_world": {"config": {
        "fashion_train_limit": fashion_train_limit}}}}}
    if max_steps is not None:
        config["domain_job"] = {"ops": {"react_model": {"config": {"max_steps": max_steps}}}}
    if pretrain_epochs is not None:
        config["base_model_job"] = {"ops": {"base_model": {"config": {
            "pretrain_epochs": pretrain_epochs}}}}
    return config


def run_pipeline(instance: dg.DagsterInstance, execute: Execute, run_config: dict[str, dict],
                 stages: tuple[str, ...] = STAGES) -> dict[str, float]:
    """Run the stages in order, one job run per partition; returns seconds per stage."""
    timings: dict[str, float] = {}

    def stage(name: str, job: str, partitions: list[str] | None = None) -> None:
        if name not in stages:
            return
        started = time.perf_counter()
        for partition in partitions if partitions is not None else [None]:
            execute(job, partition, run_config.get(job, {}))
            log.info("%-16s %-12s done (%.0f s so far)", job, partition or "",
                     time.perf_counter() - started)
        timings[name] = time.perf_counter() - started

    stage("world", "demo_world_job")
    stage("corpus", "corpus_job", instance.get_dynamic_partitions(shard_partitions.name))
    stage("base", "base_model_job")
    stage("embed", "embedding_job", instance.get_dynamic_partitions(shard_partitions.name))
    stage("index", "index_job")
    stage("domains", "domain_job", instance.get_dynamic_partitions(domain_partitions.name))
    stage("leaderboard", "leaderboard_job")
    return timings


def timing_report(timings: dict[str, float], stages: str) -> dict[str, object]:
    """Wall seconds per stage and in total, with the machine and thread settings they ran on."""
    return {"stages": {name: round(seconds, 2) for name, seconds in timings.items()},
            "total_s": round(sum(timings.values()), 2), "requested_stages": stages.split(","),
            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "machine": machine_description()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fashion-train-limit", type=int, default=10000)
    parser.add_argument("--stages", default=",".join(STAGES), help=f"comma list of {STAGES}")
    parser.add_argument("--max-steps", type=int, default=None,
                        help="step budget of each domain model (default: the recipe's)")
    parser.add_argument("--pretrain-epochs", type=int, default=None,
                        help="epochs of the base pre-training (default: BaseModelPlan's)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    # faiss's loader looks for a per-SIMD-level library that wheels with runtime dispatch no
    # longer ship, and says "Could not load library with AVX2 support" while the library it
    # loads runs the AVX2 kernels; the index build logs the kernels in use instead.
    logging.getLogger("faiss.loader").setLevel(logging.WARNING)
    from dagster_project.definitions import defs
    from react_assets.customize.concurrent import concurrent_trainings, start_fork_server

    stages = tuple(args.stages.split(","))
    # The demo spec's two trained variants train side by side here (not on a GPU): start their
    # workers' fork server now, so its imports overlap the first stages.
    if "domains" in stages and concurrent_trainings(2) > 1:
        start_fork_server()
    with dg.DagsterInstance.get() as instance:
        for run_id in release_orphaned_runs(instance):
            log.warning("run %s was left started by a killed process: marked failed, its pool "
                        "slots freed", run_id)
        tags = process_tags()

        def execute(job: str, partition: str | None, config: dict) -> None:
            result = defs.resolve_job_def(job).execute_in_process(
                instance=instance, partition_key=partition, run_config=config | QUIET,
                tags=tags, raise_on_error=True)
            assert result.success

        timings = run_pipeline(instance, execute,
                               demo_run_config(args.fashion_train_limit, args.max_steps,
                                               args.pretrain_epochs),
                               stages)
    for name, seconds in timings.items():
        log.info("stage %-12s %7.1f s", name, seconds)
    reports = Path(default_react_home()) / "reports"
    write_json(reports / "demo_timing.json", timing_report(timings, args.stages))
    log.info("stage timings written to %s (total %.1f s)", reports / "demo_timing.json",
             sum(timings.values()))
    board = reports / "leaderboard.md"
    if board.exists():
        print("\nLeaderboard (zero-shot, x100, gain over the base model):\n")
        print(board.read_text(encoding="utf-8"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
