"""The DuckDB metadata store: SQL lives in ``sql/`` (one statement per file), values are bound.

DuckDB allows one writing process per file, so connections are short-lived and opening one
retries while another process holds the lock; Dagster additionally serializes writers with a
concurrency pool.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb

log = logging.getLogger(__name__)

SQL_ROOT = Path(__file__).resolve().parent.parent / "sql"


@functools.cache
def load_sql(name: str) -> str:
    """Return the statement in ``sql/queries/<name>.sql`` (or ``sql/schema/<name>.sql``)."""
    for folder in ("queries", "schema"):
        path = SQL_ROOT / folder / f"{name}.sql"
        if path.exists():
            return path.read_text(encoding="utf-8")
    raise FileNotFoundError(f"no SQL statement named {name!r} under {SQL_ROOT}")


def schema_statements() -> list[tuple[str, str]]:
    """All idempotent DDL files, in file-name order, as (name, statement)."""
    files = sorted((SQL_ROOT / "schema").glob("*.sql"))
    return [(f.stem, f.read_text(encoding="utf-8")) for f in files]


def _is_lock_error(err: Exception) -> bool:
    text = str(err).lower()
    return "lock" in text or "conflicting" in text


class Store:
    """A DuckDB file with the project's schema; hands out short-lived connections."""

    def __init__(self, path: Path | str, *, lock_timeout_s: float = 120.0) -> None:
        self.path = Path(path)
        self.lock_timeout_s = lock_timeout_s

    @contextlib.contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """Open a connection, retrying while another process holds the file lock."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + self.lock_timeout_s
        delay = 0.05
        while True:
            try:
                conn = duckdb.connect(str(self.path))
                break
            except duckdb.IOException as err:
                if not _is_lock_error(err) or time.monotonic() > deadline:
                    raise
                log.debug("DuckDB %s is locked, retrying in %.2fs", self.path, delay)
                time.sleep(delay + random.uniform(0, delay))
                delay = min(delay * 2, 2.0)
        try:
            yield conn
        finally:
            conn.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection inside BEGIN/COMMIT: all of its writes land, or none do."""
        with self.connect() as conn:
            conn.execute("BEGIN TRANSACTION")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def apply_schema(self) -> None:
        """Create every table and view that does not exist yet (idempotent)."""
        with self.transaction() as conn:
            for _, statement in schema_statements():
                conn.execute(statement)

    def execute(self, name: str, params: dict[str, Any] | None = None) -> None:
        """Run the named statement with bound parameters in its own transaction."""
        with self.transaction() as conn:
            conn.execute(load_sql(name), params or {})

    def fetch(self, name: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Run the named query and return every row as a dict (fully read before returning)."""
        with self.connect() as conn:
            return query_rows(conn, name, params)


def query_rows(
    conn: duckdb.DuckDBPyConnection, name: str, params: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Run a named query on an open connection and read all rows as dicts."""
    result = conn.execute(load_sql(name), params or {})
    columns = [d[0] for d in result.description]
    return [dict(zip(columns, row, strict=True)) for row in result.fetchall()]
