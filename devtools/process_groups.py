"""Long-lived service processes, each the leader of its own process group: started with its
output in a log file and default signal handlers, stopped by signalling the whole group
(SIGTERM, then SIGKILL), so no child it started (a run, a worker process) outlives it."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

log = logging.getLogger(__name__)


def venv_binary(name: str) -> str:
    """The console script ``name`` of this interpreter's environment, else ``name`` (PATH)."""
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


def spawn_group(command: list[str], *, cwd: Path, env: dict[str, str], log_path: Path) -> int:
    """Start ``command`` as a new session (its own process group) writing stdout and stderr to
    ``log_path`` (appended); its pid, which is also the group id."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as out:
        proc = subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=_restore_default_signals,
        )
    return proc.pid


def exit_status(pid: int) -> int | None:
    """The wait status of ``pid`` if this process's child of that pid has exited, else None
    (still running, or not a child of this process)."""
    try:
        waited, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return None
    return status if waited else None


def group_members(pgid: int) -> list[int]:
    """The pids of every process in group ``pgid`` (from /proc)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid:  # fields after the command: state, ppid, pgrp
            members.append(int(stat.parent.name))
    return sorted(members)


def stop_group(name: str, pgid: int, timeout_s: float) -> None:
    """SIGTERM process group ``pgid``, SIGKILL it if anything is left after ``timeout_s``."""
    for sig, wait_s in ((signal.SIGTERM, timeout_s), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            exit_status(pgid)  # reap the leader if it is this process's child
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                log.info("stopped %s", name)
                return
            time.sleep(0.2)


def _restore_default_signals() -> None:
    """In the child, before exec: SIGINT and SIGTERM back to their defaults (a process started
    from a background shell inherits "ignore" for both)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
