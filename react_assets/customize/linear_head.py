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
    (e.g. :meth:`LinearHead.from_classifier`), else small random weights from ``config.seed``.

    Full-batch AdamW (torch's defaults: betas 0.9/0.999, eps 1e-8, decoupled weight decay),
    written out with the cross-entropy's closed-form gradient: autograd and the optimizer's
    bookkeeping cost ten times the arithmetic on matrices this small.
    """
    rows = np.ones((1, len(labels)), dtype=bool)
    return train_heads(features, labels, rows, num_classes, config, [config.weight_decay],
                       init)[0]


def train_heads(features: np.ndarray, labels: np.ndarray, rows: np.ndarray, num_classes: int,
                config: HeadConfig, weight_decays: list[float], init: LinearHead | None = None,
                ) -> list[LinearHead]:
    """:func:`train_head` for K heads at once, head k on the rows ``rows[k]`` (a (K, N) mask
    over ``features``) with weight decay ``weight_decays[k]``, all from the same start.

    One batched matrix product per step instead of K small ones: a domain's probes train
    dozens of heads (each shot setting and seed, each weight decay of the grid, then the refit)
    on the rows of one train split. Each head's arithmetic is :func:`train_head`'s on its rows.
    """
    rows = np.asarray(rows, dtype=bool)
    if len(features) != len(labels) or len(labels) == 0:
        raise ValueError(f"train_head: {len(features)} features for {len(labels)} labels")
    if rows.ndim != 2 or rows.shape[1] != len(labels) or len(weight_decays) != len(rows):
        raise ValueError(f"train_heads: rows {rows.shape} and {len(weight_decays)} weight "
                         f"decays for {len(labels)} samples")
    if not rows.any(axis=1).all():
        raise ValueError("train_heads: every head needs at least one row")
    generator = torch.Generator().manual_seed(config.seed)
    x = F.normalize(torch.as_tensor(np.asarray(features), dtype=torch.float32), dim=-1)
    y = torch.as_tensor(np.asarray(labels), dtype=torch.int64)
    k = len(rows)
    if init is None:
        weight = 1e-3 * torch.randn((x.shape[1], num_classes), generator=generator)
        bias = torch.zeros(num_classes)
    else:
        weight = torch.tensor(init.weight) / LOGIT_SCALE
        bias = torch.tensor(init.bias) / LOGIT_SCALE
    # Every head's classes side by side: one (N, D) x (D, K*C) product a step, not K thin ones.
    weight = weight[:, None, :].expand(-1, k, -1).contiguous()  # (D, K, C)
    bias = bias.expand(k, -1).contiguous()  # (K, C)
    mask = torch.as_tensor(rows, dtype=torch.float32).T  # (N, K)
    # d/dz of each head's mean cross-entropy over its rows, times the logit scale
    scale = (mask * (LOGIT_SCALE / mask.sum(dim=0)))[:, :, None]  # (N, K, 1)
    onehot = F.one_hot(y, num_classes).to(torch.float32)[:, None, :]  # (N, 1, C)
    kept = 1 - config.lr * torch.tensor(weight_decays, dtype=torch.float32)  # (K,)
    params = [weight, bias]
    decays = [kept[None, :, None], kept[:, None]]
    moments = [(torch.zeros_like(p), torch.zeros_like(p)) for p in params]
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    d = x.shape[1]
    with single_threaded():
        for step in range(1, config.epochs + 1):
            logits = (x @ weight.view(d, k * num_classes)).view(-1, k, num_classes) + bias
            residual = (torch.softmax(LOGIT_SCALE * logits, dim=-1) - onehot) * scale  # (N,K,C)
            grads = [(x.T @ residual.view(-1, k * num_classes)).view(d, k, num_classes),
                     residual.sum(dim=0)]
            correction1, correction2 = 1 - beta1 ** step, 1 - beta2 ** step
            for param, grad, (m, v), factor in zip(params, grads, moments, decays, strict=True):
                param.mul_(factor)
                m.lerp_(grad, 1 - beta1)
                v.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                denom = (v.sqrt() / math.sqrt(correction2)).add_(eps)
                param.addcdiv_(m, denom, value=-config.lr / correction1)
    return [LinearHead(LOGIT_SCALE * weight[:, i].numpy(), LOGIT_SCALE * bias[i].numpy())
            for i in range(k)]
