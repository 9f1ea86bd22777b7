"""Time the linear-probe protocol (one model on one dataset) on synthetic clustered features.

The figures the evaluation pays per image tower and dataset: 5/20/50-shot x 3 seeds and
full-shot, each with its validation-carved grid search, for the from-scratch logistic head and
the text-initialised head; plus the accuracy each reaches (the clusters are separable up to
``--noise``).

    python -m bench.speed.probe --dims 64 512 --classes 10 --train-per-class 60

Writes bench/results/probe.json (a row per dimension).
"""

from __future__ import annotations

import argparse
import logging
import time

import numpy as np

from bench.common.results import add_results_dir, write_result
from react_assets.customize.linear_head import LinearHead
from react_assets.evaluate.probe import LOGISTIC, TEXT_INIT, ProbeConfig, run_probes

LOG = logging.getLogger(__name__)


def bench(dim: int, classes: int, per_class: int, n_test: int, noise: float) -> dict:
    """One configuration's timings and mean accuracies."""
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(classes, dim))
    train_y = np.repeat(np.arange(classes), per_class)
    test_y = rng.integers(0, classes, n_test)
    train_x = centres[train_y] + noise * rng.normal(size=(len(train_y), dim))
    test_x = centres[test_y] + noise * rng.normal(size=(n_test, dim))
    text = centres + 2 * noise * rng.normal(size=centres.shape)
    init = LinearHead.from_classifier((text / np.linalg.norm(text, axis=1, keepdims=True)).T)
    row = {"dim": dim, "classes": classes, "train_per_class": per_class, "n_test": n_test}
    for head in (LOGISTIC, TEXT_INIT):
        started = time.perf_counter()
        figures = run_probes(train_x, train_y, test_x, test_y, "accuracy", classes,
                             ProbeConfig(), init=init, heads=(head,))
        row[f"{head}_s"] = round(time.perf_counter() - started, 2)
        row[f"{head}_runs"] = len(figures)
        row[f"{head}_mean_accuracy"] = round(float(np.mean([f.value for f in figures])), 4)
    return row


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dims", type=int, nargs="+", default=[64, 512])
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--train-per-class", type=int, default=60)
    parser.add_argument("--test", type=int, default=2000)
    parser.add_argument("--noise", type=float, default=1.5)
    add_results_dir(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    rows = [bench(d, args.classes, args.train_per_class, args.test, args.noise) for d in args.dims]
    for r in rows:
        LOG.info("%s", r)
    figures = {"noise": args.noise, "rows": rows}
    LOG.info("wrote %s", write_result("probe", figures, directory=args.results_dir))
    return figures


if __name__ == "__main__":
    main()
