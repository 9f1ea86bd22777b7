"""Start and stop the cluster profile's services on 127.0.0.1, every file under REACT_HOME/cluster.

    python -m devtools.cluster start [--workers 2] [--ui]   # or scripts/cluster.sh start
    python -m devtools.cluster stop

Services, each in its own process group (stopped by signalling the group; PostgreSQL by
``pg_ctl stop``): PostgreSQL (Debian's binaries, ``initdb``/``pg_ctl`` into ``cluster/pg``; the
Dagster instance and the MLflow backend), the Dask scheduler and N Dask workers (the steps), the
MLflow tracking server (runs in PostgreSQL, artifacts under ``REACT_HOME/mlartifacts`` served by
it), and with ``--ui`` the Dagster webserver and daemon. ``cluster/cluster.env`` holds the
settings every client needs (``REACT_PROFILE=cluster`` and the addresses); ``services.json`` the
process ids. PostgreSQL refuses to run as root: as root it runs as the ``postgres`` user.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import pwd
import shlex
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from devtools.dagster_server import REPO_ROOT, free_port

log = logging.getLogger(__name__)
PG_BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
CLUSTER_YAML = REPO_ROOT / "dagster_project" / "dagster.cluster.yaml"


def pg_binary(name: str) -> str | None:
    """A PostgreSQL server binary (Debian keeps them out of PATH), or None when not installed."""
    for folder in PG_BIN_DIRS:
        if (folder / name).exists():
            return str(folder / name)
    return shutil.which(name)


def missing_requirements() -> list[str]:
    """What this machine lacks to start the cluster (empty: everything is there)."""
    missing = [f"{name} (Debian package postgresql)" for name in ("initdb", "pg_ctl", "postgres")
               if pg_binary(name) is None]
    if os.getuid() == 0 and (shutil.which("runuser") is None or not _has_user("postgres")):
        missing.append("runuser and the postgres user (PostgreSQL cannot run as root)")
    for module in ("dagster_dask", "dagster_postgres", "distributed", "psycopg2"):
        try:
            __import__(module)
        except ImportError:
            missing.append(f"python package {module} (pip install -e '.[dev]')")
    return missing


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


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

    def settings(self) -> dict[str, str]:
        """The environment every client and worker of this cluster needs."""
        pg = f"postgresql+psycopg2://react@127.0.0.1:{self.ports['postgres']}"
        return {
            "REACT_PROFILE": "cluster", "REACT_HOME": str(self.react_home),
            "DAGSTER_HOME": str(self.folder / "dagster_home"),
            "REACT_PG_URL": f"{pg}/dagster",
            "REACT_MLFLOW_URI": f"http://127.0.0.1:{self.ports['mlflow']}",
            "REACT_DASK_SCHEDULER": f"tcp://127.0.0.1:{self.ports['dask']}",
            "REACT_MLFLOW_BACKEND": f"{pg}/mlflow",
            "REACT_METADATA_DSN": f"host=127.0.0.1 port={self.ports['postgres']} user=react "
                                  "dbname=metadata",
        }

    def env(self) -> dict[str, str]:
        from dagster_project import OFFLINE_ENV
        path = os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])
        # A step may start processes (decoding workers, pools): Dask's worker must not be a
        # daemon process, which may not have children.
        return {**os.environ, **OFFLINE_ENV, **self.settings(), "PYTHONPATH": path,
                "DASK_DISTRIBUTED__WORKER__DAEMON": "False"}

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
        self.ports = {name: free_port() for name in ("postgres", "dask", "mlflow", "ui")}
        try:
            self._start_services()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_services(self) -> None:
        self._start_postgres()
        dagster_home = Path(self.settings()["DAGSTER_HOME"])
        dagster_home.mkdir(parents=True, exist_ok=True)
        shutil.copy(CLUSTER_YAML, dagster_home / "dagster.yaml")
        # quoted: REACT_METADATA_DSN has spaces, and clients source this file with bash
        self.env_file.write_text("".join(f"{k}={shlex.quote(v)}\n"
                                         for k, v in self.settings().items()))
        self._spawn("dask-scheduler", [_bin("dask"), "scheduler", "--host", "127.0.0.1",
                                       "--port", str(self.ports["dask"]), "--no-dashboard"])
        for i in range(self.n_workers):
            self._spawn(f"dask-worker-{i}", env=self.worker_env(), command=[
                _bin("dask"), "worker", self.settings()["REACT_DASK_SCHEDULER"],
                "--name", f"worker-{i}", "--nthreads", "1", "--nworkers", "1",
                "--resources", self.worker_resources, "--host", "127.0.0.1", "--no-dashboard",
                "--local-directory", str(self.folder / f"dask-worker-{i}")])
        self._spawn("mlflow", [
            _bin("mlflow"), "server", "--host", "127.0.0.1", "--port", str(self.ports["mlflow"]),
            "--backend-store-uri", self.settings()["REACT_MLFLOW_BACKEND"],
            "--serve-artifacts", "--artifacts-destination", str(self.react_home / "mlartifacts"),
            "--workers", "1"])
        if self.ui:
            self._spawn_ui()
        self._save()
        self._wait_ready()

    def _spawn_ui(self) -> None:
        self._spawn("dagster-webserver", [_bin("dagster-webserver"), "-h", "127.0.0.1", "-p",
                                          str(self.ports["ui"]), "-w", "workspace.yaml"])
        self._spawn("dagster-daemon", [_bin("dagster-daemon"), "run", "-w", "workspace.yaml"])

    def restart_ui(self) -> None:
        """Stop the Dagster webserver and daemon and start them again on the same port, with this
        process's environment as it is now (a setting the code location reads at load, such as
        REACT_BACKFILL_SHARDS_PER_RUN). Call it when no run is going."""
        if not self.ui:
            raise RuntimeError("this cluster was started without the Dagster UI (ui=False)")
        for name in ("dagster-daemon", "dagster-webserver"):
            _stop_group(name, self.pids.pop(name), 30.0)
        self._spawn_ui()
        self._save()

    def _save(self) -> None:
        (self.folder / "services.json").write_text(json.dumps(
            {"ports": self.ports, "pids": self.pids, "n_workers": self.n_workers}, indent=1))

    def _start_postgres(self) -> None:
        start_postgres(self.pg_data, self.ports["postgres"], databases=("dagster", "mlflow",
                                                                        "metadata"))

    def _spawn(self, name: str, command: list[str], env: dict[str, str] | None = None) -> None:
        with open(self.folder / "logs" / f"{name}.log", "ab") as out:
            proc = subprocess.Popen(command, cwd=REPO_ROOT, env=env or self.env(), stdout=out,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True,
                                    preexec_fn=_restore_default_signals)
        self.pids[name] = proc.pid
        log.info("started %s (pid %d)", name, proc.pid)

    def _wait_ready(self, timeout_s: float = 600.0) -> None:  # MLflow's first start: minutes
        from distributed import Client
        deadline = time.monotonic() + timeout_s
        with Client(self.settings()["REACT_DASK_SCHEDULER"], timeout=timeout_s) as client:
            client.wait_for_workers(self.n_workers, timeout=timeout_s)
        url = self.settings()["REACT_MLFLOW_URI"] + "/health"
        while True:
            try:
                with urllib.request.urlopen(url, timeout=5) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            self._check_alive()
            if time.monotonic() > deadline:
                raise TimeoutError(f"MLflow server not up after {timeout_s}s: {self.log('mlflow')}")
            time.sleep(0.5)

    def _check_alive(self) -> None:
        for name, pid in self.pids.items():
            try:
                waited, status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                continue
            if waited:
                raise RuntimeError(f"{name} exited ({status}): {self.log(name)}")

    def log(self, name: str, n_chars: int = 3000) -> str:
        """The tail of a service's log."""
        path = self.folder / "logs" / f"{name}.log"
        return path.read_text(errors="replace")[-n_chars:] if path.exists() else ""

    def worker_pids(self) -> dict[str, list[int]]:
        """Each Dask worker's nanny and the processes under it (the one running steps)."""
        out = {}
        for name, pid in self.pids.items():
            if name.startswith("dask-worker"):
                kids = subprocess.run(["pgrep", "-g", str(pid)], capture_output=True, text=True)
                out[name] = [int(p) for p in kids.stdout.split()]
        return out

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop every service: process groups SIGTERM, then SIGKILL; PostgreSQL by pg_ctl."""
        for name, pgid in reversed(list(self.pids.items())):
            _stop_group(name, pgid, timeout_s)
        stop_postgres(self.pg_data)
        self.pids = {}
        (self.folder / "services.json").unlink(missing_ok=True)

    @classmethod
    def load(cls, react_home: Path) -> Cluster:
        """The cluster whose services.json is under ``react_home`` (to stop it)."""
        state = json.loads((react_home / "cluster" / "services.json").read_text())
        return cls(react_home, n_workers=state["n_workers"], ports=state["ports"],
                   pids={k: int(v) for k, v in state["pids"].items()})

    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def pg_command(args: list[str]) -> list[str]:
    """A PostgreSQL command line (``args[0]`` a server binary), as the postgres user under root
    (PostgreSQL refuses to run as root)."""
    command = [pg_binary(args[0]) or args[0], *args[1:]]
    return ["runuser", "-u", "postgres", "--", *command] if os.getuid() == 0 else command


def start_postgres(pg_data: Path, port: int, databases: tuple[str, ...] = (),
                   max_connections: int = 200) -> None:
    """Start a PostgreSQL server for ``pg_data`` (initdb first when it is new: superuser
    ``react``, trust authentication) on 127.0.0.1:``port``, no Unix socket, and create the
    ``databases`` that are missing. Stop it with :func:`stop_postgres`."""
    if os.getuid() == 0:  # the postgres user must reach and own its data folder
        pg_data.mkdir(parents=True, exist_ok=True)
        shutil.chown(pg_data, "postgres", "postgres")
        for parent in pg_data.parents:
            if parent.stat().st_mode & 0o001 == 0:
                parent.chmod(parent.stat().st_mode | 0o001)  # traverse only
    if not (pg_data / "PG_VERSION").exists():
        _run_checked(pg_command(["initdb", "-D", str(pg_data), "-U", "react", "--auth=trust",
                                 "-E", "UTF8"]), "initdb")
    _run_checked(pg_command([
        "pg_ctl", "-D", str(pg_data), "-l", str(pg_data / "server.log"), "-w",
        "-o", f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories='' "
              f"-c max_connections={max_connections}", "start"]), "pg_ctl")
    import psycopg2
    conn = psycopg2.connect(host="127.0.0.1", port=port, user="react", dbname="postgres")
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            for db in databases:
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (db,))
                if cur.fetchone() is None:
                    cur.execute(f'CREATE DATABASE "{db}"')
    finally:
        conn.close()


def stop_postgres(pg_data: Path, timeout_s: float = 120.0) -> None:
    """Stop the server of ``pg_data``, if one runs: ``pg_ctl stop -m fast``, then SIGKILL to
    the postmaster named in ``postmaster.pid`` if it is still there."""
    pid_file = pg_data / "postmaster.pid"
    if not pid_file.exists():
        return
    with contextlib.suppress(subprocess.TimeoutExpired):
        subprocess.run(pg_command(["pg_ctl", "-D", str(pg_data), "-m", "fast", "-w",
                                   "-t", str(int(timeout_s)), "stop"]),
                       capture_output=True, timeout=timeout_s + 10)
    try:
        pid = int(pid_file.read_text().split()[0])
        alive = Path(f"/proc/{pid}/comm").read_text().strip() == "postgres"
    except (OSError, ValueError, IndexError):
        return  # stopped: the server removes its pid file
    if alive:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
            log.warning("PostgreSQL (pid %d) did not stop, killed", pid)


def _run_checked(command: list[str], what: str) -> None:
    proc = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if proc.returncode:
        raise RuntimeError(f"{what} failed ({proc.returncode}): {proc.stderr[-2000:]}")


def worker_threads(n_workers: int) -> int:
    """Threads each of ``n_workers`` workers on this machine may use: its cores shared out."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, (cores or 1) // max(1, n_workers))


def _bin(name: str) -> str:
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


def _restore_default_signals() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _stop_group(name: str, pgid: int, timeout_s: float) -> None:
    for sig, wait_s in ((signal.SIGTERM, timeout_s), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            try:
                os.waitpid(pgid, os.WNOHANG)
            except ChildProcessError:
                pass
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                log.info("stopped %s", name)
                return
            time.sleep(0.2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("start", "stop", "status"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--worker-resources", default="CPU=1",
                        help="Dask resources each worker offers, e.g. 'GPU=1,CPU=8'")
    parser.add_argument("--ui", action="store_true", help="also the Dagster webserver and daemon")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    home = Path(os.environ.get("REACT_HOME", REPO_ROOT / "var")).resolve()
    if args.action == "start":
        cluster = Cluster(home, args.workers, args.worker_resources, args.ui).start()
        print(f"cluster up; clients: set -a; . {cluster.env_file}; set +a")
        if args.ui:
            print(f"Dagster UI: http://127.0.0.1:{cluster.ports['ui']}")
        print(f"MLflow UI:  {cluster.settings()['REACT_MLFLOW_URI']}")
    elif args.action == "stop":
        Cluster.load(home).stop()
        print("cluster stopped")
    else:
        print((home / "cluster" / "services.json").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
