"""The metadata store: every stage reads and writes the project's tables through this one type.

Statements come from ``react_assets.metadata.sql`` (one per file) and values are always bound.
A write is a function of an open connection, run inside one transaction by :meth:`Store.write`:
all of its statements land, or none do. When the commit races another process's commit, DuckLake
refuses it whole; the function is then run again on a fresh transaction, with jittered
exponential backoff, up to a bound (:class:`RetryPolicy`), after which :class:`WriteConflict`
says how often it tried. Reads never wait for writers.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import duckdb
import pyarrow as pa

from react_assets.files.guard import check_publish
from react_assets.files.paths import ReactPaths
from react_assets.metadata import engine
from react_assets.metadata.engine import Catalog
from react_assets.metadata.sql import Statement

log = logging.getLogger(__name__)
T = TypeVar("T")

# What a refused commit says: SQLite's lock (a writer whose snapshot another commit made stale),
# DuckLake's own conflict check, PostgreSQL's serialization failure.
_RETRYABLE = ("database is locked", "failed to commit ducklake transaction", "conflict",
              "could not serialize", "deadlock detected", "database is busy")


def is_conflict(err: BaseException) -> bool:
    """Whether ``err`` is a commit refused because another transaction won (worth retrying)."""
    if not isinstance(err, duckdb.Error):
        return False
    text = str(err).lower()
    return any(phrase in text for phrase in _RETRYABLE)


# DuckLake reads a SQLite catalog's table statistics with a join whose two scans each open their
# own SQLite connection (sqlite_scanner scans a transaction that wrote nothing yet that way), so
# they share no snapshot: a commit that gives a table its first rows between the two scans shows
# the table without its column statistics, and DuckLake fails on the NULL with this internal
# error. Nothing is wrong with the catalog; the same read a moment later is whole.
_TORN_READ = "calling getvalueinternal on a value that is null"
_TORN_READ_TRIES = 5


def is_torn_read(err: BaseException) -> bool:
    """Whether ``err`` is DuckLake's read of a SQLite catalog torn by a concurrent commit (worth
    reading again, a few times: a lasting internal error must still surface). DuckDB invalidates
    its database after an internal error, so a later statement of this process says so, naming
    the torn read as the original error: that is the same case."""
    return (isinstance(err, (duckdb.InternalException, duckdb.FatalException))
            and _TORN_READ in str(err).lower())


class WriteConflict(RuntimeError):
    """A write that kept conflicting with other writers until its retry bound."""


@dataclass(frozen=True)
class RetryPolicy:
    """How a conflicted write is retried: up to ``max_attempts`` tries within ``timeout_s``,
    sleeping a random time up to ``base_delay_s * 2**attempt`` (capped at ``max_delay_s``)."""

    max_attempts: int = 60
    timeout_s: float = 300.0
    base_delay_s: float = 0.02
    max_delay_s: float = 2.0

    def delay(self, attempt: int) -> float:
        return random.uniform(0, min(self.max_delay_s, self.base_delay_s * 2 ** attempt))


_instances: dict[tuple[int, Catalog, bool], duckdb.DuckDBPyConnection] = {}
_instances_lock = threading.Lock()


def _instance(catalog: Catalog, read_only: bool) -> duckdb.DuckDBPyConnection:
    """This process's DuckDB with ``catalog`` attached (attaching costs ~0.2 s, so it is done
    once a process; a forked child makes its own, the parent's is not safe to use there)."""
    key = (os.getpid(), catalog, read_only)
    with _instances_lock:
        conn = _instances.get(key)
        if conn is None:
            conn = _instances[key] = engine.connect(catalog, read_only=read_only)
        return conn


def _discard(catalog: Catalog, read_only: bool) -> None:
    """Forget this process's DuckDB of ``catalog`` (invalidated by an internal error); the next
    connection attaches the catalog again."""
    with _instances_lock:
        conn = _instances.pop((os.getpid(), catalog, read_only), None)
    if conn is not None:
        with contextlib.suppress(duckdb.Error):
            conn.close()


