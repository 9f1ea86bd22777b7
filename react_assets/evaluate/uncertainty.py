"""How sure a figure is: seeded bootstrap intervals over the test samples, and paired differences.

A figure (a model's metric on one set) is recomputed on resamples of the set's samples, drawn
with replacement. Its interval is the percentile interval of those values at ``level``. Every
model of one figure is resampled with the **same** draws, so the difference of two models is
paired: it is recomputed on each resample too, and its interval and two-sided p-value come from
those differences. The p-value is ``2 * min(P(d <= 0), P(d >= 0))`` over the resamples, each
count plus one over the resamples plus one (so it is never 0); up to the resampling's grain, it
is below ``1 - level`` when the difference's interval leaves zero out.

The draws depend only on the seed and the figure's name (dataset and metric), never on the order
in which figures are computed: the same evaluation gives the same intervals.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from react_assets.evaluate.metrics import METRIC_NAMES, MetricInputError, compute_metric

RECALL = "recall"  # a mean of per-sample hits: image-text retrieval's recall@k
FLAG_METRICS = ("accuracy", RECALL)
DRAW_CELLS = 4_000_000  # resample indices held at once (resamples x samples)


@dataclass(frozen=True)
class BootstrapConfig:
    """How many resamples, the intervals' level (two-sided) and the seed of the draws."""

    n_resamples: int = 2000
    level: float = 0.95
    seed: int = 0

    def __post_init__(self) -> None:
        if self.n_resamples < 100:
            raise ValueError(f"BootstrapConfig.n_resamples must be >= 100, got {self.n_resamples}")
        if not 0.5 <= self.level < 1.0:
            raise ValueError(f"BootstrapConfig.level must be in [0.5, 1), got {self.level}")


@dataclass(frozen=True)
class Outcomes:
    """What one model did on each sample of a set, enough to recompute its metric on a resample.

    ``correct`` (N,) is the top-1 hit of each sample (``accuracy``, ``mean-per-class``) or its
    hit at k (``recall``); ``labels`` (N,) the true classes (``mean-per-class``); ``scores``
    (N, C) with ``labels`` (N,) or multi-hot (N, C) for ``11point_mAP`` and ``roc_auc``."""

    metric: str
    correct: np.ndarray | None = None
    labels: np.ndarray | None = None
    scores: np.ndarray | None = None

    @property
    def n(self) -> int:
        for array in (self.correct, self.labels, self.scores):
            if array is not None:
                return int(array.shape[0])
        raise ValueError(f"outcomes of metric {self.metric!r} hold no sample")

    def __post_init__(self) -> None:
        if self.metric not in (*METRIC_NAMES, RECALL):
            raise ValueError(f"no resampled statistic for metric {self.metric!r}")
        needs = {"accuracy": ("correct",), RECALL: ("correct",),
                 "mean-per-class": ("correct", "labels")}.get(self.metric, ("scores", "labels"))
        missing = [name for name in needs if getattr(self, name) is None]
        if missing:
            raise ValueError(f"outcomes of metric {self.metric!r} need {', '.join(missing)}")

    def value(self) -> float:
        """The metric on the whole set."""
        return float(self.statistic(np.arange(self.n)[None, :])[0])

    def statistic(self, draws: np.ndarray) -> np.ndarray:
        """The metric on each resample: ``draws`` (R, N) sample indices -> (R,) values (NaN
        where a resample leaves the metric undefined, e.g. ROC-AUC with one class only)."""
        if self.metric in FLAG_METRICS:
            return self.correct[draws].mean(axis=1)
        if self.metric == "mean-per-class":
            return _mean_per_class(self.correct[draws], self.labels[draws],
                                   int(self.labels.max()) + 1)
        out = np.empty(len(draws))
        for i, rows in enumerate(draws):
            try:
                out[i] = compute_metric(self.metric, self.scores[rows], self.labels[rows])
            except MetricInputError:
                out[i] = np.nan
        return out


