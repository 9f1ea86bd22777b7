"""GPU (or CPU) throughput against the chip's bf16 peak: corpus embedding and a training step.

- embedding: ViT-B-32 at 224 px with random weights, images/s of ``encode_image`` (inference,
  bf16 autocast where ``bf16_enabled("auto")`` says so), on random pixels: the model's rate,
  decoding excluded;
- training: the gated-image customization (2 gated blocks, locked text with cached features,
  AdamW), samples/s of whole optimizer steps.

Each rate is also given as achieved TFLOP/s (FLOPs counted with torch's FlopCounterMode, backward
included) and as a fraction of the chip's dense bf16 peak: from ``PEAK_BF16_TFLOPS`` by device
name, ``--peak-tflops``, or on a CPU the bf16 matmul rate measured in the same run. The same
script runs on CPU in the tests with a tiny model (``--arch react-tiny --batch 4``).

Usage: python -m bench.speed.gpu [--arch ViT-B-32] [--batch 256] [--steps 20]
       [--peak-tflops X]
Writes bench/results/gpu.json.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from bench.common.flops import count_flops, matmul_rate
from bench.common.results import add_results_dir, write_result
from react_assets.customize.gated import CustomizationConfig, customize_model
from react_assets.customize.optim import build_optimizer, clip_loss
from react_assets.models.factory import BaseModelConfig, create_base_model
from react_assets.models.hardware import bf16_enabled

# Dense bf16 tensor-core peaks (TFLOP/s, no sparsity) of common chips, by device-name substring.
PEAK_BF16_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "L4": 121.0,
                    "A10": 125.0, "V100": 125.0, "T4": 65.0}


def peak_tflops(device: torch.device, override: float | None) -> tuple[float, str]:
    """The bf16 peak to compare against, and where it comes from."""
    if override:
        return override, "--peak-tflops"
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        for key, value in PEAK_BF16_TFLOPS.items():
            if key in name:
                return value, f"table ({key})"
        raise SystemExit(f"no bf16 peak known for {name!r}: pass --peak-tflops")
    rate = matmul_rate(torch.bfloat16, device, seconds=0.5)
    return rate["gflops_wall"] / 1e3, "measured bf16 matmul"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed_rate(fn, device: torch.device, items: int, steps: int, warmup: int = 2) -> float:
    """Items per second of ``fn`` over ``steps`` calls after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    _sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        fn()
    _sync(device)
    return items * steps / (time.perf_counter() - start)


def embedding(arch: str, batch: int, steps: int, device: torch.device, amp: bool) -> dict:
    """images/s and FLOPs per image of ``encode_image`` at the model's input size."""
    bundle = create_base_model(BaseModelConfig(arch=arch, device=str(device)))
    size = bundle.model.visual.image_size
    size = size[0] if isinstance(size, (tuple, list)) else size
    pixels = torch.randn(batch, 3, size, size, device=device)

    @torch.inference_mode()
    def run() -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            bundle.model.encode_image(pixels)

    flops = count_flops(run) / batch
    rate = timed_rate(run, device, batch, steps)
    return {"images_per_s": round(rate, 1), "flops_per_image": flops, "image_size": size,
            "achieved_tflops": round(rate * flops / 1e12, 4)}


def training(arch: str, batch: int, steps: int, device: torch.device, amp: bool) -> dict:
    """samples/s and FLOPs per sample of gated-image optimizer steps on cached text features."""
    bundle = create_base_model(BaseModelConfig(arch=arch, device=str(device)))
    model = customize_model(bundle.model, CustomizationConfig("gated-image", 2)).to(device)
    model.train()
    optimizer = build_optimizer(model, lr=1e-4, betas=(0.9, 0.98), eps=1e-6, weight_decay=0.1)
    size = model.visual.image_size
    size = size[0] if isinstance(size, (tuple, list)) else size
    pixels = torch.randn(batch, 3, size, size, device=device)
    text_f = torch.nn.functional.normalize(torch.randn(batch, bundle.embed_dim, device=device), dim=-1)

    def step() -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            image_f = model.encode_image(pixels, normalize=True)
        loss = clip_loss(image_f.float(), text_f, model.logit_scale.exp().float())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    flops = count_flops(step) / batch
    rate = timed_rate(step, device, batch, steps)
    return {"samples_per_s": round(rate, 1), "flops_per_sample": flops,
            "achieved_tflops": round(rate * flops / 1e12, 4)}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="ViT-B-32")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--train-batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--bf16", default="auto", choices=("auto", "on", "off"))
    parser.add_argument("--peak-tflops", type=float, default=None)
    add_results_dir(parser)
    args = parser.parse_args(argv)
    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu")
                          if args.device == "auto" else args.device)
    amp = bf16_enabled(args.bf16, device)
    peak, source = peak_tflops(device, args.peak_tflops)
    report = {"arch": args.arch, "device": str(device), "bf16": amp, "peak_bf16_tflops": peak,
              "peak_source": source,
              "embedding": embedding(args.arch, args.batch, args.steps, device, amp),
              "training_gated_image": training(args.arch, args.train_batch, args.steps, device,
                                               amp)}
    for part in ("embedding", "training_gated_image"):
        report[part]["fraction_of_peak"] = round(report[part]["achieved_tflops"] / peak, 4)
    print(json.dumps(report, indent=2))
    print(f"wrote {write_result('gpu', report, directory=args.results_dir)}")
    return report


if __name__ == "__main__":
    main()
