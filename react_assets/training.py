"""Contrastive training of a (customized) CLIP on image-text pairs, resumable bit-for-bit.

Every random choice is a function of ``(seed, epoch, sample)``: the epoch's order and each
sample's augmentation seed come from ``numpy.random.default_rng([seed, epoch])``, and a sample's
augmentation runs under its own torch seed inside the DataLoader worker. A run killed and resumed
from its last checkpoint therefore ends with the same weights as an uninterrupted run.
"""

from __future__ import annotations

import hashlib
import io
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler
from tqdm.auto import tqdm

from react_assets.atomic import save_npy
from react_assets.models.gated import gate_values
from react_assets.optim import (
    build_optimizer,
    clip_loss,
    cosine_with_warmup,
    load_training_state,
    save_training_state,
    trainable_parameters,
)

logger = logging.getLogger(__name__)

CHECKPOINT_NAME = "last.pt"
# Fields that do not change the trajectory, so they may differ between a run and its resume.
_RUNTIME_FIELDS = ("log_every", "checkpoint_every", "num_workers", "text_batch_size", "device")


@dataclass(frozen=True)
class TrainConfig:
    """The REACT recipe (AdamW 0.9/0.98, eps 1e-6, wd 0.1, lr 5e-4, cosine with warmup)."""

    epochs: int = 32
    batch_size: int = 4096
    lr: float = 5e-4
    betas: tuple[float, float] = (0.9, 0.98)
    eps: float = 1e-6
    weight_decay: float = 0.1
    warmup_steps: int = 500
    max_steps: int | None = None  # stop early (benchmarks); the schedule still spans max_steps
    grad_clip_norm: float | None = None
    seed: int = 0
    log_every: int = 10
    checkpoint_every: int = 500
    num_workers: int = 2
    cache_text_features: bool = True  # only used when the text tower is locked
    text_batch_size: int = 256
    device: str = "auto"  # "auto" = cuda when available, else cpu

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "log_every", "checkpoint_every", "text_batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"TrainConfig.{name}={getattr(self, name)}: must be >= 1")
        if self.batch_size < 2:
            raise ValueError("TrainConfig.batch_size must be >= 2 for a contrastive loss")


@dataclass(frozen=True)
class TrainResult:
    """What a training call did; ``losses``/``lrs`` cover every step since step 0 (resumes too)."""

    losses: list[float]
    lrs: list[float]
    steps: int
    start_step: int
    samples_per_s: float
    elapsed_s: float
    text_cache_s: float
    gate_values: dict[str, float] = field(default_factory=dict)
    checkpoint_path: str | None = None


class _ImageDataset(Dataset):
    """Decodes image bytes and applies the train transform under a per-sample seed."""

    def __init__(self, images: Sequence[bytes], preprocess: Callable) -> None:
        self.images = images
        self.preprocess = preprocess

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, item: tuple[int, int]) -> tuple[torch.Tensor, int]:
        index, sample_seed = item
        try:
            with Image.open(io.BytesIO(self.images[index])) as img:
                image = img.convert("RGB")
        except (OSError, ValueError, Image.DecompressionBombError) as err:
            raise ValueError(f"training image {index}: cannot decode its bytes ({err})") from err
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(sample_seed)
            return self.preprocess(image), index


class _BatchPlan(Sampler):
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


class _TextFeatureBank:
    """L2-normalised features of each distinct caption, computed once, no grad (locked text)."""

    def __init__(
        self,
        model: nn.Module,
        tokenizer: Callable,
        captions: Sequence[str],
        batch_size: int,
        device: torch.device,
        cache_dir: Path | None,
    ) -> None:
        distinct = list(dict.fromkeys(captions))
        position = {caption: i for i, caption in enumerate(distinct)}
        self.rows = torch.tensor([position[c] for c in captions], dtype=torch.long)
        digest = hashlib.sha256("\x00".join(distinct).encode("utf-8")).hexdigest()
        path = Path(cache_dir) / f"text_features_{digest[:16]}.npy" if cache_dir else None
        probe = _encode(model, tokenizer, distinct[:4], batch_size, device)
        if path is not None and path.is_file():
            cached = torch.from_numpy(np.load(path, allow_pickle=False))
            # The probe proves the cache was made by this text tower, not just for these captions.
            if cached.shape[0] == len(distinct) and torch.allclose(cached[:4], probe, atol=1e-4):
                self.table = cached
                return
            logger.warning("ignoring stale text-feature cache %s", path)
        self.table = _encode(model, tokenizer, distinct, batch_size, device)  # (U, D)
        if path is not None:
            save_npy(path, self.table.numpy())

    def features(self, rows: torch.Tensor) -> torch.Tensor:
        """Features (B, D) of the captions at positions ``rows`` of the training set."""
        return self.table[self.rows[rows]]


@torch.no_grad()
def _encode(
    model: nn.Module, tokenizer: Callable, texts: list[str], batch_size: int, device: torch.device
) -> torch.Tensor:
    was_training = model.training
    model.eval()
    chunks = [
        model.encode_text(tokenizer(texts[i : i + batch_size]).to(device), normalize=True)
        .float()
        .cpu()
        for i in tqdm(
            range(0, len(texts), batch_size),
            desc="text features",
            unit="batch",
            disable=len(texts) <= batch_size,
        )
    ]
    model.train(was_training)
    return torch.cat(chunks)


def _text_parameters(model: nn.Module) -> list[nn.Parameter]:
    """Parameters outside the image tower and the logit scale/bias (chosen by identity)."""
    excluded = {id(p) for p in model.visual.parameters()}
    excluded |= {
        id(getattr(model, n))
        for n in ("logit_scale", "logit_bias")
        if isinstance(getattr(model, n, None), nn.Parameter)
    }
    return [p for p in model.parameters() if id(p) not in excluded]


