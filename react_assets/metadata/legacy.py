"""Upgrades from the metadata layouts of earlier releases (run by
:mod:`react_assets.metadata.migrations`, each once, in the transaction that records it).

The two imports copy a home's metadata from before DuckLake into the lake: ``react.duckdb``
(the embedded profile's one DuckDB file) and ``metadata/`` (the cluster profile's Parquet commit
files). Both are only read, so an older release still opens the home: the file is attached
READ_ONLY (an upgrade it needs first runs on a temporary copy), the folder's files are read
with ``read_parquet``. Rows land in the lake table of the same name, columns matched by name and
cast to the lake's types; a column the legacy table lacks stays NULL. The statements generated
here are store internals built from the schema's table and column names and the home's paths
(quoted or bound), never from row values.
"""

from __future__ import annotations

import contextlib
import logging
import shlex
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from react_assets.metadata.engine import LAKE
from react_assets.metadata.sql import (
    SCHEMA,
    alter_retrievals_add_set_digest,
    drop_retrieval_sets_v1,
    insert_retrieval_sets_from_v1,
    rename_retrieval_sets_to_v1,
    select_table_columns,
    update_retrievals_set_digest_from_v1,
)

if TYPE_CHECKING:
    from react_assets.metadata.store import Store

log = logging.getLogger(__name__)

LEGACY_FILE = "react.duckdb"  # the embedded profile's store before DuckLake
LEGACY_FOLDER = "metadata"  # the cluster profile's store before DuckLake
COMMITS = "_commits"  # its markers: a commit whose marker exists is complete

_COLUMNS = ("SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_catalog = ? AND table_schema = 'main' AND table_name = ? "
            "ORDER BY ordinal_position")
_PARQUET = "read_parquet($files, union_by_name = true, hive_partitioning = false)"


class LegacyLayoutError(RuntimeError):
    """A legacy source this release cannot import as it is (the message says what to do)."""


def import_duckdb_file(conn: duckdb.DuckDBPyConnection, store: Store) -> str | None:
    """Copy every table of the home's ``react.duckdb`` (if any) into the lake. A file of the
    domain-keyed retrieval sets layout is upgraded first, on a temporary copy (the old
    upgrade's statements), so its models' retrieval digests still name their sets."""
    path = store.catalog.root / LEGACY_FILE
    if not path.exists():
        return None
    if (store.catalog.root / LEGACY_FOLDER / COMMITS).is_dir():
        raise LegacyLayoutError(
            f"{store.catalog.root} holds both an embedded store ({LEGACY_FILE}) and a cluster "
            f"one ({LEGACY_FOLDER}/); an earlier release used one of them, by its profile. Move "
            "the one that is not this home's out of it, then open it again")
    with attached(conn, path) as alias:
        if not _is_domain_keyed(columns(conn, alias, "retrieval_sets")):
            return _detail(*_copy_tables(conn, alias), LEGACY_FILE)
    with tempfile.TemporaryDirectory(prefix="legacy-", dir=store.catalog.folder) as scratch:
        with attached(conn, upgraded_copy(path, Path(scratch))) as alias:
            return _detail(*_copy_tables(conn, alias), f"{LEGACY_FILE}, retrieval sets "
                           "upgraded from the domain-keyed layout")


def import_parquet_folder(conn: duckdb.DuckDBPyConnection, store: Store) -> str | None:
    """Copy the committed rows of the home's ``metadata/`` Parquet folder (if any) into the
    lake: per table partition, the rows of its newest committed file (:func:`visible_files`)."""
    folder = store.catalog.root / LEGACY_FOLDER
    if not (folder / COMMITS).is_dir():
        return None
    committed = {p.name for p in (folder / COMMITS).iterdir() if p.is_file()}
    tables = lake_tables()
    counts: dict[str, int] = {}
    for table in tables:
        files = visible_files(folder / table, committed)
        if files:
            params = {"files": [str(f) for f in files]}
            described = conn.execute(f"DESCRIBE SELECT * FROM {_PARQUET}", params).fetchall()
            counts[table] = _insert(conn, table, {r[0]: r[1] for r in described}, _PARQUET,
                                    params)
    skipped = sorted(p.name for p in folder.iterdir()
                     if p.is_dir() and p.name not in tables and not p.name.startswith("_"))
    return _detail(counts, skipped, f"{LEGACY_FOLDER}/")


