"""A local PostgreSQL server for the cluster profile and the tests: Debian's binaries, ``initdb``
into a data folder, ``pg_ctl`` start and stop on 127.0.0.1 (no Unix socket), superuser ``react``
with trust authentication. PostgreSQL refuses to run as root: as root it runs as the ``postgres``
user (``runuser``)."""

from __future__ import annotations

import contextlib
import logging
import os
import pwd
import shutil
import signal
import subprocess
from pathlib import Path

log = logging.getLogger(__name__)
PG_BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)


def pg_binary(name: str) -> str | None:
    """A PostgreSQL server binary (Debian keeps them out of PATH), or None when not installed."""
    for folder in PG_BIN_DIRS:
        if (folder / name).exists():
            return str(folder / name)
    return shutil.which(name)


def missing_postgres() -> list[str]:
    """What this machine lacks to run a PostgreSQL server (empty: everything is there)."""
    missing = [
        f"{name} (Debian package postgresql)"
        for name in ("initdb", "pg_ctl", "postgres")
        if pg_binary(name) is None
    ]
    if os.getuid() == 0 and (shutil.which("runuser") is None or not has_user("postgres")):
        missing.append("runuser and the postgres user (PostgreSQL cannot run as root)")
    return missing


def has_user(name: str) -> bool:
    """Whether the system has a user called ``name``."""
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def pg_command(args: list[str]) -> list[str]:
    """A PostgreSQL command line (``args[0]`` a server binary), as the postgres user under root
    (PostgreSQL refuses to run as root)."""
    command = [pg_binary(args[0]) or args[0], *args[1:]]
    return ["runuser", "-u", "postgres", "--", *command] if os.getuid() == 0 else command


def start_postgres(
    pg_data: Path, port: int, databases: tuple[str, ...] = (), max_connections: int = 200
) -> None:
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
        _run_checked(
            pg_command(["initdb", "-D", str(pg_data), "-U", "react", "--auth=trust", "-E", "UTF8"]), "initdb"
        )
    _run_checked(
        pg_command(
            [
                "pg_ctl",
                "-D",
                str(pg_data),
                "-l",
                str(pg_data / "server.log"),
                "-w",
                "-o",
                f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories='' "
                f"-c max_connections={max_connections}",
                "start",
            ]
        ),
        "pg_ctl",
    )
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
        subprocess.run(
            pg_command(["pg_ctl", "-D", str(pg_data), "-m", "fast", "-w", "-t", str(int(timeout_s)), "stop"]),
            capture_output=True,
            timeout=timeout_s + 10,
        )
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
