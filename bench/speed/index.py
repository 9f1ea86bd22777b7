"""Benchmark the kNN index tiers and one domain's retrieval on synthetic clustered unit vectors.

For each dimension and corpus size: the index type ``choose_factory`` picks (plus any forced
with --types), its build time, memory (RSS delta and estimated index bytes), recall@10 and
queries/s against exact ``IndexFlatIP`` search on the same data in the same run; and the time
to retrieve one domain (1000 classes x 80 templates, k=50) at the largest size.

    python -m bench.speed.index --sizes 10000 100000 1000000 --dims 256 512
    python -m bench.speed.index --sizes 100000 --types auto ivf

Prints a table and writes bench/results/index.json (this run's sizes and dimensions only).
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np

from bench.common.results import add_results_dir, write_result
from react_assets.domains.settings import RetrievalConfig
from react_assets.index.build import ivf_nlist
from react_assets.index.files import IndexConfig, build_index, choose_factory, recall_at_k
from react_assets.retrieve.core import retrieve_domain

LOG = logging.getLogger(__name__)


def rss_bytes() -> int:
    """Current resident set size of this process."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * 4096


def clustered(n: int, d: int, seed: int, chunk: int = 100_000) -> np.ndarray:
    """Unit vectors around sqrt(n) random centroids, generated in chunks (float32)."""
    rng = np.random.default_rng(seed)
    centroids = rng.standard_normal((max(10, int(np.sqrt(n))), d)).astype(np.float32)
    centroids /= np.linalg.norm(centroids, axis=1, keepdims=True)
    out = np.empty((n, d), dtype=np.float32)
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        x = centroids[rng.integers(0, len(centroids), m)]
        x += rng.standard_normal((m, d)).astype(np.float32) * (0.8 / np.sqrt(d))
        out[start:start + m] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def queries_for(x: np.ndarray, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed + 99)
    q = x[rng.choice(len(x), n, replace=False)]
    q = q + rng.standard_normal(q.shape).astype(np.float32) * (0.3 / np.sqrt(x.shape[1]))
    return (q / np.linalg.norm(q, axis=1, keepdims=True)).astype(np.float32)


def timed_search(index: faiss.Index, q: np.ndarray, k: int) -> tuple[np.ndarray, float]:
    start = time.perf_counter()
    _, ids = index.search(q, k)
    return ids, len(q) / (time.perf_counter() - start)


def factory_for(kind: str, n: int, d: int, config: IndexConfig) -> str:
    if kind == "auto":
        return choose_factory(n, d, config)
    if kind == "hnsw":
        return f"HNSW{config.hnsw_m},Flat"
    return f"IVF{ivf_nlist(n)},SQ8"


def bench_one(x: np.ndarray, kind: str, config: IndexConfig, workdir: Path,
              exact: dict) -> tuple[dict, object]:
    n, d = x.shape
    factory = factory_for(kind, n, d, config)
    shards = [(np.arange(a, min(a + 250_000, n)), x[a:a + 250_000]) for a in range(0, n, 250_000)]
    before = rss_bytes()
    built = build_index(shards, config, workdir, factory=factory)
    rss_delta = rss_bytes() - before
    found, qps = timed_search(built.index, exact["q"], 10)
    row = {"n": n, "d": d, "kind": kind, "factory": factory, "params": built.params,
           "build_s": round(built.build_seconds, 2), "rss_delta_mb": round(rss_delta / 1e6, 1),
           "index_mb_estimated": round(built.estimated_memory_bytes / 1e6, 1),
           "tuned_recall_at_10": round(built.recall, 4),
           "recall_at_10": round(recall_at_k(found, exact["ids"]), 4),
           "qps": round(qps, 1), "flat_qps": round(exact["qps"], 1),
           "speedup_vs_flat": round(qps / exact["qps"], 2)}
    LOG.info("%s", row)
    return row, built


def bench_domain(built, x: np.ndarray, n_classes: int, n_templates: int) -> dict:
    """Time one domain: n_classes x n_templates queries, k=50, hashes and decontamination."""
    rng = np.random.default_rng(5)
    q = queries_for(x, n_classes * n_templates, seed=7)
    eval_vectors = queries_for(x, 1000, seed=11)
    start = time.perf_counter()
    result = retrieve_domain(
        np.repeat(np.arange(n_classes), n_templates), q, built.index,
        RetrievalConfig(k_per_query=50),
        pair_sha256=lambda ids: [f"{int(i) % 900_000:064x}" for i in ids],  # ~10% share hashes
        pair_vectors=lambda ids: x[ids], eval_vectors=eval_vectors,
        eval_sha256={f"{int(i):064x}" for i in rng.integers(0, len(x), 100)})
    seconds = time.perf_counter() - start
    row = {"n": len(x), "d": x.shape[1], "factory": built.factory, "classes": n_classes,
           "templates": n_templates, "k": 50, "seconds": round(seconds, 1),
           "pairs": int(len(result.pair_id)), **{k: v for k, v in result.stats.as_dict().items()
                                                   if k != "count_per_class"}}
    LOG.info("domain retrieval: %s", row)
    return row


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--dims", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--types", nargs="+", default=["auto"], choices=["auto", "hnsw", "ivf"])
    parser.add_argument("--n-queries", type=int, default=1000)
    parser.add_argument("--max-train-per-list", type=int, default=256)
    parser.add_argument("--threads", type=int, default=0, help="faiss OpenMP threads (0: all)")
    parser.add_argument("--domain-classes", type=int, default=1000)
    parser.add_argument("--domain-templates", type=int, default=80)
    add_results_dir(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("react_assets").setLevel(logging.WARNING)
    if args.threads:
        faiss.omp_set_num_threads(args.threads)
    config = IndexConfig(max_train_per_list=args.max_train_per_list)
    rows, domains = [], []
    for d in args.dims:
        for n in args.sizes:
            x = clustered(n, d, seed=n + d)
            q = queries_for(x, args.n_queries, seed=1)
            flat = faiss.IndexFlatIP(d)
            flat.add(x)
            ids, flat_qps = timed_search(flat, q, 10)
            del flat
            exact = {"q": q, "ids": ids, "qps": flat_qps}
            for kind in dict.fromkeys(args.types):
                with tempfile.TemporaryDirectory() as workdir:
                    row, built = bench_one(x, kind, config, Path(workdir), exact)
                    rows.append(row)
                    if n == max(args.sizes) and n >= 100_000 and built.factory != "Flat":
                        domains.append(bench_domain(built, x, args.domain_classes,
                                                    args.domain_templates))
                    del built
    for row in rows + domains:
        row.update(threads=faiss.omp_get_max_threads(), max_train_per_list=args.max_train_per_list)
    figures = {"index": rows, "domain_retrieval": domains}
    out = write_result("index", figures, directory=args.results_dir)
    header = ("n", "d", "factory", "params", "build_s", "rss_delta_mb", "index_mb_estimated",
              "recall_at_10", "qps", "flat_qps", "speedup_vs_flat")
    LOG.info("\n%s", "\n".join(" | ".join(str(r[h]) for h in header) for r in [
        dict(zip(header, header, strict=True)), *rows]))
    for row in domains:
        LOG.info("domain %s", row)
    LOG.info("wrote %s", out)
    return figures


if __name__ == "__main__":
    main()
