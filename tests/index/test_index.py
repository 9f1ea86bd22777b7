"""The kNN index: factory choice, shard-by-shard build, tuning to a recall target, save/load."""

from __future__ import annotations

import json
from pathlib import Path

import faiss
import numpy as np
import pytest

from react_assets.index.build import ivf_nlist
from react_assets.index.files import (
    IndexConfig,
    ShardError,
    build_index,
    choose_factory,
    load_index,
    recall_at_k,
    save_index,
    sidecar_path,
)

GIB = 1 << 30


def clustered(n: int, d: int, n_clusters: int, seed: int, spread: float = 0.8) -> np.ndarray:
    """Unit vectors around random unit centroids (``spread`` = noise norm relative to 1)."""
    rng = np.random.default_rng(seed)
    centroids = rng.standard_normal((n_clusters, d)).astype(np.float32)
    centroids /= np.linalg.norm(centroids, axis=1, keepdims=True)
    labels = rng.integers(0, n_clusters, n)
    x = centroids[labels] + rng.standard_normal((n, d)).astype(np.float32) * spread / np.sqrt(d)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def as_shards(x: np.ndarray, n_shards: int, first_id: int = 1000) -> list:
    ids = np.arange(first_id, first_id + len(x), dtype=np.int64)
    bounds = np.linspace(0, len(x), n_shards + 1).astype(int)
    return [(ids[a:b], x[a:b]) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def exact(x: np.ndarray, queries: np.ndarray, k: int, first_id: int = 1000) -> np.ndarray:
    flat = faiss.IndexFlatIP(x.shape[1])
    flat.add(x)
    return flat.search(queries, k)[1] + first_id


@pytest.fixture(scope="module")
def corpus() -> np.ndarray:
    return clustered(6000, 32, 40, seed=1)


@pytest.fixture(scope="module")
def fresh_queries(corpus: np.ndarray) -> np.ndarray:
    """Queries the index never saw: new points from a different draw of the same space."""
    rng = np.random.default_rng(7)
    base = corpus[rng.choice(len(corpus), 200, replace=False)]
    q = base + rng.standard_normal(base.shape).astype(np.float32) * 0.3 / np.sqrt(32)
    return (q / np.linalg.norm(q, axis=1, keepdims=True)).astype(np.float32)


def test_choose_factory_thresholds() -> None:
    config = IndexConfig(exact_max_vectors=10_000, memory_budget_bytes=GIB)
    assert choose_factory(9_999, 512, config) == "Flat"
    assert choose_factory(10_000, 512, config) == "HNSW32,Flat"
    # above hnsw_max_vectors, even with memory to spare, IVF-SQ8 (HNSW missed 0.95 at 1M)
    roomy = IndexConfig(exact_max_vectors=10_000, memory_budget_bytes=64 * GIB)
    assert choose_factory(499_999, 256, roomy) == "HNSW32,Flat"
    assert choose_factory(1_000_000, 256, roomy) == "IVF4096,SQ8"
    # 1M x 512 float32 = 2 GB raw: HNSW no longer fits 1 GiB, 8-bit codes (0.5 GB) do
    assert choose_factory(1_000_000, 512, config) == "IVF4096,SQ8"
    # 5M x 512: SQ8 needs 2.6 GB, PQ256 1.3 GB; PQ128 0.68 GB is the largest m that fits
    assert choose_factory(5_000_000, 512, config) == "IVF8192,PQ128"
    pq = choose_factory(20_000_000, 512, config)
    m = int(pq.split("PQ")[1])
    assert pq.startswith("IVF16384,PQ") and 512 % m == 0 and 20_000_000 * (m + 8) <= GIB
    assert ivf_nlist(1_000_000) == 4096 and ivf_nlist(2000) == 51  # >= 39 vectors per list
    with pytest.raises(ValueError, match="cannot index 0 vectors"):
        choose_factory(0, 512, config)


def test_flat_from_shards_equals_one_array(corpus: np.ndarray, fresh_queries: np.ndarray,
                                           tmp_path: Path) -> None:
    config = IndexConfig(exact_max_vectors=100_000)
    one = build_index(as_shards(corpus, 1), config, tmp_path)
    many = build_index(as_shards(corpus, 4), config, tmp_path)
    assert one.factory == many.factory == "Flat" and many.n_vectors == len(corpus)
    s1, i1 = one.index.search(fresh_queries, 10)
    s4, i4 = many.index.search(fresh_queries, 10)
    np.testing.assert_array_equal(i1, i4)
    np.testing.assert_allclose(s1, s4, rtol=1e-6)
    np.testing.assert_array_equal(i4, exact(corpus, fresh_queries, 10))  # ids are pair ids


@pytest.mark.parametrize("budget, expected", [(GIB, "HNSW32,Flat"), (400_000, "IVF153,SQ8")])
def test_tuned_index_meets_recall_target(corpus: np.ndarray, fresh_queries: np.ndarray,
                                         tmp_path: Path, budget: int, expected: str) -> None:
    config = IndexConfig(exact_max_vectors=1000, memory_budget_bytes=budget, n_tune_queries=200)
    built = build_index(as_shards(corpus, 3), config, tmp_path)
    assert built.factory == expected
    assert built.recall >= 0.95 and built.recall_target_met
    param = "efSearch" if expected.startswith("HNSW") else "nprobe"
    assert set(built.params) == {param}
    # the recorded recall holds on queries unseen during tuning
    found = built.index.search(fresh_queries, 10)[1]
    assert recall_at_k(found, exact(corpus, fresh_queries, 10)) >= 0.93
    if param == "nprobe":
        assert built.n_train <= 256 * 153 and built.n_train + built.n_tune_queries <= len(corpus)
        assert built.params["nprobe"] < 153  # tuning stopped before exhaustive search


def test_pq_tier_records_measured_recall(corpus: np.ndarray, tmp_path: Path) -> None:
    # 130 kB: 4-byte codes + ids (72 kB) + centroids (52 kB) fit, 8-byte codes do not.
    # (PQ trains 256 centroids per sub-quantizer: slow, so the test keeps m small)
    config = IndexConfig(exact_max_vectors=1000, memory_budget_bytes=130_000, n_tune_queries=100,
                         max_train_per_list=20)
    built = build_index(as_shards(corpus, 2), config, tmp_path)
    assert built.factory == "IVF153,PQ4" and built.n_train == 153 * 20
    assert 0.0 < built.recall <= 1.0
    assert built.recall_target_met == (built.recall >= 0.95)
    assert built.params == {"nprobe": built.params["nprobe"]}


def test_save_load_round_trip(corpus: np.ndarray, fresh_queries: np.ndarray,
                              tmp_path: Path) -> None:
    config = IndexConfig(exact_max_vectors=1000, n_tune_queries=100)
    built = build_index(as_shards(corpus, 2), config, tmp_path / "work")
    target = save_index(built, tmp_path / "out" / "image.faiss")
    record = json.loads(sidecar_path(target).read_text())
    assert record["factory"] == "HNSW32,Flat" and record["params"] == built.params
    assert record["bytes_on_disk"] == target.stat().st_size > len(corpus) * 32 * 4
    assert not [p for p in target.parent.iterdir() if p.name.endswith(".tmp")]
    loaded = load_index(target)
    assert loaded.factory == built.factory and loaded.recall == built.recall
    inner = faiss.downcast_index(faiss.downcast_index(loaded.index).index)
    assert inner.hnsw.efSearch == built.params["efSearch"]
    a = built.index.search(fresh_queries, 10)
    b = loaded.index.search(fresh_queries, 10)
    np.testing.assert_array_equal(a[1], b[1])


def test_on_disk_merge_equals_in_memory(corpus: np.ndarray, fresh_queries: np.ndarray,
                                        tmp_path: Path) -> None:
    base = dict(exact_max_vectors=1000, memory_budget_bytes=400_000, n_tune_queries=100)
    memory = build_index(as_shards(corpus, 3), IndexConfig(**base), tmp_path / "mem")
    disk = build_index(as_shards(corpus, 3), IndexConfig(**base, on_disk=True), tmp_path / "disk")
    assert disk.on_disk and not memory.on_disk and disk.params == memory.params
    target = save_index(disk, tmp_path / "out" / "image.faiss")
    assert target.with_suffix(".ivfdata").is_file()
    loaded = load_index(target)
    assert loaded.on_disk and loaded.index.ntotal == len(corpus)
    expected = memory.index.search(fresh_queries, 10)[1]
    np.testing.assert_array_equal(loaded.index.search(fresh_queries, 10)[1], expected)


def test_float16_files_as_shards(corpus: np.ndarray, tmp_path: Path) -> None:
    paths = []
    for i, (ids, vectors) in enumerate(as_shards(corpus, 2)):
        path = tmp_path / f"shard-{i}.npy"
        np.save(path, vectors.astype(np.float16))
        paths.append((ids, path))
    built = build_index(paths, IndexConfig(), tmp_path)
    scores, ids = built.index.search(corpus[:5], 1)
    np.testing.assert_array_equal(ids[:, 0], np.arange(1000, 1005))
    assert np.all(scores[:, 0] > 0.999)


def test_bad_shards_are_named(corpus: np.ndarray, tmp_path: Path) -> None:
    shards = as_shards(corpus, 2)
    with pytest.raises(ShardError, match="appears more than once"):
        build_index([shards[0], shards[0]], IndexConfig(), tmp_path)
    with pytest.raises(ShardError, match=r"missing\.npy: embedding file does not exist"):
        build_index([(shards[0][0], tmp_path / "missing.npy")], IndexConfig(), tmp_path)
    unnormalised = (shards[1][0], shards[1][1] * 2.0)
    with pytest.raises(ShardError, match=r"shard #1 .*row 0 has norm 2\.0000"):
        build_index([shards[0], unnormalised], IndexConfig(), tmp_path)
    with pytest.raises(ShardError, match="2999 ids for 3000 vectors"):
        build_index([(shards[0][0][:-1], shards[0][1])], IndexConfig(), tmp_path)
