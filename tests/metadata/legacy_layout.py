"""Homes as the releases before DuckLake left them, for the import tests.

The schema below is the one those releases created (PRIMARY KEYs, ``DEFAULT current_timestamp``),
frozen here because the tests must not depend on the repository's history. ``react.duckdb`` is
written the way the embedded store wrote it (the tables in one DuckDB file); ``metadata/`` the way
the cluster store wrote it: per commit, one Parquet file per table partition it touched
(``<table>/part=<key>/<commit>.parquet``, the rows of an in-memory DuckDB table of that schema
through Arrow), then the commit's marker ``_commits/<commit>``; ``part=_seed`` holds an empty
file per table from the store's first start.
"""

from __future__ import annotations

import hashlib
import struct
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import duckdb
import pyarrow.parquet as pq

OLD_SCHEMA: dict[str, str] = {
    "domains": """CREATE TABLE domains (
        domain VARCHAR PRIMARY KEY, spec_path VARCHAR NOT NULL, n_classes INTEGER NOT NULL,
        n_templates INTEGER NOT NULL, classes JSON NOT NULL,
        registered_at TIMESTAMP NOT NULL DEFAULT current_timestamp)""",
    "embedding_sets": """CREATE TABLE embedding_sets (
        shard_id VARCHAR NOT NULL, model_id VARCHAR NOT NULL, folder VARCHAR NOT NULL,
        n_rows INTEGER NOT NULL, dim INTEGER NOT NULL, pairs_per_second DOUBLE NOT NULL,
        created_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
        PRIMARY KEY (shard_id, model_id))""",
    "evaluations": """CREATE TABLE evaluations (
        model_id VARCHAR NOT NULL, model_kind VARCHAR NOT NULL, domain VARCHAR NOT NULL,
        dataset VARCHAR NOT NULL, task VARCHAR NOT NULL, metric VARCHAR NOT NULL,
        value DOUBLE NOT NULL, n_samples INTEGER NOT NULL, details JSON,
        evaluated_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
        PRIMARY KEY (model_id, domain, dataset, metric))""",
    "indexes": """CREATE TABLE indexes (
        model_id VARCHAR NOT NULL, modality VARCHAR NOT NULL, path VARCHAR NOT NULL,
        factory VARCHAR NOT NULL, params JSON NOT NULL, recall DOUBLE NOT NULL,
        recall_target DOUBLE NOT NULL, n_vectors BIGINT NOT NULL, build_seconds DOUBLE NOT NULL,
        bytes_on_disk BIGINT, memory_bytes BIGINT,
        created_at TIMESTAMP NOT NULL DEFAULT current_timestamp, PRIMARY KEY (model_id, modality))""",
    "models": """CREATE TABLE models (
        model_id VARCHAR PRIMARY KEY, parent_model_id VARCHAR, kind VARCHAR NOT NULL,
        domain VARCHAR, arch VARCHAR NOT NULL, pretrained VARCHAR, checkpoint VARCHAR,
        retrieval_digest VARCHAR, config JSON NOT NULL, mlflow_run_id VARCHAR,
        mlflow_model_uri VARCHAR, dagster_run_id VARCHAR,
        created_at TIMESTAMP NOT NULL DEFAULT current_timestamp)""",
    "pairs": """CREATE TABLE pairs (
        pair_id BIGINT PRIMARY KEY, shard_id VARCHAR NOT NULL, ordinal INTEGER NOT NULL,
        key VARCHAR NOT NULL, image_member VARCHAR NOT NULL, caption VARCHAR NOT NULL,
        source VARCHAR NOT NULL, width INTEGER NOT NULL, height INTEGER NOT NULL,
        image_bytes INTEGER NOT NULL, image_sha256 VARCHAR NOT NULL, url VARCHAR, meta JSON)""",
    "retrieval_sets": """CREATE TABLE retrieval_sets (
        set_digest VARCHAR PRIMARY KEY, domain VARCHAR NOT NULL, model_id VARCHAR NOT NULL,
        mode VARCHAR NOT NULL, k_per_query INTEGER NOT NULL, settings JSON NOT NULL,
        n_queries INTEGER NOT NULL, n_pairs INTEGER NOT NULL, pairs_digest VARCHAR NOT NULL,
        stats JSON NOT NULL, retrieval_no BIGINT NOT NULL,
        created_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
        retrieved_at TIMESTAMP NOT NULL DEFAULT current_timestamp)""",
    "retrievals": """CREATE TABLE retrievals (
        set_digest VARCHAR NOT NULL, domain VARCHAR NOT NULL, class_index INTEGER NOT NULL,
        class_name VARCHAR NOT NULL, pair_id BIGINT NOT NULL, score REAL NOT NULL,
        rank INTEGER NOT NULL, mode VARCHAR NOT NULL)""",
    "shards": """CREATE TABLE shards (
        shard_id VARCHAR PRIMARY KEY, path VARCHAR NOT NULL, tar_sha256 VARCHAR NOT NULL,
        n_members INTEGER NOT NULL, n_pairs INTEGER NOT NULL, n_skipped INTEGER NOT NULL,
        skipped JSON NOT NULL, ingested_at TIMESTAMP NOT NULL DEFAULT current_timestamp)""",
    "skipped_samples": """CREATE TABLE skipped_samples (
        shard_id VARCHAR NOT NULL, key VARCHAR NOT NULL, reason VARCHAR NOT NULL,
        detail VARCHAR NOT NULL)""",
}

