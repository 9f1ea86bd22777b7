"""Classification metrics of the ELEVATER toolkit, re-implemented in numpy.

The ELEVATER toolkit (``vision_benchmark/evaluation/metric.py``) maps each dataset's official
metric to an evaluator of Microsoft's ``vision-evaluation`` package and feeds it the softmax of
``100 * image @ text`` (shape ``(N, C)``) and the labels:

* ``accuracy``: ``TopKAccuracyEvaluator(1)``: ``np.argmax`` per row; on a tie the lowest class
  index wins, so a tied sample is right only when its true class is the first of the tied ones.
* ``mean-per-class``: ``BalancedAccuracyScoreEvaluator``: the score columns of classes with no
  sample are dropped first, then the argmax is taken over the remaining classes and the recall of
  every remaining class is averaged. A class with no samples is therefore excluded from the mean
  (and cannot be predicted).
* ``11point_mAP``: ``MeanAveragePrecisionNPointsEvaluator(11)``: classes with no positive sample
  are dropped; for every other class the precision-recall curve (``sklearn`` semantics: one point
  per distinct score, tied scores form one point, plus the point ``(recall 0, precision 1)``) is
  interpolated at recall 1.0, 0.9, ..., 0.0 (the best precision at recall >= t), and the 11
  values are averaged; the mean over classes is the result.
* ``roc_auc``: ``sklearn.metrics.roc_auc_score`` on the score of class 1 for a binary set; tied
  scores count one half (trapezoidal ROC).

Top-k for k > 1 (not an official metric, reported beside it) uses a stable sort of the negated
scores, so ties again go to the lower class index; the toolkit's ``argpartition`` is not
deterministic on ties, this is. Every value is a fraction in [0, 1], as the toolkit reports it.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

METRIC_NAMES = ("accuracy", "mean-per-class", "11point_mAP", "roc_auc")


class MetricInputError(ValueError):
    """Scores or labels have the wrong shape or content for the requested metric."""


def _check_scores(scores: np.ndarray, n: int | None = None) -> np.ndarray:
    scores = np.asarray(scores)
    if not np.issubdtype(scores.dtype, np.floating):
        scores = scores.astype(np.float64)
    if scores.ndim != 2 or scores.shape[1] == 0:
        raise MetricInputError(f"scores must have shape (N, C) with C >= 1, got {scores.shape}")
    if n is not None and scores.shape[0] != n:
        raise MetricInputError(f"scores have {scores.shape[0]} rows but labels have {n}")
    bad = np.flatnonzero(~np.isfinite(scores).all(axis=1))
    if bad.size:
        raise MetricInputError(f"scores of sample {int(bad[0])} are not finite (NaN or inf)")
    return scores


def _check_labels(labels: np.ndarray, num_classes: int) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise MetricInputError(f"labels must be class indices of shape (N,), got {labels.shape}")
    if labels.size and not np.issubdtype(labels.dtype, np.integer):
        raise MetricInputError(f"labels must be integers, got dtype {labels.dtype}")
    out = np.flatnonzero((labels < 0) | (labels >= num_classes))
    if out.size:
        raise MetricInputError(
            f"label {int(labels[out[0]])} of sample {int(out[0])} is outside [0, {num_classes})"
        )
    return labels.astype(np.int64)


def topk_accuracy(scores: np.ndarray, labels: np.ndarray, k: int = 1) -> float:
    """Fraction of samples whose true class is among the ``k`` best (ties: lower index first).

    For ``k=1`` this is the toolkit's ``accuracy`` (``np.argmax``: the first maximum wins).
    """
    labels = np.asarray(labels)
    scores = _check_scores(scores, len(labels))
    labels = _check_labels(labels, scores.shape[1])
    if labels.size == 0:
        raise MetricInputError("accuracy of an empty set is undefined")
    # rank of the true class = classes scored higher + tied classes with a lower index: the
    # position a stable sort puts it at, without sorting (O(N*C))
    rows = np.arange(labels.size)
    true = scores[rows, labels][:, None]
    lower_index = np.arange(scores.shape[1])[None, :] < labels[:, None]
    rank = (scores > true).sum(axis=1) + ((scores == true) & lower_index).sum(axis=1)
    return float((rank < k).mean())


def per_class_recall(scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Top-1 recall of every class (argmax over all classes); NaN for a class with no samples."""
    labels = np.asarray(labels)
    scores = _check_scores(scores, len(labels))
    labels = _check_labels(labels, scores.shape[1])
    predicted = scores.argmax(axis=1)
    num_classes = scores.shape[1]
    support = np.bincount(labels, minlength=num_classes).astype(np.float64)
    hits = np.bincount(labels[predicted == labels], minlength=num_classes).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(support > 0, hits / support, np.nan)


