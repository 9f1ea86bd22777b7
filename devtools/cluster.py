"""Start and stop the cluster profile's services on 127.0.0.1, every file under REACT_HOME/cluster.

    python -m devtools.cluster start [--workers 2] [--ui]   # or scripts/cluster.sh start
    python -m devtools.cluster stop

Services, each in its own process group (stopped by signalling the group; PostgreSQL by
``pg_ctl stop``): PostgreSQL (``devtools.postgres``; the Dagster instance, the MLflow backend and
the metadata catalog), the Dask scheduler and N Dask workers (the steps), the MLflow tracking
server (runs in PostgreSQL, artifacts under ``REACT_HOME/mlartifacts`` served by it), and with
``--ui`` the code location's gRPC server (``devtools.code_server``; every run is its child), then
the Dagster webserver and daemon, which load the code location from it through
``cluster/workspace.yaml``. Each service's output goes to ``cluster/logs/<service>.log``; the
console gets one line per service. ``cluster/cluster.env`` holds the settings every client needs
(``REACT_PROFILE=cluster``, the addresses, ``DAGSTER_HOME=REACT_HOME/cluster/dagster_home``);
``services.json`` the ports and process ids.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import shutil
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from devtools import service_commands as commands
from devtools.code_server import (
    code_server_command,
    code_server_serving,
    location_loaded,
    wait_until,
    write_workspace,
)
from devtools.dagster_server import REPO_ROOT, free_port
from devtools.postgres import missing_postgres, start_postgres, stop_postgres
from devtools.process_groups import (
    exit_status,
    group_members,
    spawn_group,
    stop_group,
)

log = logging.getLogger(__name__)
CLUSTER_YAML = REPO_ROOT / "dagster_project" / "dagster.cluster.yaml"
HOST = "127.0.0.1"
CODE_SERVER = "code-server"
DAGSTER_UI = ("dagster-webserver", "dagster-daemon")


def missing_requirements() -> list[str]:
    """What this machine lacks to start the cluster (empty: everything is there)."""
    missing = missing_postgres()
    for module in ("dagster_dask", "dagster_postgres", "distributed", "psycopg2"):
        try:
            __import__(module)
        except ImportError:
            missing.append(f"python package {module} (pip install -e '.[dev]')")
    return missing


def max_concurrent_runs(n_workers: int) -> int:
    """Runs the instance starts at once: one per worker, plus one that starts (imports, plans)
    while the others' steps run. More only queue for the workers while taking the cores."""
    return max(1, n_workers) + 1


