"""Linear probes on frozen image features, the ELEVATER way.

For n-shot (n in ``shots``, per seed) n images per class are drawn from the dataset's train
split (never its test images); full-shot takes the whole train split. A validation split is
carved from those training images (per class, ``val_fraction``, at least one when a class has
two), the regularisation is chosen on it from a small grid, the head is refit on every training
image with the chosen value and scored on the test images with the dataset's own metric.

Two heads: scikit-learn's ``LogisticRegression`` (L2, ``C`` = 1 / lambda, from scratch), and,
optionally, a torch head initialised from the text classifier (ELEVATER's language-initialised
probe; weight decay chosen on the same split). Features are L2-normalised first.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression

from react_assets.customize.linear_head import HeadConfig, LinearHead, single_threaded, train_heads
from react_assets.evaluate.metrics import compute_metric

log = logging.getLogger(__name__)

LOGISTIC, TEXT_INIT = "logistic", "text-init"
Run = tuple[str, int | None, int, np.ndarray]  # (setting, shots, seed, train rows)
HEAD_BATCH_ELEMENTS = 1 << 24  # heads x rows x classes of one batch of text-initialised heads


@dataclass(frozen=True)
class ProbeConfig:
    """The probe protocol: shots, seeds, the validation carve and the solver grids."""

    shots: tuple[int, ...] = (5, 20, 50)
    seeds: tuple[int, ...] = (0, 1, 2)
    full_shot: bool = True
    val_fraction: float = 0.2
    c_grid: tuple[float, ...] = (0.1, 1.0, 10.0, 100.0, 1000.0)
    max_iter: int = 200
    language_init: bool = True
    head: HeadConfig = HeadConfig(epochs=100, lr=1e-3, weight_decay=0.0)
    weight_decay_grid: tuple[float, ...] = (0.0, 0.1)

    def __post_init__(self) -> None:
        if any(n < 1 for n in self.shots) or not 0.0 < self.val_fraction < 1.0:
            raise ValueError(f"ProbeConfig: shots must be >= 1 and val_fraction in (0, 1): {self}")
        if not self.c_grid or any(c <= 0 for c in self.c_grid):
            raise ValueError(f"ProbeConfig.c_grid must hold positive values, got {self.c_grid}")


@dataclass(frozen=True)
class ProbeFigure:
    """One probe run: its setting (``5-shot``, ``full``), seed, head, score and chosen value."""

    setting: str
    shots: int | None
    seed: int
    head: str
    value: float
    chosen: float
    n_train: int
    details: dict[str, Any] = field(default_factory=dict)


def sample_shots(labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Indices of ``n`` samples per class (all of a smaller class), drawn with ``seed``; each
    class gets its own stream, so a class's draw does not depend on the others. Sorted."""
    labels = np.asarray(labels)
    chosen = []
    for cls in np.unique(labels):
        members = np.flatnonzero(labels == cls)
        rng = np.random.default_rng([seed, int(cls)])
        chosen.append(rng.permutation(members)[:n])
    return np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, dtype=np.int64)


