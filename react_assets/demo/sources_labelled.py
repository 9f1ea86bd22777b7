"""Labelled sources: Fashion-MNIST (Debian idx files) and scikit-learn's bundled digits.

Both are small grayscale images, upscaled to RGB, captioned alt-text style from their label by
:mod:`react_assets.demo.captions` (with noise).
"""

from __future__ import annotations

import gzip
import logging
import random
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from react_assets.demo.captions import (
    DIGIT_CLASSES,
    DIGITS,
    FASHION,
    FASHION_CLASSES,
    CaptionVocabulary,
    make_caption,
)
from react_assets.demo.samples import Sample, encode_png, stratified_take

log = logging.getLogger(__name__)
FASHION_SOURCE = "fashion-mnist"
DIGITS_SOURCE = "sklearn-digits"
IDX_IMAGES_MAGIC = 2051
IDX_LABELS_MAGIC = 2049


def read_idx(path: Path) -> np.ndarray:
    """Read a gzip'd idx file (the MNIST format): uint8 images (N, H, W) or labels (N,)."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: idx file missing (install dataset-fashion-mnist)")
    with gzip.open(path, "rb") as handle:
        data = handle.read()
    if len(data) < 8:
        raise ValueError(f"{path}: {len(data)} bytes is too short for an idx header")
    magic, count = np.frombuffer(data[:8], dtype=">u4")
    if magic == IDX_LABELS_MAGIC:
        shape, offset = (int(count),), 8
    elif magic == IDX_IMAGES_MAGIC and len(data) >= 16:
        rows, cols = np.frombuffer(data[8:16], dtype=">u4")
        shape, offset = (int(count), int(rows), int(cols)), 16
    else:
        raise ValueError(f"{path}: magic number {magic} is not an idx image/label file")
    expected = offset + int(np.prod(shape))
    if len(data) != expected:
        raise ValueError(f"{path}: {len(data)} bytes, header {shape} needs {expected}")
    return np.frombuffer(data, dtype=np.uint8, offset=offset).reshape(shape)


def load_fashion(fashion_dir: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Fashion-MNIST ``train`` or ``test``: images (N, 28, 28) uint8 and labels (N,)."""
    prefix = {"train": "train", "test": "t10k"}[split]
    images = read_idx(fashion_dir / f"{prefix}-images-idx3-ubyte.gz")
    labels = read_idx(fashion_dir / f"{prefix}-labels-idx1-ubyte.gz")
    if len(images) != len(labels) or labels.max(initial=0) >= len(FASHION_CLASSES):
        raise ValueError(f"{fashion_dir}: {split} has {len(images)} images, {len(labels)} labels "
                         f"(max label {labels.max(initial=0)})")
    return images, labels


def load_digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's bundled 8x8 digits (values 0..16, ink high) as uint8 0..255, dark on white."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = 255 - np.round(bunch.images * (255.0 / 16.0)).astype(np.uint8)
    return images, bunch.target.astype(np.int64)


def gray_to_sample(
    pixels: np.ndarray, side: int, *, source: str, origin: str, label: str, domain: str,
    caption_vocab: CaptionVocabulary, noise: float, rng: random.Random,
) -> Sample:
    """Upscale one grayscale array to a ``side`` px RGB PNG and caption it from its label."""
    image = Image.fromarray(pixels, mode="L").resize((side, side), Image.Resampling.BICUBIC)
    caption = make_caption(label, caption_vocab, noise, rng)
    return Sample(
        source=source, origin=origin, png=encode_png(image.convert("RGB")), caption=caption.text,
        width=side, height=side, label=label, domain=domain,
        extra={"caption_noise": caption.noise},
    )


def fashion_samples(
    images: np.ndarray, labels: np.ndarray, split: str, indices: list[int], *, side: int,
    noise: float, seed: int,
) -> list[Sample]:
    """Samples for the given row ``indices`` of a Fashion-MNIST split (from
    :func:`load_fashion`), in that order."""
    rng = random.Random(f"{seed}:fashion-captions:{split}")
    return [
        gray_to_sample(images[i], side, source=FASHION_SOURCE,
                       origin=f"{FASHION_SOURCE}:{split}/{i}",
                       label=FASHION_CLASSES[labels[i]], domain="fashion", caption_vocab=FASHION,
                       noise=noise, rng=rng)
        for i in tqdm(indices, desc=f"fashion-mnist {split}", unit="img", leave=False)
    ]


def digit_samples(*, side: int, noise: float, seed: int, limit: int | None = None) -> list[Sample]:
    """The 1,797 sklearn digits (or ``limit`` of them, spread over classes) in dataset order."""
    images, labels = load_digits_arrays()
    rows = stratified_take(list(range(len(images))), lambda i: int(labels[i]), limit,
                           random.Random(f"{seed}:digits-limit"))
    rng = random.Random(f"{seed}:digit-captions")
    samples = [
        gray_to_sample(images[i], side, source=DIGITS_SOURCE, origin=f"{DIGITS_SOURCE}:{i}",
                       label=DIGIT_CLASSES[labels[i]], domain="digits", caption_vocab=DIGITS,
                       noise=noise, rng=rng)
        for i in tqdm(rows, desc="digits", unit="img", leave=False)
    ]
    log.info("digits: %d samples", len(samples))
    return samples
