"""Immutable retrieval sets: digests, the newest set, retention, lineage (homes of the
domain-keyed layout: tests/metadata/test_legacy_import.py)."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest
from react_assets.metadata.sql import (
    count_domain_retrievals_by_class,
    insert_pairs,
    select_retrieval_sets,
    upsert_model,
)

from react_assets.customize.domain import RetrievalSet
from react_assets.customize.model_lineage import model_lineage
from react_assets.domains.settings import RetrievalConfig
from react_assets.metadata import Store, insert_table, open_store
from react_assets.retrieve.sets import (
    RetrievalRetention,
    latest_retrieval_set,
    retrieval_digest,
    retrieval_set_pair_ids,
    store_retrieval_set,
)


@pytest.fixture
def store(tmp_path) -> Store:
    store = open_store(tmp_path)
    store.apply_schema()
    pairs = pa.Table.from_pylist([{
        "pair_id": pid, "shard_id": f"shard-{pid // 10}", "ordinal": pid % 10, "key": str(pid),
        "image_member": f"{pid}.png", "caption": f"caption {pid}", "source": "test", "width": 8,
        "height": 8, "image_bytes": 10, "image_sha256": f"{pid:064x}", "url": None, "meta": None,
    } for pid in range(40)])
    store.write(lambda conn: insert_table(conn, insert_pairs, pairs))
    return store


def rows(pair_ids: list[int], domain: str = "shapes") -> pa.Table:
    return pa.Table.from_pylist([
        {"domain": domain, "class_index": i % 2, "class_name": ["circle", "square"][i % 2],
         "pair_id": pid, "score": 1.0 - i / 100, "rank": i // 2, "mode": "text-to-image"}
        for i, pid in enumerate(pair_ids)])


def add(store: Store, pair_ids: list[int], k: int = 10, keep: int = 3) -> str:
    return store_retrieval_set(store, domain="shapes", rows=rows(pair_ids),
                               config=RetrievalConfig(k_per_query=k), base_model_id="base@1",
                               n_queries=2, stats={"k": k},
                               retention=RetrievalRetention(keep_latest=keep))


def register_model(store: Store, model_id: str, digest: str | None, config: dict | None = None):
    store.execute(upsert_model, {
        "model_id": model_id, "parent_model_id": "base@1", "kind": "gated-image",
        "domain": "shapes", "arch": "react-tiny", "pretrained": None, "checkpoint": "/x",
        "retrieval_digest": digest, "metadata_snapshot": None, "config": json.dumps(config or {}),
        "mlflow_run_id": None, "mlflow_model_uri": None, "dagster_run_id": "run",
        "spec_digest": None})


def test_a_re_retrieval_adds_a_set_and_the_newest_is_trained_on(store):
    first = add(store, [0, 1, 2, 3], k=10)
    second = add(store, [10, 11, 12, 13, 14, 15], k=20)
    assert first != second
    assert retrieval_set_pair_ids(store, first) == (0, 1, 2, 3)
    assert retrieval_set_pair_ids(store, second) == (10, 11, 12, 13, 14, 15)
    trained = RetrievalSet.of_domain(store, "shapes")
    assert trained.digest == second and trained.pair_ids == (10, 11, 12, 13, 14, 15)
    # the checks read the newest set only: 3 + 3 pairs per class, not 5 + 5
    by_class = store.fetch(count_domain_retrievals_by_class, {"domain": "shapes"})
    assert [r["n_pairs"] for r in by_class] == [3, 3]


def test_the_same_settings_and_pairs_give_the_same_set_which_becomes_newest_again(store):
    first = add(store, [0, 1, 2, 3], k=10)
    add(store, [10, 11], k=20)
    again = add(store, [0, 1, 2, 3], k=10)
    assert again == first
    assert latest_retrieval_set(store, "shapes")["set_digest"] == first
    assert len(store.fetch(select_retrieval_sets, {"domain": "shapes"})) == 2
    assert retrieval_set_pair_ids(store, first) == (0, 1, 2, 3)  # rows not inserted twice
    with store.connect() as conn:
        assert conn.execute("SELECT count(*) FROM retrievals").fetchone()[0] == 6
    # the digest covers the settings, not only the pairs
    assert add(store, [0, 1, 2, 3], k=11) != first
    assert latest_retrieval_set(store, "shapes")["pairs_digest"] == retrieval_digest([0, 1, 2, 3])


def test_retention_keeps_every_set_a_model_uses_and_the_newest_unused_ones(store):
    used = add(store, [0, 1], k=1, keep=2)
    register_model(store, "react-shapes@a", used)
    dropped = add(store, [2, 3], k=2, keep=2)
    kept = [add(store, [4, 5], k=3, keep=2), add(store, [6, 7], k=4, keep=2)]
    digests = [r["set_digest"] for r in store.fetch(select_retrieval_sets, {"domain": "shapes"})]
    assert digests == [kept[1], kept[0], used]
    assert dropped not in digests and retrieval_set_pair_ids(store, dropped) == ()
    assert model_lineage(store, "react-shapes@a").pair_ids == (0, 1)
    with pytest.raises(ValueError, match="keep_latest"):
        RetrievalRetention(keep_latest=0)


def test_lineage_returns_each_models_own_pairs_shards_and_settings(store):
    first = add(store, [0, 1, 2, 3], k=10)
    register_model(store, "react-shapes@1", first)
    second = add(store, [12, 25, 31, 33], k=20)
    register_model(store, "react-shapes@2", second)
    one, two = model_lineage(store, "react-shapes@1"), model_lineage(store, "react-shapes@2")
    assert (one.retrieval_digest, one.pair_ids, one.shards) == (first, (0, 1, 2, 3), ("shard-0",))
    assert two.pair_ids == (12, 25, 31, 33) and two.shards == ("shard-1", "shard-2", "shard-3")
    assert (one.settings["k_per_query"], two.settings["k_per_query"]) == (10, 20)
    assert not one.imported and one.parent_model_id == "base@1"
    register_model(store, "imported@x", None, {"origin": "imported", "source": {"path": "/c"}})
    imported = model_lineage(store, "imported@x")
    assert imported.imported and imported.pair_ids == () and imported.source == {"path": "/c"}
    with pytest.raises(KeyError, match="not registered"):
        model_lineage(store, "nope")
