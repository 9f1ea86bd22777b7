"""The sections of ``docs/benchmarks.md``: per bench, what it measures, how to run it, and how
its figures (the ``figures`` of ``bench/results/<name>.json``) become Markdown."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Section:
    """One bench's section: its result name, title, kind, command and what it measures."""

    name: str
    title: str
    kind: str  # speed | experiments | load
    command: str
    about: str
    render: Callable[[dict], list[str]]


def fmt(value: object) -> str:
    """A figure as the page shows it: thousands separated, three significant digits below 100."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.1f}" if abs(value) >= 100 else f"{value:.3g}"
    if isinstance(value, list):
        return ", ".join(fmt(v) for v in value)
    return str(value).replace("|", "\\|")


def table(header: list[str], rows: list[list[object]]) -> list[str]:
    """A Markdown table; cells formatted with :func:`fmt`."""
    return [f"| {' | '.join(header)} |", "|" + "---|" * len(header),
            *(f"| {' | '.join(fmt(cell) for cell in row)} |" for row in rows)]


def flat(figures: dict, prefix: str = "") -> dict[str, object]:
    """Nested figures as ``a.b.c`` keys (lists of numbers kept, lists of dicts left out)."""
    out: dict[str, object] = {}
    for key, value in figures.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flat(value, f"{name}."))
        elif not (isinstance(value, list) and any(isinstance(v, dict) for v in value)):
            out[name] = value
    return out


def generic(figures: dict) -> list[str]:
    """Any bench's figures: a table of its scalar figures, one of each list of rows."""
    lines = table(["figure", "value"], [[k, v] for k, v in flat(figures).items()])
    for key, value in figures.items():
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            columns = list(dict.fromkeys(k for row in value for k in flat(row)))
            lines += ["", f"`{key}`:", ""]
            lines += table(columns, [[flat(row).get(c) for c in columns] for row in value])
    return lines


def with_gain(value: float | None, base: float | None) -> str:
    if value is None or base is None:
        return fmt(value)
    return f"{value:.2f} ({value - base:+.2f})"


def demo(f: dict) -> list[str]:
    stages = [[stage, seconds] for stage, seconds in f["stages_s"].items()]
    lines = table(["stage", "seconds"], [*stages, ["total", f["total_s"]]])
    lines += ["", f"The command took {fmt(f['command_wall_s'])} s, setup included.", "",
              "Zero-shot top-1 (x100, gain over the base):", ""]
    kinds = list(dict.fromkeys(k for row in f["zeroshot"] for k in row["top1"]))
    lines += table(["domain", "dataset", *kinds], [
        [row["domain"], row["dataset"],
         *(with_gain(row["top1"].get(k), row["top1"].get("base")) if k != "base"
           else row["top1"].get(k) for k in kinds)] for row in f["zeroshot"]])
    return lines


def stages(f: dict) -> list[str]:
    rates = f["matmul_rates"]
    lines = table(["stage", "seconds", "GFLOP", "fp32 bound s", "bf16 bound s"],
                  [[r["stage"], r["seconds"], r["gflop"], r.get("bound_fp32_s"),
                    r.get("bound_bf16_s")] for r in f["stages"]])
    return lines + ["", f"Matmul rates: fp32 {fmt(rates['fp32']['gflops_wall'])} GFLOP/s, bf16 "
                        f"{fmt(rates['bf16']['gflops_wall'])} GFLOP/s ({f['threads']} threads); "
                        f"stage seconds from `{f['timing_source']}`."]


def concurrent_training(f: dict) -> list[str]:
    lines = table(["mode", "seconds", "workers", "steps"],
                  [[mode, f[mode]["seconds"], f[mode]["workers"], f[mode]["steps"]]
                   for mode in ("sequential", "side_by_side")])
    return lines + ["", f"Side by side: {fmt(f['speedup'])}x the sequential throughput "
                        f"({f['domain']}, {f['cores']} cores)."]