def visible_files(table_folder: Path, committed: set[str]) -> list[Path]:
    """What a reader of the Parquet layout saw of one table: in each ``part=<key>`` folder,
    the file of the newest commit (commit ids sort as strings) whose marker is in
    ``committed``. Files of a commit without a marker (a writer killed before its last step)
    and files a newer commit superseded are not read."""
    if not table_folder.is_dir():
        return []
    latest = []
    for part in sorted(table_folder.glob("part=*")):
        live = [f for f in part.glob("*.parquet") if f.stem in committed]
        if live:
            latest.append(max(live, key=lambda f: f.stem))
    return latest


def lake_tables() -> list[str]:
    """The project's tables, in schema file order."""
    return [statement.name.removeprefix("create_") for statement in SCHEMA]


def columns(conn: duckdb.DuckDBPyConnection, catalog: str, table: str) -> dict[str, str]:
    """The columns of ``catalog.main.table`` and their types, in order (none if no table)."""
    return dict(conn.execute(_COLUMNS, [catalog, table]).fetchall())


@contextlib.contextmanager
def attached(conn: duckdb.DuckDBPyConnection, path: Path) -> Iterator[str]:
    """``path`` attached READ_ONLY in ``conn`` under a fresh name, detached on exit (when the
    transaction failed, its rollback detaches it)."""
    alias = f"legacy_{uuid.uuid4().hex[:12]}"
    try:
        conn.execute(f"ATTACH {_literal(str(path))} AS {alias} (READ_ONLY)")
    except duckdb.IOException as err:
        if "newer version of duckdb" in str(err).lower():
            raise LegacyLayoutError(newer_storage_message(path, err)) from err
        raise
    try:
        yield alias
    finally:
        with contextlib.suppress(duckdb.Error):
            conn.execute(f"DETACH {alias}")


def newer_storage_message(path: Path, err: duckdb.Error) -> str:
    """Why the DuckDB file ``path`` cannot be read (a storage version newer than this DuckDB's,
    as the DuckDB 2.x of the releases before DuckLake wrote by default) and how to rewrite it
    in one that both this DuckDB and the one that wrote it read."""
    copy = path.with_name(path.name + ".v1_4")
    statements = [f"ATTACH {_literal(str(path))} AS old (READ_ONLY)",
                  f"ATTACH {_literal(str(copy))} AS new (STORAGE_VERSION 'v1.4.0')",
                  "COPY FROM DATABASE old TO new"]
    script = "\n".join(["import duckdb", "c = duckdb.connect()"]
                       + [f"c.execute({s!r})" for s in statements])
    return (f"{path} cannot be imported into the DuckLake metadata: DuckDB {duckdb.__version__} "
            f"cannot read its storage ({str(err).splitlines()[0]}). Rewrite it with the DuckDB "
            f"that wrote it (in a scratch virtualenv: pip install duckdb==2.0.1):\n"
            f"python - <<'EOF'\n{script}\nEOF\n"
            f"then set the original aside and put the copy in its place (both releases read it):"
            f"\nmv {shlex.quote(str(path))} {shlex.quote(str(path) + '.orig')} && "
            f"mv {shlex.quote(str(copy))} {shlex.quote(str(path))}")


