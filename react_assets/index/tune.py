"""Reading embedding shards, sampling them, exact ground truth and search-parameter tuning.

The helpers here never hold the whole corpus in memory: every pass walks the shards one at a
time, converting each shard to float32 only while it is used.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np
from tqdm import tqdm

LOG = logging.getLogger(__name__)

Shard = tuple[np.ndarray, "Path | np.ndarray"]
NORM_TOLERANCE = 2e-2  # float16 storage rounds norms by ~1e-3; more means not normalised
MAX_EF_SEARCH = 2048  # the largest HNSW efSearch tuning or retrieval tries


class ShardError(ValueError):
    """An embedding shard is malformed; the message names the shard and the reason."""


@dataclass(frozen=True)
class ShardLayout:
    """Row counts and global offsets of the shards, validated once."""

    sizes: tuple[int, ...]
    dim: int

    @property
    def total(self) -> int:
        return int(sum(self.sizes))

    @property
    def offsets(self) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(self.sizes)]).astype(np.int64)


def shard_name(shard: Shard, position: int) -> str:
    """A human name for error messages: the file path or the shard's position."""
    vectors = shard[1]
    return str(vectors) if isinstance(vectors, (str, Path)) else f"shard #{position} (in memory)"


def open_vectors(shard: Shard, position: int) -> np.ndarray:
    """The shard's vectors as a (memory-mapped when on disk) 2-D array, shape-checked."""
    ids, vectors = shard
    if isinstance(vectors, (str, Path)):
        path = Path(vectors)
        if not path.is_file():
            raise ShardError(f"{path}: embedding file does not exist")
        vectors = np.load(path, mmap_mode="r", allow_pickle=False)
    name = shard_name(shard, position)
    if vectors.ndim != 2:
        raise ShardError(f"{name}: vectors must be 2-D (n, d), got shape {vectors.shape}")
    ids = np.asarray(ids)
    if ids.ndim != 1 or len(ids) != len(vectors):
        raise ShardError(f"{name}: {len(ids)} ids for {len(vectors)} vectors (shape {ids.shape})")
    if not np.issubdtype(ids.dtype, np.integer):
        raise ShardError(f"{name}: ids must be integers, got {ids.dtype}")
    return vectors


def to_float32(vectors: np.ndarray, name: str) -> np.ndarray:
    """Convert one shard (or a slice of it) to contiguous float32 and check it is unit-norm."""
    out = np.ascontiguousarray(vectors, dtype=np.float32)
    if not np.isfinite(out).all():
        row = int(np.flatnonzero(~np.isfinite(out).all(axis=1))[0])
        raise ShardError(f"{name}: row {row} holds NaN or inf")
    norms = np.linalg.norm(out, axis=1)
    bad = np.flatnonzero(np.abs(norms - 1.0) > NORM_TOLERANCE)
    if len(bad):
        raise ShardError(f"{name}: row {int(bad[0])} has norm {norms[bad[0]]:.4f}; "
                         f"embeddings must be L2-normalised ({len(bad)} such rows)")
    return out


def inspect_shards(shards: Sequence[Shard]) -> ShardLayout:
    """Validate every shard (shapes, one dimension, unique ids) without loading the vectors."""
    if not shards:
        raise ShardError("no embedding shards given")
    sizes, dims, all_ids = [], set(), []
    for position, shard in enumerate(shards):
        vectors = open_vectors(shard, position)
        sizes.append(len(vectors))
        dims.add(int(vectors.shape[1]))
        all_ids.append(np.asarray(shard[0], dtype=np.int64))
    if len(dims) != 1:
        raise ShardError(f"shards disagree on the embedding dimension: {sorted(dims)}")
    ids = np.sort(np.concatenate(all_ids))
    dup = np.flatnonzero(ids[1:] == ids[:-1])
    if len(dup):
        raise ShardError(f"pair id {int(ids[dup[0]])} appears more than once across shards "
                         f"({len(dup)} duplicated ids)")
    if ids[0] < 0:
        raise ShardError(f"pair id {int(ids[0])} is negative; faiss reserves -1 for 'no result'")
    return ShardLayout(sizes=tuple(sizes), dim=dims.pop())


