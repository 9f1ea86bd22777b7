"""A linear classification head on frozen, L2-normalised image features, trained in torch.

``logits = normalize(features) @ weight + bias`` with ``weight`` of shape ``(D, C)``. It may start
from a text classifier (``LOGIT_SCALE * W_zeroshot``), as the ELEVATER toolkit's
language-initialised linear probe and REAL-Linear do; full-batch AdamW with weight decay as the
regulariser, a fixed number of epochs and a seeded generator, so a run is deterministic. As in
CLIP, the head is trained as ``LOGIT_SCALE * (x @ w + b)``: the learning rate is relative to
unit-norm class vectors, whatever the logit scale.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from threadpoolctl import threadpool_limits

log = logging.getLogger(__name__)

LOGIT_SCALE = 100.0  # CLIP's zero-shot logit scale: a text classifier as head starts here


_single = threading.local()  # set while this thread is inside single_threaded()


@contextmanager
def single_threaded() -> Iterator[None]:
    """One BLAS and one torch thread inside (restored after): a head's matrices are small, and
    on a shared machine several threads contending for them ran 10x slower than one. Nested
    calls cost nothing (setting the BLAS limits takes ~4 ms; the probes of one domain fit
    hundreds of heads inside one call)."""
    if getattr(_single, "active", False):
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    _single.active = True
    try:
        with threadpool_limits(limits=1):
            yield
    finally:
        _single.active = False
        torch.set_num_threads(previous)


@dataclass(frozen=True)
class HeadConfig:
    """How a linear head is trained."""

    epochs: int = 100
    lr: float = 1e-3
    weight_decay: float = 1e-4
    seed: int = 0

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.lr <= 0 or self.weight_decay < 0:
            raise ValueError(f"HeadConfig: invalid values {self}")


@dataclass(frozen=True)
class LinearHead:
    """Weights ``(D, C)`` and bias ``(C,)``, float32 numpy."""

    weight: np.ndarray
    bias: np.ndarray

    @classmethod
    def from_classifier(cls, classifier: np.ndarray, scale: float = LOGIT_SCALE) -> LinearHead:
        """The zero-shot head of a text classifier ``(D, C)``."""
        weight = scale * np.asarray(classifier, dtype=np.float32)
        return cls(weight, np.zeros(weight.shape[1], dtype=np.float32))

    @property
    def num_parameters(self) -> int:
        return int(self.weight.size + self.bias.size)

    def logits(self, features: np.ndarray) -> np.ndarray:
        """``normalize(features) @ weight + bias``, float32 ``(N, C)``."""
        x = np.asarray(features, dtype=np.float32)
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
        return x @ self.weight + self.bias

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        """Softmax of :meth:`logits` (the scores ELEVATER's metrics take)."""
        return torch.from_numpy(self.logits(features)).softmax(dim=-1).numpy()

    def blend(self, other: LinearHead, alpha: float) -> LinearHead:
        """``alpha * self + (1 - alpha) * other`` in weight space (WiSE-FT style ensemble)."""
        return LinearHead(alpha * self.weight + (1 - alpha) * other.weight,
                          alpha * self.bias + (1 - alpha) * other.bias)


def train_head(features: np.ndarray, labels: np.ndarray, num_classes: int, config: HeadConfig,
               init: LinearHead | None = None) -> LinearHead:
    """Fit a linear head by cross-entropy on ``(features, labels)``; ``init`` is its start
    (e.g. :meth:`LinearHead.from_classifier`), else zeros.

    Full-batch AdamW (torch's defaults: betas 0.9/0.999, eps 1e-8, decoupled weight decay),
    written out with the cross-entropy's closed-form gradient: autograd and the optimizer's
    bookkeeping cost ten times the arithmetic on matrices this small.
    """
    if len(features) != len(labels) or len(labels) == 0:
        raise ValueError(f"train_head: {len(features)} features for {len(labels)} labels")
    generator = torch.Generator().manual_seed(config.seed)
    x = F.normalize(torch.as_tensor(np.asarray(features), dtype=torch.float32), dim=-1)
    y = torch.as_tensor(np.asarray(labels), dtype=torch.int64)
    if init is None:
        weight = 1e-3 * torch.randn((x.shape[1], num_classes), generator=generator)
        bias = torch.zeros(num_classes)
    else:
        weight = torch.tensor(init.weight) / LOGIT_SCALE
        bias = torch.tensor(init.bias) / LOGIT_SCALE
    onehot = F.one_hot(y, num_classes).to(torch.float32)
    params = [weight, bias]
    moments = [(torch.zeros_like(p), torch.zeros_like(p)) for p in params]
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    with single_threaded():
        for step in range(1, config.epochs + 1):
            # d/dz of mean cross-entropy at z = s (x w + b): (softmax(z) - onehot) / n
            residual = (torch.softmax(LOGIT_SCALE * (x @ weight + bias), dim=-1) - onehot)
            residual *= LOGIT_SCALE / len(y)
            grads = [x.T @ residual, residual.sum(dim=0)]
            correction1, correction2 = 1 - beta1 ** step, 1 - beta2 ** step
            for param, grad, (m, v) in zip(params, grads, moments, strict=True):
                param.mul_(1 - config.lr * config.weight_decay)
                m.lerp_(grad, 1 - beta1)
                v.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                denom = (v.sqrt() / math.sqrt(correction2)).add_(eps)
                param.addcdiv_(m, denom, value=-config.lr / correction1)
    return LinearHead(LOGIT_SCALE * weight.numpy(), LOGIT_SCALE * bias.numpy())