def seed_spread(f: dict) -> list[str]:
    rows = []
    for domain, result in f["domains"].items():
        for amp, per_dataset in result["spread"].items():
            for dataset, s in per_dataset.items():
                seeds = " ".join(f"{run['gain'][dataset]:+.2f}" for run in result["runs"]
                                 if run["amp"] == amp)
                rows.append([domain, dataset, amp, seeds, f"{s['mean']:+.2f}", s["std"]])
    return [f"{f['variant']}, seeds {fmt(f['seeds'])}, general_fraction "
            f"{fmt(f['general_fraction'])} (gain over the base, x100):", "",
            *table(["domain", "dataset", "amp", "gain by seed", "mean", "std"], rows)]


def general_sample(f: dict) -> list[str]:
    variants = f["variants"]
    rows = []
    for row in f["rows"]:
        base = row["top1"]["base"]
        for dataset, value in base.items():
            rows.append([row["domain"], dataset, row["general_fraction"], value,
                         *(with_gain(row["top1"][v][dataset], value) for v in variants)])
    return table(["domain", "dataset", "general_fraction", "base", *variants], rows)


def metadata(f: dict) -> list[str]:
    lake, file, n = f["ducklake"], f["duckdb_file"], f["writers"]
    ratios = f["ratios_ducklake_over_duckdb_file"]

    def ms(store: dict, key: str) -> float:
        return round(1000 * store[key]["median_s"], 1)

    rows = [["ingest, 1 writer (rows/s)", lake["ingest_1_writer"]["rows_per_s"],
             file["ingest_1_writer"]["rows_per_s"], ratios["ingest_rows_per_s_1_writer"]],
            [f"ingest, {n} writers (rows/s)", lake[f"ingest_{n}_writers"]["rows_per_s"],
             "one writer only", None],
            ["lineage statement, median (ms)", ms(lake, "lineage_statement"),
             ms(file, "lineage_statement"), ratios["lineage_statement_median_s"]],
            ["model_lineage, median (ms)", ms(lake, "lineage_model_lineage"), None, None],
            ["count by shard, median (ms)", ms(lake, "count_by_shard"),
             ms(file, "count_by_shard"), ratios["count_by_shard_median_s"]],
            ["replace a shard, median (ms)", ms(lake, "replace_shard"), ms(file, "replace_shard"),
             ratios["replace_shard_median_s"]],
            ["size on disk (MiB)", round(lake["disk"]["bytes"] / 2**20, 1),
             round(file["disk"]["bytes"] / 2**20, 1), ratios["disk_bytes"]]]
    return [f"{fmt(f['rows'])} pairs in {fmt(f['shards'])} shards; lineage of a model trained on "
            f"{fmt(f['lineage_pairs'])} pairs; medians of {f['repeats']} repeats.", "",
            *table(["figure", "DuckLake (SQLite catalog)", "DuckDB file", "ratio"], rows)]


def backfill_policy(f: dict) -> list[str]:
    rows = [[profile, n, b["runs"], b["wall_s"], b["pairs_per_s"], b["runs_span_s"],
             b["runs_pairs_per_s"]]
            for profile in ("embedded", "cluster") if "backfills" in f.get(profile, {})
            for n, b in f[profile]["backfills"].items()]
    lines = table(["profile", "shards a run", "runs", "backfill s", "pairs/s", "runs' span s",
                   "pairs/s in span"], rows)
    in_process = f.get("embedded", {}).get("in_process", {})
    lines += ["", "In-process, no server: " + "; ".join(
        f"{name} {fmt(r['wall_s'])} s = {fmt(r['pairs_per_s'])} pairs/s"
        for name, r in in_process.items()) + "."]
    ratios = [[k, v] for k, v in f.get("summary", {}).items() if k.endswith("_over_1")]
    return lines + ["", *table(["ratio of pairs/s", "value"], ratios)]


def cluster_backfill(f: dict) -> list[str]:
    rows = [[r["workers"], r["threads_per_worker"], r["pairs"], r["embedding"]["wall_s"],
             r["pairs_per_s"]] for r in f["runs"]]
    lines = table(["workers", "threads a worker", "pairs", "backfill s", "pairs/s"], rows)
    if "speedup_2_over_1" in f:
        lines += ["", f"2 workers / 1 worker: {fmt(f['speedup_2_over_1'])}x."]
    return lines


def ui_backfill(f: dict) -> list[str]:
    rows = [[name, f[name]["status"], f[name]["wall_s"], f[name]["runs"]]
            for name in ("world", "materialize_all") if name in f]
    return table(["backfill", "status", "seconds", "runs"], rows) + [
        "", f"Total, the server's start included: {fmt(f['total_s'])} s."]


