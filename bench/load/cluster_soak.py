"""Soak the cluster profile under CPU load: the whole demo chain from the webserver's GraphQL API.

Usage: python -m bench.load.cluster_soak [--small] [--load 2] [--workers 2]
           [--fashion-train-limit 10000] [--timeout-s 7200] [--no-reference]

1. Starts the cluster (``devtools.cluster``: PostgreSQL, a Dask scheduler and ``--workers``
   workers, MLflow, the code server, the Dagster webserver and daemon) on a new REACT_HOME while
   ``--load`` busy-loop processes of its own keep the cores busy, and turns the code location's
   sensors off (automation would otherwise launch runs of its own between the stages).
2. Sends what a user sends from the UI, one stage after the other: the Launchpad's ``launchRun``
   for ``demo_world_job``, ``base_model_job``, ``index_job`` and ``leaderboard_job``; the
   Materialize dialog's ``launchPartitionBackfill`` over every shard for ``corpus_shards`` and for
   ``corpus_embeddings``, and over every domain for ``retrieved_pairs``, ``react_model`` and
   ``zeroshot_eval``. Each with the same run config as the reference below.
3. Reports each backfill's final status, each run's seconds queued, in STARTING (launched to its
   process starting the steps) and running, the runs retried, the wall time, whether the code
   server kept its pid, and how often the services' logs say a code server shut down for want of
   a heartbeat, a gRPC server timed out or Dask failed to size an object.
4. The reference, once the cluster is stopped: the same chain with the same run config executed
   in-process in the embedded profile (as ``python -m dagster_project.demo`` does) on a new home;
   then every metadata table (``react_assets.metadata.TABLES``) of the two homes compared by row
   count and key columns (``bench.common.demo_chain.KEY_COLUMNS``: ids, times, paths and
   durations left out). Both with OMP_NUM_THREADS=1, so both run the same kernels.

``--small`` runs the tests' tiny world (``tests/tiny_world.py``), minutes instead of an hour.
Exits 1 when a backfill or run did not succeed or the metadata differ. Writes
bench/results/cluster_soak.json (``cluster_soak_small.json`` with ``--small``); a failed soak
keeps its home and says where.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.common.demo_chain import STAGES, run_stage, run_timings, starting_summary, table_keys
from bench.common.results import write_result
from devtools.cluster import CODE_SERVER, Cluster, missing_requirements
from devtools.embedded_chain import plan_run_config, run_embedded_chain
from devtools.ui_client import list_runs, stop_sensors

ROOT = Path(__file__).resolve().parents[2]
LOCATION = "react"
# What the services' logs must not say.
LOG_ALARMS = {
    "heartbeat_shutdowns": "No heartbeat received",
    "grpc_start_timeouts": "Timed out waiting for gRPC server",
    "backfill_load_errors": "DagsterAssetBackfillDataLoadError",
    "sizeof_failures": "Sizeof calculation",
}
log = logging.getLogger("bench.cluster_soak")


class CpuLoad:
    """``n`` busy-loop processes, each its own process group, until :meth:`stop`; samples the
    1-minute load average every 10 s meanwhile."""

    def __init__(self, n: int) -> None:
        self.procs = [
            subprocess.Popen([sys.executable, "-c", "while True: pass"], start_new_session=True)
            for _ in range(n)
        ]
        self.samples: list[float] = []
        self._done = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()

    def _sample(self) -> None:
        while not self._done.wait(10.0):
            self.samples.append(os.getloadavg()[0])

    def stop(self) -> dict:
        self._done.set()
        for proc in self.procs:
            proc.kill()
            proc.wait()
        ordered = sorted(self.samples) or [0.0]
        return {
            "processes": len(self.procs),
            "load_1min_min": round(ordered[0], 2),
            "load_1min_median": round(ordered[len(ordered) // 2], 2),
            "load_1min_max": round(ordered[-1], 2),
        }


def log_alarms(cluster: Cluster) -> dict[str, int]:
    """How many lines of every service's log carry each of ``LOG_ALARMS``."""
    counts = dict.fromkeys(LOG_ALARMS, 0)
    for path in sorted((cluster.folder / "logs").glob("*.log")):
        for line in path.read_text(errors="replace").splitlines():
            for name, text in LOG_ALARMS.items():
                counts[name] += text in line
    return counts


