"""faiss kernels of one wheel on fixed data: IVF training, adding, IVF-SQ8 and Flat search.

Runs with whatever faiss the interpreter imports (so two venvs can be compared on the same
data) and reports the wheel's compile options, CPU seconds and wall seconds per operation, and
the recall@10 of IVF-SQ8 against Flat. One thread by default: the figures then compare kernels,
not how busy a shared machine is.

Wheels from faiss 1.13 on carry every SIMD level in one library and pick the best this CPU runs
at load time ("DD" in the compile options; the loader's "Could not load library with AVX2
support" line is about the older one-library-per-level layout and is harmless). With such a
wheel the bench runs the operations once per SIMD level this CPU offers (``SIMDConfig``), so the
generic kernels and the AVX2/AVX512 ones are compared on the same data in the same run.

Usage: python -m bench.speed.faiss_build [--n 100000] [--dim 256] [--nlist 1024]
       [--threads 1] [--levels NONE AVX2]
Writes bench/results/faiss_build.json (the wheel's version among the figures).
"""

from __future__ import annotations

import argparse
import json
import time

import faiss
import numpy as np

from bench.common.results import add_results_dir, write_result


def clustered(n: int, dim: int, seed: int, centers: int = 500) -> np.ndarray:
    """Unit vectors around ``centers`` random directions (a corpus-like, clustered set)."""
    rng = np.random.default_rng(seed)
    base = rng.standard_normal((centers, dim)).astype(np.float32)
    x = base[rng.integers(0, centers, n)] + 0.6 * rng.standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def timed(fn) -> tuple[object, float, float]:
    """(result, cpu seconds, wall seconds) of ``fn()``."""
    cpu, wall = time.process_time(), time.perf_counter()
    out = fn()
    return out, time.process_time() - cpu, time.perf_counter() - wall


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--nlist", type=int, default=1024)
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--levels", nargs="*", default=None,
                        help="SIMD levels to compare (default: every one this CPU runs)")
    add_results_dir(parser)
    args = parser.parse_args(argv)
    faiss.omp_set_num_threads(args.threads)
    data = clustered(args.n, args.dim, 0)
    queries = clustered(args.queries, args.dim, 1)
    levels = args.levels if args.levels is not None else available_levels()
    by_level = {}
    loaded = faiss.SIMDConfig.get_level() if levels else None
    try:
        for level in levels or ["as-loaded"]:
            if level != "as-loaded":
                faiss.SIMDConfig.set_level(faiss.to_simd_level(level))
            by_level[level] = run_ops(data, queries, args)
            print(f"{level}: " + ", ".join(f"{name} {row['cpu_s']} s cpu"
                                           for name, row in by_level[level]["ops"].items()),
                  flush=True)
    finally:
        if loaded is not None:
            faiss.SIMDConfig.set_level(loaded)
    report = {"faiss": faiss.__version__, "compile_options": faiss.get_compile_options(),
              "n": args.n, "dim": args.dim, "nlist": args.nlist, "threads": args.threads,
              "levels": by_level, "speedup_over_first_level": speedups(by_level)}
    print(json.dumps(report, indent=2))
    print(f"wrote {write_result('faiss_build', report, directory=args.results_dir)}")
    return report


def available_levels() -> list[str]:
    """The SIMD levels this wheel and CPU can run, generic first ([] for a wheel without
    runtime dispatch, which runs as loaded)."""
    config = getattr(faiss, "SIMDConfig", None)
    if config is None or not config.has_dynamic_dispatch():
        return []
    names = ("NONE", "AVX2", "AVX512", "AVX512_SPR", "ARM_NEON", "ARM_SVE")
    found = []
    for name in names:
        try:
            level = faiss.to_simd_level(name)
        except (RuntimeError, ValueError):
            continue
        if config.is_simd_level_available(level):
            found.append(name)
    return found


def run_ops(data: np.ndarray, queries: np.ndarray, args: argparse.Namespace) -> dict:
    """CPU and wall seconds of each operation, and IVF-SQ8's recall@10 against Flat."""
    ivf = faiss.index_factory(args.dim, f"IVF{args.nlist},SQ8", faiss.METRIC_INNER_PRODUCT)
    flat = faiss.IndexFlatIP(args.dim)
    rows: dict[str, dict[str, float]] = {}
    train = data[np.random.default_rng(2).choice(args.n, 64 * args.nlist, replace=False)]
    for name, fn in (("ivf_train_64_per_list", lambda: ivf.train(train)),
                     ("ivf_add", lambda: ivf.add(data)), ("flat_add", lambda: flat.add(data))):
        _, cpu, wall = timed(fn)
        rows[name] = {"cpu_s": round(cpu, 3), "wall_s": round(wall, 3)}
    ivf.nprobe = 8
    (_, ivf_ids), cpu, wall = timed(lambda: ivf.search(queries, 10))
    rows["ivf_sq8_search_nprobe8"] = {"cpu_s": round(cpu, 3), "wall_s": round(wall, 3),
                                      "qps_cpu": round(args.queries / cpu, 1)}
    (_, exact), cpu, wall = timed(lambda: flat.search(queries, 10))
    rows["flat_search"] = {"cpu_s": round(cpu, 3), "wall_s": round(wall, 3),
                           "qps_cpu": round(args.queries / cpu, 1)}
    recall = float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ivf_ids, exact, strict=True)]))
    return {"recall_at_10_ivf_sq8": round(recall, 4), "ops": rows}


def speedups(by_level: dict[str, dict]) -> dict[str, dict[str, float]]:
    """Each level's CPU-seconds ratio to the first level's, per operation."""
    first = next(iter(by_level.values()))["ops"]
    return {level: {name: round(first[name]["cpu_s"] / max(row["cpu_s"], 1e-9), 2)
                    for name, row in figures["ops"].items()}
            for level, figures in list(by_level.items())[1:]}


if __name__ == "__main__":
    main()
