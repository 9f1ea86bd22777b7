"""A domain's trained variants one after the other (all cores each) vs side by side (cores shared).

Trains the demo recipe's gated-image and locked-text models of one domain of a built REACT_HOME
(the demo's, after its domains stage) twice, into temporary folders: first sequentially in this
process with every core, then with ``run_trainings`` in one process per variant with the cores
shared out, as ``react_model`` does on a CPU. Prints wall seconds and the ratio, and the final
losses of both runs (they differ only by the floating-point order of the thread counts).

Usage: python -m bench.speed.concurrent_training --home REACT_HOME [--domain digits]
       [--max-steps N]
Writes bench/results/concurrent_training.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

import torch

from bench.common.results import add_results_dir, write_result
from react_assets.customize.concurrent import concurrent_trainings, run_trainings
from react_assets.customize.domain import customize_domain, training_jobs
from react_assets.customize.recipe import CustomizationRecipe
from react_assets.metadata import open_store
from react_assets.models.base import current_base
from react_assets.models.hardware import usable_cores

VARIANTS = ("gated-image", "locked-text")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--domain", default="digits")
    parser.add_argument("--max-steps", type=int, default=None)
    add_results_dir(parser)
    args = parser.parse_args(argv)
    recipe = CustomizationRecipe()
    if args.max_steps:
        recipe = dataclasses.replace(recipe, max_steps=args.max_steps)
    store = open_store(args.home)
    figures: dict[str, dict] = {}
    for mode in ("sequential", "side_by_side"):
        with tempfile.TemporaryDirectory() as tmp:
            work = training_jobs(store, current_base(store), args.domain, recipe,
                                 list(VARIANTS), [Path(tmp) / v for v in VARIANTS])
            workers = 1 if mode == "sequential" else concurrent_trainings(len(work), "cpu")
            torch.set_num_threads(usable_cores())
            started = time.perf_counter()
            made = run_trainings(customize_domain, work, workers)
            seconds = time.perf_counter() - started
        figures[mode] = {"seconds": round(seconds, 2), "workers": workers,
                         "steps": [m.train.steps for m in made],
                         "final_loss": [round(m.train.losses[-1], 4) for m in made]}
        print(f"{mode:13s} {seconds:7.1f} s  workers {workers}  steps {figures[mode]['steps']}  "
              f"final loss {figures[mode]['final_loss']}", flush=True)
    ratio = figures["sequential"]["seconds"] / figures["side_by_side"]["seconds"]
    print(f"side by side is {ratio:.2f}x the sequential throughput")
    report = {"domain": args.domain, "variants": list(VARIANTS), "cores": usable_cores(),
              **figures, "speedup": round(ratio, 3)}
    print(f"wrote {write_result('concurrent_training', report, directory=args.results_dir)}")
    return report


if __name__ == "__main__":
    main()