class Store:
    """The metadata of one home: a DuckLake catalog and its data, with the project's schema."""

    def __init__(self, catalog: Catalog, *, retry: RetryPolicy | None = None) -> None:
        self.catalog = catalog
        self.retry = retry or RetryPolicy()

    def __repr__(self) -> str:
        return f"Store({self.catalog.describe()})"

    @property
    def home(self) -> ReactPaths:
        """The layout of the home (REACT_HOME) this metadata belongs to. Paths into it are stored
        relative to its root (``home.relative``) and read back with ``home.resolve``, so a home
        that is copied, restored or mounted elsewhere reads its own files."""
        return ReactPaths(self.catalog.root)

    @contextlib.contextmanager
    def connect(self, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection of this process (its own transaction state), closed on exit. Each
        query reads the newest committed snapshot; nothing here waits for a writer."""
        cursor = _instance(self.catalog, read_only).cursor()
        try:
            cursor.execute(f"USE {engine.LAKE}")
            yield cursor
        finally:
            with contextlib.suppress(duckdb.Error):  # an invalidated database refuses even this
                cursor.close()

    def write(self, work: Callable[[duckdb.DuckDBPyConnection], T], *,
              what: str = "metadata write") -> T:
        """Run ``work(conn)`` in one transaction and commit it; run it again from the start
        when the commit conflicts with another writer's. ``work`` must only touch the
        metadata through ``conn`` (it may run more than once). Returns what ``work`` returns.
        On a PostgreSQL catalog, writers take turns (:func:`_turn`). The publish guard in force
        (:mod:`react_assets.files.guard`) is consulted right before the commit: a refusal
        rolls the transaction back and raises ``PublishRefused``."""
        with _turn(self.catalog, self.retry.timeout_s, what):
            return self._write(work, what)

    def _write(self, work: Callable[[duckdb.DuckDBPyConnection], T], what: str) -> T:
        started, attempt, torn_reads = time.monotonic(), 0, 0
        while True:
            with self.connect() as conn:
                conn.execute("BEGIN TRANSACTION")
                try:
                    result = work(conn)
                    check_publish(what)  # a refusal rolls the transaction back
                    conn.execute("COMMIT")
                    return result
                except BaseException as err:
                    with contextlib.suppress(duckdb.Error):
                        conn.execute("ROLLBACK")
                    torn = is_torn_read(err) and torn_reads < _TORN_READ_TRIES
                    if isinstance(err, duckdb.Error) and not (is_conflict(err) or torn):
                        raise type(err)(f"{what} failed in {self.catalog.describe()}: {err}") from err
                    if not (is_conflict(err) or torn):
                        raise
                    torn_reads += torn
                    if torn:
                        _discard(self.catalog, read_only=False)
                    attempt += 1
                    if (attempt >= self.retry.max_attempts
                            or time.monotonic() - started > self.retry.timeout_s):
                        raise WriteConflict(
                            f"{what}: still conflicting with other writers after {attempt} "
                            f"tries in {time.monotonic() - started:.1f} s "
                            f"({self.catalog.describe()}): {err}") from err
                    delay = self.retry.delay(attempt)
                    log.debug("%s conflicted (try %d), retrying in %.2f s: %s", what, attempt,
                              delay, err)
            time.sleep(delay)

    def execute(self, statement: Statement, params: dict[str, Any] | None = None) -> None:
        """Run one writing statement with bound parameters as its own transaction."""
        self.write(lambda conn: conn.execute(checked(statement), params or {}),
                   what=statement.name if isinstance(statement, Statement) else "statement")

    def fetch(self, statement: Statement, params: dict[str, Any] | None = None
              ) -> list[dict[str, Any]]:
        """Run one query on the newest snapshot and return every row as a dict."""
        return self.read(lambda conn: query_rows(conn, statement, params))

    def read(self, work: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        """Run ``work(conn)``, which only reads, and return what it returns; run it again when
        a concurrent commit tore DuckLake's read of its catalog (:func:`is_torn_read`)."""
        for attempt in range(1, _TORN_READ_TRIES + 1):
            with self.connect() as conn:
                try:
                    return work(conn)
                except (duckdb.InternalException, duckdb.FatalException) as err:
                    if not is_torn_read(err) or attempt == _TORN_READ_TRIES:
                        raise
                    _discard(self.catalog, read_only=False)
                    log.debug("a read raced a commit (try %d), reading again: %s", attempt, err)
            time.sleep(self.retry.delay(attempt))
        raise AssertionError("unreachable")

    def snapshot_id(self) -> int:
        """The newest committed snapshot: what a reader sees now, and what ``AT (VERSION =>
        n)`` reads again later."""
        return self.read(lambda conn: int(conn.execute(
            f"SELECT id FROM {engine.LAKE}.current_snapshot()").fetchone()[0]))

    def apply_schema(self) -> None:
        """Create what is missing: the tables, then the migrations of older homes
        (:mod:`react_assets.metadata.migrations`). Idempotent; safe from many processes."""
        from react_assets.metadata import migrations

        migrations.migrate(self)


_WRITE_LOCK_KEY = 0x5245_4143_5457_0001  # the PostgreSQL advisory lock of metadata writes
_turns = threading.local()


@contextlib.contextmanager
def _turn(catalog: Catalog, timeout_s: float, what: str) -> Iterator[None]:
    """One write at a time on a PostgreSQL catalog: a session advisory lock on its database,
    taken before the write's transaction begins and let go after it commits.

    DuckLake lets two transactions that insert into the same table both commit, so two runs
    writing the same new key at once (the same shard, model, retrieval set) would each add its
    rows. On a SQLite catalog that cannot happen: a writer whose snapshot another commit made
    stale is refused ("database is locked") and runs again on the new snapshot. A write made
    inside another's ``work`` in the same thread goes on in the outer one's turn; a writer
    killed in its turn ends its session, which frees the lock. Readers never take it."""
    held = _turns.__dict__.setdefault("catalogs", set())
    if catalog.backend != "postgres" or catalog in held:
        yield
        return
    import psycopg2  # the cluster profile's PostgreSQL client

    session = psycopg2.connect(catalog.dsn, connect_timeout=30)
    try:
        session.autocommit = True
        with session.cursor() as cursor:
            cursor.execute("SET lock_timeout = %s", (f"{max(1, int(timeout_s * 1000))}ms",))
            try:
                cursor.execute("SELECT pg_advisory_lock(%s)", (_WRITE_LOCK_KEY,))
            except psycopg2.errors.LockNotAvailable as err:
                raise WriteConflict(f"{what}: other writers kept {catalog.describe()} for "
                                    f"over {timeout_s:.0f} s") from err
        held.add(catalog)
        try:
            yield
        finally:
            held.discard(catalog)
    finally:
        session.close()  # ends the session, and with it the lock


def checked(statement: Statement) -> Statement:
    """``statement`` if it is one of the project's SQL files, else a TypeError."""
    if not isinstance(statement, Statement):
        raise TypeError(f"expected a statement from react_assets.metadata.sql, got "
                        f"{type(statement).__name__} {str(statement)[:60]!r}")
    return statement


def insert_table(conn: duckdb.DuckDBPyConnection, statement: Statement, table: pa.Table) -> None:
    """Run ``statement``, which reads the Arrow table ``batch``, with ``table`` as ``batch``."""
    conn.register("batch", table)
    try:
        conn.execute(checked(statement))
    finally:
        conn.unregister("batch")


def query_rows(
    conn: duckdb.DuckDBPyConnection, statement: Statement, params: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Run one query on an open connection and read all rows as dicts."""
    result = conn.execute(checked(statement), params or {})
    columns = [d[0] for d in result.description]
    return [dict(zip(columns, row, strict=True)) for row in result.fetchall()]
