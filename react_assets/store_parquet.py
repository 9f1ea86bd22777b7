"""Metadata for many writers at once: immutable Parquet files per table partition, DuckDB views.

The cluster profile's metadata store (the embedded default is the one DuckDB file of
``store.Store``). Layout under its folder (``REACT_HOME/metadata``, which may be a shared mount):

    <table>/part=<key>/<commit>.parquet   every row of one partition, as one commit left it
    _commits/<commit>                     marker: that commit is complete (renamed in last)
    catalog.duckdb                        views over the files, for ``duckdb -readonly``

A transaction runs its statements (the same ``react_assets.sql`` files) against private, empty
in-memory tables; on exit it writes one Parquet file per table partition it touched (a
``DELETE ... WHERE <partition column> = $x`` marks a partition as touched even when no rows
follow) and then the commit marker. A commit therefore *replaces every partition it touches*,
which is what each stage's writer means (ingest replaces a shard's pairs, retrieval a domain's
pairs, an upsert its key's row). Readers see, per partition, the file of the newest committed
commit. So:

- writers of different partitions share no file and no lock, and never wait for each other;
- a reader (``fetch``, an asset check, the duckdb CLI) never blocks a writer and sees each
  partition before or after a commit, never half of it;
- a writer killed before its marker leaves files no view shows (``vacuum`` removes them).

The statements this module generates (views, staging reads) are store internals built from the
schema files' own table and column names; every value is bound.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import duckdb
import pyarrow.parquet as pq

from react_assets.atomic import atomic_path
from react_assets.sql import SCHEMA, Statement
from react_assets.store import Store, query_rows

log = logging.getLogger(__name__)

# The partition columns of each table: a commit replaces the partitions it touches.
PARTITIONS: dict[str, tuple[str, ...]] = {
    "shards": ("shard_id",), "pairs": ("shard_id",), "skipped_samples": ("shard_id",),
    "embedding_sets": ("shard_id", "model_id"), "indexes": ("model_id", "modality"),
    "domains": ("domain",), "retrieval_sets": ("domain",), "retrievals": ("domain",),
    "evaluations": ("domain",), "models": ("model_id",),
}
SEED_COMMIT = "00000000000000000000-seed"
_DELETE = re.compile(r"^\s*DELETE\s+FROM\s+(\w+)\s+WHERE\s+(\w+)\s*=\s*\$(\w+)\s*;?\s*$",
                     re.IGNORECASE | re.MULTILINE)


def new_commit_id() -> str:
    """A sortable, unique commit id: nanoseconds since the epoch, then a random suffix."""
    return f"{time.time_ns():020d}-{uuid.uuid4().hex[:12]}"


def _partition_folder(values: tuple[Any, ...]) -> str:
    return "part=" + quote("|".join(str(v) for v in values), safe="")


def _staging() -> duckdb.DuckDBPyConnection:
    conn = duckdb.connect(":memory:")
    for statement in SCHEMA:
        conn.execute(statement)
    return conn


def _columns(conn: duckdb.DuckDBPyConnection, table: str) -> list[tuple[str, str]]:
    return [(r[0], r[1]) for r in conn.execute(f"DESCRIBE {table}").fetchall()]


class StagedTransaction:
    """The connection a writer sees inside ``PartitionedStore.transaction``.

    Statements run on private empty tables; deletes are remembered as touched partitions.
    """

    def __init__(self, conn: duckdb.DuckDBPyConnection) -> None:
        self.conn = conn
        self.touched: set[tuple[str, tuple[Any, ...]]] = set()

    def execute(self, statement: Statement, params: dict[str, Any] | None = None) -> Any:
        """Run one statement on the staging tables (a DELETE marks its partition touched)."""
        if not isinstance(statement, Statement):
            raise TypeError(f"expected a statement from react_assets.sql, got {statement!r:.60}")
        match = _DELETE.search(_strip_comments(statement))
        if match:
            table, column, param = match.groups()
            if PARTITIONS.get(table) != (column,):
                raise ValueError(f"{getattr(statement, 'name', statement)}: a partitioned store "
                                 f"deletes whole partitions only ({table} by {PARTITIONS.get(table)})")
            self.touched.add((table, ((params or {})[param],)))
        return self.conn.execute(statement, params or {})

    def register(self, name: str, table: Any) -> None:
        self.conn.register(name, table)

    def unregister(self, name: str) -> None:
        self.conn.unregister(name)


def _strip_comments(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))


class PartitionedStore(Store):
    """Metadata as Parquet files per partition and commit under ``folder``; DuckDB reads them."""

    def __init__(self, folder: Path | str) -> None:
        super().__init__(Path(folder))
        self._staging_db: duckdb.DuckDBPyConnection | None = None
        self._read_db: duckdb.DuckDBPyConnection | None = None

    @property
    def catalog(self) -> Path:
        """A DuckDB file of views over the files (open it with ``duckdb -readonly``)."""
        return self.path / "catalog.duckdb"

    def apply_schema(self) -> None:
        """Seed an empty file per table (so every view has a file to read) and the catalog."""
        staging = _staging()
        try:
            for table in PARTITIONS:
                seed = self.path / table / "part=_seed" / f"{SEED_COMMIT}.parquet"
                if not seed.exists():
                    empty = staging.sql(f"SELECT * FROM {table} WHERE false").to_arrow_table()
                    with atomic_path(seed) as tmp:
                        pq.write_table(empty, tmp)
            marker = self.path / "_commits" / SEED_COMMIT
            if not marker.exists():
                with atomic_path(marker) as tmp:
                    tmp.write_bytes(b"")
            if not self.catalog.exists():
                self._write_catalog(staging)
        finally:
            staging.close()
        self._databases()

    def _write_catalog(self, staging: duckdb.DuckDBPyConnection) -> None:
        with atomic_path(self.catalog) as tmp:
            tmp.unlink()
            conn = duckdb.connect(str(tmp))
            try:
                for table in PARTITIONS:
                    conn.execute(self.view_sql(table, _columns(staging, table)))
            finally:
                conn.close()

    def view_sql(self, table: str, columns: list[tuple[str, str]]) -> str:
        """The view of ``table``: per partition, the newest committed file, cast to the schema."""
        root = str(self.path.resolve()).replace("'", "''")
        cast = ", ".join(f'CAST(r."{name}" AS {kind}) AS "{name}"' for name, kind in columns)
        return f"""CREATE OR REPLACE VIEW {table} AS
