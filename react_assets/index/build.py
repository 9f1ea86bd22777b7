"""Choose a faiss index type from corpus size and a memory budget, build it shard by shard, tune it.

Tiers, all inner-product over L2-normalised embeddings and all returning DuckDB pair ids:

- ``Flat`` below ``exact_max_vectors``: exact search, fast enough at that size.
- ``HNSW{M},Flat`` when the raw float32 vectors plus the graph fit the memory budget.
- ``IVF{nlist},SQ8`` (d bytes a vector) when HNSW does not fit but 8-bit codes do: on clustered
  unit vectors IVF-PQ stays below recall@10 = 0.95 even with m = d/2 while SQ8 reaches it, and
  SQ8 trains in seconds where PQ takes minutes (``python -m bench.speed.index``).
- ``IVF{nlist},PQ{m}`` (m bytes a vector, the largest m dividing d that fits) when SQ8 does not
  fit; its recall is measured and recorded, and a miss of the target is logged loudly.

IVF indexes are trained on at most ``max_train_per_list * nlist`` vectors sampled across shards,
then filled shard by shard. When even the IVF index exceeds the budget (or ``on_disk`` is set),
each shard gets its own IVF index (same trained quantizer) written to ``workdir``, and the
inverted lists are merged on disk with ``faiss.contrib.ondisk.merge_ondisk`` into one
``.ivfdata`` file that searches memory-map.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import faiss
import numpy as np
from faiss.contrib.ondisk import merge_ondisk

from react_assets.index import tune
from react_assets.index.tune import Shard

LOG = logging.getLogger(__name__)
GIB = 1 << 30


@dataclass(frozen=True)
class IndexConfig:
    """How to choose, build and tune the index."""

    recall_target: float = 0.95
    k: int = 10
    memory_budget_bytes: int = 4 * GIB
    exact_max_vectors: int = 100_000
    n_tune_queries: int = 500
    seed: int = 0
    hnsw_m: int = 32
    hnsw_max_vectors: int = 500_000
    hnsw_ef_construction: int = 40
    max_train_per_list: int = 64  # k-means needs >= 39 a list; 64 trains 4x faster than 256
    tune_query_noise: float = 0.1
    on_disk: bool | None = None  # None: only when the in-memory IVF index exceeds the budget

    def __post_init__(self) -> None:
        if not 0.0 < self.recall_target <= 1.0:
            raise ValueError(f"IndexConfig.recall_target must be in (0, 1], "
                             f"got {self.recall_target}")
        for name in ("k", "memory_budget_bytes", "n_tune_queries", "hnsw_m", "max_train_per_list"):
            if getattr(self, name) < 1:
                raise ValueError(f"IndexConfig.{name} must be >= 1, got {getattr(self, name)}")


@dataclass
class BuiltIndex:
    """A built, tuned index and what was recorded about it (the JSON sidecar)."""

    index: faiss.Index
    factory: str
    params: dict[str, int]
    recall: float
    recall_target: float
    k: int
    n_vectors: int
    dim: int
    build_seconds: float
    estimated_memory_bytes: int
    on_disk: bool = False
    bytes_on_disk: int | None = None
    n_train: int = 0
    n_tune_queries: int = 0
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def recall_target_met(self) -> bool:
        return self.recall >= self.recall_target

    def record(self) -> dict[str, object]:
        """The JSON-serialisable fields (everything except the faiss object)."""
        return {"factory": self.factory, "metric": "inner_product", "params": self.params,
                "recall": self.recall, "recall_target": self.recall_target,
                "recall_target_met": self.recall_target_met, "k": self.k,
                "n_vectors": self.n_vectors, "dim": self.dim,
                "build_seconds": self.build_seconds,
                "estimated_memory_bytes": self.estimated_memory_bytes,
                "on_disk": self.on_disk, "bytes_on_disk": self.bytes_on_disk,
                "n_train": self.n_train, "n_tune_queries": self.n_tune_queries, **self.extra}


def ivf_nlist(n: int) -> int:
    """~4*sqrt(n) rounded to a power of two, with at least 39 training points per list."""
    nlist = 1 << max(0, round(math.log2(max(1.0, 4.0 * math.sqrt(n)))))
    return max(1, min(nlist, n // 39 or 1))


def estimate_memory_bytes(factory: str, n: int, d: int, hnsw_m: int = 32) -> int:
    """Approximate resident bytes of the index (codes, ids, graph links, centroids)."""
    if factory == "Flat":
        return n * (4 * d + 8)
    if factory.startswith("HNSW"):
        # level 0 holds 2*M int32 links, upper levels ~1/M more; plus levels and offsets
        return int(n * (4 * d + 8 + 8.5 * hnsw_m + 16))
    nlist = int(factory.split(",")[0][3:])
    coarse = nlist * d * 4
    code = factory.split(",")[1]
    if code == "SQ8":
        return n * (d + 8) + coarse + 8 * d
    m = int(code[2:])
    return n * (m + 8) + coarse + 256 * d * 4


def pq_subquantizers(n: int, d: int, nlist: int, budget: int) -> int:
    """The largest m dividing d (sub-vectors of >= 2 dims) whose IVF-PQ index fits ``budget``."""
    divisors = [m for m in range(d // 2, 0, -1) if d % m == 0]
    for m in divisors:
        if estimate_memory_bytes(f"IVF{nlist},PQ{m}", n, d) <= budget:
            return m
    return divisors[-1]


def choose_factory(n: int, d: int, config: IndexConfig) -> str:
    """The faiss factory string for ``n`` vectors of dimension ``d`` under ``config``."""
    if n < 1 or d < 1:
        raise ValueError(f"cannot index {n} vectors of dimension {d}")
    if n < config.exact_max_vectors:
        return "Flat"
    hnsw = f"HNSW{config.hnsw_m},Flat"
    fits = estimate_memory_bytes(hnsw, n, d, config.hnsw_m) <= config.memory_budget_bytes
    if n < config.hnsw_max_vectors and fits:
        return hnsw  # bench.speed.index: HNSW misses 0.95 recall at 1M, IVF-SQ8 not
    nlist = ivf_nlist(n)
    if estimate_memory_bytes(f"IVF{nlist},SQ8", n, d) <= config.memory_budget_bytes:
        return f"IVF{nlist},SQ8"
    m = pq_subquantizers(n, d, nlist, config.memory_budget_bytes)
    return f"IVF{nlist},PQ{m}"


def new_index(factory: str, d: int, config: IndexConfig) -> faiss.Index:
    """An empty inner-product index for ``factory`` that accepts ``add_with_ids``."""
    if factory.startswith("IVF"):
        index = faiss.index_factory(d, factory, faiss.METRIC_INNER_PRODUCT)
        ivf = faiss.downcast_index(faiss.extract_index_ivf(index))
        if hasattr(ivf, "do_polysemous_training"):
            ivf.do_polysemous_training = False  # Hamming filtering is unused; it costs minutes
        return index
    index = faiss.index_factory(d, f"IDMap,{factory}", faiss.METRIC_INNER_PRODUCT)
    if factory.startswith("HNSW"):
        inner = faiss.downcast_index(faiss.downcast_index(index).index)
        inner.hnsw.efConstruction = config.hnsw_ef_construction
    return index


def add_shards(index: faiss.Index, shards: Sequence[Shard],
               skip: np.ndarray | None = None) -> None:
    """Add every shard's vectors with their pair ids (but those in ``skip``), one shard in
    memory at a time."""
    for ids, vectors in tune.iter_shards(shards, desc="add to index"):
        if skip is not None and len(skip):
            keep = ~np.isin(ids, skip)
            ids, vectors = np.ascontiguousarray(ids[keep]), np.ascontiguousarray(vectors[keep])
        index.add_with_ids(vectors, ids)


def merge_shards_on_disk(trained: faiss.Index, shards: Sequence[Shard],
                         workdir: Path) -> tuple[faiss.Index, Path]:
    """One IVF index per shard from the trained empty one, merged into ``workdir/*.ivfdata``."""
    workdir.mkdir(parents=True, exist_ok=True)
    names = []
    for position, (ids, vectors) in enumerate(tune.iter_shards(shards, desc="shard indexes")):
        part = faiss.clone_index(trained)
        part.add_with_ids(vectors, ids)
        name = workdir / f"part-{position:05d}.index"
        faiss.write_index(part, str(name))
        names.append(str(name))
        del part
    ivfdata = workdir / "merged.ivfdata"
    ivfdata.unlink(missing_ok=True)
    merged = faiss.clone_index(trained)
    merge_ondisk(merged, names, str(ivfdata))
    for name in names:
        Path(name).unlink()
    return merged, ivfdata


def use_disk(factory: str, n: int, d: int, config: IndexConfig) -> bool:
    """Whether to merge the inverted lists on disk (IVF only)."""
    if not factory.startswith("IVF"):
        if config.on_disk:
            raise ValueError(f"on_disk=True needs an IVF index, but {n} vectors choose {factory}")
        return False
    if config.on_disk is not None:
        return config.on_disk
    return estimate_memory_bytes(factory, n, d) > config.memory_budget_bytes


def build_index(shards: Sequence[Shard], config: IndexConfig, workdir: Path | str,
                factory: str | None = None) -> BuiltIndex:
    """Build, fill and tune an index over embedding shards of (pair ids, vectors).

    ``factory`` overrides :func:`choose_factory` (benchmarks compare tiers on one corpus).
    Search returns pair ids; the search parameter is tuned up to ``config.recall_target``
    measured against exact search, with noisy copies of held-out corpus rows as queries (rows
    left out of the index while it is tuned, added afterwards).
    """
    start = time.perf_counter()
    layout = tune.inspect_shards(shards)
    n, d = layout.total, layout.dim
    factory = factory or choose_factory(n, d, config)
    nlist = int(factory.split(",")[0][3:]) if factory.startswith("IVF") else 0
    n_train = config.max_train_per_list * nlist
    train_rows, query_rows = tune.split_sample(n, n_train, config.n_tune_queries, config.seed)
    if nlist and len(train_rows) < nlist:
        raise ValueError(f"{factory} needs >= {nlist} training vectors; corpus has {n}")
    LOG.info("building %s over %d vectors (d=%d) from %d shards (faiss %s, %s kernels)", factory,
             n, d, len(shards), faiss.__version__, simd_level())
    index = new_index(factory, d, config)
    disk, ivfdata = use_disk(factory, n, d, config), None
    if nlist:
        index.train(tune.gather_rows(shards, layout, train_rows))
    # Tuning queries are held out: noisy copies of rows the index does not hold while it is
    # tuned (their own row would be an easy first hit), added once the parameter is chosen.
    # The on-disk path holds every row from the start, so there the rows are indexed ones.
    held_out = query_rows if not disk and factory != "Flat" else query_rows[:0]
    if disk:
        index, ivfdata = merge_shards_on_disk(index, shards, Path(workdir))
    else:
        add_shards(index, shards, skip=tune.ids_at(shards, layout, held_out))
    k = min(config.k, n)
    queries = tune.make_tune_queries(tune.gather_rows(shards, layout, query_rows),
                                     config.tune_query_noise, config.seed)
    if factory == "Flat":
        params, recall = {}, 1.0  # exact search: recall is 1 by construction
    else:
        held_ids = tune.ids_at(shards, layout, held_out)
        _, exact_ids = tune.exact_search_excluding(shards, queries, k, held_ids)
        params, recall = tune.tune_search_params(index, factory, nlist, queries, exact_ids,
                                                 config.recall_target)
        if len(held_out):
            index.add_with_ids(tune.gather_rows(shards, layout, held_out), held_ids)
    extra: dict[str, object] = {"ivfdata": str(ivfdata)} if ivfdata else {}
    return BuiltIndex(index=index, factory=factory, params=params, recall=recall,
                      recall_target=config.recall_target, k=k, n_vectors=n, dim=d,
                      build_seconds=time.perf_counter() - start,
                      estimated_memory_bytes=estimate_memory_bytes(factory, n, d, config.hnsw_m),
                      on_disk=disk, n_train=len(train_rows), n_tune_queries=len(query_rows),
                      extra=extra)


def simd_level() -> str:
    """The SIMD kernels faiss runs here: wheels from 1.13 on pick them at load time (dynamic
    dispatch), older ones name them in their compile options."""
    config = getattr(faiss, "SIMDConfig", None)
    if config is not None and config.has_dynamic_dispatch():
        return config.get_level_name()
    return faiss.get_compile_options().strip() or "generic"
