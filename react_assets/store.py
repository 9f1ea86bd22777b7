"""The DuckDB metadata store: statements come from ``react_assets.sql`` (one per file), values
are bound.

DuckDB allows one writing process per file, so connections are short-lived and opening one
retries while another process holds the lock; Dagster additionally serializes writers with a
concurrency pool.
"""

from __future__ import annotations

import contextlib
import logging
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb

from react_assets import schema_migration
from react_assets.sql import SCHEMA, Statement

log = logging.getLogger(__name__)


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
        """Create every table and view that does not exist yet (idempotent); upgrade the tables of
        an older layout first (:mod:`react_assets.schema_migration`)."""
        with self.transaction() as conn:
            upgrades = schema_migration.before_schema(conn)
            for statement in SCHEMA:
                conn.execute(statement)
            schema_migration.after_schema(conn, upgrades)

    def execute(self, statement: Statement, params: dict[str, Any] | None = None) -> None:
        """Run one statement with bound parameters in its own transaction."""
        with self.transaction() as conn:
            conn.execute(_checked(statement), params or {})

    def fetch(self, statement: Statement, params: dict[str, Any] | None = None
              ) -> list[dict[str, Any]]:
        """Run one query and return every row as a dict (fully read before returning)."""
        with self.connect() as conn:
            return query_rows(conn, statement, params)


def _checked(statement: Statement) -> Statement:
    if not isinstance(statement, Statement):
        raise TypeError(f"expected a statement from react_assets.sql, got {type(statement).__name__}"
                        f" {str(statement)[:60]!r}")
    return statement


def query_rows(
    conn: duckdb.DuckDBPyConnection, statement: Statement, params: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Run one query on an open connection and read all rows as dicts."""
    result = conn.execute(_checked(statement), params or {})
    columns = [d[0] for d in result.description]
    return [dict(zip(columns, row, strict=True)) for row in result.fetchall()]
