"""Index tuning on held-out rows: left out while the search parameter is tuned, then added."""

from __future__ import annotations

import numpy as np

from react_assets.index import tune
from react_assets.index.files import IndexConfig, build_index


def _shards(n: int = 3000, d: int = 16, seed: int = 3) -> list:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    ids = np.arange(500, 500 + n, dtype=np.int64)
    return [(ids[:1200], x[:1200]), (ids[1200:], x[1200:])]


def test_ids_at_and_exact_search_excluding():
    shards = _shards()
    layout = tune.inspect_shards(shards)
    rows = np.array([0, 1199, 1200, 2999])
    assert tune.ids_at(shards, layout, rows).tolist() == [500, 1699, 1700, 3499]
    queries = tune.gather_rows(shards, layout, rows)
    _, with_self = tune.exact_search_shards(shards, queries, 5)
    assert with_self[:, 0].tolist() == [500, 1699, 1700, 3499]  # each row finds itself first
    excluded = tune.ids_at(shards, layout, rows)
    _, without = tune.exact_search_excluding(shards, queries, 5, excluded)
    assert not np.isin(without, excluded).any()
    np.testing.assert_array_equal(without[:, :4], with_self[:, 1:5])  # the next ones move up


def test_held_out_rows_are_indexed_after_tuning(tmp_path):
    shards = _shards()
    built = build_index(shards, IndexConfig(exact_max_vectors=1000, n_tune_queries=100), tmp_path)
    assert built.factory.startswith("HNSW") and built.n_tune_queries == 100
    assert built.index.ntotal == 3000  # the held-out rows were added back
    x = np.concatenate([v for _, v in shards])
    _, found = built.index.search(x[:50], 1)
    assert (found[:, 0] == np.arange(500, 550)).mean() >= 0.95
    assert built.recall >= 0.95 or built.params["efSearch"] == 2048