def iter_shards(shards: Sequence[Shard], desc: str) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield (int64 ids, float32 vectors) one shard at a time, with a progress bar."""
    for position, shard in enumerate(tqdm(shards, desc=desc, unit="shard", leave=False)):
        vectors = open_vectors(shard, position)
        ids = np.ascontiguousarray(shard[0], dtype=np.int64)
        yield ids, to_float32(vectors, shard_name(shard, position))


def gather_rows(shards: Sequence[Shard], layout: ShardLayout, rows: np.ndarray) -> np.ndarray:
    """Float32 vectors at global row positions ``rows`` (in that order), shard by shard."""
    out = np.empty((len(rows), layout.dim), dtype=np.float32)
    offsets = layout.offsets
    owner = np.searchsorted(offsets, rows, side="right") - 1
    for position in np.unique(owner):
        take = np.flatnonzero(owner == position)
        local = rows[take] - offsets[position]
        vectors = open_vectors(shards[position], int(position))
        order = np.argsort(local)  # sorted reads are kinder to memory maps
        picked = to_float32(vectors[local[order]], shard_name(shards[position], int(position)))
        out[take[order]] = picked
    return out


def split_sample(total: int, n_train: int, n_queries: int,
                 seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Disjoint random global rows: a training sample and held-out tuning-query rows."""
    n_queries = min(n_queries, total)
    n_train = max(0, min(n_train, total - n_queries))
    rng = np.random.default_rng(seed)
    picked = rng.choice(total, size=n_train + n_queries, replace=False)
    return np.sort(picked[:n_train]), np.sort(picked[n_train:])


def make_tune_queries(base: np.ndarray, noise: float, seed: int) -> np.ndarray:
    """Corpus vectors plus isotropic noise of total norm ~``noise``, re-normalised."""
    rng = np.random.default_rng(seed + 1)
    scale = noise / np.sqrt(base.shape[1])
    queries = base + rng.standard_normal(base.shape).astype(np.float32) * scale
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    return np.ascontiguousarray(queries, dtype=np.float32)


