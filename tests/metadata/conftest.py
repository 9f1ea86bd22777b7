"""A metadata store on every backend the profiles use: the SQLite catalog of the embedded profile
and, for the cluster profile's, a real PostgreSQL server started once for the session on
127.0.0.1 (Debian's binaries; a fresh database per test)."""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from devtools.dagster_server import free_port
from devtools.postgres import pg_binary, start_postgres, stop_postgres
from react_assets.metadata import BACKENDS, Store, open_store
from react_assets.metadata import store as store_module


@dataclass
class PostgresServer:
    """A PostgreSQL server of this test session: superuser ``react``, trust authentication."""

    pg_data: Path
    port: int
    _numbers: Iterator[int] = field(default_factory=itertools.count)

    def new_database(self) -> str:
        """Create an empty database; returns its libpq dsn."""
        import psycopg2

        name = f"t_{next(self._numbers)}"
        conn = psycopg2.connect(host="127.0.0.1", port=self.port, user="react", dbname="postgres")
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(f"CREATE DATABASE {name}")
        finally:
            conn.close()
        return f"host=127.0.0.1 port={self.port} user=react dbname={name}"


def _postgres_missing() -> list[str]:
    missing = [f"{name} (Debian package postgresql; scripts/setup.sh installs it)"
               for name in ("initdb", "pg_ctl", "postgres") if pg_binary(name) is None]
    if os.getuid() == 0 and (shutil.which("runuser") is None or _no_user("postgres")):
        missing.append("runuser and the postgres user (PostgreSQL cannot run as root)")
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        missing.append("python package psycopg2 (pip install -e '.[dev]')")
    return missing


def _no_user(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
    except KeyError:
        return True
    return False


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server for the session, stopped (``pg_ctl stop -m fast``, then killed if it
    lingers) and its folder removed at the end. Missing binaries fail the postgres tests: CI
    runs the cluster profile's backend, it never skips it."""
    missing = _postgres_missing()
    if missing:
        pytest.fail("the postgres metadata backend cannot be tested, missing: "
                    + "; ".join(missing), pytrace=False)
    folder = Path(tempfile.mkdtemp(prefix="react-metadata-pg-"))
    server = PostgresServer(folder / "pg", free_port())
    try:
        start_postgres(server.pg_data, server.port, max_connections=300)
    except BaseException as err:
        stop_postgres(server.pg_data, timeout_s=20)
        log = server.pg_data / "server.log"
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        shutil.rmtree(folder, ignore_errors=True)
        pytest.fail(f"PostgreSQL did not start on port {server.port}: {err}\n{tail}",
                    pytrace=False)
    try:
        yield server
    finally:
        stop_postgres(server.pg_data, timeout_s=20)
        shutil.rmtree(folder, ignore_errors=True)


# The cluster profile's backend starts a PostgreSQL server: its cases are in the full suite only.
@pytest.fixture(params=[pytest.param(b, marks=pytest.mark.slow) if b == "postgres" else b
                        for b in BACKENDS])
def backend(request) -> str:
    return request.param


@pytest.fixture
def store(request, backend, tmp_path) -> Iterator[Store]:
    """A fresh home's store on ``backend``: its own catalog (a new SQLite file, or a new
    PostgreSQL database) and data folder, the schema applied."""
    if backend == "sqlite":
        dsn = None
    elif backend == "postgres":
        dsn = request.getfixturevalue("postgres_server").new_database()
    else:
        raise AssertionError(f"no test catalog for the metadata backend {backend!r}")
    store = open_store(tmp_path / "home", backend, dsn=dsn)
    yield store
    close_connections(store)


def close_connections(store: Store) -> None:
    """Close this process's DuckDB instances of ``store``'s catalog (each holds catalog
    connections: PostgreSQL sessions, SQLite file handles) so tests don't pile them up."""
    with store_module._instances_lock:
        for key in [k for k in store_module._instances if k[1] == store.catalog]:
            store_module._instances.pop(key).close()
