"""The index's recall on the queries retrieval sends: checked against exact search, the search
parameter raised to the index's target, the figure stored with the retrieval set."""

from __future__ import annotations

import json
from pathlib import Path

import faiss
import numpy as np
import pyarrow as pa
import pytest

from react_assets.domains.settings import RetrievalConfig
from react_assets.index import tune
from react_assets.index.build import BuiltIndex, IndexConfig, build_index
from react_assets.metadata import open_store
from react_assets.retrieve.core import retrieve_domain, search_queries
from react_assets.retrieve.recall import RecallCheck, checked_rows, verify_recall
from react_assets.retrieve.sets import latest_retrieval_set, store_retrieval_set

D, N, N_CLUSTERS, N_CLASSES, N_TEMPLATES, FIRST_ID, K = 32, 6000, 40, 8, 5, 1000, 10


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


class Clustered:
    """Unit vectors around 40 centroids in two shards, and class x template queries that sit
    between two clusters (where text queries land, off the images' clusters)."""

    def __init__(self) -> None:
        rng = np.random.default_rng(1)
        self.centroids = unit(rng.standard_normal((N_CLUSTERS, D)))
        labels = rng.integers(0, N_CLUSTERS, N)
        noise = rng.standard_normal((N, D)).astype(np.float32) * 0.8 / np.sqrt(D)
        self.vectors = unit(self.centroids[labels] + noise)
        self.ids = np.arange(FIRST_ID, FIRST_ID + N, dtype=np.int64)
        half = N // 2
        self.shards = [(self.ids[:half], self.vectors[:half]),
                       (self.ids[half:], self.vectors[half:])]
        self.query_class = np.repeat(np.arange(N_CLASSES), N_TEMPLATES)
        between = self.centroids[self.query_class] + self.centroids[self.query_class + 1]
        jitter = rng.standard_normal(between.shape).astype(np.float32) * 0.3 / np.sqrt(D)
        self.queries = unit(between + jitter)

    def build(self, tmp_path: Path, factory: str | None = None) -> BuiltIndex:
        config = IndexConfig(exact_max_vectors=100 if factory else N + 1, n_tune_queries=200)
        return build_index(self.shards, config, tmp_path, factory=factory)

    def exact_ids(self, k: int = K) -> np.ndarray:
        return tune.exact_search_shards(self.shards, self.queries, k)[1]

    def retrieve(self, index: faiss.Index, check: RecallCheck | None):
        return retrieve_domain(self.query_class, self.queries, index,
                               RetrievalConfig(k_per_query=K),
                               pair_sha256=lambda ids: [f"sha-{int(i)}" for i in ids],
                               pair_vectors=lambda ids: self.vectors[ids - FIRST_ID],
                               eval_vectors=np.zeros((0, D), np.float32), eval_sha256=set(),
                               recall_check=check)


@pytest.fixture(scope="module")
def world() -> Clustered:
    return Clustered()


def recall_of(index: faiss.Index, world: Clustered) -> float:
    return tune.recall_at_k(search_queries(index, world.queries, K)[1], world.exact_ids())


def test_a_too_low_nprobe_is_raised_until_the_queries_meet_the_target(world, tmp_path):
    built = world.build(tmp_path, factory="IVF64,SQ8")
    assert built.recall_target_met  # tuned on held-out corpus rows at build time
    tune.apply_search_params(built.index, {"nprobe": 1})
    before = recall_of(built.index, world)
    assert before < built.recall_target  # the class x template queries fall short
    unchecked = world.retrieve(built.index, None)
    not_run = unchecked.stats.ann_recall
    assert not_run.check == "not-run" and not_run.recall is None and not_run.k == K

    result = world.retrieve(built.index, RecallCheck(world.shards, built.recall_target))
    ann = result.stats.ann_recall
    assert ann.check == "exact-search" and ann.k == K and ann.n_queries == len(world.queries)
    assert ann.initial_recall == pytest.approx(before)
    assert ann.raised and ann.param == "nprobe" and ann.initial_value == 1
    assert 1 < ann.value <= 64 and ann.recall >= built.recall_target and ann.target_met
    assert faiss.extract_index_ivf(built.index).nprobe == ann.value
    assert recall_of(built.index, world) == pytest.approx(ann.recall)
    # the retrieval kept the hits searched at the raised nprobe, not the first ones
    again = world.retrieve(built.index, None)
    np.testing.assert_array_equal(result.pair_id, again.pair_id)
    assert set(result.pair_id.tolist()) != set(unchecked.pair_id.tolist())