@dataclass
class Cluster:
    """The local services of the cluster profile under ``react_home``."""

    react_home: Path
    n_workers: int = 2
    worker_resources: str = "CPU=1"
    ui: bool = False
    ports: dict[str, int] = field(default_factory=dict)
    pids: dict[str, int] = field(default_factory=dict)

    @property
    def folder(self) -> Path:
        return self.react_home / "cluster"

    @property
    def pg_data(self) -> Path:
        return self.folder / "pg"

    @property
    def env_file(self) -> Path:
        return self.folder / "cluster.env"

    @property
    def workspace_file(self) -> Path:
        return self.folder / "workspace.yaml"

    @property
    def ui_url(self) -> str:
        return f"http://{HOST}:{self.ports['ui']}"

    def settings(self) -> dict[str, str]:
        """The environment every client and worker of this cluster needs."""
        pg = f"postgresql+psycopg2://react@{HOST}:{self.ports['postgres']}"
        return {
            "REACT_PROFILE": "cluster",
            "REACT_HOME": str(self.react_home),
            "DAGSTER_HOME": str(self.folder / "dagster_home"),
            "REACT_PG_URL": f"{pg}/dagster",
            "REACT_MLFLOW_URI": f"http://{HOST}:{self.ports['mlflow']}",
            "REACT_DASK_SCHEDULER": f"tcp://{HOST}:{self.ports['dask']}",
            "REACT_MLFLOW_BACKEND": f"{pg}/mlflow",
            "REACT_METADATA_DSN": f"host={HOST} port={self.ports['postgres']} user=react dbname=metadata",
            "REACT_MAX_CONCURRENT_RUNS": str(max_concurrent_runs(self.n_workers)),
        }

    def env(self) -> dict[str, str]:
        from dagster_project import OFFLINE_ENV

        path = os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])
        # A step may start processes (decoding workers, pools): Dask's worker must not be a
        # daemon process, which may not have children.
        return {
            **os.environ,
            **OFFLINE_ENV,
            **self.settings(),
            "PYTHONPATH": path,
            "DASK_DISTRIBUTED__WORKER__DAEMON": "False",
        }

    def worker_env(self) -> dict[str, str]:
        """A Dask worker's environment: torch and faiss threads set to this machine's cores
        shared among its workers (each runs one step at a time; without it every worker's
        step starts a thread per core, and N workers oversubscribe the cores N times), unless
        OMP_NUM_THREADS is set already."""
        env = self.env()
        env.setdefault("OMP_NUM_THREADS", str(worker_threads(self.n_workers)))
        return env

    def start(self) -> Cluster:
        """Start every service and wait until each answers; write cluster.env."""
        missing = missing_requirements()
        if missing:
            raise RuntimeError(f"cannot start the cluster, missing: {', '.join(missing)}")
        (self.folder / "logs").mkdir(parents=True, exist_ok=True)
        self.ports = {name: free_port() for name in ("postgres", "dask", "mlflow", "ui", "code")}
        try:
            self._start_services()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_services(self) -> None:
        start_postgres(self.pg_data, self.ports["postgres"], databases=("dagster", "mlflow", "metadata"))
        log.info("started %-18s port %d, log cluster/pg/server.log", "postgres", self.ports["postgres"])
        self._write_settings()
        if self.ui:  # first: its imports overlap the other services' start
            self._spawn_code_server()
        self._spawn("dask-scheduler", commands.dask_scheduler(HOST, self.ports["dask"]))
        for i in range(self.n_workers):
            scratch = self.folder / f"dask-worker-{i}"
            command = commands.dask_worker(
                self.settings()["REACT_DASK_SCHEDULER"], f"worker-{i}", self.worker_resources, HOST, scratch
            )
            self._spawn(f"dask-worker-{i}", command, env=self.worker_env())
        backend = self.settings()["REACT_MLFLOW_BACKEND"]
        artifacts = self.react_home / "mlartifacts"
        self._spawn("mlflow", commands.mlflow_server(HOST, self.ports["mlflow"], backend, artifacts))
        if self.ui:
            self._start_dagster_ui()
        self._wait_ready()

    def _write_settings(self) -> None:
        """The instance's dagster.yaml, cluster.env and the workspace file."""
        dagster_home = Path(self.settings()["DAGSTER_HOME"])
        dagster_home.mkdir(parents=True, exist_ok=True)
        shutil.copy(CLUSTER_YAML, dagster_home / "dagster.yaml")
        # quoted: REACT_METADATA_DSN has spaces, and clients source this file with bash
        self.env_file.write_text("".join(f"{k}={shlex.quote(v)}\n" for k, v in self.settings().items()))
        write_workspace(self.workspace_file, HOST, self.ports["code"])

    def _spawn_code_server(self) -> None:
        self._spawn(CODE_SERVER, code_server_command(HOST, self.ports["code"]))

    def _start_dagster_ui(self, timeout_s: float = 900.0) -> None:
        """Wait for the code server to answer, then start the webserver and the daemon on it."""
        wait_until(
            lambda: code_server_serving(HOST, self.ports["code"]),
            f"code server on port {self.ports['code']}",
            timeout_s,
            self._check_alive,
        )
        self._spawn(
            "dagster-webserver", commands.dagster_webserver(HOST, self.ports["ui"], self.workspace_file)
        )
        self._spawn("dagster-daemon", commands.dagster_daemon(self.workspace_file))

    def restart_ui(self) -> None:
        """Stop the Dagster daemon, webserver and code server and start them again on the same
        ports, with this process's environment as it is now (a setting the code location reads
        at load, such as REACT_BACKFILL_SHARDS_PER_RUN). Call it when no run is going: every
        run is a child of the code server."""
        if not self.ui:
            raise RuntimeError("this cluster was started without the Dagster UI (ui=False)")
        for name in (*reversed(DAGSTER_UI), CODE_SERVER):
            stop_group(name, self.pids.pop(name), 30.0)
        self._spawn_code_server()
        self._start_dagster_ui()
        wait_until(
            lambda: location_loaded(self.ui_url),
            f"Dagster webserver {self.ui_url}",
            600.0,
            self._check_alive,
            poll_s=1.0,
        )

    def _save(self) -> None:
        (self.folder / "services.json").write_text(
            json.dumps(
                {"ports": self.ports, "pids": self.pids, "n_workers": self.n_workers, "ui": self.ui}, indent=1
            )
        )

    def _spawn(self, name: str, command: list[str], env: dict[str, str] | None = None) -> None:
        self.pids[name] = spawn_group(
            command, cwd=REPO_ROOT, env=env or self.env(), log_path=self.log_path(name)
        )
        self._save()
        log.info("started %-18s pid %d, log cluster/logs/%s.log", name, self.pids[name], name)

    def _wait_ready(self, timeout_s: float = 900.0) -> None:  # MLflow's first start: minutes
        from distributed import Client

        with Client(self.settings()["REACT_DASK_SCHEDULER"], timeout=timeout_s) as client:
            client.wait_for_workers(self.n_workers, timeout=timeout_s)
        mlflow = self.settings()["REACT_MLFLOW_URI"] + "/health"
        wait_until(lambda: _answers(mlflow), "MLflow server", timeout_s, self._check_alive)
        if self.ui:
            wait_until(
                lambda: location_loaded(self.ui_url),
                f"Dagster webserver {self.ui_url}",
                timeout_s,
                self._check_alive,
                poll_s=1.0,
            )

    def _check_alive(self) -> None:
        for name, pid in self.pids.items():
            status = exit_status(pid)
            if status is not None:
                raise RuntimeError(f"{name} exited ({status}): {self.log(name)}")

    def log_path(self, name: str) -> Path:
        """A service's log file."""
        return self.folder / "logs" / f"{name}.log"

    def log(self, name: str, n_chars: int = 3000) -> str:
        """The tail of a service's log."""
        path = self.log_path(name)
        return path.read_text(errors="replace")[-n_chars:] if path.exists() else ""

    def worker_pids(self) -> dict[str, list[int]]:
        """Each Dask worker's nanny and the processes under it (the one running steps)."""
        return {name: group_members(pid) for name, pid in self.pids.items() if name.startswith("dask-worker")}

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop every service: process groups SIGTERM, then SIGKILL; PostgreSQL by pg_ctl."""
        for name, pgid in reversed(list(self.pids.items())):
            stop_group(name, pgid, timeout_s)
        stop_postgres(self.pg_data)
        self.pids = {}
        (self.folder / "services.json").unlink(missing_ok=True)

    @classmethod
    def load(cls, react_home: Path) -> Cluster:
        """The cluster whose services.json is under ``react_home`` (to stop it)."""
        path = react_home / "cluster" / "services.json"
        if not path.exists():
            raise FileNotFoundError(f"no cluster runs under {react_home} ({path} is missing)")
        state = json.loads(path.read_text())
        return cls(
            react_home,
            n_workers=state["n_workers"],
            ui=state.get("ui", False),
            ports=state["ports"],
            pids={k: int(v) for k, v in state["pids"].items()},
        )

    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status == 200
    except OSError:
        return False


def worker_threads(n_workers: int) -> int:
    """Threads each of ``n_workers`` workers on this machine may use: its cores shared out."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, (cores or 1) // max(1, n_workers))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("start", "stop", "status"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--worker-resources", default="CPU=1", help="Dask resources each worker offers, e.g. 'GPU=1,CPU=8'"
    )
    parser.add_argument(
        "--ui", action="store_true", help="also the code server, the Dagster webserver and the daemon"
    )
    args = parser.parse_args(argv)
    # The console gets this module's lines only: libraries imported on the way (alembic's
    # plugin set-up, Dask's client) log at INFO too, and the services log to their files.
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    log.setLevel(logging.INFO)
    logging.getLogger("devtools.process_groups").setLevel(logging.INFO)
    home = Path(os.environ.get("REACT_HOME", REPO_ROOT / "var")).resolve()
    started = time.monotonic()
    if args.action == "start":
        cluster = Cluster(home, args.workers, args.worker_resources, args.ui).start()
        print(
            f"cluster up in {time.monotonic() - started:.0f} s; clients: set -a; . {cluster.env_file}; set +a"
        )
        if args.ui:
            print(f"Dagster UI: {cluster.ui_url}")
        print(f"MLflow UI:  {cluster.settings()['REACT_MLFLOW_URI']}")
    elif args.action == "stop":
        Cluster.load(home).stop()
        print("cluster stopped")
    else:
        print((home / "cluster" / "services.json").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
