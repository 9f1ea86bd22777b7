"""Hostile text round-trips through ingestion into DuckDB unchanged (values are bound, not formatted).

Captions, keys and sources carrying quotes, semicolons, backslashes, SQL fragments, emoji, RTL
text, combining marks and control characters (NUL excepted) come back from ``pairs`` exactly as
written (captions trimmed of surrounding whitespace, as ingestion documents), and every table
survives the ingestion.
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from react_assets.metadata.sql import (
    SCHEMA,
    count_pair_integrity,
    count_pairs_by_source,
    select_shard_ids,
    select_shard_pairs,
)
from shard_factory import png_bytes

from react_assets.corpus.ingest import IngestConfig, ingest_shard, stable_pair_id
from react_assets.metadata import Store

CONFIG = IngestConfig(workers=1, allow_replace=True)  # examples share a store and may reuse ids
FRAGMENTS = ["'); DROP TABLE pairs; --", "' OR '1'='1", "\"; DELETE FROM shards; --", "$shard_id",
             "?", "$1", "\\", "\\'", "''", "%s", "{}", "/* comment */", "-- trailing", ";",
             "\U0001F600\U0001F469\u200d\U0001F4BB",
             "\u05e9\u05dc\u05d5\u05dd \u0645\u0631\u062d\u0628\u0627",
             "\u202eevil\u202c", "e\u0301\u0327\u0308", "\u00a0\u2028\u2029", "\x01\x07\x1b[31m\x7f",
             "\ufeff", "\U0010FFFF", "COPY pairs TO '/tmp/x.csv'", "ATTACH 'evil.db'"]
NO_NUL = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
hostile_text = st.lists(st.sampled_from(FRAGMENTS) | st.text(NO_NUL, max_size=12),
                        min_size=1, max_size=6).map("".join)
captions = hostile_text.filter(lambda c: c.strip() != "" and len(c) <= CONFIG.max_caption_chars)
keys = hostile_text.map(lambda t: "".join(ch for ch in t if ch not in "/\\.")).filter(bool)
TABLES = {statement.name.removeprefix("create_") for statement in SCHEMA}


def write_pairs(path: Path, rows: list[tuple[str, str, str]]) -> None:
    """One sample per (key, caption, source); the source travels in the sample's JSON."""
    image = png_bytes()
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as archive:
        for key, caption, source in rows:
            for ext, data in (("png", image), ("txt", caption.encode()),
                              ("json", json.dumps({"source": source}).encode())):
                info = tarfile.TarInfo(f"{key}.{ext}")
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))


def table_names(store: Store) -> set[str]:
    with store.connect() as conn:
        return {row[0] for row in conn.execute("SELECT table_name FROM information_schema.tables")
                .fetchall()}


@settings(derandomize=True, database=None, deadline=None, max_examples=25,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.tuples(keys, captions, hostile_text.filter(bool)), min_size=1, max_size=6,
                     unique_by=lambda r: r[0]),
       shard_id=hostile_text)
def test_hostile_text_round_trips_unchanged(tmp_path: Path, store: Store,
                                            rows: list[tuple[str, str, str]], shard_id: str) -> None:
    shard = tmp_path / "hostile.tar"
    write_pairs(shard, rows)
    report = ingest_shard(shard, shard_id, store, CONFIG)
    assert (report.n_pairs, report.skipped) == (len(rows), {})
    stored = store.fetch(select_shard_pairs, {"shard_id": shard_id})
    assert [(r["key"], r["caption"], r["source"]) for r in stored] == [
        (key, caption, source) for key, caption, source in rows]  # byte-exact
    assert [r["pair_id"] for r in stored] == [stable_pair_id(shard_id, key) for key, _, _ in rows]
    assert shard_id in [r["shard_id"] for r in store.fetch(select_shard_ids)]
    assert TABLES <= table_names(store)
    assert store.fetch(count_pair_integrity) == [{"duplicate_pair_ids": 0, "orphan_pairs": 0}]


def test_injection_payloads_are_data_and_tables_survive(tmp_path: Path, store: Store) -> None:
    rows = [(f"k{i}", payload, payload) for i, payload in enumerate(FRAGMENTS) if payload.strip()]
    shard = tmp_path / "payloads.tar"
    write_pairs(shard, rows)
    for _ in range(2):  # re-ingestion deletes and re-inserts through the same bound statements
        report = ingest_shard(shard, "'); DROP TABLE shards; --", store, CONFIG)
    assert report.n_pairs == len(rows) == len(FRAGMENTS) - 1  # all but the whitespace-only one
    stored = store.fetch(select_shard_pairs, {"shard_id": "'); DROP TABLE shards; --"})
    assert [r["caption"] for r in stored] == [caption for _, caption, _ in rows]  # byte-exact
    assert [r["source"] for r in stored] == [source for _, _, source in rows]
    assert TABLES <= table_names(store)
    by_source = store.fetch(count_pairs_by_source)
    assert sorted(r["source"] for r in by_source) == sorted(source for _, _, source in rows)
    assert {r["n_pairs"] for r in by_source} == {1}
