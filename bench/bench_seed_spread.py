"""How far the leaderboard's gains move with the training seed and the precision, on a built home.

The demo's figures are single runs on small test sets (emoji-test holds 55 images: one image is
1.8 points), so a gain's change between two runs says little until it is set beside the spread
of runs that differ only by chance. This bench measures that spread: for each domain it trains
the variant (default gated-image) with the demo recipe under each seed and each ``amp`` mode
(``auto``: bf16 autocast where the CPU multiplies bf16 natively; ``off``: fp32), on the
domain's newest retrieval set and the home's current base, evaluates every model zero-shot on
the domain's datasets and the general sets, and prints each gain over the base with its mean,
standard deviation and range over the seeds. ``--general-fraction F`` first re-retrieves each
domain with that share of uniform corpus pairs beside its own (the spec's other settings kept),
to see whether a setting's effect stands out of the seeds' spread. Works on a copy of
``react.duckdb``; models and retrievals go to a temporary folder, so the home is left as it is.

Usage: python bench/bench_seed_spread.py [--react-home var] [--domains digits fashion emoji]
       [--seeds 0 1 2] [--amp auto off] [--variant gated-image] [--general-fraction F]
       [--out bench/results/seed_spread.json]
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from react_assets.customize.domain import customize_domain
from react_assets.customize.recipe import CustomizationRecipe
from react_assets.customize.saved import load_customized_model
from react_assets.domains.registry import registered_domain
from react_assets.evaluate.domain import EvaluatedModel, evaluate_domain
from react_assets.files.atomic import write_json
from react_assets.files.paths import ReactPaths
from react_assets.metadata import Store, open_store
from react_assets.models.base import current_base, load_base_bundle
from react_assets.models.hardware import machine_description
from react_assets.retrieve.domain import retrieve_registered_domain

LOG = logging.getLogger("bench_seed_spread")
RESULTS = Path(__file__).parent / "results" / "seed_spread.json"


def domain_runs(store: Store, domain: str, variant: str, seeds: list[int], amps: list[str],
                out: Path) -> list[dict]:
    """Top-1 (x100) gain over the base per dataset, one row per (amp, seed)."""
    base = current_base(store)
    models = [EvaluatedModel(base.model_id, "base", load_base_bundle(store))]
    runs = []
    for amp in amps:
        for seed in seeds:
            recipe = dataclasses.replace(CustomizationRecipe(), seed=seed, amp=amp)
            made = customize_domain(store, base, domain, recipe.customization(variant),
                                    recipe.train(variant), out / f"{amp}-{seed}")
            models.append(EvaluatedModel(made.model_id, variant,
                                         load_customized_model(made.folder)))
            runs.append({"amp": amp, "seed": seed, "model_id": made.model_id,
                         "train_s": round(made.train.elapsed_s, 1)})
    evaluation = evaluate_domain(registered_domain(store, domain), models)
    top1 = {(model_id, dataset): 100 * result.value
            for (model_id, dataset), result in evaluation.zeroshot.items()}
    datasets = sorted({dataset for _, dataset in top1})
    for run in runs:
        run["gain"] = {d: round(top1[(run["model_id"], d)] - top1[(base.model_id, d)], 2)
                       for d in datasets}
    return runs


def spread(runs: list[dict]) -> dict[str, dict[str, dict[str, float]]]:
    """Per amp mode and dataset: mean, standard deviation, min and max of the gain over seeds."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for amp in dict.fromkeys(run["amp"] for run in runs):
        gains = [run["gain"] for run in runs if run["amp"] == amp]
        out[amp] = {d: {"mean": round(statistics.fmean(g[d] for g in gains), 2),
                        "std": round(statistics.pstdev(g[d] for g in gains), 2),
                        "min": min(g[d] for g in gains), "max": max(g[d] for g in gains)}
                    for d in gains[0]}
    return out


def table(results: dict[str, dict]) -> str:
    """Markdown: per domain, dataset and amp mode, each seed's gain and their spread."""
    lines = ["| domain | dataset | amp | gains by seed | mean | std | range |",
             "|---|---|---|---|---|---|---|"]
    for domain, result in results.items():
        for amp, per_dataset in result["spread"].items():
            for dataset, s in per_dataset.items():
                seeds = " ".join(f"{run['gain'][dataset]:+.2f}" for run in result["runs"]
                                 if run["amp"] == amp)
                lines.append(f"| {domain} | {dataset} | {amp} | {seeds} | {s['mean']:+.2f} | "
                             f"{s['std']:.2f} | {s['max'] - s['min']:.2f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--react-home", type=Path, default=Path("var"))
    parser.add_argument("--domains", nargs="+", default=["digits", "fashion", "emoji"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--amp", nargs="+", default=["auto", "off"], choices=["auto", "off", "on"])
    parser.add_argument("--variant", default="gated-image")
    parser.add_argument("--general-fraction", type=float, default=None,
                        help="re-retrieve with this general_fraction first (default: as retrieved)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    source = ReactPaths(args.react_home).duckdb
    if not source.is_file():
        raise SystemExit(f"{source} not found: materialize the pipeline (./scripts/demo.sh) first")
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="bench-seeds-") as tmp:
        store = open_store(Path(tmp))
        shutil.copy2(source, store.path)
        for domain in args.domains:
            started = time.perf_counter()
            if args.general_fraction is not None:
                retrieve_registered_domain(store, ReactPaths(Path(tmp)), domain,
                                           overrides={"general_fraction": args.general_fraction})
            runs = domain_runs(store, domain, args.variant, args.seeds, args.amp,
                               Path(tmp) / domain)
            results[domain] = {"runs": runs, "spread": spread(runs),
                               "seconds": round(time.perf_counter() - started, 1)}
            LOG.info("%s done in %.0f s", domain, results[domain]["seconds"])
    print(table(results))
    write_json(args.out, {"react_home": str(args.react_home), "variant": args.variant,
                          "general_fraction": args.general_fraction,
                          "seeds": args.seeds, "recipe": dataclasses.asdict(CustomizationRecipe()),
                          "machine": machine_description(), "domains": results})
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
