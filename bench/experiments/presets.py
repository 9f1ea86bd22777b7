"""One domain customized under the demo and the official recipe presets, at library level.

Needs a REACT_HOME where the pipeline ran up to retrieved_pairs (for instance the tiny world the
end-to-end tests build). Trains gated-image and locked-text under each preset on the domain's
newest retrieval set, capped at ``--epochs`` and ``--batch-size`` (the official preset's own
warmup, lrs, augmentation, logit scale and mixed precision kept), in a scratch copy of the home
(``bench.common.scratch_home``), and reports zero-shot top-1 (x100) of the base and of each model
on the domain's datasets (target) and on the general sets.

Usage: python -m bench.experiments.presets --home REACT_HOME [--domain fashion] [--epochs 5]
       [--batch-size 64] [--presets demo,official,official-warmup20]
Prints a table and writes bench/results/presets.json.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import asdict, replace
from pathlib import Path

import torch

from bench.common.results import add_results_dir, write_result
from bench.common.scratch_home import ScratchHome
from react_assets.customize.recipe import CustomizationRecipe, recipe_preset
from react_assets.domains.registry import registered_domain

VARIANTS = ("gated-image", "locked-text")


def recipes(epochs: int, batch_size: int) -> dict[str, CustomizationRecipe]:
    """The presets, each capped at ``epochs`` of ``batch_size``."""
    small = {"epochs": epochs, "batch_size": batch_size, "checkpoint_every": 10_000}
    return {"demo": replace(recipe_preset("demo"), **small),
            "official": replace(recipe_preset("official"), **small),
            # the official recipe with the demo's warmup: 5000 warmup steps never end here
            "official-warmup20": replace(recipe_preset("official"), **small,
                                         warmup_steps=recipe_preset("demo").warmup_steps)}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--domain", default="fashion")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--presets", default="demo,official,official-warmup20",
                        help="comma list of demo, official, official-warmup20")
    add_results_dir(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(2)
    known = recipes(args.epochs, args.batch_size)
    wanted = args.presets.split(",")
    unknown = sorted(set(wanted) - set(known))
    if unknown:
        parser.error(f"--presets: unknown {unknown}; expected some of {sorted(known)}")
    runs, scores = {}, {}
    with ScratchHome.of(args.home, prefix="bench-presets-") as scratch:
        trained = [scratch.train(args.domain, known[preset], variant, f"{preset}/{variant}",
                                 num_workers=0)
                   for preset in wanted for variant in VARIANTS]
        for t in trained:
            runs[t.label] = {**t.as_dict(), "retrieval_digest": t.made.retrieval.digest,
                             "recipe": asdict(known[t.label.split("/")[0]]),
                             "gates": t.made.train.gate_values}
        target = {d.name for d in registered_domain(scratch.store, args.domain).spec.datasets}
        for label, top1 in scratch.top1(args.domain, trained).items():
            scores[label] = {"target": {k: v for k, v in top1.items() if k in target},
                             "general": {k: v for k, v in top1.items() if k not in target}}
            print(f"{label:24s} " + "  ".join(f"{k}={v:.2f}" for k, v in top1.items()))
    figures = {"domain": args.domain, "epochs": args.epochs, "presets": wanted,
               "batch_size": args.batch_size, "scores": scores, "runs": runs}
    print(f"wrote {write_result('presets', figures, directory=args.results_dir)}")
    return figures


if __name__ == "__main__":
    main()
