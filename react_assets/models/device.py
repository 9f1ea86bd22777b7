"""Models on their device: inputs follow the model's parameters, with the matching autocast.

Every stage that runs a model (embedding, retrieval queries, training, evaluation) moves its
batches with ``to_model_device`` and runs the forward pass under ``model_autocast``: bfloat16
autocast where it pays (CUDA, and CPUs with native bf16 units; ``hardware.bf16_enabled``),
nothing elsewhere (where results stay bit-identical to float32 runs).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from react_assets.models.hardware import bf16_enabled


def model_device(model: torch.nn.Module) -> torch.device:
    """The device of the model's first parameter (the CPU for a parameterless module)."""
    first = next(iter(model.parameters()), None) if hasattr(model, "parameters") else None
    return first.device if first is not None else torch.device("cpu")


def to_model_device(model: torch.nn.Module, tensor: torch.Tensor) -> torch.Tensor:
    """``tensor`` on the model's device (no copy when it is already there)."""
    device = model_device(model)
    return tensor.to(device, non_blocking=device.type == "cuda")


@contextlib.contextmanager
def model_autocast(model: torch.nn.Module, bf16: str = "auto") -> Iterator[None]:
    """bfloat16 autocast on the model's device when ``bf16`` ("auto", "on", "off") resolves to
    on there; "auto": on CUDA and on CPUs with native bf16 units."""
    device = model_device(model)
    with torch.autocast(device_type=device.type, dtype=torch.bfloat16,
                        enabled=bf16_enabled(bf16, device)):
        yield


@contextlib.contextmanager
def eval_mode(model: torch.nn.Module) -> Iterator[None]:
    """``model`` in eval mode inside, its previous mode restored after (objects without
    ``eval`` are left as they are)."""
    was_training = bool(getattr(model, "training", False))
    if hasattr(model, "eval"):
        model.eval()
    try:
        yield
    finally:
        if was_training:
            model.train()
