"""Homes of the releases before DuckLake: their ``react.duckdb`` file or ``metadata/`` Parquet
folder is imported into the lake row for row, once, and left byte for byte as it was (on each
catalog backend: the embedded profile's SQLite and the cluster profile's PostgreSQL)."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from legacy_layout import (
    DOMAIN_KEYED_LAYOUT,
    OLD_SCHEMA,
    ROWS,
    Rows,
    forge_storage_version,
    old_database,
    table_rows,
    tree_digest,
    write_duckdb_home,
    write_parquet_commit,
    write_parquet_seed,
)
from react_assets.metadata.sql import upsert_model

from react_assets.customize.domain import RetrievalSet
from react_assets.customize.model_lineage import model_lineage
from react_assets.domains.settings import RetrievalConfig
from react_assets.metadata import Catalog, Store, open_store
from react_assets.metadata import store as store_module
from react_assets.metadata.legacy import LegacyLayoutError
from react_assets.retrieve.sets import store_retrieval_set

NEW_COLUMNS = {  # the lake's columns the old schema lacks
    "models": ("metadata_snapshot", "spec_digest"), "domains": ("spec_digest",),
    "retrieval_sets": ("spec_digest",), "evaluations": ("spec_digest", "ci_low", "ci_high")}
N_ROWS = sum(len(rows) for rows in ROWS.values())


@pytest.fixture
def open_home(request, backend) -> Iterator[Callable[[Path], Store]]:
    """Open a home's store on ``backend`` (the same catalog each time for the same home)."""
    catalogs: dict[Path, Catalog] = {}

    def open_(home: Path) -> Store:
        if home not in catalogs:
            dsn = (request.getfixturevalue("postgres_server").new_database()
                   if backend == "postgres" else None)
            catalogs[home] = Catalog(home.resolve(), backend, dsn)
        return open_store(home, backend, dsn=catalogs[home].dsn)

    yield open_
    # close this process's connections to the catalogs (a store that failed to open has one
    # too), so PostgreSQL sessions don't pile up
    with store_module._instances_lock:
        for key in [k for k in store_module._instances if k[1] in catalogs.values()]:
            store_module._instances.pop(key).close()


def lake_rows(store: Store, table: str) -> list[tuple]:
    """``table``'s rows in the lake as :func:`legacy_layout.table_rows` gives them, without
    the columns the old schema lacked (checked NULL)."""
    new = NEW_COLUMNS.get(table, ())
    with store.connect() as conn:
        for column in new:
            assert conn.execute(f"SELECT count({column}) FROM {table}").fetchone()[0] == 0
        return table_rows(conn, table, new)


def legacy_rows(rows: Rows = ROWS) -> dict[str, list[tuple]]:
    """Every table's rows as a store of the old schema reads ``rows`` back."""
    conn = old_database(rows)
    try:
        return {table: table_rows(conn, table) for table in OLD_SCHEMA}
    finally:
        conn.close()


def migrations(store: Store) -> dict[str, list[str | None]]:
    with store.connect() as conn:
        rows = conn.execute("SELECT name, detail FROM schema_migrations").fetchall()
    found: dict[str, list[str | None]] = {}
    for name, detail in rows:
        found.setdefault(name, []).append(detail)
    return found


def legacy_files(home: Path) -> dict[str, str]:
    """The home's files outside the lake, with their digests."""
    return {k: v for k, v in tree_digest(home).items() if not k.startswith("lake/")}


def write_parquet_history(home: Path) -> None:
    """A cluster home whose visible rows are ``ROWS``: the seed, a first commit of every
    partition (shard s1's pairs and the pets retrieval sets in an older version), a second
    commit that supersedes those two partitions, and a newer commit whose writer died before
    its marker (a new version of s1's pairs, a new shard and a new domain: never visible)."""
    write_parquet_seed(home)
    stale = copy.deepcopy(ROWS)
    for row in stale["pairs"]:
        if row["shard_id"] == "s1":
            row["caption"] = f"stale {row['caption']}"
    stale["retrieval_sets"] = [r for r in stale["retrieval_sets"] if r["set_digest"] != "set-b"]
    write_parquet_commit(home, "00000000000000000001-aaaaaaaaaaaa", stale)
    write_parquet_commit(home, "00000000000000000002-bbbbbbbbbbbb", {
        "pairs": [r for r in ROWS["pairs"] if r["shard_id"] == "s1"],
        "retrieval_sets": [r for r in ROWS["retrieval_sets"] if r["domain"] == "pets"]})
    ghost = {"pairs": [{**r, "caption": "ghost"} for r in ROWS["pairs"]]
             + [{**ROWS["pairs"][0], "pair_id": 91, "shard_id": "s9"}],
             "domains": [{**ROWS["domains"][0], "domain": "ghost"}]}
    write_parquet_commit(home, "00000000000000000003-cccccccccccc", ghost, committed=False)