# The cluster store's partition columns: a commit replaced every partition it touched.
PARTITIONS: dict[str, tuple[str, ...]] = {
    "shards": ("shard_id",), "pairs": ("shard_id",), "skipped_samples": ("shard_id",),
    "embedding_sets": ("shard_id", "model_id"), "indexes": ("model_id", "modality"),
    "domains": ("domain",), "retrieval_sets": ("domain",), "retrievals": ("domain",),
    "evaluations": ("domain",), "models": ("model_id",),
}
SEED_COMMIT = "00000000000000000000-seed"

# The embedded store's layout before retrieval sets were immutable: one set per domain.
DOMAIN_KEYED_LAYOUT = [
    """CREATE TABLE retrievals (domain VARCHAR NOT NULL, class_index INTEGER NOT NULL,
       class_name VARCHAR NOT NULL, pair_id BIGINT NOT NULL, score REAL NOT NULL,
       rank INTEGER NOT NULL, mode VARCHAR NOT NULL)""",
    """CREATE TABLE retrieval_sets (domain VARCHAR PRIMARY KEY, model_id VARCHAR NOT NULL,
       mode VARCHAR NOT NULL, k_per_query INTEGER NOT NULL, n_queries INTEGER NOT NULL,
       n_pairs INTEGER NOT NULL, digest VARCHAR NOT NULL, stats JSON NOT NULL,
       created_at TIMESTAMP NOT NULL DEFAULT current_timestamp)""",
    "INSERT INTO retrievals VALUES ('shapes', 0, 'circle', 1, 0.9, 0, 'text-to-image'),"
    " ('shapes', 1, 'square', 2, 0.8, 0, 'text-to-image'),"
    " ('dots', 0, 'dot', 3, 0.7, 0, 'text-to-image')",
    "INSERT INTO retrieval_sets VALUES ('shapes', 'base@1', 'text-to-image', 5, 2, 2, 'old-s',"
    " '{}', '2026-01-01'), ('dots', 'base@1', 'text-to-image', 5, 1, 1, 'old-d', '{}',"
    " '2026-01-02')",
]

Rows = dict[str, list[dict[str, Any]]]


def _ts(day: int, micro: int = 0) -> datetime:
    return datetime(2026, 3, day, 12, 30, 15, micro)


def _pair(pair_id: int, shard: str, ordinal: int, caption: str, meta: str | None) -> dict:
    return {"pair_id": pair_id, "shard_id": shard, "ordinal": ordinal, "key": f"{ordinal:04d}",
            "image_member": f"{ordinal:04d}.jpg", "caption": caption, "source": "laion",
            "width": 64, "height": 48, "image_bytes": 1234 + ordinal,
            "image_sha256": hashlib.sha256(caption.encode()).hexdigest(),
            "url": None if ordinal % 2 else f"https://example.org/{ordinal}.jpg", "meta": meta}


def _set(digest: str, domain: str, no: int, stats: str) -> dict:
    return {"set_digest": digest, "domain": domain, "model_id": "base@1", "mode": "text-to-image",
            "k_per_query": 5, "settings": '{"k_per_query": 5, "mode": "text-to-image"}',
            "n_queries": 2, "n_pairs": 2, "pairs_digest": f"p-{digest}", "stats": stats,
            "retrieval_no": no, "created_at": _ts(no), "retrieved_at": _ts(no + 1, 7)}


