"""Models on their device: inputs follow the model's parameters, with the matching autocast.

Every stage that runs a model (embedding, retrieval queries, training, evaluation) moves its
batches with ``to_model_device`` and runs the forward pass under ``model_autocast``: bfloat16
autocast on CUDA, nothing on the CPU (where results stay bit-identical to float32 runs).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


def model_device(model: torch.nn.Module) -> torch.device:
    """The device of the model's first parameter (the CPU for a parameterless module)."""
    first = next(iter(model.parameters()), None) if hasattr(model, "parameters") else None
    return first.device if first is not None else torch.device("cpu")


def to_model_device(model: torch.nn.Module, tensor: torch.Tensor) -> torch.Tensor:
    """``tensor`` on the model's device (no copy when it is already there)."""
    device = model_device(model)
    return tensor.to(device, non_blocking=device.type == "cuda")


@contextlib.contextmanager
def model_autocast(model: torch.nn.Module) -> Iterator[None]:
    """bfloat16 autocast when the model is on CUDA; a no-op elsewhere."""
    device = model_device(model)
    with torch.autocast(device_type=device.type, dtype=torch.bfloat16,
                        enabled=device.type == "cuda"):
        yield
