"""Time the linear-probe protocol (one model on one dataset) on synthetic clustered features.

The figures the evaluation pays per image tower and dataset: 5/20/50-shot x 3 seeds and
full-shot, each with its validation-carved grid search, for the from-scratch logistic head and
the text-initialised head; plus the accuracy each reaches (the clusters are separable up to
``--noise``).

    .venv/bin/python bench/bench_probe.py --dims 64 512 --classes 10 --train-per-class 60

Merges its rows into bench/results/probe.json (keyed by dim, classes, train per class).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from react_assets.customize.linear_head import LinearHead  # noqa: E402
from react_assets.evaluate.probe import LOGISTIC, TEXT_INIT, ProbeConfig, run_probes  # noqa: E402
from react_assets.files.atomic import write_json  # noqa: E402

LOG = logging.getLogger("bench_probe")
RESULTS = Path(__file__).resolve().parent / "results" / "probe.json"


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dims", type=int, nargs="+", default=[64, 512])
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--train-per-class", type=int, default=60)
    parser.add_argument("--test", type=int, default=2000)
    parser.add_argument("--noise", type=float, default=1.5)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    old = json.loads(RESULTS.read_text()) if RESULTS.is_file() else []
    rows = [bench(d, args.classes, args.train_per_class, args.test, args.noise) for d in args.dims]
    keys = {(r["dim"], r["classes"], r["train_per_class"]) for r in rows}
    merged = [r for r in old if (r["dim"], r["classes"], r["train_per_class"]) not in keys] + rows
    write_json(RESULTS, merged)
    for r in rows:
        LOG.info("%s", r)


if __name__ == "__main__":
    main()
