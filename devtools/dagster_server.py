"""Start and stop `dagster dev` (webserver + daemon) on 127.0.0.1.

Used by the browser tests, the backfill tests and `bench.load.ui_backfill` (which drive it with
`devtools.ui_client`). The server runs in its own process group with default SIGINT/SIGTERM
handlers (a `dagster dev` started from a background shell inherits "ignore" for both), and is
stopped by signalling the whole group: SIGTERM first, SIGKILL after a timeout, so no webserver,
daemon or code server outlives the caller.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from dagster_project import OFFLINE_ENV
from devtools.ui_client import graphql

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[1]
LOCATION_NAME = "react"


_WORKSPACE_QUERY = """
query { workspaceOrError { __typename
  ... on Workspace { locationEntries { name loadStatus
    locationOrLoadError { __typename ... on PythonError { message } } } }
  ... on PythonError { message } } }
"""


@dataclass(frozen=True)
class DagsterServerConfig:
    """Where the server reads its code and writes its state, and how long to wait for it."""

    react_home: Path
    repo_root: Path = REPO_ROOT
    host: str = "127.0.0.1"
    port: int | None = None  # None: a free port
    startup_timeout_s: float = 180.0
    stop_timeout_s: float = 30.0


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def prepare_dagster_home(react_home: Path, repo_root: Path = REPO_ROOT) -> Path:
    """Create REACT_HOME/dagster_home with the project's dagster.yaml (what setup.sh does)."""
    dagster_home = react_home / "dagster_home"
    dagster_home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(repo_root / "dagster_project" / "dagster.yaml", dagster_home / "dagster.yaml")
    return dagster_home


def _restore_default_signals() -> None:
    """In the child, before exec: SIGINT/SIGTERM back to their defaults (never 'ignore')."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _dagster_command() -> list[str]:
    executable = Path(sys.executable).parent / "dagster"
    return [str(executable)] if executable.exists() else [sys.executable, "-m", "dagster"]


class DagsterServer:
    """`dagster dev -w workspace.yaml` on one port, as a context manager.

    Attributes once started: `url`, `port`, `log_path` (stdout and stderr of the whole group).
    """

    def __init__(self, config: DagsterServerConfig) -> None:
        self.config = config
        self.port = config.port or free_port(config.host)
        self.url = f"http://{config.host}:{self.port}"
        self.dagster_home = config.react_home / "dagster_home"
        self.log_path = config.react_home / "dagster-dev.log"
        self._process: subprocess.Popen[bytes] | None = None

    def env(self) -> dict[str, str]:
        """The child's environment: the caller's, plus REACT_HOME, DAGSTER_HOME and OFFLINE_ENV."""
        env = dict(os.environ)
        env.update(OFFLINE_ENV)
        env["REACT_HOME"] = str(self.config.react_home)
        env["DAGSTER_HOME"] = str(self.dagster_home)
        env["PYTHONUNBUFFERED"] = "1"
        # The code server and every run import this checkout's packages, whatever is installed.
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(self.config.repo_root), env.get("PYTHONPATH", "")) if p)
        return env

    def start(self) -> DagsterServer:
        """Launch the server and block until /server_info answers and the code location loaded."""
        if self._process is not None:
            raise RuntimeError(f"dagster dev already running on {self.url}")
        prepare_dagster_home(self.config.react_home, self.config.repo_root)
        command = [*_dagster_command(), "dev", "-w", "workspace.yaml",
                   "-h", self.config.host, "-p", str(self.port)]
        log.info("starting %s (REACT_HOME=%s)", " ".join(command), self.config.react_home)
        with open(self.log_path, "ab") as sink:
            self._process = subprocess.Popen(
                command, cwd=self.config.repo_root, env=self.env(), stdout=sink,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                preexec_fn=_restore_default_signals,
            )
        try:
            deadline = time.monotonic() + self.config.startup_timeout_s
            self._wait_for_server_info(deadline)
            self.wait_for_code_location(LOCATION_NAME, deadline)
        except BaseException:
            self.stop()
            raise
        log.info("dagster dev ready at %s", self.url)
        return self

    def _check_alive(self, waiting_for: str) -> None:
        assert self._process is not None
        if self._process.poll() is not None:
            raise RuntimeError(f"dagster dev exited with code {self._process.returncode} while "
                               f"waiting for {waiting_for}; log tail:\n{self.log_tail()}")

    def _wait_for_server_info(self, deadline: float) -> None:
        while True:
            self._check_alive(f"{self.url}/server_info")
            try:
                with urllib.request.urlopen(f"{self.url}/server_info", timeout=5) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.url}/server_info did not answer within "
                                   f"{self.config.startup_timeout_s:.0f} s; log tail:\n"
                                   f"{self.log_tail()}")
            time.sleep(0.5)

    def wait_for_code_location(self, name: str, deadline: float) -> None:
        """Block until code location `name` is LOADED; raise with its load error if it failed."""
        while True:
            self._check_alive(f"code location {name!r}")
            workspace = graphql(self.url, _WORKSPACE_QUERY)["workspaceOrError"]
            entries = {e["name"]: e for e in workspace.get("locationEntries", [])}
            entry = entries.get(name)
            if entry and entry["loadStatus"] == "LOADED":
                loaded = entry["locationOrLoadError"] or {}
                if loaded.get("__typename") == "PythonError":
                    raise RuntimeError(f"code location {name!r} failed to load: {loaded['message']}")
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"code location {name!r} not loaded in time (entries: "
                                   f"{sorted(entries)}); log tail:\n{self.log_tail()}")
            time.sleep(1.0)

    def log_tail(self, n_chars: int = 4000) -> str:
        """The last characters of the server's combined output."""
        if not self.log_path.exists():
            return "(no log)"
        return self.log_path.read_text(errors="replace")[-n_chars:]

    def stop(self) -> None:
        """SIGTERM the whole process group, then SIGKILL whatever is left after the timeout."""
        process, self._process = self._process, None
        if process is None:
            return
        pgid = process.pid  # start_new_session: the leader's pid is the group id
        for sig, wait_s in ((signal.SIGTERM, self.config.stop_timeout_s), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                break
            if _wait_group_gone(process, pgid, wait_s):
                break
            log.warning("dagster dev group %d still alive after %s", pgid, sig.name)
        process.wait(timeout=5)

    def __enter__(self) -> DagsterServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _wait_group_gone(process: subprocess.Popen[bytes], pgid: int, timeout_s: float) -> bool:
    """True once the leader is reaped and no process of group `pgid` remains."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        process.poll()
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.2)
    return False