def _mean_per_class(correct: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Mean recall over the classes present in each resample row."""
    rows = np.arange(len(labels))[:, None] * n_classes
    cells = (rows + labels).ravel()
    support = np.bincount(cells, minlength=len(labels) * n_classes).reshape(len(labels), -1)
    hits = np.bincount(cells, weights=correct.ravel().astype(np.float64),
                       minlength=len(labels) * n_classes).reshape(len(labels), -1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.nanmean(np.where(support > 0, hits / support, np.nan), axis=1)


def figure_rng(config: BootstrapConfig, figure: str) -> np.random.Generator:
    """The draws of one figure: from the seed and the figure's name alone."""
    return np.random.default_rng([config.seed, zlib.crc32(figure.encode())])


def resampled(outcomes: Mapping[str, Outcomes], figure: str, config: BootstrapConfig
              ) -> dict[str, np.ndarray]:
    """Each model's metric on the same ``config.n_resamples`` resamples of one set: (R,) each.

    ``figure`` names what is resampled (``<dataset>/<metric>``) and, with the seed, fixes the
    draws. Every model's outcomes must cover the same samples, in the same order."""
    if not outcomes:
        return {}
    sizes = {key: o.n for key, o in outcomes.items()}
    metrics = {o.metric for o in outcomes.values()}
    if len(set(sizes.values())) != 1 or len(metrics) != 1:
        raise ValueError(f"{figure}: paired resampling needs the same samples and metric for "
                         f"every model, got sizes {sizes} and metrics {sorted(metrics)}")
    n = next(iter(sizes.values()))
    if n == 0:
        raise ValueError(f"{figure}: no sample to resample")
    rng = figure_rng(config, figure)
    chunk = max(1, DRAW_CELLS // n)
    values: dict[str, list[np.ndarray]] = {key: [] for key in outcomes}
    for start in range(0, config.n_resamples, chunk):
        draws = rng.integers(0, n, size=(min(chunk, config.n_resamples - start), n))
        for key, o in outcomes.items():
            values[key].append(o.statistic(draws))
    return {key: np.concatenate(parts) for key, parts in values.items()}


@dataclass(frozen=True)
class Interval:
    """A figure with its percentile interval (fractions); ``level`` two-sided."""

    value: float
    low: float
    high: float
    level: float


@dataclass(frozen=True)
class Difference:
    """A paired difference (first minus second model, fractions) with its interval and p-value."""

    value: float
    low: float
    high: float
    p_value: float
    level: float
    n_samples: int

    def significant(self, alpha: float) -> bool:
        """Whether the difference is not zero at ``alpha`` (two-sided)."""
        return self.p_value < alpha


def percentile_interval(value: float, draws: np.ndarray, level: float) -> Interval:
    """``value`` with the ``level`` percentile interval of its resampled ``draws``."""
    kept = draws[np.isfinite(draws)]
    if kept.size == 0:
        raise ValueError("every resample left the figure undefined: no interval")
    tail = (1.0 - level) / 2
    low, high = np.quantile(kept, [tail, 1.0 - tail])
    return Interval(float(value), float(low), float(high), level)


def paired_difference(value: float, first: np.ndarray, second: np.ndarray, level: float,
                      n_samples: int) -> Difference:
    """``value`` (first minus second on the whole set) with the interval and two-sided p-value
    of the differences on the same resamples."""
    differences = first - second
    kept = differences[np.isfinite(differences)]
    interval = percentile_interval(value, kept, level)
    below, above = int((kept <= 0).sum()), int((kept >= 0).sum())
    p_value = min(1.0, 2 * (min(below, above) + 1) / (kept.size + 1))
    return Difference(float(value), interval.low, interval.high, p_value, level, n_samples)


def outcomes_from_scores(metric: str, scores: np.ndarray, labels: np.ndarray) -> Outcomes:
    """The per-sample outcomes of a classification figure, from its scores (N, C) and labels.

    ``accuracy``: the argmax's hit. ``mean-per-class``: the argmax over the classes present in
    the set (as the metric takes it), with the labels. Other metrics keep the scores."""
    labels = np.asarray(labels)
    if metric == "accuracy":
        return Outcomes(metric, correct=scores.argmax(axis=1) == labels)
    if metric == "mean-per-class":
        present = np.unique(labels)
        predicted = present[scores[:, present].argmax(axis=1)]
        return Outcomes(metric, correct=predicted == labels, labels=labels.astype(np.int64))
    return Outcomes(metric, labels=labels, scores=np.asarray(scores, dtype=np.float32))
