"""Upgrades of an existing DuckDB home whose tables predate the current schema.

One upgrade so far: retrieval sets keyed by domain (``retrieval_sets.digest``, one set per domain,
replaced at every re-retrieval) become immutable sets keyed by their digest
(``retrieval_sets.set_digest``, ``retrievals.set_digest``). Each domain's old set is kept as one
set whose digest is its old pair digest, the value its models recorded, so their lineage still
resolves. The upgrade runs inside :meth:`Store.apply_schema`'s transaction: all of it, or none.
"""

from __future__ import annotations

import logging

import duckdb

from react_assets.sql import (
    alter_retrievals_add_set_digest,
    drop_retrieval_sets_v1,
    insert_retrieval_sets_from_v1,
    rename_retrieval_sets_to_v1,
    select_table_columns,
    update_retrievals_set_digest_from_v1,
)

log = logging.getLogger(__name__)


def _columns(conn: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    return [row[0] for row in conn.execute(select_table_columns, {"table": table}).fetchall()]


def before_schema(conn: duckdb.DuckDBPyConnection) -> list[str]:
    """Set aside the tables of an older layout; returns the upgrades :func:`after_schema` ends."""
    done = []
    sets = _columns(conn, "retrieval_sets")
    if sets and "set_digest" not in sets:
        if "digest" not in sets:
            raise RuntimeError(f"retrieval_sets has columns {sets}: neither the domain-keyed "
                               "layout nor the current one; this home cannot be upgraded")
        log.warning("upgrading retrieval sets from the domain-keyed layout to immutable sets")
        conn.execute(rename_retrieval_sets_to_v1)
        if "set_digest" not in _columns(conn, "retrievals"):
            conn.execute(alter_retrievals_add_set_digest)
        done.append("retrieval_sets_v1")
    return done


def after_schema(conn: duckdb.DuckDBPyConnection, upgrades: list[str]) -> None:
    """Copy the rows set aside by :func:`before_schema` into the current tables."""
    if "retrieval_sets_v1" in upgrades:
        conn.execute(insert_retrieval_sets_from_v1)
        conn.execute(update_retrievals_set_digest_from_v1)
        conn.execute(drop_retrieval_sets_v1)
