"""Training images decoded once: a uint8 pixel cache plus the train augmentation on tensors.

Decoding a PNG and running PIL's bicubic RandomResizedCrop costs a small model's CPU training
as much as a good part of its step, every epoch, in DataLoader workers that compete with the
model's threads for the same cores (``python -m bench.speed.train_step`` measures both). Here
each image of a retrieval set is decoded and resized once to a square of the model's input size
plus the crop margin (``ceil(size / sqrt(min_scale))``), kept as a uint8 array (memory-mapped
from ``cache_dir`` when given), and each batch is cropped, resized and normalised on tensors in
one ``grid_sample`` call.

The crop of a sample is drawn from its own seed (the batch plan's), as torchvision's
``RandomResizedCrop.get_params`` draws it (area fraction in ``scale``, log-uniform aspect ratio in
``ratio``, ten tries then a centre crop), in coordinates relative to the whole image; so a run
resumed from a checkpoint sees the same pixels as an uninterrupted one.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torchvision import transforms as T
from tqdm.auto import tqdm

from react_assets.customize.distributed import is_main_process
from react_assets.files.atomic import save_npy
from react_assets.files.images import decode_rgb

logger = logging.getLogger(__name__)
_PASS_THROUGH = ("MaybeConvertMode", "MaybeToTensor", "ToTensor", "ConvertImageDtype")


@dataclass(frozen=True)
class TensorAugment:
    """The train transform as tensor ops: RandomResizedCrop(size, scale, ratio) + Normalize."""

    size: int
    scale: tuple[float, float]
    ratio: tuple[float, float]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    @property
    def cache_size(self) -> int:
        """Side of the cached square: the input size plus the margin the largest crop needs."""
        return math.ceil(self.size / math.sqrt(self.scale[0]))

    @classmethod
    def from_transform(cls, transform: Callable) -> TensorAugment | None:
        """The tensor form of an open_clip train transform, or None when it is another kind
        (then the PIL path runs it as it is)."""
        steps = list(getattr(transform, "transforms", []))
        crops = [t for t in steps if isinstance(t, T.RandomResizedCrop)]
        norms = [t for t in steps if isinstance(t, T.Normalize)]
        known = all(isinstance(t, (T.RandomResizedCrop, T.Normalize))
                    or type(t).__name__ in _PASS_THROUGH for t in steps)
        if not (known and len(crops) == 1 and len(norms) == 1 and steps[0] is crops[0]
                and steps[-1] is norms[0]):
            return None
        crop, norm = crops[0], norms[0]
        height, width = crop.size
        if height != width:
            return None
        return cls(int(height), tuple(map(float, crop.scale)), tuple(map(float, crop.ratio)),
                   tuple(map(float, norm.mean)), tuple(map(float, norm.std)))

    def crop_box(self, seed: int) -> tuple[float, float, float, float]:
        """(x0, y0, w, h) of a sample's crop, as fractions of the image side."""
        rng = np.random.default_rng(seed)
        log_ratio = (math.log(self.ratio[0]), math.log(self.ratio[1]))
        for _ in range(10):
            area = rng.uniform(*self.scale)
            aspect = math.exp(rng.uniform(*log_ratio))
            w, h = math.sqrt(area * aspect), math.sqrt(area / aspect)
            if w <= 1.0 and h <= 1.0:
                return rng.uniform(0.0, 1.0 - w), rng.uniform(0.0, 1.0 - h), w, h
        return 0.0, 0.0, 1.0, 1.0  # the square whole image: torchvision's fallback here

    def __call__(self, pixels: torch.Tensor, seeds: Sequence[int]) -> torch.Tensor:
        """Crop, resize and normalise uint8 pixels (B, S, S, 3) into floats (B, 3, size, size)."""
        boxes = torch.tensor([self.crop_box(int(s)) for s in seeds], dtype=torch.float32)
        x0, y0, w, h = boxes.unbind(1)
        theta = torch.zeros(len(seeds), 2, 3)
        theta[:, 0, 0], theta[:, 0, 2] = w, 2 * x0 + w - 1
        theta[:, 1, 1], theta[:, 1, 2] = h, 2 * y0 + h - 1
        images = pixels.permute(0, 3, 1, 2).float().div_(255.0)
        grid = F.affine_grid(theta, [len(seeds), 3, self.size, self.size], align_corners=False)
        out = F.grid_sample(images, grid, mode="bilinear", padding_mode="border",
                            align_corners=False)
        mean = torch.tensor(self.mean).view(1, 3, 1, 1)
        std = torch.tensor(self.std).view(1, 3, 1, 1)
        return out.sub_(mean).div_(std)


def decode_square(image: bytes, side: int, index: int) -> np.ndarray:
    """One image's bytes as a uint8 RGB square (side, side, 3): decoded by ``decode_rgb``,
    resized bicubic."""
    rgb = decode_rgb(image, f"training image {index}")
    return np.asarray(rgb.resize((side, side), Image.Resampling.BICUBIC), dtype=np.uint8)


def pixel_cache(images: Sequence[bytes], side: int, cache_dir: Path | None) -> np.ndarray:
    """All images decoded once to (N, side, side, 3) uint8; memory-mapped from ``cache_dir``
    (``pixels_<digest>.npy``, the digest of the images' bytes and the side) when given."""
    digest = hashlib.sha256(str(side).encode())
    for image in images:
        digest.update(hashlib.sha256(image).digest())
    path = Path(cache_dir) / f"pixels_{digest.hexdigest()[:16]}.npy" if cache_dir else None
    if path is not None and path.is_file():
        cached = np.load(path, mmap_mode="r", allow_pickle=False)
        if cached.shape == (len(images), side, side, 3):
            return cached
        logger.warning("ignoring pixel cache %s of shape %s", path, cached.shape)
    array = np.empty((len(images), side, side, 3), dtype=np.uint8)
    for i, image in enumerate(tqdm(images, desc="decode once", unit="img",
                                   disable=len(images) < 1000)):
        array[i] = decode_square(image, side, i)
    if path is None or not is_main_process():  # over N processes, rank 0 writes it
        return array
    save_npy(path, array)
    return np.load(path, mmap_mode="r", allow_pickle=False)


def cached_batches(pixels: np.ndarray, augment: TensorAugment,
                   plan: Iterator[list[tuple[int, int]]]) -> Iterator[tuple[torch.Tensor,
                                                                             torch.Tensor]]:
    """(pixels (B, 3, size, size), rows (B,)) for each batch of the plan, as a DataLoader would."""
    for batch in plan:
        rows = np.fromiter((i for i, _ in batch), dtype=np.int64, count=len(batch))
        seeds = [s for _, s in batch]
        yield augment(torch.from_numpy(np.ascontiguousarray(pixels[rows])), seeds), \
            torch.from_numpy(rows)