def test_a_react_duckdb_home_is_imported_row_for_row_and_left_as_it_was(tmp_path, open_home):
    home = tmp_path / "home"
    write_duckdb_home(home)
    before = legacy_files(home)
    store = open_home(home)
    for table, expected in legacy_rows().items():
        assert lake_rows(store, table) == expected, table
    assert migrations(store)["import_legacy_duckdb"] == [
        f"imported {N_ROWS} rows of 10 tables from react.duckdb"]
    assert migrations(store)["import_legacy_parquet"] == [None]
    assert legacy_files(home) == before  # no byte changed, no file added (a WAL, a lock)


def test_a_parquet_home_imports_each_partitions_newest_committed_file(tmp_path, open_home):
    home = tmp_path / "home"
    write_parquet_history(home)
    before = legacy_files(home)
    store = open_home(home)
    for table, expected in legacy_rows().items():
        assert lake_rows(store, table) == expected, table
    with store.connect() as conn:
        assert conn.execute("SELECT count(*) FROM pairs WHERE caption IN ('ghost') "
                            "OR caption LIKE 'stale%' OR shard_id = 's9'").fetchone()[0] == 0
    assert migrations(store)["import_legacy_parquet"] == [
        f"imported {N_ROWS} rows of 10 tables from metadata/"]
    assert migrations(store)["import_legacy_duckdb"] == [None]
    assert legacy_files(home) == before


def test_a_react_duckdb_this_duckdb_cannot_read_fails_with_how_to_rewrite_it(tmp_path, open_home):
    home = tmp_path / "home"
    forge_storage_version(write_duckdb_home(home), 999)  # DuckDB 2.x's default storage
    before = legacy_files(home)
    with pytest.raises(LegacyLayoutError) as caught:
        open_home(home)
    message = str(caught.value)
    assert "version number 999" in message and "pip install duckdb==2.0.1" in message
    assert "STORAGE_VERSION 'v1.4.0'" in message and "COPY FROM DATABASE old TO new" in message
    assert legacy_files(home) == before


@pytest.mark.parametrize("layout", ["duckdb", "parquet"])
def test_a_home_opened_again_is_not_imported_again(tmp_path, open_home, layout):
    home = tmp_path / "home"
    write_duckdb_home(home) if layout == "duckdb" else write_parquet_history(home)
    open_home(home)
    store = open_home(home)
    assert store.apply_schema() is None  # and once more through the store itself
    for table, rows in ROWS.items():
        with store.connect() as conn:
            assert conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == len(rows)
    assert {name: len(details) for name, details in migrations(store).items()} == {
        "import_legacy_duckdb": 1, "import_legacy_parquet": 1, "relative_paths": 1,
        "evaluation_intervals": 1}


def register_model(store: Store, model_id: str, digest: str | None) -> None:
    store.execute(upsert_model, {
        "model_id": model_id, "parent_model_id": "base@1", "kind": "gated-image",
        "domain": "shapes", "arch": "react-tiny", "pretrained": None, "checkpoint": "/x",
        "retrieval_digest": digest, "metadata_snapshot": None, "config": json.dumps({}),
        "mlflow_run_id": None, "mlflow_model_uri": None, "dagster_run_id": "run",
        "spec_digest": None})


def test_a_home_of_the_domain_keyed_layout_is_upgraded_and_its_models_keep_their_lineage(
        tmp_path, open_home):
    home = tmp_path / "home"
    home.mkdir()
    with duckdb.connect(str(home / "react.duckdb")) as conn:
        for statement in DOMAIN_KEYED_LAYOUT:
            conn.execute(statement)
    before = legacy_files(home)
    store = open_home(home)
    store.apply_schema()  # idempotent once upgraded
    assert migrations(store)["import_legacy_duckdb"] == [
        "imported 5 rows of 2 tables from react.duckdb, retrieval sets upgraded from the "
        "domain-keyed layout"]
    assert legacy_files(home) == before  # upgraded on a copy
    register_model(store, "react-shapes@old", "old-s")
    assert RetrievalSet.of_domain(store, "shapes").digest == "old-s"
    assert RetrievalSet.of_domain(store, "dots").pair_ids == (3,)
    assert model_lineage(store, "react-shapes@old").pair_ids == (1, 2)
    new = store_retrieval_set(store, domain="shapes", rows=pa.Table.from_pylist([
        {"domain": "shapes", "class_index": i, "class_name": ["circle", "square"][i],
         "pair_id": pid, "score": 1.0 - i / 100, "rank": 0, "mode": "text-to-image"}
        for i, pid in enumerate([5, 6])]), config=RetrievalConfig(), base_model_id="base@1",
        n_queries=2, stats={})
    assert RetrievalSet.of_domain(store, "shapes").digest == new
    assert model_lineage(store, "react-shapes@old").pair_ids == (1, 2)


def test_a_home_with_both_legacy_stores_is_refused_and_nothing_is_imported(tmp_path, open_home):
    home = tmp_path / "home"
    write_duckdb_home(home)
    write_parquet_history(home)
    before = legacy_files(home)
    with pytest.raises(LegacyLayoutError, match="both an embedded store"):
        open_home(home)
    assert legacy_files(home) == before