def mean_per_class_recall(scores: np.ndarray, labels: np.ndarray) -> float:
    """ELEVATER's ``mean-per-class``: the mean recall over the classes that have samples.

    A class with no samples is excluded from the mean, and, as in the toolkit, its score column is
    dropped before the argmax, so no sample can be predicted as an absent class.
    """
    labels = np.asarray(labels)
    scores = _check_scores(scores, len(labels))
    labels = _check_labels(labels, scores.shape[1])
    if labels.size == 0:
        raise MetricInputError("mean-per-class recall of an empty set is undefined")
    present = np.unique(labels)
    kept = scores if present.size == scores.shape[1] else scores[:, present]
    predicted = present[kept.argmax(axis=1)]
    support = np.bincount(labels, minlength=scores.shape[1])[present]
    hits = np.bincount(labels[predicted == labels], minlength=scores.shape[1])[present]
    return float(np.mean(hits / support))


def precision_recall_points(scores: np.ndarray, targets: np.ndarray
                            ) -> tuple[np.ndarray, np.ndarray]:
    """Precision and recall as ``sklearn.metrics.precision_recall_curve`` returns them.

    One point per distinct score, by decreasing recall, then the final point (precision 1,
    recall 0). ``targets`` is binary (1 = positive) and must contain a positive.
    """
    scores = np.asarray(scores, dtype=np.float64)
    targets = np.asarray(targets) > 0
    if not targets.any():
        raise MetricInputError("precision-recall is undefined without a positive sample")
    order = np.argsort(-scores, kind="stable")
    sorted_scores, sorted_targets = scores[order], targets[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(sorted_scores)), sorted_scores.size - 1]
    tps = np.cumsum(sorted_targets)[last_of_tie].astype(np.float64)
    fps = (last_of_tie + 1) - tps
    precision = tps / (tps + fps)
    recall = tps / tps[-1]
    return np.r_[precision[::-1], 1.0], np.r_[recall[::-1], 0.0]


def average_precision_11point(scores: np.ndarray, targets: np.ndarray) -> float:
    """11-point interpolated AP of one class (VOC07): mean over t = 1.0..0.0 of max P(R >= t)."""
    precision, recall = precision_recall_points(scores, targets)
    total = 0.0
    for threshold in np.linspace(1, 0, 11, endpoint=True).tolist():
        reached = precision[threshold <= recall]
        total += float(reached.max()) if reached.size else 0.0
    return total / 11


def mean_average_precision_11point(scores: np.ndarray, targets: np.ndarray) -> float:
    """ELEVATER's ``11point_mAP``: the mean 11-point AP over the classes with a positive sample.

    ``targets`` is a multi-hot matrix of the same shape as ``scores`` (or class indices ``(N,)``,
    turned into one-hot rows). A class with no positive sample is excluded from the mean.
    """
    targets = np.asarray(targets)
    scores = _check_scores(scores, len(targets))
    if targets.ndim == 1:
        labels = _check_labels(targets, scores.shape[1])
        targets = np.eye(scores.shape[1], dtype=np.int64)[labels]
    if targets.shape != scores.shape:
        raise MetricInputError(f"targets shape {targets.shape} != scores shape {scores.shape}")
    present = np.flatnonzero((targets > 0).any(axis=0))
    if present.size == 0:
        raise MetricInputError("11-point mAP is undefined: no class has a positive sample")
    return float(np.mean([average_precision_11point(scores[:, c], targets[:, c]) for c in present]))


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Binary ROC-AUC; ``scores`` is (N,) or (N, 2) (column 1 = positive); ties count one half."""
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels)
    if scores.ndim == 2:
        if scores.shape[1] != 2:
            raise MetricInputError(f"roc_auc needs a binary set, scores have {scores.shape[1]} "
                                   "columns")
        scores = scores[:, 1]
    if scores.shape != labels.shape or labels.ndim != 1:
        raise MetricInputError(f"roc_auc: scores {scores.shape} and labels {labels.shape} differ")
    if not np.isin(labels, (0, 1)).all():
        raise MetricInputError("roc_auc labels must be 0 or 1")
    positive = labels == 1
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        raise MetricInputError(f"roc_auc is undefined with {n_pos} positive, {n_neg} negative "
                               "samples")
    ranks = _average_ranks(scores)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks, tied values sharing their mean rank (Mann-Whitney)."""
    order = np.argsort(values, kind="stable")
    sorted_values = values[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_values)) + 1]
    ends = np.r_[starts[1:], values.size]
    mean_rank = (starts + ends + 1) / 2.0
    ranks = np.empty(values.size, dtype=np.float64)
    ranks[order] = np.repeat(mean_rank, ends - starts)
    return ranks


_DISPATCH: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "accuracy": lambda s, y: topk_accuracy(s, y, 1),
    "mean-per-class": mean_per_class_recall,
    "11point_mAP": mean_average_precision_11point,
    "roc_auc": roc_auc,
}


def compute_metric(name: str, scores: np.ndarray, labels: np.ndarray) -> float:
    """The suite metric ``name`` (one of :data:`METRIC_NAMES`) of ``scores`` (N, C) vs ``labels``.

    ``labels`` are class indices (N,) except for ``11point_mAP`` (a multi-hot (N, C) matrix).
    """
    if name not in _DISPATCH:
        raise MetricInputError(f"unknown metric {name!r}; known: {', '.join(METRIC_NAMES)}")
    return _DISPATCH[name](scores, labels)
