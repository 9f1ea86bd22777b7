"""The project's metadata: one store type over one engine (DuckDB on a DuckLake catalog) for
both profiles; only the catalog's location differs (:mod:`react_assets.metadata.engine`).

``open_store(root, backend)`` is how every stage gets it. The tables are in
``react_assets.metadata.sql``'s schema files, their upgrades in
:mod:`react_assets.metadata.migrations`, and ``python -m react_assets.metadata.read`` queries
them read-only while runs write.
"""

from __future__ import annotations

from pathlib import Path

from react_assets.metadata.engine import BACKENDS, Catalog
from react_assets.metadata.migrations import TABLES
from react_assets.metadata.store import RetryPolicy, Store, WriteConflict, insert_table, query_rows

__all__ = ["BACKENDS", "TABLES", "Catalog", "RetryPolicy", "Store", "WriteConflict",
           "insert_table", "open_store", "query_rows"]


def open_store(root: Path | str, backend: str = "sqlite", *, dsn: str | None = None) -> Store:
    """The metadata store of the home ``root`` (REACT_HOME), its schema applied and older
    homes upgraded: ``sqlite`` (a catalog file in the home, the embedded profile) or
    ``postgres`` (the catalog in the PostgreSQL database ``dsn`` names, the cluster profile)."""
    store = Store(Catalog(Path(root).resolve(), backend, dsn))
    store.apply_schema()
    return store