def exact_search_shards(shards: Sequence[Shard], queries: np.ndarray,
                        k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact inner-product top-``k`` (scores, pair ids) over all shards, one shard at a time."""
    heap = faiss.ResultHeap(len(queries), k, keep_max=True)
    for ids, vectors in iter_shards(shards, desc="exact ground truth"):
        flat = faiss.IndexFlatIP(vectors.shape[1])
        flat.add(vectors)
        scores, rows = flat.search(queries, min(k, len(vectors)))
        valid = rows >= 0
        heap.add_result(np.where(valid, scores, -np.inf).astype(np.float32),
                        np.where(valid, ids[np.maximum(rows, 0)], -1))
    heap.finalize()
    return heap.D, heap.I


def ids_at(shards: Sequence[Shard], layout: ShardLayout, rows: np.ndarray) -> np.ndarray:
    """The int64 pair ids at global row positions ``rows`` (in that order)."""
    out = np.empty(len(rows), dtype=np.int64)
    owner = np.searchsorted(layout.offsets, rows, side="right") - 1
    for position in np.unique(owner):
        take = np.flatnonzero(owner == position)
        ids = np.asarray(shards[int(position)][0], dtype=np.int64)
        out[take] = ids[rows[take] - layout.offsets[position]]
    return out


def exact_search_excluding(shards: Sequence[Shard], queries: np.ndarray, k: int,
                           excluded: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-``k`` (scores, pair ids) over all shards but the pair ids in ``excluded``.

    Searches ``k + len(excluded)`` deep so that dropping the excluded ids leaves ``k`` (slots
    left empty, never expected here, are -1, which recall ignores).
    """
    if not len(excluded):
        return exact_search_shards(shards, queries, k)
    scores, ids = exact_search_shards(shards, queries, k + len(excluded))
    keep = ~np.isin(ids, excluded)
    out_s = np.full((len(queries), k), -np.inf, dtype=np.float32)
    out_i = np.full((len(queries), k), -1, dtype=np.int64)
    for q in range(len(queries)):
        found = np.flatnonzero(keep[q])[:k]
        out_s[q, :len(found)], out_i[q, :len(found)] = scores[q, found], ids[q, found]
    return out_s, out_i


def recall_at_k(approx_ids: np.ndarray, exact_ids: np.ndarray) -> float:
    """Mean fraction of each query's exact top-k ids found in its approximate top-k."""
    if approx_ids.shape != exact_ids.shape:
        raise ValueError(f"id arrays differ in shape: {approx_ids.shape} vs {exact_ids.shape}")
    hits = sum(len(np.intersect1d(a[a >= 0], e[e >= 0])) for a, e in zip(approx_ids, exact_ids, strict=True))
    return hits / float(max(1, int((exact_ids >= 0).sum())))


def candidate_values(factory: str, k: int, nlist: int) -> tuple[str, list[int]] | None:
    """The search parameter to tune for ``factory`` and its increasing candidate values."""
    if factory.startswith("HNSW"):
        values = (16, 32, 64, 128, 256, 512, 1024, MAX_EF_SEARCH)
        return "efSearch", sorted({max(k, v) for v in values})
    if factory.startswith("IVF"):
        values = [v for v in (1 << p for p in range(20)) if v < nlist] + [nlist]
        return "nprobe", values
    return None


def tune_search_params(index: faiss.Index, factory: str, nlist: int, queries: np.ndarray,
                       exact_ids: np.ndarray, target: float) -> tuple[dict[str, int], float]:
    """Raise the factory's search parameter until recall@k meets ``target``; return the params.

    When even the largest value misses the target the largest is kept and a warning logged:
    the recorded recall then says by how much.
    """
    k = exact_ids.shape[1]
    choice = candidate_values(factory, k, nlist)
    if choice is None:
        _, found = index.search(queries, k)
        return {}, recall_at_k(found, exact_ids)
    name, values = choice
    space = faiss.ParameterSpace()
    recall = 0.0
    for value in values:
        space.set_index_parameter(index, name, value)
        _, found = index.search(queries, k)
        recall = recall_at_k(found, exact_ids)
        LOG.info("%s %s=%d: recall@%d=%.4f", factory, name, value, k, recall)
        if recall >= target:
            return {name: value}, recall
    LOG.warning("%s misses recall target %.3f: best recall@%d=%.4f at %s=%d",
                factory, target, k, recall, name, values[-1])
    return {name: values[-1]}, recall


def apply_search_params(index: faiss.Index, params: dict[str, int]) -> None:
    """Set recorded search parameters (nprobe, efSearch) on a loaded index."""
    space = faiss.ParameterSpace()
    for name, value in params.items():
        space.set_index_parameter(index, name, int(value))


@dataclass(frozen=True)
class SearchParameter:
    """An index's tunable search parameter: its name, current value and the largest allowed."""

    name: str  # "nprobe" (IVF) or "efSearch" (HNSW)
    value: int
    cap: int


def _unwrapped(index: faiss.Index) -> faiss.Index:
    """The index inside an ``IDMap`` wrapper (or the index itself), downcast to its class."""
    index = faiss.downcast_index(index)
    if isinstance(index, (faiss.IndexIDMap, faiss.IndexIDMap2)):
        index = faiss.downcast_index(index.index)
    return index


def is_exact_index(index: faiss.Index) -> bool:
    """Whether ``index`` searches exhaustively (a Flat index): its recall is 1 by construction."""
    return isinstance(_unwrapped(index), faiss.IndexFlat)


def search_parameter(index: faiss.Index, k: int) -> SearchParameter | None:
    """The search parameter of an IVF (nprobe, up to nlist) or HNSW (efSearch, up to
    ``MAX_EF_SEARCH`` or ``k``) index; None for any other index."""
    ivf = faiss.try_extract_index_ivf(index)
    if ivf is not None:
        return SearchParameter("nprobe", int(ivf.nprobe), int(ivf.nlist))
    inner = _unwrapped(index)
    if isinstance(inner, faiss.IndexHNSW):
        return SearchParameter("efSearch", int(inner.hnsw.efSearch), max(MAX_EF_SEARCH, k))
    return None