def _set_train_mode(model: nn.Module) -> None:
    """Train mode for modules holding trainable weights; eval for frozen ones (no dropout)."""
    model.train()
    for module in model.modules():
        params = list(module.parameters())
        if params and not any(p.requires_grad for p in params):
            module.eval()


def _resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _trajectory_config(config: TrainConfig) -> dict:
    """The config fields that shape the run; a checkpoint resumes only under the same values."""
    values = asdict(config)
    for name in _RUNTIME_FIELDS:
        values.pop(name)
    values["betas"] = list(values["betas"])
    return values


def _step(
    model: nn.Module,
    pixels: torch.Tensor,
    text_f: torch.Tensor | None,
    tokens: torch.Tensor | None,
    text_grad: bool,
    use_amp: bool,
) -> torch.Tensor:
    """The loss of one batch: images (B, 3, H, W) against cached features or tokens (B, T)."""
    with torch.autocast(device_type=pixels.device.type, dtype=torch.bfloat16, enabled=use_amp):
        image_f = model.encode_image(pixels, normalize=True)  # (B, D)
        if text_f is None:
            with torch.set_grad_enabled(text_grad):
                text_f = model.encode_text(tokens, normalize=True)  # (B, D)
        return clip_loss(image_f.float(), text_f.float(), model.logit_scale.exp().float())


def train_contrastive(
    model: nn.Module,
    images: Sequence[bytes],
    captions: Sequence[str],
    tokenizer: Callable[..., torch.Tensor],
    preprocess_train: Callable,
    config: TrainConfig,
    checkpoint_dir: Path | None = None,
    on_log: Callable[[int, float, float], None] | None = None,
) -> TrainResult:
    """Train the parameters of ``model`` that require grad with the symmetric InfoNCE loss.

    Resumes from ``checkpoint_dir/last.pt`` when present; writes it every ``checkpoint_every``
    steps and at the end. ``on_log(step, loss, lr)`` is called every ``log_every`` steps.
    """
    if len(images) != len(captions):
        raise ValueError(f"{len(images)} images but {len(captions)} captions: they must align")
    if len(images) < 2:
        raise ValueError(f"contrastive training needs at least 2 pairs, got {len(images)}")
    device = _resolve_device(config.device)
    use_amp = device.type == "cuda"
    model.to(device)
    optimizer = build_optimizer(
        model, lr=config.lr, betas=config.betas, eps=config.eps, weight_decay=config.weight_decay
    )
    plan = _BatchPlan(len(images), config.batch_size, config.seed, 0, 0)
    total = config.epochs * plan.steps_per_epoch
    total = min(total, config.max_steps) if config.max_steps else total
    scheduler = cosine_with_warmup(optimizer, warmup_steps=config.warmup_steps, total_steps=total)
    ckpt = Path(checkpoint_dir) / CHECKPOINT_NAME if checkpoint_dir is not None else None
    start, history = 0, {"losses": [], "lrs": []}
    if ckpt is not None and ckpt.is_file():
        start, history = load_training_state(
            ckpt, model, optimizer, scheduler, _trajectory_config(config)
        )
    text_grad = any(p.requires_grad for p in _text_parameters(model))
    t_cache = time.perf_counter()
    bank = None
    if not text_grad and config.cache_text_features:
        bank = _TextFeatureBank(
            model, tokenizer, captions, config.text_batch_size, device, checkpoint_dir
        )
    text_cache_s = time.perf_counter() - t_cache
    plan = _BatchPlan(len(images), config.batch_size, config.seed, start, total)
    loader = DataLoader(
        _ImageDataset(images, preprocess_train),
        batch_sampler=plan,
        num_workers=config.num_workers,
        pin_memory=use_amp,
    )
    trainable = list(trainable_parameters(model).values())
    logit_scale_trains = model.logit_scale.requires_grad
    _set_train_mode(model)
    t0, step = time.perf_counter(), start
    progress = tqdm(total=total, initial=start, desc="train", unit="step")
    for pixels, rows in loader:
        pixels = pixels.to(device, non_blocking=True)
        text_f = bank.features(rows).to(device) if bank is not None else None
        tokens = None if bank is not None else tokenizer([captions[i] for i in rows]).to(device)
        loss = _step(model, pixels, text_f, tokens, text_grad, use_amp)
        lr = scheduler.get_last_lr()[0]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if config.grad_clip_norm is not None:
            nn.utils.clip_grad_norm_(trainable, config.grad_clip_norm)
        optimizer.step()
        scheduler.step()
        if logit_scale_trains:  # as CLIP: the temperature never exceeds 100
            with torch.no_grad():
                model.logit_scale.clamp_(0, math.log(100))
        step += 1
        history["losses"].append(float(loss.detach()))
        history["lrs"].append(float(lr))
        progress.update(1)
        if ckpt is not None and (step % config.checkpoint_every == 0 or step == total):
            save_training_state(
                ckpt, model, optimizer, scheduler, step, history, _trajectory_config(config)
            )
        if on_log is not None and step % config.log_every == 0:
            on_log(step, history["losses"][-1], float(lr))
    progress.close()
    elapsed = time.perf_counter() - t0
    model.eval()
    ran = step - start
    return TrainResult(
        losses=list(history["losses"]),
        lrs=list(history["lrs"]),
        steps=step,
        start_step=start,
        samples_per_s=ran * plan.batch_size / elapsed if ran else 0.0,
        elapsed_s=elapsed,
        text_cache_s=text_cache_s,
        gate_values=gate_values(model),
        checkpoint_path=str(ckpt) if ckpt is not None else None,
    )
