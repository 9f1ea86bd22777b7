"""Corpus-embedding backfill from the UI with one shard per run and with SHARDS_PER_RUN shards per
run, in the embedded and the cluster profile, against in-process embedding of the same shards.

Usage: python -m bench.load.backfill_policy [--profiles embedded,cluster] [--per-run 8,1]
           [--fashion-train-limit 10000] [--tiny]

For each profile, on a new REACT_HOME: start the Dagster webserver and daemon (embedded:
``devtools.dagster_server``, a local DAGSTER_HOME; cluster: ``devtools.cluster`` with 2 Dask
workers), turn the code location's sensors off (the automation sensor would otherwise start an
index run between two measurements), and do what a user does in the UI, through the GraphQL
mutation of its Materialize dialog: materialize ``demo_world``, every ``corpus_shards``
partition and ``base_model`` (one pre-training epoch). Then, for each ``--per-run`` value N
(REACT_BACKFILL_SHARDS_PER_RUN, read when the code location loads: the webserver and daemon are
restarted with it), remove the embedding files and backfill ``corpus_embeddings`` over every
shard: the daemon launches one run per N shards.

The in-process reference, measured on the embedded home after its backfills with no server
running: the demo's way (``embedding_job`` executed in-process, one run per shard, as
``python -m dagster_project.demo`` does) and one library call (``embed_corpus_shards`` over every
shard). Pairs per second are the embedded pairs over the backfill's wall time (launch to done,
polled each second) and over its runs' span: from the daemon creating the first run to the last
run's end, so without the backfill daemon's 30-second cadence (0-30 s before it creates the
runs, 0-30 s before it marks the backfill done) but with every run's queueing, process start,
imports and steps (a run's startTime comes after its imports).
Writes bench/results/backfill_policy.json (each profile's figures as soon as they exist).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from bench.common.results import add_results_dir, write_result
from devtools.dagster_server import DagsterServer, DagsterServerConfig
from devtools.ui_client import (
    graphql,
    launch_asset_backfill,
    stop_sensors,
    wait_for_backfill,
)
from react_assets.embed.corpus_shard import embed_corpus_shards
from react_assets.embed.encode import EmbeddingConfig
from react_assets.files.paths import ReactPaths
from react_assets.metadata import Store, open_store

ROOT = Path(__file__).resolve().parents[2]  # the repository: the demo's working directory
LOCATION = "react"
PER_RUN_ENV = "REACT_BACKFILL_SHARDS_PER_RUN"
log = logging.getLogger("bench.backfill_policy")


@dataclass(frozen=True)
class Plan:
    """The world built and the backfills measured."""

    per_run: tuple[int, ...]  # shards per run, measured in this order
    world: dict               # demo_world's op config
    base: dict                # base_model's op config
    embedding: dict           # corpus_embeddings' op config ({}: the defaults)
    timeout_s: float


def op_config(op: str, config: dict) -> dict | None:
    return {"ops": {op: {"config": config}}} if config else None


@contextlib.contextmanager
def shards_per_run(n: int) -> Iterator[None]:
    """REACT_BACKFILL_SHARDS_PER_RUN=n for the processes started inside."""
    before = os.environ.get(PER_RUN_ENV)
    os.environ[PER_RUN_ENV] = str(n)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(PER_RUN_ENV)
        else:
            os.environ[PER_RUN_ENV] = before


def backfill(url: str, asset: str, config: dict | None, timeout_s: float) -> dict:
    """Launch one backfill of every partition of ``asset``, wait for it; its times and runs."""
    launched = time.time()
    backfill_id = launch_asset_backfill(url, [asset], config, title=f"bench {asset}")
    outcome = wait_for_backfill(url, backfill_id, timeout_s, poll_s=1.0)
    statuses = collections.Counter(r["status"] for r in outcome.runs)
    log.info("%s: %s in %.1f s, runs %s", asset, outcome.status, outcome.wall_s, dict(statuses))
    if outcome.status != "COMPLETED_SUCCESS" or set(statuses) != {"SUCCESS"}:
        raise RuntimeError(f"backfill of {asset} ended {outcome.status}, runs {dict(statuses)}")
    runs = sorted(outcome.runs, key=lambda r: r["creationTime"])
    first, last = runs[0]["creationTime"], max(r["endTime"] for r in runs)
    return {"wall_s": round(outcome.wall_s, 1), "runs": len(runs),
            "runs_span_s": round(last - first, 1),
            "launch_to_first_run_s": round(first - launched, 1),
            "run_s": [round(r["endTime"] - r["startTime"], 1) for r in runs],
            "run_queued_to_end_s": [round(r["endTime"] - r["creationTime"], 1) for r in runs],
            "run_shards": [_shards_of(r) for r in runs]}


def _shards_of(run: dict) -> str:
    tags = {t["key"]: t["value"] for t in run.get("tags") or []}
    if "dagster/partition" in tags:
        return tags["dagster/partition"]
    return (f"{tags.get('dagster/asset_partition_range_start')}.."
            f"{tags.get('dagster/asset_partition_range_end')}")


def setup(url: str, plan: Plan) -> dict:
    """Sensors off, then the demo world, every shard and the base model, from the UI."""
    stopped = stop_sensors(url, LOCATION)
    log.info("sensors turned off: %s", stopped)
    return {"sensors_stopped": stopped,
            "world": backfill(url, "demo_world", op_config("demo_world", plan.world),
                              plan.timeout_s),
            "corpus": backfill(url, "corpus_shards", None, plan.timeout_s),
            "base": backfill(url, "base_model", op_config("base_model", plan.base),
                             plan.timeout_s)}


def embedding_backfill(url: str, home: Path, store: Callable[[], Store], plan: Plan) -> dict:
    """The embedding backfill over every shard, from no embedding file."""
    shutil.rmtree(home / "embeddings", ignore_errors=True)
    figures = backfill(url, "corpus_embeddings", op_config("corpus_embeddings", plan.embedding),
                       plan.timeout_s)
    shards, pairs = embedded_pairs(store())
    return {**figures, "shards": shards, "pairs": pairs,
            "pairs_per_s": round(pairs / figures["wall_s"], 1),
            "runs_pairs_per_s": round(pairs / figures["runs_span_s"], 1)}


def embedded_pairs(store: Store) -> tuple[int, int]:
    """(shards, pairs) of the embedding sets that have their files."""
    with store.connect() as conn:
        rows = conn.execute("SELECT folder, n_rows FROM embedding_sets").fetchall()
    done = [n for folder, n in rows if (store.home.resolve(folder) / "img_emb.npy").is_file()]
    return len(done), int(sum(done))


_DAEMON = """
query { instance { daemonHealth { daemonStatus(daemonType: "BACKFILL") {
  healthy lastHeartbeatTime } } } }