def carve_validation(indices: np.ndarray, labels: np.ndarray, fraction: float, seed: int
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Split ``indices`` per class into (train, validation); a class with one sample stays in
    train, any other gives ``round(fraction * count)`` (at least one) to validation."""
    train, val = [], []
    for cls in np.unique(labels[indices]):
        members = np.random.default_rng([seed, int(cls), 7]).permutation(
            indices[labels[indices] == cls])
        n_val = 0 if len(members) < 2 else max(1, round(fraction * len(members)))
        val.append(members[:n_val])
        train.append(members[n_val:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(val))


def _normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def _logistic_scores(x: np.ndarray, y: np.ndarray, test: np.ndarray, c: float,
                     num_classes: int, max_iter: int) -> np.ndarray:
    """Probabilities ``(N, num_classes)``; classes absent from ``y`` get probability 0."""
    out = np.zeros((len(test), num_classes), dtype=np.float64)
    if len(np.unique(y)) == 1:  # one class seen: it is the prediction
        out[:, int(y[0])] = 1.0
        return out
    model = LogisticRegression(C=c, max_iter=max_iter)
    with single_threaded():
        model.fit(x, y)
        out[:, model.classes_] = model.predict_proba(test)
    return out


def _selection_metric(metric: str) -> str:
    """The metric the grid is chosen by: the dataset's own, accuracy where that is undefined on
    a small validation split (ROC AUC needs both classes)."""
    return "accuracy" if metric in ("roc_auc", "11point_mAP") else metric


def probe_once(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray,
               metric: str, num_classes: int, config: ProbeConfig, seed: int,
               ) -> tuple[float, float]:
    """The logistic probe: choose ``C`` from ``c_grid`` on a carved validation split, refit on
    every training image, score the test set. Returns (test metric, chosen C)."""
    x, test = _normalise(train_x), _normalise(test_x)
    y = np.asarray(train_y, dtype=np.int64)
    grid = config.c_grid
    fit, val = carve_validation(np.arange(len(y)), y, config.val_fraction, seed)
    chosen = grid[len(grid) // 2]
    if len(val) and len(fit):
        picked = _selection_metric(metric)
        found = [compute_metric(picked, _logistic_scores(x[fit], y[fit], x[val], c, num_classes,
                                                         config.max_iter), y[val]) for c in grid]
        chosen = grid[int(np.argmax(found))]  # ties: the first (strongest regularisation)
    scores = _logistic_scores(x, y, test, chosen, num_classes, config.max_iter)
    return float(compute_metric(metric, scores, np.asarray(test_y))), float(chosen)


def text_init_probes(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray,
                     test_y: np.ndarray, metric: str, num_classes: int, config: ProbeConfig,
                     init: LinearHead, runs: list[Run]) -> list[ProbeFigure]:
    """The text-initialised probe of every run, the protocol of :func:`probe_once` with the
    weight decay of ``weight_decay_grid`` as regulariser: every run's grid heads are trained
    together, then every run's refit (:func:`~react_assets.customize.linear_head.train_heads`).
    """
    x, test = _normalise(train_x), _normalise(test_x)
    y = np.asarray(train_y, dtype=np.int64)
    grid = config.weight_decay_grid
    splits = [carve_validation(rows, y, config.val_fraction, seed) for _, _, seed, rows in runs]
    chosen = [grid[len(grid) // 2]] * len(runs)
    search = [(r, decay) for r, (fit, val) in enumerate(splits) if len(fit) and len(val)
              for decay in grid]
    heads = _heads(x, y, [splits[r][0] for r, _ in search], [d for _, d in search],
                   num_classes, config, init)
    found: dict[int, list[float]] = {}
    for (r, _), head in zip(search, heads, strict=True):
        val = splits[r][1]
        found.setdefault(r, []).append(compute_metric(
            _selection_metric(metric), head.probabilities(x[val]), y[val]))
    for r, values in found.items():
        chosen[r] = grid[int(np.argmax(values))]  # ties: the first (no decay)
    refits = _heads(x, y, [rows for _, _, _, rows in runs], chosen, num_classes, config, init)
    return [ProbeFigure(setting, n, seed, TEXT_INIT,
                        float(compute_metric(metric, head.probabilities(test), np.asarray(test_y))),
                        float(decay), int(len(rows)))
            for (setting, n, seed, rows), head, decay in zip(runs, refits, chosen, strict=True)]


def _heads(x: np.ndarray, y: np.ndarray, rows: list[np.ndarray], decays: list[float],
           num_classes: int, config: ProbeConfig, init: LinearHead) -> list[LinearHead]:
    """One text-initialised head per (rows, weight decay), trained in batches of heads whose
    (heads x rows x classes) tensors stay under ``HEAD_BATCH_ELEMENTS``; each batch on the
    union of its heads' rows."""
    heads: list[LinearHead] = []
    per_batch = max(1, HEAD_BATCH_ELEMENTS // (len(y) * num_classes))
    for start in range(0, len(rows), per_batch):
        batch = rows[start:start + per_batch]
        used = np.unique(np.concatenate(batch))
        mask = np.zeros((len(batch), len(used)), dtype=bool)
        for k, head_rows in enumerate(batch):
            mask[k, np.searchsorted(used, head_rows)] = True
        heads += train_heads(x[used], y[used], mask, num_classes, config.head,
                             decays[start:start + per_batch], init=init)
    return heads


def run_probes(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray,
               metric: str, num_classes: int, config: ProbeConfig | None = None,
               init: LinearHead | None = None, heads: tuple[str, ...] = (LOGISTIC, TEXT_INIT),
               ) -> list[ProbeFigure]:
    """Every n-shot (per seed) and the full-shot probe, for each head in ``heads``
    (``text-init`` only when ``init`` is given and ``config.language_init``)."""
    config = config or ProbeConfig()
    train_y = np.asarray(train_y, dtype=np.int64)
    runs: list[Run] = [
        (f"{n}-shot", n, seed, sample_shots(train_y, n, seed))
        for n in config.shots for seed in config.seeds]
    if config.full_shot:
        runs.append(("full", None, 0, np.arange(len(train_y))))
    figures: list[ProbeFigure] = []
    with single_threaded():  # once for every fit below
        if LOGISTIC in heads:
            for setting, n, seed, rows in runs:
                value, chosen = probe_once(train_x[rows], train_y[rows], test_x, test_y, metric,
                                           num_classes, config, seed)
                figures.append(ProbeFigure(setting, n, seed, LOGISTIC, value, chosen,
                                           int(len(rows))))
        if TEXT_INIT in heads and init is not None and config.language_init:
            figures += text_init_probes(train_x, train_y, test_x, test_y, metric, num_classes,
                                        config, init, runs)
    for f in figures:
        log.debug("probe %s %s seed %d: %.4f (chose %g)", f.head, f.setting, f.seed, f.value,
                  f.chosen)
    return figures
