"""What feeds the training loop: decoded, seeded images, the batch plan and cached text features."""

from __future__ import annotations

import hashlib
import logging
import random
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn
from torch.utils.data import Dataset, Sampler

from react_assets.customize.distributed import is_main_process
from react_assets.files.atomic import save_npy
from react_assets.files.images import decode_rgb
from react_assets.models.caption_features import MIN_PROBE_COSINE
from react_assets.models.text import encode_texts

logger = logging.getLogger(__name__)


class ImageDataset(Dataset):
    """Decodes image bytes into RGB (``decode_rgb``) and applies the train transform under a
    per-sample seed."""

    def __init__(self, images: Sequence[bytes], preprocess: Callable) -> None:
        self.images = images
        self.preprocess = preprocess

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, item: tuple[int, int]) -> tuple[torch.Tensor, int]:
        index, sample_seed = item
        image = decode_rgb(self.images[index], f"training image {index}")
        # torchvision draws from torch's RNG, timm's augmentations from Python's and numpy's
        # global ones: all three are seeded per sample, and restored after.
        py_state, np_state = random.getstate(), np.random.get_state()
        try:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(sample_seed)
                random.seed(sample_seed)
                np.random.seed(sample_seed)
                return self.preprocess(image), index
        finally:
            random.setstate(py_state)
            np.random.set_state(np_state)