def upgraded_copy(path: Path, scratch: Path) -> Path:
    """A copy of the DuckDB file ``path`` (and its WAL) in ``scratch`` with the domain-keyed
    retrieval sets upgraded the way the embedded store upgraded them: each domain's one set
    becomes a set whose digest is its old pair digest, and its retrievals point at it."""
    copy = scratch / path.name
    shutil.copyfile(path, copy)
    wal = path.with_name(path.name + ".wal")
    if wal.exists():
        shutil.copyfile(wal, copy.with_name(copy.name + ".wal"))
    db = duckdb.connect(str(copy))
    try:
        retrievals = [r[0] for r in
                      db.execute(select_table_columns, {"table": "retrievals"}).fetchall()]
        db.execute("BEGIN TRANSACTION")
        db.execute(rename_retrieval_sets_to_v1)
        if retrievals and "set_digest" not in retrievals:
            db.execute(alter_retrievals_add_set_digest)
        db.execute(next(s for s in SCHEMA if s.name == "create_retrieval_sets"))
        db.execute(insert_retrieval_sets_from_v1)
        if retrievals:
            db.execute(update_retrievals_set_digest_from_v1)
        db.execute(drop_retrieval_sets_v1)
        db.execute("COMMIT")
    finally:
        db.close()
    return copy


def _is_domain_keyed(retrieval_sets: dict[str, str]) -> bool:
    """Whether ``retrieval_sets`` (its columns) has the domain-keyed layout; an unknown layout
    is an error (importing it would lose the sets)."""
    if not retrieval_sets or "set_digest" in retrieval_sets:
        return False
    if "digest" not in retrieval_sets:
        raise LegacyLayoutError(
            f"{LEGACY_FILE}: retrieval_sets has columns {list(retrieval_sets)}: neither the "
            "domain-keyed layout nor the current one; this home cannot be upgraded")
    return True


def _copy_tables(conn: duckdb.DuckDBPyConnection, alias: str) -> tuple[dict[str, int], list[str]]:
    """Copy each lake table's rows from the attached ``alias``; returns the rows copied per
    table, and the legacy tables the lake has no table for (not copied)."""
    counts: dict[str, int] = {}
    for table in lake_tables():
        source = columns(conn, alias, table)
        if source:
            counts[table] = _insert(conn, table, source, f"{alias}.main.{_ident(table)}")
    names = conn.execute("SELECT table_name FROM information_schema.tables WHERE table_catalog = ?"
                         " AND table_schema = 'main'", [alias]).fetchall()
    return counts, sorted({r[0] for r in names} - set(counts))


def _insert(conn: duckdb.DuckDBPyConnection, table: str, source: dict[str, str], relation: str,
            params: dict[str, Any] | None = None) -> int:
    """``INSERT INTO lake.table`` the rows of ``relation`` (whose columns are ``source``):
    the columns both have, cast to the lake's types. Returns the number of rows."""
    target = columns(conn, LAKE, table)
    shared = [name for name in target if name in source]
    dropped = sorted(set(source) - set(target))
    if dropped:
        log.warning("legacy %s: columns %s have no lake column, not imported", table, dropped)
    if not shared:
        return 0
    names = ", ".join(_ident(name) for name in shared)
    values = ", ".join(f"CAST(s.{_ident(name)} AS {target[name]})" for name in shared)
    result = conn.execute(f"INSERT INTO {LAKE}.main.{_ident(table)} ({names}) "
                          f"SELECT {values} FROM {relation} AS s", params or {})
    return int(result.fetchone()[0])


def _detail(counts: dict[str, int], skipped: list[str], source: str) -> str:
    detail = f"imported {sum(counts.values())} rows of {len(counts)} tables from {source}"
    if skipped:
        detail += f"; legacy tables with no lake table, not imported: {', '.join(skipped)}"
    return detail


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def relative_paths(conn: duckdb.DuckDBPyConnection, store) -> str | None:
    """Paths into the home stored absolute become relative to it
    (:mod:`react_assets.metadata.relocation`); returns what changed and what was left, or None."""
    from react_assets.metadata import relocation

    return relocation.relative_paths(conn, store.home)
