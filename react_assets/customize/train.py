"""Contrastive training of a (customized) CLIP on image-text pairs, resumable bit-for-bit.

Every random choice is a function of ``(seed, epoch, sample)``: the epoch's order and each
sample's augmentation seed come from ``numpy.random.default_rng([seed, epoch])``, and a sample's
augmentation runs under its own torch seed inside the DataLoader worker. A run killed and resumed
from its last checkpoint therefore ends with the same weights as an uninterrupted run.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Sampler
from tqdm.auto import tqdm

from react_assets.customize.data import BatchPlan, ImageDataset, TextFeatureBank
from react_assets.customize.distributed import (
    RankSlices,
    average_gradients,
    gather_features,
    is_main_process,
    local_device,
    rank_and_world,
)
from react_assets.customize.gated import gate_values
from react_assets.customize.optim import (
    build_optimizer,
    clip_loss,
    cosine_with_warmup,
    load_training_state,
    save_training_state,
    trainable_parameters,
)
from react_assets.customize.pixels import TensorAugment, cached_batches, pixel_cache
from react_assets.models.hardware import bf16_enabled, loader_start_method

CHECKPOINT_NAME = "last.pt"
# Fields that do not change the trajectory, so they may differ between a run and its resume.
_RUNTIME_FIELDS = ("log_every", "checkpoint_every", "num_workers", "text_batch_size", "device",
                   "threads", "progress_bar")
# One batch on the device: pixels (B, 3, H, W), then cached text features (B, D) or tokens (B, T).
_Batch = tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]
# Mixed precision: "auto" = autocast where it pays (CUDA, and CPUs with native bf16 units:
# AVX512-BF16 or AMX), else float32; "on" = autocast on any device (bf16 on CPU and on CUDA that
# supports it, else fp16 with a gradient scaler); "off" = float32.
AMP_MODES = ("auto", "on", "off")


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
    # Decode each image once into a uint8 cache and augment on tensors (when the train transform
    # is open_clip's RandomResizedCrop + Normalize); False: PIL per sample in DataLoader workers.
    pixel_cache: bool = True
    threads: int | None = None  # torch intra-op threads while training; None: leave as set
    progress_bar: bool = True  # False where a parent process reports this run's progress
    amp: str = "auto"  # one of AMP_MODES

    def __post_init__(self) -> None:
        if self.amp not in AMP_MODES:
            raise ValueError(f"TrainConfig.amp={self.amp!r}: expected one of {AMP_MODES}")
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
    world_size: int = 1  # the processes that trained it together (torch.distributed)


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


def amp_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of ``amp`` on ``device`` (None: no autocast)."""
    if amp == "off" or (amp == "auto" and not bf16_enabled("auto", device)):
        return None
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        return torch.float16
    return torch.bfloat16


def trajectory_config(config: TrainConfig) -> dict:
    """The config fields that shape the run; a checkpoint resumes only under the same values."""
    values = asdict(config)
    for name in _RUNTIME_FIELDS:
        values.pop(name)
    values["betas"] = list(values["betas"])
    if values["amp"] == "auto":  # checkpoints written before the field existed still resume
        values.pop("amp")
    return values


def _step(
    model: nn.Module,
    pixels: torch.Tensor,
    text_f: torch.Tensor | None,
    tokens: torch.Tensor | None,
    text_grad: bool,
    dtype: torch.dtype | None,
) -> torch.Tensor:
    """The loss of one batch: images (B, 3, H, W) against cached features or tokens (B, T)."""
    with torch.autocast(device_type=pixels.device.type, dtype=dtype or torch.bfloat16,
                        enabled=dtype is not None):
        image_f = model.encode_image(pixels, normalize=True)  # (B, D)
        if text_f is None:
            with torch.set_grad_enabled(text_grad):
                text_f = model.encode_text(tokens, normalize=True)  # (B, D)
        # Over N processes: every rank's slice of the global batch (identity for one process).
        image_f, text_f = gather_features(image_f.float()), gather_features(text_f.float())
        return clip_loss(image_f, text_f, model.logit_scale.exp().float())