def soak(report: dict, home: Path, args: argparse.Namespace, run_config: dict[str, dict]) -> None:
    """Start the cluster under load and drive every stage from GraphQL, writing the figures into
    ``report`` as they come (a stage that raises leaves those before it)."""
    load = CpuLoad(args.load)
    started = time.monotonic()
    report["stages"] = {}
    try:
        with Cluster(home, n_workers=args.workers, ui=True) as cluster:
            report["cluster_start_s"] = round(time.monotonic() - started, 1)
            code_server_pid = cluster.pids[CODE_SERVER]
            report["sensors_stopped"] = stop_sensors(cluster.ui_url, LOCATION)
            for stage in STAGES:
                report["stages"][stage.name] = run_stage(cluster.ui_url, stage, run_config, args.timeout_s)
                log.info("%-12s %s", stage.name, json.dumps(report["stages"][stage.name]))
                if not report["stages"][stage.name]["succeeded"]:
                    report["daemon_log_tail"] = cluster.log("dagster-daemon", 6000)
                    break
            report["wall_s"] = round(time.monotonic() - started, 1)
            report["runs"] = run_timings(list_runs(cluster.ui_url), report["stages"])
            report["starting"] = starting_summary(report["runs"])
            report["retried_runs"] = sum(1 for r in report["runs"] if r["retry_of"])
            report["code_server_kept_its_pid"] = cluster.pids[CODE_SERVER] == code_server_pid and _alive(
                code_server_pid
            )
            report["log_alarms"] = log_alarms(cluster)
            report["metadata"] = metadata_keys(home, cluster.settings()["REACT_METADATA_DSN"])
    finally:
        report["cpu_load"] = load.stop()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def metadata_keys(home: Path, dsn: str | None) -> dict[str, dict]:
    """Every metadata table's row count and key rows: the cluster's catalog (``dsn``) or the
    embedded one (None)."""
    from react_assets.metadata import open_store

    store = open_store(home, "postgres" if dsn else "sqlite", dsn=dsn)
    with store.connect(read_only=True) as conn:
        return table_keys(conn)


def embedded_reference(home: Path, run_config: dict[str, dict]) -> dict:
    """The same chain executed in-process in the embedded profile on ``home``; the runs that
    failed, the wall time and the metadata."""
    return run_embedded_chain(home, run_config) | {"metadata": metadata_keys(home, None)}


def compare(cluster: dict[str, dict], embedded: dict[str, dict]) -> dict[str, dict]:
    """Per table: both row counts and whether the key rows are equal."""
    out = {}
    for table in sorted(set(cluster) | set(embedded)):
        a, b = cluster.get(table, {}), embedded.get(table, {})
        out[table] = {
            "cluster_rows": a.get("rows"),
            "embedded_rows": b.get("rows"),
            "equal": a.get("rows") == b.get("rows") and a.get("keys") == b.get("keys"),
        }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="the tests' tiny world")
    parser.add_argument("--load", type=int, default=2, help="busy-loop processes (default 2)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--fashion-train-limit", type=int, default=10000)
    parser.add_argument("--timeout-s", type=float, default=7200, help="per stage")
    parser.add_argument(
        "--no-reference", action="store_true", help="skip the embedded reference and the metadata comparison"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    for name in ("bench", "devtools"):
        logging.getLogger(name).setLevel(logging.INFO)
    missing = missing_requirements()
    if missing:
        parser.error(f"the cluster needs: {', '.join(missing)} (scripts/setup.sh installs them)")
    os.environ["OMP_NUM_THREADS"] = "1"  # as the reference: the same kernels, the same figures
    run_config = plan_run_config(args.small, args.fashion_train_limit)
    name = "cluster_soak_small" if args.small else "cluster_soak"
    root = Path(tempfile.mkdtemp(prefix="react-soak-"))
    root.chmod(0o755)  # PostgreSQL (the postgres user, under root) traverses it
    figures: dict = {"small": args.small, "load": args.load, "workers": args.workers}
    ok = False
    try:
        figures["cluster"] = {}
        soak(figures["cluster"], root / "cluster-home", args, run_config)
        cluster_metadata = figures["cluster"].pop("metadata")
        ok = all(s["succeeded"] for s in figures["cluster"]["stages"].values()) and len(
            figures["cluster"]["stages"]
        ) == len(STAGES)
        if not args.no_reference:
            reference = embedded_reference(root / "embedded-home", run_config)
            figures["embedded"] = {"wall_s": reference["wall_s"], "failed_runs": reference["failed_runs"]}
            figures["metadata"] = compare(cluster_metadata, reference["metadata"])
            ok = ok and not reference["failed_runs"] and all(t["equal"] for t in figures["metadata"].values())
    finally:
        figures["succeeded"] = ok
        path = write_result(name, figures)
        print(f"wrote {path}")
        if ok:
            shutil.rmtree(root, ignore_errors=True)
        else:
            print(f"kept {root} (services' logs under cluster-home/cluster/logs)")
    print(
        json.dumps(
            {k: figures["cluster"].get(k) for k in ("wall_s", "code_server_kept_its_pid", "log_alarms")}
            if "cluster" in figures
            else {}
        )
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
