"""Metrics against hand-computed values and against the toolkit's sklearn-based code."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score, precision_recall_curve, roc_auc_score

from react_assets.evaluate.metrics import (
    MetricInputError,
    average_precision_11point,
    compute_metric,
    mean_average_precision_11point,
    mean_per_class_recall,
    per_class_recall,
    roc_auc,
    topk_accuracy,
)


def toolkit_ap_11point(targets: np.ndarray, scores: np.ndarray) -> float:
    """The vision-evaluation MeanAveragePrecisionNPointsEvaluator._per_class_calc loop."""
    precision, recall, _ = precision_recall_curve(targets, scores)
    precision_sum, recall_idx, precision_tmp = 0.0, 0, 0.0
    for threshold in np.linspace(1, 0, 11, endpoint=True).tolist():
        while recall_idx < len(recall) and threshold <= recall[recall_idx]:
            precision_tmp = max(precision_tmp, precision[recall_idx])
            recall_idx += 1
        precision_sum += precision_tmp
    return precision_sum / 11


def test_top1_ties_go_to_the_lower_class_index():
    scores = np.array([
        [0.5, 0.5, 0.0],   # tie 0/1, true 0 -> right (0 is first)
        [0.5, 0.5, 0.0],   # tie 0/1, true 1 -> wrong
        [0.1, 0.2, 0.7],   # right
        [0.6, 0.3, 0.1],   # true 2 -> wrong
    ])
    labels = np.array([0, 1, 2, 2])
    assert topk_accuracy(scores, labels, 1) == pytest.approx(0.5)
    assert compute_metric("accuracy", scores, labels) == pytest.approx(0.5)
    assert topk_accuracy(scores, labels, 2) == pytest.approx(0.75)
    assert topk_accuracy(scores, labels, 5) == 1.0  # k larger than C is clipped


def test_mean_per_class_excludes_a_class_without_samples():
    # 4 classes, class 3 has no sample. Sample 3 scores class 3 highest: the toolkit drops the
    # empty class's column first, so that sample falls back to its next best class (1).
    scores = np.array([
        [0.9, 0.1, 0.0, 0.0],   # true 0 -> 0
        [0.2, 0.7, 0.1, 0.0],   # true 1 -> 1
        [0.2, 0.1, 0.0, 0.7],   # true 1 -> 3 absent -> falls back to 0: wrong
        [0.1, 0.3, 0.1, 0.5],   # true 1 -> 3 absent -> 1: right
        [0.0, 0.1, 0.8, 0.1],   # true 2 -> 2
        [0.6, 0.1, 0.3, 0.0],   # true 2 -> 0: wrong
    ])
    labels = np.array([0, 1, 1, 1, 2, 2])
    expected = (1 / 1 + 2 / 3 + 1 / 2) / 3
    assert mean_per_class_recall(scores, labels) == pytest.approx(expected)
    assert compute_metric("mean-per-class", scores, labels) == pytest.approx(expected)
    # toolkit: balanced_accuracy_score on argmax over the columns of present classes
    present = np.unique(labels)
    preds = present[scores[:, present].argmax(1)]
    assert balanced_accuracy_score(labels, preds) == pytest.approx(expected)
    recall = per_class_recall(scores, labels)  # plain argmax over all classes, NaN when empty
    assert recall[:3] == pytest.approx([1.0, 1 / 3, 0.5])
    assert np.isnan(recall[3])


def test_11point_ap_hand_computed():
    # ranked: +(P1,R.5) -(P.5,R.5) +(P2/3,R1) -(P.5,R1), then the (P1, R0) end point.
    scores = np.array([0.9, 0.8, 0.7, 0.6])
    targets = np.array([1, 0, 1, 0])
    expected = (5 * (2 / 3) + 6 * 1.0) / 11   # t=1..0.6 -> 2/3 ; t=0.5..0 -> 1
    assert average_precision_11point(scores, targets) == pytest.approx(expected)
    assert toolkit_ap_11point(targets, scores) == pytest.approx(expected)


def test_11point_map_multilabel_skips_classes_without_positives():
    scores = np.array([
        [0.9, 0.1, 0.3],
        [0.8, 0.7, 0.2],
        [0.7, 0.6, 0.9],
        [0.6, 0.2, 0.1],
    ])
    targets = np.array([
        [1, 0, 0],
        [0, 1, 0],
        [1, 1, 0],
        [0, 0, 0],
    ])  # class 2 has no positive: excluded
    ap0 = (5 * (2 / 3) + 6) / 11
    ap1 = 1.0  # positives ranked 1st and 2nd
    assert mean_average_precision_11point(scores, targets) == pytest.approx((ap0 + ap1) / 2)
    assert compute_metric("11point_mAP", scores, targets) == pytest.approx((ap0 + ap1) / 2)


def test_11point_ap_matches_the_toolkit_with_many_ties():
    rng = np.random.default_rng(0)
    for _ in range(50):
        n = int(rng.integers(2, 40))
        scores = rng.integers(0, 5, size=n) / 4.0   # heavy ties
        targets = rng.integers(0, 2, size=n)
        if not targets.any():
            targets[0] = 1
        assert average_precision_11point(scores, targets) == pytest.approx(
            toolkit_ap_11point(targets, scores), abs=1e-12)


def test_roc_auc_hand_computed_and_against_sklearn():
    labels = np.array([0, 0, 1, 1])
    # positive scores 0.35, 0.8 ; negative 0.1, 0.4 -> pairs won: (0.35>0.1), (0.8>0.1), (0.8>0.4)
    scores = np.array([0.1, 0.4, 0.35, 0.8])
    assert roc_auc(scores, labels) == pytest.approx(0.75)
    two_col = np.stack([1 - scores, scores], axis=1)
    assert compute_metric("roc_auc", two_col, labels) == pytest.approx(0.75)
    tied = np.array([0.5, 0.1, 0.5, 0.9])  # one tied pair counts one half: (1 + .5 + 1 + 1) / 4
    assert roc_auc(tied, labels) == pytest.approx(0.875)
    rng = np.random.default_rng(1)
    for _ in range(20):
        y = rng.integers(0, 2, size=30)
        y[:2] = [0, 1]
        s = rng.integers(0, 6, size=30).astype(float)
        assert roc_auc(s, y) == pytest.approx(roc_auc_score(y, s))


@pytest.mark.parametrize("call, message", [
    (lambda: roc_auc(np.array([0.1, 0.2]), np.array([1, 1])), "0 negative"),
    (lambda: compute_metric("f1", np.zeros((2, 2)), np.array([0, 1])), "unknown metric"),
    (lambda: topk_accuracy(np.zeros((2, 2)), np.array([0, 2])), "label 2 of sample 1"),
    (lambda: topk_accuracy(np.array([[0.0, np.nan]]), np.array([0])), "sample 0"),
    (lambda: topk_accuracy(np.zeros((3, 2)), np.array([0, 1])), "3 rows"),
    (lambda: mean_average_precision_11point(np.zeros((2, 2)), np.zeros((2, 2))), "no class"),
])
def test_bad_input_is_named(call, message):
    with pytest.raises(MetricInputError, match=message):
        call()


def test_topk_accuracy_agrees_with_a_stable_sort_under_ties():
    rng = np.random.default_rng(2)
    scores = rng.integers(0, 4, size=(200, 7)).astype(np.float32)  # many ties
    labels = rng.integers(0, 7, size=200)
    order = np.argsort(-scores, axis=1, kind="stable")
    for k in (1, 2, 3, 5):
        expected = (order[:, :k] == labels[:, None]).any(axis=1).mean()
        assert topk_accuracy(scores, labels, k) == pytest.approx(expected)
    assert topk_accuracy(scores, labels, 1) == pytest.approx((scores.argmax(1) == labels).mean())