"""


def wait_for_daemon(url: str, since: float, timeout_s: float = 600.0) -> None:
    """Block until the backfill daemon started after ``since`` (epoch s) has sent a heartbeat:
    it loaded the code location, so a backfill launched now is not kept waiting for that."""
    deadline = time.monotonic() + timeout_s
    while True:
        status = graphql(url, _DAEMON)["instance"]["daemonHealth"]["daemonStatus"]
        if status["healthy"] and (status["lastHeartbeatTime"] or 0) > since:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"no backfill daemon heartbeat at {url} after {timeout_s:.0f} s")
        time.sleep(2.0)


def in_process(home: Path, plan: Plan) -> dict:
    """The same shards embedded with no server: the demo's embed stage (``embedding_job``
    executed in-process, one run per shard, in a ``python -m dagster_project.demo`` process; its
    own stage timing, without the process's imports), then one library call over every shard,
    each from no embedding file. The demo embeds with the default config whatever the plan's."""
    env = {**os.environ, "REACT_HOME": str(home), "DAGSTER_HOME": str(home / "dagster_home"),
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    shutil.rmtree(home / "embeddings", ignore_errors=True)
    subprocess.run([sys.executable, "-m", "dagster_project.demo", "--stages", "embed"], cwd=ROOT,
                   env=env, check=True)
    seconds = {"demo_runs": json.loads((home / "reports" / "demo_timing.json").read_text())[
        "stages"]["embed"]}
    store = open_store(home)
    with store.connect() as conn:
        shards = [r[0] for r in conn.execute("SELECT shard_id FROM shards ORDER BY shard_id")
                  .fetchall()]
    shutil.rmtree(home / "embeddings", ignore_errors=True)
    started = time.perf_counter()
    embed_corpus_shards(store, ReactPaths(home), shards, EmbeddingConfig(**plan.embedding))
    seconds["one_call"] = time.perf_counter() - started
    _, pairs = embedded_pairs(store)
    return {name: {"wall_s": round(s, 1), "pairs": pairs, "pairs_per_s": round(pairs / s, 1)}
            for name, s in seconds.items()}


def embedded(plan: Plan, root: Path) -> dict:
    """The embedded profile: `dagster dev` on a local DAGSTER_HOME, restarted for each N."""
    home = root / "react-home"
    report: dict = {"backfills": {}}
    for i, n in enumerate(plan.per_run):
        starting = time.time()
        with shards_per_run(n), DagsterServer(DagsterServerConfig(react_home=home)) as server:
            if i == 0:
                report["setup"] = setup(server.url, plan)
            else:
                wait_for_daemon(server.url, since=starting)
            report["backfills"][str(n)] = embedding_backfill(
                server.url, home, lambda: open_store(home), plan)
    report["in_process"] = in_process(home, plan)
    return report


def cluster(plan: Plan, root: Path) -> dict:
    """The cluster profile with 2 Dask workers; its webserver and daemon restarted for each N."""
    from bench.load.cluster_backfill import wait_for_ui
    from devtools.cluster import Cluster, worker_threads
    root.chmod(0o755)  # PostgreSQL (the postgres user, under root) traverses it
    home = root / "react-home"
    report: dict = {"workers": 2, "threads_per_worker": worker_threads(2), "backfills": {}}
    with shards_per_run(plan.per_run[0]):
        services = Cluster(home, n_workers=2, ui=True).start()
    try:
        url = f"http://127.0.0.1:{services.ports['ui']}"
        wait_for_ui(url)
        report["setup"] = setup(url, plan)

        def store() -> Store:
            return open_store(home, "postgres", dsn=services.settings()["REACT_METADATA_DSN"])

        for i, n in enumerate(plan.per_run):
            if i > 0:
                restarted = time.time()
                with shards_per_run(n):
                    services.restart_ui()
                wait_for_ui(url)
                wait_for_daemon(url, since=restarted)
            report["backfills"][str(n)] = embedding_backfill(url, home, store, plan)
    finally:
        services.stop()
    return report


def summary(report: dict) -> dict:
    """after/before of each profile, and each backfill against the in-process rates."""
    out = {}
    reference = report.get("embedded", {}).get("in_process", {})
    for profile in ("embedded", "cluster"):
        rates = {n: b["pairs_per_s"] for n, b in report.get(profile, {}).get("backfills",
                                                                              {}).items()}
        if "1" in rates:
            for n, rate in rates.items():
                if n != "1":
                    out[f"{profile}_{n}_per_run_over_1"] = round(rate / rates["1"], 2)
        for n, rate in rates.items():
            for name, ref in reference.items():
                out[f"{profile}_{n}_per_run_over_in_process_{name}"] = round(
                    rate / ref["pairs_per_s"], 2)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", default="embedded,cluster")
    parser.add_argument("--per-run", default="8,1",
                        help="shards per run to measure, in order (the first also sets up)")
    parser.add_argument("--fashion-train-limit", type=int, default=10000)
    parser.add_argument("--tiny", action="store_true",
                        help="the tests' tiny world (a smoke test; its figures mean nothing)")
    parser.add_argument("--timeout-s", type=float, default=1800)
    add_results_dir(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("faiss.loader").setLevel(logging.WARNING)
    per_run = tuple(int(x) for x in args.per_run.split(","))
    if args.tiny:  # the tests' tiny world (tests/tiny_world.py)
        plan = Plan(per_run, {"samples_per_shard": 400, "fashion_train_limit": 300,
                              "fashion_test_limit": 60, "clipart_limit": 300, "emoji_limit": 150,
                              "digits_limit": 300},
                    {"pretrain_epochs": 1, "pretrain_batch_size": 32, "pretrain_max_pairs": 128},
                    {"batch_size": 64, "workers": 0}, args.timeout_s)
    else:
        plan = Plan(per_run, {"fashion_train_limit": args.fashion_train_limit},
                    {"pretrain_epochs": 1}, {}, args.timeout_s)
    report: dict = {"plan": plan.__dict__}
    for profile in args.profiles.split(","):
        root = Path(tempfile.mkdtemp(prefix=f"react-bench-policy-{profile}-"))
        measure = {"embedded": embedded, "cluster": cluster}[profile]
        try:
            report[profile] = measure(plan, root)
        except BaseException:
            log.error("%s failed; kept %s (logs: dagster-dev.log or cluster/logs)", profile, root)
            report[profile] = {"failed": True, "kept": str(root)}
            write_result("backfill_policy", report, directory=args.results_dir)
            raise
        shutil.rmtree(root, ignore_errors=True)
        report["summary"] = summary(report)
        out = write_result("backfill_policy", report, directory=args.results_dir)
        for n, b in report[profile]["backfills"].items():
            print(f"{profile}, {n} shard(s) per run: {b['pairs']} pairs in {b['shards']} shards, "
                  f"{b['runs']} runs, backfill {b['wall_s']:.1f} s = {b['pairs_per_s']:.1f} "
                  f"pairs/s (runs' span {b['runs_span_s']:.1f} s = {b['runs_pairs_per_s']:.1f})",
                  flush=True)
    for name, ref in report.get("embedded", {}).get("in_process", {}).items():
        print(f"in-process {name}: {ref['wall_s']:.1f} s = {ref['pairs_per_s']:.1f} pairs/s")
    for key, value in report.get("summary", {}).items():
        print(f"{key}: {value:.2f}")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