SECTIONS = (
    Section("demo", "The demo, end to end", "load",
            "python -m bench.load.demo --react-home /tmp/react-demo",
            "`./scripts/demo.sh` on an empty home: seconds per stage and the leaderboard it "
            "makes.", demo),
    Section("ui_backfill", "A full backfill from the UI", "load",
            "python -m bench.load.ui_backfill",
            "Every asset and partition of the demo world materialized from the UI's GraphQL "
            "API on an empty home.", ui_backfill),
    Section("backfill_policy", "Shards per backfill run", "load",
            "python -m bench.load.backfill_policy --per-run 8,1,5",
            "The corpus-embedding backfill from the UI with 1, 5 and 8 shards a run, embedded "
            "and on a 2-worker cluster, against in-process embedding.", backfill_policy),
    Section("cluster_backfill", "Cluster workers", "load",
            "python -m bench.load.cluster_backfill --workers 1,2",
            "The corpus-embedding backfill of the cluster profile with 1 and 2 Dask workers.",
            cluster_backfill),
    Section("stages", "Demo stages against their compute bound", "speed",
            "python -m bench.speed.stages --timing REACT_HOME/reports/demo_timing.json",
            "Each demo stage's seconds beside its FLOPs over this CPU's fp32 and bf16 matmul "
            "rates.", stages),
    Section("concurrent_training", "A domain's variants side by side", "speed",
            "python -m bench.speed.concurrent_training --home REACT_HOME --domain digits",
            "The gated-image and locked-text trainings one after the other, then side by side "
            "with the cores shared.", concurrent_training),
    Section("metadata", "Metadata at scale", "speed",
            "python -m bench.speed.metadata --rows 10000000",
            "The DuckLake store against one DuckDB file: ingestion, lineage, counts, shard "
            "replacement, size on disk.", metadata),
    Section("corpus", "Ingestion and embedding throughput", "speed",
            "python -m bench.speed.corpus --shards REACT_HOME/shards",
            "Ingestion and embedding of real shards against a plain webdataset / open_clip "
            "loop.", generic),
    Section("training", "Training throughput", "speed", "python -m bench.speed.training",
            "Samples per second of each variant, with the text-feature cache on and off.",
            generic),
    Section("train_step", "A training step's CPU seconds", "speed",
            "python -m bench.speed.train_step",
            "PIL decoding per sample against the decoded-once pixel cache.", generic),
    Section("index", "kNN index tiers", "speed",
            "python -m bench.speed.index --sizes 10000 100000 1000000 --dims 256 512",
            "The index type chosen per corpus size: build time, memory, recall@10, queries/s.",
            generic),
    Section("faiss_build", "faiss kernels per SIMD level", "speed",
            "python -m bench.speed.faiss_build",
            "IVF training, adding and search with the generic and the AVX2/AVX-512 kernels.",
            generic),
    Section("probe", "Linear-probe protocol", "speed", "python -m bench.speed.probe",
            "The seconds the few-shot and full-shot linear probes cost per model and dataset.",
            generic),
    Section("gpu", "Throughput against the chip's bf16 peak", "speed",
            "python -m bench.speed.gpu",
            "ViT-B-32 embedding and a gated-image training step, as a fraction of the peak.",
            generic),
    Section("seed_spread", "Seed spread of the gains", "experiments",
            "python -m bench.experiments.seed_spread --react-home REACT_HOME",
            "How far each domain's gains move with the training seed and bf16 on or off.",
            seed_spread),
    Section("general_sample", "The general sample and forgetting", "experiments",
            "python -m bench.experiments.general_sample --react-home REACT_HOME",
            "Each domain retrieved without and with a general sample of the corpus, trained, "
            "evaluated on its own and the general sets.", general_sample),
    Section("presets", "Demo and official recipes", "experiments",
            "python -m bench.experiments.presets --home REACT_HOME",
            "One domain trained under the demo and the official recipe presets.", generic),
    Section("official_augmentation", "The official augmentation on small images",
            "experiments", "python -m bench.experiments.official_augmentation",
            "What the official recipe's crops, RandAugment and erasing do to 32-64 px images.",
            generic),
)
