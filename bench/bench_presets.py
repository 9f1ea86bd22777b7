"""One domain customized under the demo and the official recipe presets, at library level.

Needs a REACT_HOME where the pipeline ran up to retrieved_pairs (for instance the tiny world the
end-to-end tests build). Trains gated-image and locked-text under each preset on the domain's
newest retrieval set, capped at ``--epochs`` and ``--batch-size`` (the official preset's own
warmup, lrs, augmentation, logit scale and mixed precision kept), and reports zero-shot top-1 of
the base and of each model on the domain's datasets (target) and on the general sets. Prints a
table and writes bench/results/presets.json.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import asdict, replace
from pathlib import Path

import torch

from react_assets.customize.domain import customize_domain
from react_assets.customize.recipe import recipe_preset
from react_assets.customize.saved import load_customized_model
from react_assets.domains.registry import registered_domain
from react_assets.evaluate.domain import EvaluatedModel, evaluate_domain
from react_assets.files.atomic import write_json
from react_assets.files.paths import ReactPaths
from react_assets.metadata import open_store
from react_assets.models.base import current_base, load_base_bundle


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--domain", default="fashion")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--presets", default="demo,official,official-warmup20",
                        help="comma list of demo, official, official-warmup20")
    parser.add_argument("--out", type=Path, default=Path("bench/results/presets.json"))
    parser.add_argument("--scratch", type=Path, default=Path("/tmp/react-bench-presets"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(2)
    paths = ReactPaths(args.home)
    store = open_store(paths.root)
    base = current_base(store)
    models = [EvaluatedModel(base.model_id, "base", load_base_bundle(store))]
    runs = {}
    small = {"epochs": args.epochs, "batch_size": args.batch_size, "checkpoint_every": 10_000}
    recipes = {"demo": replace(recipe_preset("demo"), **small),
               "official": replace(recipe_preset("official"), **small),
               # the official recipe with the demo's warmup: 5000 warmup steps never end here
               "official-warmup20": replace(recipe_preset("official"), **small,
                                            warmup_steps=recipe_preset("demo").warmup_steps)}
    wanted = args.presets.split(",")
    unknown = sorted(set(wanted) - set(recipes))
    if unknown:
        parser.error(f"--presets: unknown {unknown}; expected some of {sorted(recipes)}")
    recipes = {name: recipe for name, recipe in recipes.items() if name in wanted}
    for preset, recipe in recipes.items():
        for variant in ("gated-image", "locked-text"):
            made = customize_domain(
                store, base, args.domain, recipe.customization(variant),
                replace(recipe.train(variant), num_workers=0),
                args.scratch / preset / variant, augmentation=recipe.augmentation)
            kind = f"{preset}/{variant}"
            models.append(EvaluatedModel(made.model_id, kind,
                                         load_customized_model(made.folder)))
            runs[kind] = {"steps": made.train.steps, "final_loss": made.train.losses[-1],
                          "pairs": len(made.retrieval.pair_ids),
                          "retrieval_digest": made.retrieval.digest,
                          "recipe": asdict(recipe), "gates": made.train.gate_values}
    evaluation = evaluate_domain(registered_domain(store, args.domain), models)
    spec = registered_domain(store, args.domain).spec
    target = {d.name for d in spec.datasets}
    table = {}
    for model in models:
        scores = {ds: float(r.value) for (mid, ds), r in evaluation.zeroshot.items()
                  if mid == model.model_id}
        table[model.kind] = {"target": {k: v for k, v in scores.items() if k in target},
                             "general": {k: v for k, v in scores.items() if k not in target}}
        print(f"{model.kind:24s} " + "  ".join(f"{k}={v:.3f}" for k, v in scores.items()))  # noqa: T201
    write_json(args.out, {"domain": args.domain, "epochs": args.epochs, "presets": wanted,
                          "batch_size": args.batch_size, "base_model_id": base.model_id,
                          "scores": table, "runs": runs})


if __name__ == "__main__":
    main()