@dataclass
class _Run:
    """One training call's moving parts: the model, its optimizer and schedule, how far it is."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    config: TrainConfig
    total: int  # the step the run ends at
    ckpt: Path | None
    start: int  # the step it starts (or resumes) at
    history: dict[str, list[float]]  # loss and lr of every step since step 0
    scaler: torch.amp.GradScaler | None = None  # fp16 autocast only


def _check_pairs(images: Sequence[bytes], captions: Sequence[str]) -> None:
    if len(images) != len(captions):
        raise ValueError(f"{len(images)} images but {len(captions)} captions: they must align")
    if len(images) < 2:
        raise ValueError(f"contrastive training needs at least 2 pairs, got {len(images)}")


def _start_run(
    model: nn.Module, n_pairs: int, config: TrainConfig, checkpoint_dir: Path | None
) -> _Run:
    """Optimizer and schedule for ``model``, restored from ``checkpoint_dir/last.pt`` if present."""
    optimizer = build_optimizer(
        model, lr=config.lr, betas=config.betas, eps=config.eps, weight_decay=config.weight_decay
    )
    plan = BatchPlan(n_pairs, config.batch_size, config.seed, 0, 0)
    total = config.epochs * plan.steps_per_epoch
    total = min(total, config.max_steps) if config.max_steps else total
    scheduler = cosine_with_warmup(optimizer, warmup_steps=config.warmup_steps, total_steps=total)
    ckpt = Path(checkpoint_dir) / CHECKPOINT_NAME if checkpoint_dir is not None else None
    start, history = 0, {"losses": [], "lrs": []}
    if ckpt is not None and ckpt.is_file():
        start, history = load_training_state(
            ckpt, model, optimizer, scheduler, trajectory_config(config)
        )
    return _Run(model, optimizer, scheduler, config, total, ckpt, start, history)


def _device_batches(
    loader: Iterable[tuple[torch.Tensor, torch.Tensor]],
    bank: TextFeatureBank | None,
    tokenizer: Callable[..., torch.Tensor],
    captions: Sequence[str],
    device: torch.device,
) -> Iterator[_Batch]:
    """Each batch on ``device``: pixels (B, 3, H, W), and cached text features (B, D) or tokens."""
    for pixels, rows in loader:
        pixels = pixels.to(device, non_blocking=True)
        text_f = bank.features(rows).to(device) if bank is not None else None
        tokens = None if bank is not None else tokenizer([captions[i] for i in rows]).to(device)
        yield pixels, text_f, tokens


def _optimizer_step(run: _Run, loss: torch.Tensor, trainable: list[nn.Parameter]) -> None:
    """Backpropagate ``loss``, then step the optimizer and the lr schedule."""
    run.optimizer.zero_grad(set_to_none=True)
    scaler = run.scaler
    (scaler.scale(loss) if scaler else loss).backward()
    average_gradients(trainable)  # over the processes of a distributed run (a no-op in one)
    if scaler:
        scaler.unscale_(run.optimizer)
    if run.config.grad_clip_norm is not None:
        nn.utils.clip_grad_norm_(trainable, run.config.grad_clip_norm)
    if scaler:
        scaler.step(run.optimizer)
        scaler.update()
    else:
        run.optimizer.step()
    run.scheduler.step()


def _train_steps(
    run: _Run,
    batches: Iterator[_Batch],
    text_grad: bool,
    dtype: torch.dtype | None,
    on_log: Callable[[int, float, float], None] | None,
) -> int:
    """Train on every batch, checkpointing and logging as configured; returns the last step."""
    model, config = run.model, run.config
    trainable = list(trainable_parameters(model).values())
    logit_scale_trains = model.logit_scale.requires_grad
    step = run.start
    progress = tqdm(total=run.total, initial=run.start, desc="train", unit="step",
                    disable=not config.progress_bar)
    for pixels, text_f, tokens in batches:
        loss = _step(model, pixels, text_f, tokens, text_grad, dtype)
        lr = run.scheduler.get_last_lr()[0]
        _optimizer_step(run, loss, trainable)
        if logit_scale_trains:  # as CLIP: the temperature never exceeds 100
            with torch.no_grad():
                model.logit_scale.clamp_(0, math.log(100))
        step += 1
        run.history["losses"].append(float(loss.detach()))
        run.history["lrs"].append(float(lr))
        progress.update(1)
        main = is_main_process()  # rank 0 alone writes checkpoints and lineage
        if main and run.ckpt is not None and (step % config.checkpoint_every == 0
                                              or step == run.total):
            trajectory = trajectory_config(config)
            save_training_state(
                run.ckpt, model, run.optimizer, run.scheduler, step, run.history, trajectory
            )
        if main and on_log is not None and step % config.log_every == 0:
            on_log(step, run.history["losses"][-1], float(lr))
    progress.close()
    return step


def _batches(images: Sequence[bytes], preprocess_train: Callable, plan: Sampler,
             config: TrainConfig, cache_dir: Path | None,
             device: torch.device) -> Iterable[tuple[torch.Tensor, torch.Tensor]]:
    """(pixels, rows) of each batch of ``plan`` (this process's share of the global batches):
    from the decoded-once pixel cache when the transform allows it, else decoded per sample by
    DataLoader workers."""
    augment = TensorAugment.from_transform(preprocess_train) if config.pixel_cache else None
    if augment is not None:
        return cached_batches(pixel_cache(images, augment.cache_size, cache_dir), augment, plan)
    return DataLoader(ImageDataset(images, preprocess_train), batch_sampler=plan,
                      num_workers=config.num_workers, pin_memory=device.type == "cuda",
                      multiprocessing_context=loader_start_method(config.num_workers))


def train_contrastive(
    model: nn.Module,
    images: Sequence[bytes],
    captions: Sequence[str],
    tokenizer: Callable[..., torch.Tensor],
    preprocess_train: Callable,
    config: TrainConfig,
    checkpoint_dir: Path | None = None,
    on_log: Callable[[int, float, float], None] | None = None,
    cache_dir: Path | None = None,
    text_features: np.ndarray | None = None,
) -> TrainResult:
    """Train the parameters of ``model`` that require grad with the symmetric InfoNCE loss.

    Resumes from ``checkpoint_dir/last.pt`` when present; writes it every ``checkpoint_every``
    steps and at the end. ``on_log(step, loss, lr)`` is called every ``log_every`` steps.
    Cached text features and decoded pixels go to ``cache_dir`` (default ``checkpoint_dir``),
    named by the digest of their inputs, so runs on the same pairs may share one folder.
    ``text_features`` (N, D): the captions' features made earlier by this text tower (the
    embedding stage's), used instead of encoding the captions when the text tower is locked.
    """
    _check_pairs(images, captions)
    device = local_device(_resolve_device(config.device))
    dtype = amp_dtype(config.amp, device)
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    model.to(device)
    run = _start_run(model, len(images), config, checkpoint_dir)
    if dtype == torch.float16:
        run.scaler = torch.amp.GradScaler(device.type)
    cache_dir = checkpoint_dir if cache_dir is None else cache_dir
    text_grad = any(p.requires_grad for p in _text_parameters(model))
    t_cache = time.perf_counter()
    bank = None
    if not text_grad and config.cache_text_features:
        bank = TextFeatureBank(
            model, tokenizer, captions, config.text_batch_size, device, cache_dir, text_features
        )
    text_cache_s = time.perf_counter() - t_cache
    plan = BatchPlan(len(images), config.batch_size, config.seed, run.start, run.total)
    loader = _batches(images, preprocess_train, RankSlices(plan, *rank_and_world()), config,
                      cache_dir, device)
    _set_train_mode(model)
    t0 = time.perf_counter()
    step = _train_steps(
        run, _device_batches(loader, bank, tokenizer, captions, device), text_grad, dtype, on_log
    )
    elapsed = time.perf_counter() - t0
    model.eval()
    ran = step - run.start
    return TrainResult(
        losses=list(run.history["losses"]),
        lrs=list(run.history["lrs"]),
        steps=step,
        start_step=run.start,
        samples_per_s=ran * plan.batch_size / elapsed if ran else 0.0,
        elapsed_s=elapsed,
        text_cache_s=text_cache_s,
        gate_values=gate_values(model),
        checkpoint_path=str(run.ckpt) if run.ckpt is not None else None,
        world_size=rank_and_world()[1],
    )
