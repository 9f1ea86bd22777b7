"""What the official recipe's augmentation does to the demo's small images (no timing).

Draws the official (timm) train transform and open_clip's light crop on real demo-like images
(Fashion-MNIST at the demo's 64 px, scikit-learn digits at 32 px; the demo model sees 32 px) and
measures: the share of the image area a random resized crop keeps, the share of the object's ink
it keeps, the crop's side in source pixels, how often random erasing fires and how far RandAugment
moves pixels.

Usage: python -m bench.experiments.official_augmentation [--images 8] [--draws 200]
Prints a table and writes bench/results/official_augmentation.json.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from PIL import Image
from timm.data.transforms import RandomResizedCropAndInterpolation

from bench.common.results import add_results_dir, write_result
from react_assets.customize.data import official_train_transform
from react_assets.demo.config import DemoSourcePaths
from react_assets.demo.sources_labelled import load_digits_arrays, load_fashion

CFG = {"size": (32, 32), "mean": (0.48145466, 0.4578275, 0.40821073),
       "std": (0.26862954, 0.26130258, 0.27577711)}


def demo_images(n: int) -> dict[str, list[Image.Image]]:
    """A few Fashion-MNIST (64 px) and digits (32 px) images, upscaled as the demo does."""
    fashion, _ = load_fashion(DemoSourcePaths().fashion_dir, "test")
    digits, _ = load_digits_arrays()
    def up(pixels, side):
        return Image.fromarray(pixels, mode="L").resize((side, side), Image.Resampling.BICUBIC)
    return {"fashion-64px": [up(fashion[i], 64).convert("RGB") for i in range(n)],
            "digits-32px": [up(digits[i], 32).convert("RGB") for i in range(n)]}


def ink(image: Image.Image, background: str) -> np.ndarray:
    gray = np.asarray(image.convert("L"), dtype=np.float32)
    return gray > 40 if background == "dark" else gray < 200


def crop_stats(images: list[Image.Image], scale: tuple[float, float], draws: int,
               background: str) -> dict[str, float]:
    rrc = RandomResizedCropAndInterpolation(32, scale=scale)
    areas, kept_ink, sides = [], [], []
    torch.manual_seed(0)
    for image in images:
        mask = ink(image, background)
        for _ in range(draws):
            top, left, h, w = rrc.get_params(image, rrc.scale, rrc.ratio)
            areas.append(h * w / (image.width * image.height))
            kept_ink.append(mask[top:top + h, left:left + w].sum() / max(1, mask.sum()))
            sides.append(np.sqrt(h * w))
    areas, kept_ink = np.array(areas), np.array(kept_ink)
    return {"mean_area_kept": float(areas.mean()), "median_area_kept": float(np.median(areas)),
            "p_area_below_25pct": float((areas < 0.25).mean()),
            "mean_object_kept": float(kept_ink.mean()),
            "p_object_below_50pct": float((kept_ink < 0.5).mean()),
            "median_crop_side_px": float(np.median(sides)), "min_crop_side_px": float(min(sides))}


def transform_stats(images: list[Image.Image], draws: int) -> dict[str, float]:
    """RandAugment's pixel change on the 32 px input and random erasing's rate and area."""
    steps = official_train_transform(CFG).transforms
    rand_augment, erase = steps[2], steps[-1]
    changes, erased, erased_area = [], 0, []
    torch.manual_seed(0)
    for image in images:
        small = image.resize((32, 32), Image.Resampling.BICUBIC)
        before = np.asarray(small, dtype=np.float32) / 255
        for _ in range(draws):
            after = np.asarray(rand_augment(small), dtype=np.float32) / 255
            changes.append(float(np.abs(after - before).mean()))
            tensor = torch.zeros(3, 32, 32)
            out = erase(tensor.clone())
            if not torch.equal(out, tensor):
                erased += 1
                erased_area.append(float((out != 0).any(0).float().mean()))
    changes = np.array(changes)
    return {"randaug_mean_abs_change": float(changes.mean()),
            "randaug_p_change_above_0.25": float((changes > 0.25).mean()),
            "erasing_rate": erased / len(changes),
            "erased_area_mean": float(np.mean(erased_area)) if erased_area else 0.0}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--draws", type=int, default=200)
    add_results_dir(parser)
    args = parser.parse_args(argv)
    results = {}
    for name, images in demo_images(args.images).items():
        background = "dark" if name.startswith("fashion") else "light"
        results[name] = {
            "official_crop_0.08-1": crop_stats(images, (0.08, 1.0), args.draws, background),
            "open_clip_crop_0.9-1": crop_stats(images, (0.9, 1.0), args.draws, background),
            "official_transform": transform_stats(images, args.draws // 4),
        }
        for label, stats in results[name].items():
            print(f"{name:13s} {label:22s} " + "  ".join(  # noqa: T201
                f"{k}={v:.3f}" for k, v in stats.items()))
    figures = {"images_per_set": args.images, "draws": args.draws, **results}
    print(f"wrote {write_result('official_augmentation', figures, directory=args.results_dir)}")
    return figures


if __name__ == "__main__":
    main()
