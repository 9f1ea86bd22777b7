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
to see whether a setting's effect stands out of the seeds' spread. Works on a scratch copy
of the home (``bench.common.scratch_home``), so the home is left as it is.

Usage: python -m bench.experiments.seed_spread [--react-home var]
       [--domains digits fashion emoji] [--seeds 0 1 2] [--amp auto off]
       [--variant gated-image] [--general-fraction F]
Prints a table and writes bench/results/seed_spread.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import statistics
import time
from pathlib import Path

from bench.common.results import add_results_dir, write_result
from bench.common.scratch_home import ScratchHome, gains
from react_assets.customize.recipe import CustomizationRecipe

LOG = logging.getLogger(__name__)


def domain_runs(scratch: ScratchHome, domain: str, variant: str, seeds: list[int],
                amps: list[str]) -> list[dict]:
    """Top-1 (x100) gain over the base per dataset, one row per (amp, seed)."""
    settings = [(amp, seed) for amp in amps for seed in seeds]
    trained = [scratch.train(domain, dataclasses.replace(CustomizationRecipe(), seed=seed,
                                                         amp=amp), variant, f"{amp}-{seed}")
               for amp, seed in settings]
    gain = gains(scratch.top1(domain, trained))
    return [{"amp": amp, "seed": seed, "model_id": t.made.model_id,
             "train_s": round(t.made.train.elapsed_s, 1), "gain": gain[t.label]}
            for (amp, seed), t in zip(settings, trained, strict=True)]

def spread(runs: list[dict]) -> dict[str, dict[str, dict[str, float]]]:
    """Per amp mode and dataset: mean, standard deviation, min and max of the gain over seeds."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for amp in dict.fromkeys(run["amp"] for run in runs):
        per_seed = [run["gain"] for run in runs if run["amp"] == amp]
        out[amp] = {d: {"mean": round(statistics.fmean(g[d] for g in per_seed), 2),
                        "std": round(statistics.pstdev(g[d] for g in per_seed), 2),
                        "min": min(g[d] for g in per_seed), "max": max(g[d] for g in per_seed)}
                    for d in per_seed[0]}
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


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--react-home", type=Path, default=Path("var"))
    parser.add_argument("--domains", nargs="+", default=["digits", "fashion", "emoji"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--amp", nargs="+", default=["auto", "off"], choices=["auto", "off", "on"])
    parser.add_argument("--variant", default="gated-image")
    parser.add_argument("--general-fraction", type=float, default=None,
                        help="re-retrieve with this general_fraction first (default: as retrieved)")
    add_results_dir(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    results: dict[str, dict] = {}
    with ScratchHome.of(args.react_home, prefix="bench-seeds-") as scratch:
        for domain in args.domains:
            started = time.perf_counter()
            if args.general_fraction is not None:
                scratch.retrieve(domain, general_fraction=args.general_fraction)
            runs = domain_runs(scratch, domain, args.variant, args.seeds, args.amp)
            results[domain] = {"runs": runs, "spread": spread(runs),
                               "seconds": round(time.perf_counter() - started, 1)}
            LOG.info("%s done in %.0f s", domain, results[domain]["seconds"])
    print(table(results))
    figures = {"react_home": str(args.react_home), "variant": args.variant,
               "general_fraction": args.general_fraction, "seeds": args.seeds,
               "recipe": dataclasses.asdict(CustomizationRecipe()), "domains": results}
    print(f"wrote {write_result('seed_spread', figures, directory=args.results_dir)}")
    return figures


if __name__ == "__main__":
    main()
