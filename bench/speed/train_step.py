"""CPU seconds of a demo training step: PIL decoding per sample vs the decoded-once pixel cache.

Trains the demo mini-CLIP (gated-image and locked-text) for ``--steps`` steps of ``--batch-size``
on synthetic 28 px PNGs (text features cached beforehand; the pixel cache's one decoding pass
counted in its run), in one process (``num_workers`` 0, so every CPU second is counted here)
and one intra-op thread, once with ``pixel_cache`` off and once on. CPU seconds, not wall seconds:
on a shared machine they say what a step costs whatever else runs.

Usage: python -m bench.speed.train_step [--steps 12] [--batch-size 128] [--pairs 2048]
Prints a table and writes bench/results/train_step.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from bench.common.results import add_results_dir, write_result
from bench.speed.training import synthetic_world
from react_assets.customize.gated import CustomizationConfig, customize_model
from react_assets.customize.train import TrainConfig, train_contrastive
from react_assets.models.factory import BaseModelConfig, create_base_model
from react_assets.models.mini_clip import MINI_CLIP_ARCH


def run(variant: str, pixel_cache: bool, images, captions, args, cache_dir: Path) -> dict:
    """CPU and wall seconds per step of one short training run."""
    bundle = create_base_model(BaseModelConfig(arch=MINI_CLIP_ARCH))
    model = customize_model(bundle.model, CustomizationConfig(variant=variant, num_gated_blocks=2))
    config = TrainConfig(epochs=1000, batch_size=args.batch_size, max_steps=args.steps,
                         warmup_steps=1, num_workers=0, pixel_cache=pixel_cache,
                         log_every=10**9, checkpoint_every=10**9)
    for stale in [*cache_dir.glob("*.pt"), *cache_dir.glob("pixels_*.npy")]:
        stale.unlink()  # a fresh run that decodes its pixels; the text features stay cached
    cpu, wall = time.process_time(), time.perf_counter()
    result = train_contrastive(model, images, captions, bundle.tokenizer,
                               bundle.preprocess_train, config, checkpoint_dir=cache_dir)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return {"variant": variant, "pixel_cache": pixel_cache, "steps": args.steps,
            "cpu_s_per_step_all": round(cpu / args.steps, 4),
            "wall_s_per_step_loop": round(result.elapsed_s / args.steps, 4),
            "wall_s_total": round(wall, 2), "text_cache_s": round(result.text_cache_s, 2),
            "last_loss": round(result.losses[-1], 4)}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--pairs", type=int, default=2048)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/bench-train-step"))
    add_results_dir(parser)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    images, captions = synthetic_world(args.pairs, size=28)
    rows = []
    folder = args.workdir / "cache"
    folder.mkdir(parents=True, exist_ok=True)
    warm = argparse.Namespace(**{**vars(args), "steps": 1})
    run("gated-image", True, images, captions, warm, folder)  # fills the text-feature cache
    for variant in ("gated-image", "locked-text"):
        for pixel_cache in (False, True):
            rows.append(run(variant, pixel_cache, images, captions, args, folder))
            print(json.dumps(rows[-1]))
    figures = {"pairs": args.pairs, "batch_size": args.batch_size, "threads": args.threads,
               "rows": rows}
    print(f"wrote {write_result('train_step', figures, directory=args.results_dir)}")
    return figures


if __name__ == "__main__":
    main()
