"""Zero-shot classification the ELEVATER way.

Per class, every template is encoded, each text embedding L2-normalised, the embeddings averaged
and the average re-normalised: the classifier ``W`` is ``(D, C)``. Images are encoded and
L2-normalised; ``logits = 100 * image_features @ W``. As in the toolkit, the metrics are computed
on ``softmax(logits)`` in float32 (``vision_benchmark/evaluation/clip_zeroshot_evaluator.py``).

``model`` is any open_clip-style module with ``encode_image(images)`` and ``encode_text(tokens)``;
``tokenizer`` maps a list of strings to a token tensor (``open_clip.get_tokenizer(...)``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from react_assets.domains.datasets import open_dataset
from react_assets.domains.spec import DatasetSpec
from react_assets.evaluate.metrics import (
    METRIC_NAMES,
    average_precision_11point,
    compute_metric,
    mean_per_class_recall,
    per_class_recall,
    topk_accuracy,
)
from react_assets.models.device import eval_mode, model_autocast, to_model_device
from react_assets.models.hardware import loader_start_method

logger = logging.getLogger(__name__)

LOGIT_SCALE = 100.0


@dataclass(frozen=True)
class ConfusedPair:
    """``count`` samples of class ``true`` predicted as ``predicted`` (``fraction`` of ``true``)."""

    true: str
    predicted: str
    count: int
    fraction: float


@dataclass(frozen=True)
class ZeroShotResult:
    """One model on one dataset. Values are fractions in [0, 1].

    ``per_class`` is aligned with ``classes``: top-1 recall per class for a multi-class set,
    11-point AP per class for a multi-label set; ``None`` for a class without samples. ``top1``,
    ``top5``, ``mean_per_class`` and ``confused_pairs`` are ``None`` / empty for multi-label sets.
    ``support`` is aligned with ``classes``: the samples of each class (positives, multi-label).
    """

    dataset: str
    metric: str
    value: float
    top1: float | None
    top5: float | None
    mean_per_class: float | None
    classes: tuple[str, ...]
    per_class: tuple[float | None, ...]
    confused_pairs: tuple[ConfusedPair, ...]
    n_samples: int
    support: tuple[int, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        out = asdict(self)
        out["classes"] = list(self.classes)
        out["per_class"] = list(self.per_class)
        out["support"] = list(self.support)
        out["confused_pairs"] = [asdict(p) for p in self.confused_pairs]
        return out


@torch.no_grad()
def zeroshot_classifier(model: nn.Module, tokenizer: Callable[[list[str]], torch.Tensor],
                        classes: Sequence[str], templates: Sequence[str],
                        batch_size: int = 256) -> torch.Tensor:
    """The zero-shot classifier ``W`` of shape ``(D, C)``: a unit-norm column per class."""
    if not classes or not templates:
        raise ValueError(f"zero-shot needs classes and templates, got {len(classes)} classes and "
                         f"{len(templates)} templates")
    bad = [t for t in templates if t.count("{}") != 1]
    if bad:
        raise ValueError(f"template {bad[0]!r} must contain exactly one '{{}}'")
    texts = [template.format(name) for name in classes for template in templates]
    chunks = []
    for start in tqdm(range(0, len(texts), batch_size), desc="encode class prompts", leave=False):
        tokens = to_model_device(model, tokenizer(texts[start:start + batch_size]))
        with model_autocast(model):
            text_f = model.encode_text(tokens)
        chunks.append(F.normalize(text_f.float(), dim=-1).cpu())  # beside the CPU image features
    per_text = torch.cat(chunks)                                    # (C*T, D)
    per_class = per_text.view(len(classes), len(templates), -1)     # (C, T, D)
    return F.normalize(per_class.mean(dim=1), dim=-1).T.contiguous()  # (D, C)


def zeroshot_logits(image_features: torch.Tensor, classifier: torch.Tensor) -> torch.Tensor:
    """``100 * normalize(image_features) @ classifier``, shape ``(N, C)``."""
    return LOGIT_SCALE * F.normalize(image_features.float(), dim=-1) @ classifier.float()


@torch.no_grad()
def encode_dataset(model: nn.Module, dataset: Dataset, batch_size: int = 64,
                   num_workers: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Image features ``(N, D)`` (float32, on the CPU) and stacked labels of a labelled dataset."""
    features, labels = encode_dataset_towers([model], dataset, batch_size, num_workers)
    return features[0], labels