def _retrieval(digest: str, domain: str, cls: int, name: str, pair_id: int) -> dict:
    return {"set_digest": digest, "domain": domain, "class_index": cls, "class_name": name,
            "pair_id": pair_id, "score": 0.5 + pair_id / 8, "rank": 0, "mode": "text-to-image"}


# Every table's rows: JSON, NULLs, timestamps with microseconds, non-ASCII text, and several
# partitions of every partitioned table.
ROWS: Rows = {
    "domains": [
        {"domain": "pets", "spec_path": "/specs/pets.yaml", "n_classes": 2, "n_templates": 3,
         "classes": '["cat", "dög"]', "registered_at": _ts(1, 123456)},
        {"domain": "étoiles", "spec_path": "/specs/étoiles.yaml", "n_classes": 1,
         "n_templates": 1, "classes": '["星"]', "registered_at": _ts(2)}],
    "embedding_sets": [
        {"shard_id": s, "model_id": m, "folder": f"/home/emb/{s}/{m}", "n_rows": 3, "dim": 512,
         "pairs_per_second": 812.5, "created_at": _ts(3, 1)}
        for s in ("s1", "s2") for m in ("base@1", "react-pets@1")],
    "evaluations": [
        {"model_id": "base@1", "model_kind": "base", "domain": "pets", "dataset": "pets-test",
         "task": "zeroshot", "metric": "top1", "value": 0.625, "n_samples": 40,
         "details": '{"per_class": {"cat": 0.5, "dög": 0.75}}', "evaluated_at": _ts(4)},
        {"model_id": "react-pets@1", "model_kind": "react", "domain": "pets",
         "dataset": "pets-test", "task": "zeroshot", "metric": "top1", "value": 0.875,
         "n_samples": 40, "details": None, "evaluated_at": _ts(5, 999999)},
        {"model_id": "base@1", "model_kind": "base", "domain": "étoiles", "dataset": "ciel",
         "task": "zeroshot", "metric": "top1", "value": 1.0, "n_samples": 1, "details": None,
         "evaluated_at": _ts(6)}],
    "indexes": [
        {"model_id": "base@1", "modality": modality, "path": f"/home/index/{modality}.faiss",
         "factory": "IVF4,Flat", "params": '{"nprobe": 2}', "recall": 0.97,
         "recall_target": 0.95, "n_vectors": 6, "build_seconds": 0.25,
         "bytes_on_disk": 4096 if modality == "image" else None, "memory_bytes": None,
         "created_at": _ts(7)} for modality in ("image", "text")],
    "models": [
        {"model_id": "base@1", "parent_model_id": None, "kind": "base", "domain": None,
         "arch": "ViT-B-32", "pretrained": "openai", "checkpoint": None, "retrieval_digest": None,
         "config": "{}", "mlflow_run_id": None, "mlflow_model_uri": None, "dagster_run_id": None,
         "created_at": _ts(1)},
        {"model_id": "react-pets@1", "parent_model_id": "base@1", "kind": "gated-image",
         "domain": "pets", "arch": "ViT-B-32", "pretrained": None,
         "checkpoint": "/home/models/react-pets@1.safetensors", "retrieval_digest": "set-a",
         "config": '{"lr": 0.0001, "note": "écrit à la main"}', "mlflow_run_id": "abc123",
         "mlflow_model_uri": "models:/react-pets/1", "dagster_run_id": "run-1",
         "created_at": _ts(8, 42)}],
    "pairs": [
        _pair(11, "s1", 0, "a cat on a mat", '{"lang": "en"}'),
        _pair(12, "s1", 1, "ein Hund im Schnee ❄", None),
        _pair(13, "s1", 2, "猫が寝ている", '{"lang": "ja", "nsfw": false}'),
        _pair(21, "s2", 0, "a dog", None),
        _pair(22, "s2", 1, "un chat noir", '{"lang": "fr"}')],
    "retrieval_sets": [
        _set("set-a", "pets", 1, '{"recall": 0.9}'), _set("set-b", "pets", 2, "{}"),
        _set("set-c", "étoiles", 1, '{"recall": null}')],
    "retrievals": [
        _retrieval("set-a", "pets", 0, "cat", 11), _retrieval("set-a", "pets", 1, "dög", 21),
        _retrieval("set-b", "pets", 0, "cat", 13), _retrieval("set-b", "pets", 1, "dög", 12),
        _retrieval("set-c", "étoiles", 0, "星", 22)],
    "shards": [
        {"shard_id": s, "path": f"/corpus/{s}.tar", "tar_sha256": s * 32, "n_members": n + 1,
         "n_pairs": n, "n_skipped": 1, "skipped": '{"decode": 1}', "ingested_at": _ts(2, n)}
        for s, n in (("s1", 3), ("s2", 2))],
    "skipped_samples": [
        {"shard_id": "s1", "key": "0009", "reason": "decode", "detail": "truncated JPEG"},
        {"shard_id": "s2", "key": "0003", "reason": "caption", "detail": "empty caption ‘’"}],
}


