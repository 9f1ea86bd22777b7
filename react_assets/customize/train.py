"""Contrastive training of a (customized) CLIP on image-text pairs, resumable bit-for-bit.

Every random choice is a function of ``(seed, epoch, sample)``: the epoch's order and each
sample's augmentation seed come from ``numpy.random.default_rng([seed, epoch])``, and a sample's
augmentation runs under its own torch seed inside the DataLoader worker. A run killed and resumed
from its last checkpoint therefore ends with the same weights as an uninterrupted run.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader
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

CHECKPOINT_NAME = "last.pt"
# Fields that do not change the trajectory, so they may differ between a run and its resume.
_RUNTIME_FIELDS = ("log_every", "checkpoint_every", "num_workers", "text_batch_size", "device")
# One batch on the device: pixels (B, 3, H, W), then cached text features (B, D) or tokens (B, T).
_Batch = tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]


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
            ckpt, model, optimizer, scheduler, _trajectory_config(config)
        )
    return _Run(model, optimizer, scheduler, config, total, ckpt, start, history)


def _device_batches(
    loader: DataLoader,
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
    loss.backward()
    average_gradients(trainable)
    if run.config.grad_clip_norm is not None:
        nn.utils.clip_grad_norm_(trainable, run.config.grad_clip_norm)
    run.optimizer.step()
    run.scheduler.step()


def _train_steps(
    run: _Run,
    batches: Iterator[_Batch],
    text_grad: bool,
    use_amp: bool,
    on_log: Callable[[int, float, float], None] | None,
) -> int:
    """Train on every batch, checkpointing and logging as configured; returns the last step."""
    model, config = run.model, run.config
    trainable = list(trainable_parameters(model).values())
    logit_scale_trains = model.logit_scale.requires_grad
    step = run.start
    progress = tqdm(total=run.total, initial=run.start, desc="train", unit="step")
    for pixels, text_f, tokens in batches:
        loss = _step(model, pixels, text_f, tokens, text_grad, use_amp)
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
            trajectory = _trajectory_config(config)
            save_training_state(
                run.ckpt, model, run.optimizer, run.scheduler, step, run.history, trajectory
            )
        if main and on_log is not None and step % config.log_every == 0:
            on_log(step, run.history["losses"][-1], float(lr))
    progress.close()
    return step


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
    _check_pairs(images, captions)
    device = local_device(_resolve_device(config.device))
    use_amp = device.type == "cuda"
    model.to(device)
    run = _start_run(model, len(images), config, checkpoint_dir)
    text_grad = any(p.requires_grad for p in _text_parameters(model))
    t_cache = time.perf_counter()
    bank = None
    if not text_grad and config.cache_text_features:
        bank = TextFeatureBank(
            model, tokenizer, captions, config.text_batch_size, device, checkpoint_dir
        )
    text_cache_s = time.perf_counter() - t_cache
    plan = BatchPlan(len(images), config.batch_size, config.seed, run.start, run.total)
    loader = DataLoader(
        ImageDataset(images, preprocess_train),
        batch_sampler=RankSlices(plan, *rank_and_world()),
        num_workers=config.num_workers,
        pin_memory=use_amp,
    )
    _set_train_mode(model)
    t0 = time.perf_counter()
    step = _train_steps(
        run, _device_batches(loader, bank, tokenizer, captions, device), text_grad, use_amp, on_log
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
    )
