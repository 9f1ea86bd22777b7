"""Each demo stage's wall time beside its compute bound, measured in the same run.

The bound of a stage is its FLOPs divided by this machine's measured matmul rate (fp32 and
bf16, square 1024 matmuls on all cores): the time the stage would take if every FLOP ran at
matmul speed. FLOPs per sample are counted on the demo's mini-CLIP with torch's FlopCounterMode
(image forward, a training step of each variant with backward, a caption at its real token
length); the stage's workload (steps, pairs, captions) comes from ``--workload`` (JSON) or the
defaults below, which are the demo's settings. Stage seconds come from ``--timing``, the
``reports/demo_timing.json`` a demo run writes (default: ``var``'s). Stages with no matmul work
(world, corpus, index, leaderboard) are listed without a bound.

Usage: python -m bench.speed.stages [--timing REACT_HOME/reports/demo_timing.json]
       [--workload work.json] [--threads N]
Prints a table and writes bench/results/stages.json.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path

import torch

from bench.common.flops import count_flops, matmul_rate
from bench.common.results import add_results_dir, write_result
from react_assets.customize.gated import CustomizationConfig, customize_model
from react_assets.customize.optim import clip_loss
from react_assets.models.factory import BaseModelConfig, create_base_model
from react_assets.models.mini_clip import MINI_CLIP_ARCH
from react_assets.models.text import trim_padding

LOG = logging.getLogger(__name__)
# The demo's workload (counted on a demo world built with this code): base pre-training 480 steps
# of 128 over 7,773 general pairs (7,342 distinct captions, encoded once and kept with the base);
# 18,670 corpus pairs embedded (8,539 distinct captions, of which the 1,197 not already encoded
# for the pre-training); three domains x (gated-image, locked-text), the demo recipe's budget of
# 500 steps of 64 (digits, 2,331 pairs with its general sample: 12 epochs of 36 steps = 432),
# their captions' text features read from the embedding stage; and ~12k evaluation images per
# domain.
# A caption costs its batch's token length: 21 on average once batches go shortest first.
DEMO_WORKLOAD = {
    "base": {"batch_size": 128, "train_steps": {"locked-text": 480}, "text_captions": 7342},
    "embed": {"image_forward": 18670, "text_captions": 8539 - 7342},
    "domains": {"batch_size": 64, "train_steps": {"gated-image": 1432, "locked-text": 1432},
                "image_forward": 3 * 3 * 4000},
    "text_tokens": 21,  # tokens a caption batch runs at: demo corpus, shortest first (32 padded)
}
CAPTION = "a photo of a small striped shoe, a type of clothing, seen from the side on a plain "\
          "white background in a shop"  # longer than any batch length asked for


def per_sample_flops(text_tokens: int, batch: int = 16) -> dict[str, float]:
    """FLOPs per sample of the mini-CLIP: image forward, a train step per variant, a caption of
    ``text_tokens`` tokens."""
    bundle = create_base_model(BaseModelConfig(arch=MINI_CLIP_ARCH))
    pixels = torch.randn(batch, 3, 32, 32)
    text_f = torch.nn.functional.normalize(torch.randn(batch, 384), dim=-1)
    out = {}
    with torch.no_grad():
        out["image_forward"] = count_flops(lambda: bundle.model.encode_image(pixels)) / batch
        tokens = trim_padding(bundle.model, bundle.tokenizer([CAPTION] * batch))[:, :text_tokens]
        out["text_caption"] = count_flops(lambda: bundle.model.encode_text(tokens)) / batch
    for variant in ("gated-image", "locked-text"):
        model = customize_model(create_base_model(BaseModelConfig(arch=MINI_CLIP_ARCH)).model,
                                CustomizationConfig(variant=variant, num_gated_blocks=2))

        def step(model=model) -> None:
            loss = clip_loss(model.encode_image(pixels, normalize=True), text_f,
                             model.logit_scale.exp())
            loss.backward()

        out[f"train_{variant}"] = count_flops(step) / batch
    return out


def stage_flops(work: dict, unit: dict[str, float]) -> dict[str, float]:
    """FLOPs of each stage with matmul work (a stage's train steps at its own batch size)."""
    flops = {}
    for stage in ("base", "embed", "domains"):
        spec = work.get(stage, {})
        total = sum(steps * spec["batch_size"] * unit[f"train_{variant}"]
                    for variant, steps in spec.get("train_steps", {}).items())
        total += spec.get("text_captions", 0) * unit["text_caption"]
        total += spec.get("image_forward", 0) * unit["image_forward"]
        flops[stage] = total
    return flops


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timing", type=Path, default=Path("var/reports/demo_timing.json"))
    parser.add_argument("--workload", type=Path, default=None)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--seconds", type=float, default=1.0, help="per matmul-rate probe")
    add_results_dir(parser)
    args = parser.parse_args(argv)
    if not args.timing.is_file():
        parser.error(f"--timing {args.timing} not found: run ./scripts/demo.sh first")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    torch.set_num_threads(args.threads)
    timing = json.loads(args.timing.read_text())["stages"]
    work = json.loads(args.workload.read_text()) if args.workload else DEMO_WORKLOAD
    rates = {name: matmul_rate(dtype, seconds=args.seconds)
             for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16))}
    unit = per_sample_flops(work.get("text_tokens", 32))
    flops = stage_flops(work, unit)
    rows = []
    for stage, seconds in timing.items():
        row = {"stage": stage, "seconds": seconds, "gflop": None}
        if flops.get(stage):
            row["gflop"] = round(flops[stage] / 1e9, 1)
            for name, rate in rates.items():
                bound = flops[stage] / (rate["gflops_wall"] * 1e9)
                row[f"bound_{name}_s"] = round(bound, 1)
                row[f"fraction_of_{name}_bound"] = round(bound / seconds, 3) if seconds else None
                # all cores at the rate one CPU second gives: the bound on an idle machine
                idle = flops[stage] / (rate["gflops_per_cpu_s"] * args.threads * 1e9)
                row[f"bound_{name}_idle_s"] = round(idle, 1)
        rows.append(row)
    report = {"timing_source": str(args.timing), "threads": args.threads, "matmul_rates": rates,
              "flops_per_sample": {k: round(v) for k, v in unit.items()}, "workload": work,
              "stages": rows}
    print(f"{'stage':<12} {'seconds':>8} {'GFLOP':>8} {'fp32 bound s':>13} {'(idle)':>8} "
          f"{'bf16 bound s':>13} {'(idle)':>9}")
    for row in rows:
        print(f"{row['stage']:<12} {row['seconds']:>8} {row['gflop'] or '-':>8} "
              f"{row.get('bound_fp32_s', '-'):>13} {row.get('bound_fp32_idle_s', '-'):>8} "
              f"{row.get('bound_bf16_s', '-'):>13} {row.get('bound_bf16_idle_s', '-'):>9}")
    print(f"matmul GFLOP/s: fp32 {rates['fp32']['gflops_wall']}, bf16 {rates['bf16']['gflops_wall']}")
    print(f"wrote {write_result('stages', report, directory=args.results_dir)}")
    return report


if __name__ == "__main__":
    main()