@torch.no_grad()
def encode_dataset_towers(models: Sequence[nn.Module], dataset: Dataset, batch_size: int = 64,
                          num_workers: int = 0) -> tuple[list[torch.Tensor], torch.Tensor]:
    """:func:`encode_dataset` for several image towers taking the same preprocessed images:
    each batch is decoded once and encoded by every model. Features per model, in order."""
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers,
                        multiprocessing_context=loader_start_method(num_workers))
    features: list[list[torch.Tensor]] = [[] for _ in models]
    labels = []
    name = getattr(dataset, "name", type(dataset).__name__)
    for images, targets in tqdm(loader, desc=f"encode images ({name})", leave=False):
        for model, chunks in zip(models, features, strict=True):
            with model_autocast(model):
                image_f = model.encode_image(to_model_device(model, images))
            chunks.append(image_f.float().cpu())
        labels.append(targets)
    if not labels:
        raise ValueError(f"dataset {name} is empty")
    return [torch.cat(chunks) for chunks in features], torch.cat(labels)


def evaluate_zeroshot(model: nn.Module, tokenizer: Callable[[list[str]], torch.Tensor],
                      preprocess: Callable[[Any], torch.Tensor] | None,
                      dataset: Dataset | DatasetSpec, classes: Sequence[str],
                      templates: Sequence[str], metric: str, batch_size: int = 64,
                      num_workers: int = 0, *, text_batch_size: int = 256,
                      top_confusions: int = 10,
                      classifier: torch.Tensor | None = None) -> ZeroShotResult:
    """Zero-shot evaluate ``model`` on ``dataset`` and report its official ``metric``.

    ``dataset`` is a torch Dataset of ``(image tensor, label)`` or a :class:`DatasetSpec`,
    opened with :func:`open_dataset` and ``preprocess``. The model is put in eval mode for the
    evaluation and its previous mode restored. ``classifier`` (``(D, C)``) skips the text tower:
    with a locked text tower, base and customized models share it.
    """
    if metric not in METRIC_NAMES:
        raise ValueError(f"unknown metric {metric!r}; known: {', '.join(METRIC_NAMES)}")
    if isinstance(dataset, DatasetSpec):
        dataset = open_dataset(dataset, classes, preprocess)
    name = getattr(dataset, "name", type(dataset).__name__)
    with eval_mode(model):
        if classifier is None:
            classifier = zeroshot_classifier(model, tokenizer, classes, templates,
                                             text_batch_size)
        elif classifier.shape[1] != len(classes):
            raise ValueError(f"{name}: classifier has {classifier.shape[1]} columns for "
                             f"{len(classes)} classes")
        features, labels = encode_dataset(model, dataset, batch_size, num_workers)
    probs = zeroshot_logits(features, classifier.cpu()).softmax(dim=-1).numpy()
    result = score_predictions(name, metric, probs, labels.numpy(), classes, top_confusions)
    logger.info("zero-shot %s: %s = %.4f on %d samples", name, metric, result.value,
                result.n_samples)
    return result


def score_predictions(dataset: str, metric: str, scores: np.ndarray, labels: np.ndarray,
                      classes: Sequence[str], top_confusions: int = 10) -> ZeroShotResult:
    """Every figure of a :class:`ZeroShotResult` from scores ``(N, C)`` and labels."""
    if scores.shape[1] != len(classes):
        raise ValueError(f"{dataset}: scores have {scores.shape[1]} classes, class list "
                         f"{len(classes)}")
    value = compute_metric(metric, scores, labels)
    if labels.ndim == 2:  # multi-label: multi-hot targets
        per_class = tuple(
            average_precision_11point(scores[:, c], labels[:, c]) if labels[:, c].any() else None
            for c in range(len(classes)))
        return ZeroShotResult(dataset, metric, value, None, None, None, tuple(classes), per_class,
                              (), int(labels.shape[0]),
                              tuple(int(n) for n in (labels > 0).sum(axis=0)))
    labels = labels.astype(np.int64)
    recall = per_class_recall(scores, labels)
    return ZeroShotResult(
        dataset=dataset, metric=metric, value=value,
        top1=topk_accuracy(scores, labels, 1), top5=topk_accuracy(scores, labels, 5),
        mean_per_class=mean_per_class_recall(scores, labels), classes=tuple(classes),
        per_class=tuple(None if np.isnan(r) else float(r) for r in recall),
        confused_pairs=most_confused(scores.argmax(axis=1), labels, classes, top_confusions),
        n_samples=int(labels.shape[0]),
        support=tuple(int(n) for n in np.bincount(labels, minlength=len(classes))),
    )


def most_confused(predicted: np.ndarray, labels: np.ndarray, classes: Sequence[str],
                  top: int = 10) -> tuple[ConfusedPair, ...]:
    """The ``top`` most frequent (true, predicted) errors, by count then class index."""
    n = len(classes)
    confusion = np.bincount(labels * n + predicted, minlength=n * n).reshape(n, n)
    np.fill_diagonal(confusion, 0)
    support = np.bincount(labels, minlength=n)
    flat = np.flatnonzero(confusion)
    order = flat[np.lexsort((flat, -confusion.ravel()[flat]))][:top]
    return tuple(
        ConfusedPair(classes[i // n], classes[i % n], int(confusion.ravel()[i]),
                     float(confusion.ravel()[i] / support[i // n]))
        for i in order
    )