def test_a_met_target_changes_nothing_and_a_cap_is_never_passed(world, tmp_path):
    built = world.build(tmp_path, factory="IVF64,SQ8")
    tune.apply_search_params(built.index, {"nprobe": 64})
    _, ids = search_queries(built.index, world.queries, K)
    met = verify_recall(built.index, world.queries, ids, RecallCheck(world.shards, 0.9))
    assert not met.raised and met.value == 64 and met.recall == met.initial_recall >= 0.9
    tune.apply_search_params(built.index, {"nprobe": 16})
    _, ids = search_queries(built.index, world.queries, K)
    capped = verify_recall(built.index, world.queries, ids, RecallCheck(world.shards, 1.0))
    assert capped.value == 64 and capped.raised and capped.target_met is False  # SQ8 codes


def test_recall_is_stored_with_the_retrieval_set(world, tmp_path):
    built = world.build(tmp_path, factory="IVF64,SQ8")
    tune.apply_search_params(built.index, {"nprobe": 1})
    result = world.retrieve(built.index, RecallCheck(world.shards, built.recall_target))
    rows = pa.table({"domain": ["shapes"] * len(result.pair_id),
                     "class_index": pa.array(result.class_index, pa.int32()),
                     "class_name": [f"class-{c}" for c in result.class_index],
                     "pair_id": result.pair_id, "score": result.score,
                     "rank": pa.array(result.rank, pa.int32()),
                     "mode": [result.mode] * len(result.pair_id)})
    store = open_store(tmp_path / "home")
    store_retrieval_set(store, domain="shapes", rows=rows, config=RetrievalConfig(),
                        base_model_id="base@1", n_queries=len(world.queries),
                        stats=result.stats.as_dict())
    stored = json.loads(latest_retrieval_set(store, "shapes")["stats"])["ann_recall"]
    assert stored == {**result.stats.ann_recall.as_dict(), "target_met": True}
    assert stored["recall"] >= built.recall_target and stored["raised"]
    # the same pairs again, from an index whose recall was measured anew: the set is the
    # same one and records the new figure, not the first retrieval's
    remeasured = result.stats.as_dict() | {"ann_recall": {**stored, "recall": 0.999}}
    again = store_retrieval_set(store, domain="shapes", rows=rows, config=RetrievalConfig(),
                                base_model_id="base@1", n_queries=len(world.queries),
                                stats=remeasured)
    latest = latest_retrieval_set(store, "shapes")
    assert latest["set_digest"] == again
    assert json.loads(latest["stats"])["ann_recall"]["recall"] == 0.999


def test_a_flat_index_records_exact_recall_without_an_exact_pass(world, tmp_path, monkeypatch):
    built = world.build(tmp_path)
    assert built.factory == "Flat"

    def no_exact_pass(*args, **kwargs):
        raise AssertionError("a Flat index needs no exact pass")

    monkeypatch.setattr(tune, "exact_search_shards", no_exact_pass)
    ann = world.retrieve(built.index, RecallCheck(world.shards, 0.95)).stats.ann_recall
    assert (ann.check, ann.recall, ann.n_queries, ann.raised) == ("flat-index", 1.0, 0, False)


def test_hnsw_raises_ef_search_and_a_stale_index_is_not_measured(world, tmp_path):
    built = world.build(tmp_path, factory="HNSW4,Flat")  # a sparse graph: tuned efSearch
    tuned = built.params["efSearch"]  # meets the target on held-out rows, not on the queries
    assert tune.search_parameter(built.index, K) == tune.SearchParameter(
        "efSearch", tuned, tune.MAX_EF_SEARCH)
    _, ids = search_queries(built.index, world.queries, K)
    check = RecallCheck(world.shards, built.recall_target)
    stale = verify_recall(built.index, world.queries, ids, RecallCheck(world.shards[:1], 0.95))
    assert stale.check == "corpus-mismatch" and stale.recall is None and not stale.raised
    ann = verify_recall(built.index, world.queries, ids, check)
    assert ann.initial_recall < built.recall_target <= ann.recall and ann.raised
    assert ann.param == "efSearch" and tuned < ann.value <= tune.MAX_EF_SEARCH


def test_at_most_max_queries_are_checked_evenly_spread(world, tmp_path):
    assert checked_rows(5, 8).tolist() == [0, 1, 2, 3, 4]
    assert checked_rows(40, 5).tolist() == [0, 10, 20, 29, 39]
    built = world.build(tmp_path, factory="IVF64,SQ8")
    _, ids = search_queries(built.index, world.queries, K)
    ann = verify_recall(built.index, world.queries, ids, RecallCheck(world.shards, 0.5, 8))
    assert ann.n_queries == 8
    with pytest.raises(ValueError, match="max_queries must be >= 1"):
        RecallCheck(world.shards, 0.5, 0)