WITH committed AS (SELECT parse_filename(file) AS commit_id FROM glob('{root}/_commits/*')),
files AS (
  SELECT file, regexp_extract(file, '/part=([^/]*)/[^/]*$', 1) AS part,
         regexp_extract(parse_filename(file), '^(.*)[.]parquet$', 1) AS commit_id
  FROM glob('{root}/{table}/part=*/*.parquet')),
latest AS (SELECT arg_max(file, commit_id) AS file
           FROM files SEMI JOIN committed USING (commit_id) GROUP BY part)
SELECT {cast} FROM read_parquet('{root}/{table}/part=*/*.parquet', filename = true) r
WHERE r.filename IN (SELECT file FROM latest)"""

    def _databases(self) -> tuple[duckdb.DuckDBPyConnection, duckdb.DuckDBPyConnection]:
        """This process's staging database (empty tables) and read database (views), made once."""
        if self._staging_db is None or self._read_db is None:
            staging = _staging()
            reader = duckdb.connect(":memory:")
            for table in PARTITIONS:
                reader.execute(self.view_sql(table, _columns(staging, table)))
            self._staging_db, self._read_db = staging, reader
        return self._staging_db, self._read_db

    @contextlib.contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection whose tables are views over the committed files (evaluated per query)."""
        conn = self._databases()[1].cursor()
        try:
            yield conn
        finally:
            conn.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[StagedTransaction]:  # type: ignore[override]
        """Stage a writer's statements in a private DuckDB transaction over empty tables; on
        success write its partitions, then its marker; the staging transaction is rolled back."""
        conn = self._databases()[0].cursor()
        conn.execute("BEGIN TRANSACTION")
        staged = StagedTransaction(conn)
        try:
            yield staged
            self._commit(staged)
        finally:
            conn.execute("ROLLBACK")
            conn.close()

    def _commit(self, staged: StagedTransaction) -> str:
        conn, commit = staged.conn, new_commit_id()
        touched = set(staged.touched)
        for table, columns in PARTITIONS.items():
            cols = ", ".join(columns)
            touched.update((table, tuple(row)) for row in
                           conn.execute(f"SELECT DISTINCT {cols} FROM {table}").fetchall())
        for table, key in sorted(touched, key=str):
            where = " AND ".join(f"{c} = ${c}" for c in PARTITIONS[table])
            rows = conn.sql(f"SELECT * FROM {table} WHERE {where}", params=dict(
                zip(PARTITIONS[table], key, strict=True))).to_arrow_table()
            target = self.path / table / _partition_folder(key) / f"{commit}.parquet"
            with atomic_path(target) as tmp:
                pq.write_table(rows, tmp)
        if touched:
            self._write_marker(commit)
            log.debug("metadata commit %s: %d partitions", commit, len(touched))
        return commit

    def _write_marker(self, commit: str) -> None:
        """Make ``commit`` visible: its marker is the last thing it writes."""
        with atomic_path(self.path / "_commits" / commit) as tmp:
            tmp.write_bytes(b"")

    def execute(self, statement: Statement, params: dict[str, Any] | None = None) -> None:
        """Run one writing statement as its own commit."""
        with self.transaction() as conn:
            conn.execute(statement, params)

    def fetch(self, statement: Statement, params: dict[str, Any] | None = None
              ) -> list[dict[str, Any]]:
        """Run one query over the committed files and return every row as a dict."""
        with self.connect() as conn:
            return query_rows(conn, statement, params)

    def vacuum(self, *, older_than_s: float = 3600.0) -> int:
        """Remove files no view shows (superseded or never committed) older than the age given."""
        committed = {p.name for p in (self.path / "_commits").iterdir()}
        cutoff, removed = time.time() - older_than_s, 0
        for table in PARTITIONS:
            for part in (self.path / table).glob("part=*"):
                files = sorted(part.glob("*.parquet"))
                live = [f for f in files if f.stem in committed]
                keep = live[-1] if live else None
                for file in files:
                    if file != keep and file.stat().st_mtime < cutoff:
                        file.unlink()
                        removed += 1
        return removed


BACKENDS = ("duckdb", "parquet")


def open_store(root: Path, backend: str = "duckdb") -> Store:
    """The metadata store under REACT_HOME ``root``: ``duckdb`` (one file, the embedded default)
    or ``parquet`` (partitioned files for many writers, the cluster profile); schema applied."""
    if backend == "duckdb":
        store = Store(root / "react.duckdb")
    elif backend == "parquet":
        store = PartitionedStore(root / "metadata")
    else:
        raise ValueError(f"unknown metadata backend {backend!r}; expected one of {BACKENDS}")
    store.apply_schema()
    return store