class BatchPlan(Sampler):
    """Yields the batches of steps ``start_step .. total_steps - 1`` as lists of (index, seed)."""

    def __init__(
        self, n: int, batch_size: int, seed: int, start_step: int, total_steps: int
    ) -> None:
        self.n, self.batch_size, self.seed = n, min(batch_size, n), seed
        self.start_step, self.total_steps = start_step, total_steps
        self.steps_per_epoch = max(1, n // self.batch_size)

    def __len__(self) -> int:
        return self.total_steps - self.start_step

    def __iter__(self):
        step = self.start_step
        while step < self.total_steps:
            epoch, first = divmod(step, self.steps_per_epoch)
            rng = np.random.default_rng([self.seed, epoch])
            order = rng.permutation(self.n)
            sample_seeds = rng.integers(0, 2**31 - 1, size=self.n)
            for b in range(first, self.steps_per_epoch):
                if step >= self.total_steps:
                    return
                rows = order[b * self.batch_size : (b + 1) * self.batch_size]
                yield [(int(i), int(sample_seeds[i])) for i in rows]
                step += 1


class TextFeatureBank:
    """L2-normalised features of each distinct caption, computed once, no grad (locked text).

    ``precomputed`` (N, D), aligned with ``captions``: features made earlier by the same text
    tower (the embedding stage's, float16), used instead of encoding the captions again. A probe
    encodes a few captions to prove that a cache or ``precomputed`` came from this text tower;
    when it did not, the captions are encoded.
    """

    def __init__(
        self,
        model: nn.Module,
        tokenizer: Callable,
        captions: Sequence[str],
        batch_size: int,
        device: torch.device,
        cache_dir: Path | None,
        precomputed: np.ndarray | None = None,
    ) -> None:
        distinct = list(dict.fromkeys(captions))
        position = {caption: i for i, caption in enumerate(distinct)}
        self.rows = torch.tensor([position[c] for c in captions], dtype=torch.long)
        probe = encode_texts(model, tokenizer, distinct[:4], batch_size, device)
        if precomputed is not None:
            table = _distinct_rows(np.asarray(precomputed, dtype=np.float32), self.rows,
                                   len(distinct))
            if torch.nn.functional.cosine_similarity(table[:4], probe).min() >= MIN_PROBE_COSINE:
                self.table = table
                return
            logger.warning("the precomputed text features do not match this text tower; "
                           "encoding the %d captions instead", len(distinct))
        digest = hashlib.sha256("\x00".join(distinct).encode("utf-8")).hexdigest()
        path = Path(cache_dir) / f"text_features_{digest[:16]}.npy" if cache_dir else None
        if path is not None and path.is_file():
            cached = torch.from_numpy(np.load(path, allow_pickle=False))
            # The probe proves the cache was made by this text tower, not just for these captions.
            if cached.shape[0] == len(distinct) and torch.allclose(cached[:4], probe, atol=1e-4):
                self.table = cached
                return
            logger.warning("ignoring stale text-feature cache %s", path)
        self.table = encode_texts(model, tokenizer, distinct, batch_size, device)  # (U, D)
        if path is not None and is_main_process():  # over N processes, rank 0 writes it
            save_npy(path, self.table.numpy())

    def features(self, rows: torch.Tensor) -> torch.Tensor:
        """Features (B, D) of the captions at positions ``rows`` of the training set."""
        return self.table[self.rows[rows]]


def _distinct_rows(features: np.ndarray, rows: torch.Tensor, n_distinct: int) -> torch.Tensor:
    """One row of ``features`` per distinct caption (``rows``: each caption's position), as a
    float32 (U, D) table; a caption's rows are equal, so any of them serves."""
    if len(features) != len(rows):
        raise ValueError(f"{len(features)} precomputed text features for {len(rows)} captions")
    pick = np.zeros(n_distinct, dtype=np.int64)
    pick[rows.numpy()] = np.arange(len(rows))
    return torch.from_numpy(np.ascontiguousarray(features[pick]))


AUGMENTATIONS = ("open_clip", "official")


def official_train_transform(preprocess_cfg: dict) -> Callable:
    """The official REACT recipe's train augmentation, built by timm's own ``create_transform``.

    Random resized crop (scale 0.08-1, bicubic), horizontal flip 0.5, colour jitter 0.4,
    RandAugment ``rand-m9-mstd0.5-inc1``, random erasing 0.25 (per-pixel noise), normalised with
    the model's mean and std. timm itself leaves colour jitter out when RandAugment is on (its
    ``force_color_jitter`` is False), so, as in the official code, the jitter value is passed but
    no ColorJitter runs.
    """
    from timm.data import create_transform  # only the official recipe needs timm
    from timm.data.auto_augment import RandAugment

    transform = create_transform(
        input_size=tuple(preprocess_cfg["size"]), is_training=True, scale=(0.08, 1.0),
        hflip=0.5, color_jitter=0.4, auto_augment="rand-m9-mstd0.5-inc1", re_prob=0.25,
        re_mode="pixel", interpolation="bicubic", mean=tuple(preprocess_cfg["mean"]),
        std=tuple(preprocess_cfg["std"]),
    )
    for step in transform.transforms:
        if isinstance(step, RandAugment):
            step.ops = [_ZeroBitPosterize(op) if op.name == "PosterizeIncreasing" else op
                        for op in step.ops]
    return transform


class _ZeroBitPosterize:
    """timm's PosterizeIncreasing op, unchanged but for its magnitude-10 draws: they ask Pillow to
    keep 0 bits, which Pillow 13 rejects (ValueError) and older Pillow answered with a black
    image; this gives that black image, so the official augmentation never fails a batch."""

    def __init__(self, op: Callable) -> None:
        self.op = op

    def __getattr__(self, name: str):
        return getattr(self.op, name)

    def __call__(self, img: Image.Image) -> Image.Image:
        try:
            return self.op(img)
        except ValueError as err:
            if "bits must be" not in str(err):
                raise
            return Image.new(img.mode, img.size)


def train_transform(augmentation: str, model: nn.Module, open_clip_train: Callable) -> Callable:
    """The train transform of ``augmentation``: open_clip's own (``open_clip_train``, the base
    model's light crop) or the official recipe's timm pipeline for ``model``'s image size."""
    if augmentation == "open_clip":
        return open_clip_train
    if augmentation == "official":
        return official_train_transform(model.visual.preprocess_cfg)
    raise ValueError(f"augmentation {augmentation!r}: expected one of {AUGMENTATIONS}")
