"""The REACT training recipe (optimizer, lr schedule, loss) and its resumable training state."""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from react_assets.files.atomic import atomic_path


def build_optimizer(
    model: nn.Module,
    *,
    lr: float,
    betas: tuple[float, float],
    eps: float,
    weight_decay: float,
) -> torch.optim.AdamW:
    """AdamW over the parameters that require grad only; no decay on gains, biases and scalars.

    A parameter is decayed when it is a matrix or larger (``ndim >= 2``): biases, norm gains,
    the gate alphas (0-d) and the logit scale are not. ``logit_scale`` is excluded by identity.
    """
    logit_scale = getattr(model, "logit_scale", None)
    decay, no_decay = [], []
    for param in model.parameters():
        if not param.requires_grad:
            continue
        if param.ndim < 2 or param is logit_scale:
            no_decay.append(param)
        else:
            decay.append(param)
    if not decay and not no_decay:
        raise ValueError("model has no trainable parameter: did you call customize_model?")
    groups = [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=lr, betas=betas, eps=eps)


def cosine_with_warmup(
    optimizer: torch.optim.Optimizer, *, warmup_steps: int, total_steps: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warmup to the base lr over ``warmup_steps``, then cosine decay to 0 at the end.

    The factor is a function of the step only, so a resumed scheduler gives the same lrs.
    """
    if total_steps < 1:
        raise ValueError(f"total_steps={total_steps}: need at least one step")

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def clip_loss(
    image_features: torch.Tensor, text_features: torch.Tensor, logit_scale: torch.Tensor
) -> torch.Tensor:
    """Symmetric InfoNCE over a batch of L2-normalised features (B, D) x (B, D)."""
    logits = logit_scale * image_features @ text_features.t()  # (B, B)
    labels = torch.arange(logits.shape[0], device=logits.device)
    return 0.5 * (F.cross_entropy(logits, labels) + F.cross_entropy(logits.t(), labels))


def trainable_parameters(model: nn.Module) -> dict[str, nn.Parameter]:
    """The parameters that require grad, by name."""
    return {name: p for name, p in model.named_parameters() if p.requires_grad}


def save_training_state(
    path: Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    step: int,
    history: dict[str, list[float]],
    trajectory: dict[str, Any],
) -> None:
    """Atomically write trainable weights, optimizer, scheduler, step, RNG state and history."""
    payload = {
        "step": step,
        "trainable": {n: p.detach().cpu().clone() for n, p in trainable_parameters(model).items()},
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "rng_torch": torch.get_rng_state(),
        "rng_python": random.getstate(),
        "history": history,
        "config": trajectory,
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_training_state(
    path: Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    trajectory: dict[str, Any],
) -> tuple[int, dict[str, list[float]]]:
    """Restore a training state (``weights_only`` load); returns its step and loss/lr history."""
    payload = torch.load(path, map_location="cpu", weights_only=True)
    if payload["config"] != trajectory:
        raise ValueError(
            f"checkpoint {path} was written with another TrainConfig "
            f"({payload['config']}); refusing to resume with {trajectory}"
        )
    params = trainable_parameters(model)
    if set(payload["trainable"]) != set(params):
        differing = sorted(set(params) ^ set(payload["trainable"]))[:5]
        raise ValueError(f"checkpoint {path} trains other parameters than this model: {differing}")
    with torch.no_grad():
        for name, tensor in payload["trainable"].items():
            params[name].copy_(tensor)
    optimizer.load_state_dict(payload["optimizer"])
    scheduler.load_state_dict(payload["scheduler"])
    torch.set_rng_state(payload["rng_torch"])
    random.setstate(payload["rng_python"])
    return int(payload["step"]), payload["history"]