def _insert(conn: duckdb.DuckDBPyConnection, table: str, rows: list[dict[str, Any]]) -> None:
    for row in rows:
        names = ", ".join(row)
        conn.execute(f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' * len(row))})",
                     list(row.values()))


def old_database(rows: Rows, path: Path | str = ":memory:") -> duckdb.DuckDBPyConnection:
    """A DuckDB database of the old schema holding ``rows``."""
    conn = duckdb.connect(str(path))
    for ddl in OLD_SCHEMA.values():
        conn.execute(ddl)
    for table, table_rows in rows.items():
        _insert(conn, table, table_rows)
    return conn


def write_duckdb_home(home: Path, rows: Rows = ROWS) -> Path:
    """``home/react.duckdb`` as the embedded store left it; returns its path."""
    home.mkdir(parents=True, exist_ok=True)
    old_database(rows, home / "react.duckdb").close()
    return home / "react.duckdb"


def write_parquet_commit(home: Path, commit: str, rows: Rows, *, committed: bool = True) -> None:
    """One commit of the cluster store: a file per partition of ``rows``, then its marker
    (none when ``committed`` is false: a writer killed before its last step)."""
    folder = home / "metadata"
    staging = old_database(rows)
    try:
        for table, columns in PARTITIONS.items():
            keys = staging.execute(f"SELECT DISTINCT {', '.join(columns)} FROM {table}").fetchall()
            where = " AND ".join(f"{c} = ?" for c in columns)
            for key in keys:
                part = "part=" + quote("|".join(str(v) for v in key), safe="")
                target = folder / table / part / f"{commit}.parquet"
                target.parent.mkdir(parents=True, exist_ok=True)
                data = staging.sql(f"SELECT * FROM {table} WHERE {where}", params=list(key))
                pq.write_table(data.to_arrow_table(), target)
    finally:
        staging.close()
    (folder / "_commits").mkdir(parents=True, exist_ok=True)
    if committed:
        (folder / "_commits" / commit).write_bytes(b"")


def write_parquet_seed(home: Path) -> None:
    """What the cluster store's first start wrote: an empty file per table, committed."""
    staging = old_database({})
    try:
        for table in PARTITIONS:
            target = home / "metadata" / table / "part=_seed" / f"{SEED_COMMIT}.parquet"
            target.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(staging.sql(f"SELECT * FROM {table}").to_arrow_table(), target)
    finally:
        staging.close()
    (home / "metadata" / "_commits").mkdir(parents=True, exist_ok=True)
    (home / "metadata" / "_commits" / SEED_COMMIT).write_bytes(b"")


def table_rows(conn: duckdb.DuckDBPyConnection, table: str,
               exclude: tuple[str, ...] = ()) -> list[tuple]:
    """Every row of ``table`` (but its columns ``exclude``) as sorted ``(column, value)``
    pairs, the rows sorted: a comparison that ignores the order of columns and rows."""
    result = conn.execute(f"SELECT * EXCLUDE ({', '.join(exclude)}) FROM {table}" if exclude
                          else f"SELECT * FROM {table}")
    names = [d[0] for d in result.description]
    rows = [tuple(sorted(zip(names, row, strict=True))) for row in result.fetchall()]
    return sorted(rows, key=repr)


def tree_digest(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` and the sha256 of its bytes."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def forge_storage_version(path: Path, version: int) -> None:
    """Make the DuckDB file ``path`` claim storage ``version`` in its main header (the first
    4096 bytes: a checksum of the rest, ``DUCK``, the version) and fix the checksum: how a
    file of DuckDB 2.x looks to DuckDB 1.4, which the releases before DuckLake wrote (their
    default storage version, 999, is newer than any 1.4 reads)."""
    data = bytearray(path.read_bytes())
    assert data[8:12] == b"DUCK", f"{path} is not a DuckDB file"
    data[12:20] = struct.pack("<Q", version)
    checksum = 5381
    for (word,) in struct.iter_unpack("<Q", bytes(data[8:4096])):
        checksum ^= (word * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    data[0:8] = struct.pack("<Q", checksum)
    path.write_bytes(bytes(data))
