"""Training throughput of the demo mini-CLIP: gated-image vs locked-text vs full, text cache on/off.

Usage: python -m bench.speed.training [--steps 12] [--batch-size 64] [--threads 2]
Prints a table and writes bench/results/training.json.
"""

from __future__ import annotations

import argparse
import io
import json
import time

import numpy as np
import torch
from PIL import Image

from bench.common.results import add_results_dir, write_result
from react_assets.customize.gated import CustomizationConfig, customize_model
from react_assets.customize.train import TrainConfig, train_contrastive
from react_assets.models.factory import BaseModelConfig, create_base_model
from react_assets.models.mini_clip import MINI_CLIP_ARCH

WORDS = ["red", "blue", "green", "round", "square", "tiny", "large", "striped", "dotted", "shiny"]
OBJECTS = ["cat", "car", "tree", "house", "flower", "shoe", "digit", "emoji", "star", "cup"]
CASES = [  # (variant, cache_text_features)
    ("gated-image", True),
    ("gated-image", False),
    ("locked-text", True),
    ("locked-text", False),
    ("full", False),  # the text tower trains: features cannot be cached
]


def synthetic_world(n: int, size: int = 64, seed: int = 0) -> tuple[list[bytes], list[str]]:
    """``n`` random 64 px PNGs (blobs on noise) and word-salad captions."""
    rng = np.random.default_rng(seed)
    images, captions = [], []
    for _ in range(n):
        pixels = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
        x, y = rng.integers(0, size // 2, 2)
        pixels[y : y + size // 2, x : x + size // 2] = rng.integers(0, 255, 3)
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="PNG")
        images.append(buffer.getvalue())
        words = rng.choice(WORDS, 2, replace=False)
        captions.append(f"a photo of a {words[0]} {words[1]} {rng.choice(OBJECTS)}")
    return images, captions


def run_case(variant: str, cache: bool, images, captions, args) -> dict:
    bundle = create_base_model(BaseModelConfig(arch=MINI_CLIP_ARCH))
    model = customize_model(
        bundle.model, CustomizationConfig(variant=variant, num_gated_blocks=args.gated_blocks)
    )
    config = TrainConfig(
        epochs=1000,
        batch_size=args.batch_size,
        max_steps=args.steps,
        warmup_steps=1,
        num_workers=args.num_workers,
        cache_text_features=cache,
        log_every=10**9,
        checkpoint_every=10**9,
        seed=0,
    )
    result = train_contrastive(
        model, images, captions, bundle.tokenizer, bundle.preprocess_train, config
    )
    return {
        "variant": variant,
        "cached_text_features": cache,
        "trainable_params": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "samples_per_s": round(result.samples_per_s, 2),
        "train_s": round(result.elapsed_s, 2),
        "text_cache_s": round(result.text_cache_s, 2),
        "first_loss": round(result.losses[0], 4),
        "last_loss": round(result.losses[-1], 4),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--num-workers", type=int, default=0)
    parser.add_argument("--gated-blocks", type=int, default=3)
    add_results_dir(parser)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    images, captions = synthetic_world(args.batch_size * args.steps)
    rows = []
    for variant, cache in CASES:
        started = time.perf_counter()
        rows.append(run_case(variant, cache, images, captions, args))
        rows[-1]["wall_s"] = round(time.perf_counter() - started, 2)
        print(json.dumps(rows[-1]), flush=True)
    report = {
        "benchmark": "training throughput, demo mini-CLIP (64 px ViT 6x256 + frozen MiniLM-L6)",
        "steps": args.steps,
        "batch_size": args.batch_size,
        "threads": args.threads,
        "num_workers": args.num_workers,
        "gated_blocks": args.gated_blocks,
        "device": "cuda" if torch.cuda.is_available() else "cpu",
        "torch": torch.__version__,
        "results": rows,
    }
    out = write_result("training", report, directory=args.results_dir)
    print(f"{'variant':<12} {'cached':<7} {'trainable':>10} {'samples/s':>10}")
    for row in rows:
        print(
            f"{row['variant']:<12} {row['cached_text_features']!s:<7} "
            f"{row['trainable_params']:>10,} {row['samples_per_s']:>10.1f}"
        )
    print(f"wrote {out}")
    return report


if __name__ == "__main__":
    main()
