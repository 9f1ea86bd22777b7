"""The schema of a home's metadata, and the upgrades of homes made by earlier versions.

:func:`migrate` creates the tables that are missing (``schema/create_*.sql``), then runs each
upgrade that the ``schema_migrations`` table does not list yet, each in the same transaction as
its row, so an upgrade is applied whole, once. Upgrades so far:

- ``import_legacy_duckdb``: a home's ``react.duckdb`` file (the embedded store before DuckLake);
- ``import_legacy_parquet``: a home's ``metadata/`` folder (the cluster's Parquet commit files);
- ``relative_paths``: paths into REACT_HOME stored absolute become relative to it;
- ``evaluation_intervals``: ``evaluations`` gains each figure's interval (``ci_low``,
  ``ci_high``; NULL for the figures evaluated before).

The legacy sources are read, never changed, so a home can go back to an older release.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
from collections.abc import Callable, Iterator

import duckdb

from react_assets.metadata.engine import LAKE
from react_assets.metadata.sql import (
    SCHEMA,
    alter_evaluations_add_ci_high,
    alter_evaluations_add_ci_low,
)

log = logging.getLogger(__name__)

TABLES: tuple[str, ...] = tuple(s.name.removeprefix("create_") for s in SCHEMA)

MIGRATIONS_TABLE = """CREATE TABLE IF NOT EXISTS schema_migrations (
    name        VARCHAR NOT NULL,
    applied_at  TIMESTAMP NOT NULL,
    detail      VARCHAR
)"""


def table_names(conn: duckdb.DuckDBPyConnection) -> set[str]:
    """The tables of the attached lake."""
    rows = conn.execute("SELECT table_name FROM information_schema.tables "
                        "WHERE table_catalog = ? AND table_schema = 'main'", [LAKE]).fetchall()
    return {r[0] for r in rows}


def applied(conn: duckdb.DuckDBPyConnection) -> set[str]:
    if "schema_migrations" not in table_names(conn):
        return set()
    return {r[0] for r in conn.execute("SELECT name FROM schema_migrations").fetchall()}


def upgrades() -> dict[str, Callable[[duckdb.DuckDBPyConnection, object], str | None]]:
    """Every upgrade, in the order they run: name -> function(conn, store) returning a detail."""
    from react_assets.metadata import legacy

    return {
        "import_legacy_duckdb": legacy.import_duckdb_file,
        "import_legacy_parquet": legacy.import_parquet_folder,
        "relative_paths": legacy.relative_paths,
        "evaluation_intervals": add_evaluation_intervals,
    }


def add_evaluation_intervals(conn: duckdb.DuckDBPyConnection, store: object) -> str | None:
    """The interval columns of ``evaluations`` on a home made before them (a no-op on a new one,
    whose table has them)."""
    conn.execute(alter_evaluations_add_ci_low)
    conn.execute(alter_evaluations_add_ci_high)
    return None


@contextlib.contextmanager
def _schema_lock(store) -> Iterator[None]:
    """One process of this home migrates at a time (the others then find it done)."""
    lock_path = store.catalog.folder / ".schema.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def migrate(store) -> list[str]:
    """Bring ``store`` to the current schema; returns the upgrades applied now."""
    from react_assets.metadata import engine

    engine.prepare(store.catalog)
    wanted = upgrades()
    if store.read(lambda conn: not set(wanted) - applied(conn) and _has_every_table(conn)):
        return []
    done: list[str] = []
    with _schema_lock(store):
        def create(conn: duckdb.DuckDBPyConnection) -> None:
            conn.execute(MIGRATIONS_TABLE)
            for statement in SCHEMA:
                conn.execute(statement)
        store.write(create, what="create the metadata tables")
        for name, upgrade in wanted.items():
            def run(conn: duckdb.DuckDBPyConnection, name=name, upgrade=upgrade) -> bool:
                if name in applied(conn):
                    return False
                detail = upgrade(conn, store)
                conn.execute("INSERT INTO schema_migrations VALUES (?, current_timestamp, ?)",
                             [name, detail])
                if detail:
                    log.warning("metadata upgrade %s: %s", name, detail)
                return True
            if store.write(run, what=f"metadata upgrade {name}"):
                done.append(name)
    return done


def _has_every_table(conn: duckdb.DuckDBPyConnection) -> bool:
    names = table_names(conn)
    return "schema_migrations" in names and all(table in names for table in TABLES)
