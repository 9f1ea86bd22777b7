"""The metadata engine: DuckDB over a DuckLake catalog, the one code path of both profiles.

DuckLake keeps the tables' rows as Parquet files under ``REACT_HOME/lake/data`` and their catalog
(which files make up which snapshot) in a SQL database: a SQLite file beside the data for the
embedded profile (DuckLake's choice for several local processes), the cluster's PostgreSQL for
the cluster profile. Every commit is one catalog transaction, so

- many processes write at once; a commit that races another is refused whole (and retried by
  :meth:`react_assets.metadata.store.Store.write`), never half-applied;
- a reader reads one snapshot and never blocks a writer (the SQLite catalog runs in WAL mode);
- every earlier snapshot stays readable (``AT (VERSION => n)``) until it is expired.

The extensions come from PyPI (``duckdb-ext-*``, built for this DuckDB release) and load from
``site-packages/duckdb_ext/extensions``; nothing is downloaded.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import duckdb

BACKENDS = ("sqlite", "postgres")
LAKE = "lake"  # the attached catalog's name in every connection


def extension_directory() -> Path:
    """Where the PyPI ``duckdb-ext-*`` packages put their extension binaries."""
    import duckdb_ext  # a namespace package of the duckdb-ext-* wheels

    return Path(next(iter(duckdb_ext.__path__))) / "extensions"


@dataclass(frozen=True)
class Catalog:
    """Where a home's metadata lives: its catalog database and its data folder.

    ``backend`` is ``sqlite`` (``root/lake/catalog.sqlite``) or ``postgres`` (``dsn``, a libpq
    connection string such as ``host=127.0.0.1 port=5432 user=react dbname=metadata``). The data
    is always ``root/lake/data``: the catalog names its files relative to that folder, so a home
    that is copied or mounted elsewhere reads its own files.
    """

    root: Path
    backend: str = "sqlite"
    dsn: str | None = None

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"unknown metadata backend {self.backend!r}; expected one of {BACKENDS}")
        if (self.backend == "postgres") != bool(self.dsn):
            raise ValueError("the postgres backend needs a dsn (libpq connection string), and "
                             "only it takes one")

    @property
    def folder(self) -> Path:
        return self.root / "lake"

    @property
    def data_path(self) -> Path:
        return self.folder / "data"

    @property
    def sqlite_path(self) -> Path:
        return self.folder / "catalog.sqlite"

    def describe(self) -> str:
        """The catalog in words, for messages (no credentials)."""
        if self.backend == "sqlite":
            return f"DuckLake catalog {self.sqlite_path}"
        safe = " ".join(p for p in self.dsn.split() if not p.lower().startswith("password"))
        return f"DuckLake catalog on PostgreSQL ({safe})"

    def attach_sql(self, *, read_only: bool = False, snapshot: int | None = None) -> str:
        """The ATTACH statement of this catalog as ``lake`` (a store internal: no user value
        but the paths and dsn of the home, quoted, and an integer ``snapshot``: the lake as of
        that snapshot, read-only)."""
        target = (f"ducklake:sqlite:{self.sqlite_path}" if self.backend == "sqlite"
                  else f"ducklake:postgres:{self.dsn}")
        options = [f"DATA_PATH {_quote(str(self.data_path) + os.sep)}", "OVERRIDE_DATA_PATH true"]
        if read_only or snapshot is not None:
            options.append("READ_ONLY")
        if snapshot is not None:
            options.append(f"SNAPSHOT_VERSION {int(snapshot)}")
        return f"ATTACH {_quote(target)} AS {LAKE} ({', '.join(options)})"


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def prepare(catalog: Catalog) -> None:
    """Create the home's lake folder and, for SQLite, the catalog file in WAL mode (readers
    never block writers; the mode is stored in the file). Idempotent.

    An existing catalog file is left unopened: this process's DuckDB may have it open, and
    another SQLite library (Python's ``sqlite3``) opening and closing it would drop that
    connection's POSIX locks, then, finding no lock, checkpoint and delete the WAL under it (the
    next query fails with "disk I/O error"; sqlite.org/howtocorrupt.html, 2.2). So the file is
    made in WAL mode under a temporary name and linked into place, never replacing one."""
    catalog.data_path.mkdir(parents=True, exist_ok=True)
    if catalog.backend != "sqlite" or catalog.sqlite_path.exists():
        return
    temporary = catalog.sqlite_path.with_name(f".{catalog.sqlite_path.name}.{os.getpid()}.new")
    try:
        conn = sqlite3.connect(temporary, timeout=60)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
        finally:
            conn.close()
        try:
            os.link(temporary, catalog.sqlite_path)
        except FileExistsError:  # another process made it first
            pass
        except OSError:  # a file system without hard links: a rename (may replace one made since)
            if not catalog.sqlite_path.exists():
                os.replace(temporary, catalog.sqlite_path)
    except sqlite3.Error as err:
        raise OSError(f"cannot create the {catalog.describe()}: {err}") from err
    finally:
        for leftover in (temporary, Path(f"{temporary}-wal"), Path(f"{temporary}-shm")):
            leftover.unlink(missing_ok=True)


def connect(catalog: Catalog, *, read_only: bool = False, snapshot: int | None = None
            ) -> duckdb.DuckDBPyConnection:
    """A new in-memory DuckDB with the catalog attached as ``lake`` and selected; ``snapshot``
    attaches it as of that snapshot (read-only)."""
    conn = duckdb.connect(config={
        "extension_directory": str(extension_directory()),
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": True,
    })
    try:
        conn.execute(catalog.attach_sql(read_only=read_only, snapshot=snapshot))
        conn.execute(f"USE {LAKE}")
    except duckdb.Error as err:
        conn.close()
        raise type(err)(f"cannot open the {catalog.describe()}: {err}") from err
    return conn
