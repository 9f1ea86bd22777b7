"""Bootstrap intervals and paired differences: reproducible, honest about their coverage, and able
to tell a clearly better model from one that only differs by chance."""

from __future__ import annotations

import numpy as np
import pytest

from react_assets.evaluate.evidence import measure_evidence
from react_assets.evaluate.metrics import compute_metric
from react_assets.evaluate.uncertainty import (
    RECALL,
    BootstrapConfig,
    Outcomes,
    outcomes_from_scores,
    paired_difference,
    percentile_interval,
    resampled,
)

CONFIG = BootstrapConfig(n_resamples=1000, level=0.95, seed=0)


def flags(rng: np.random.Generator, n: int, rate: float) -> np.ndarray:
    return rng.random(n) < rate


def flipped(correct: np.ndarray, wrong_to_right: int, right_to_wrong: int,
            rng: np.random.Generator) -> np.ndarray:
    """``correct`` with some wrong answers made right and some right ones made wrong."""
    out = correct.copy()
    out[rng.choice(np.flatnonzero(~correct), wrong_to_right, replace=False)] = True
    out[rng.choice(np.flatnonzero(correct), right_to_wrong, replace=False)] = False
    return out


def test_the_same_seed_gives_the_same_intervals_whatever_else_is_computed():
    rng = np.random.default_rng(1)
    base = Outcomes("accuracy", correct=flags(rng, 300, 0.6))
    other = Outcomes("accuracy", correct=flags(rng, 300, 0.7))
    alone = resampled({"base": base}, "set/accuracy", CONFIG)["base"]
    together = resampled({"other": other, "base": base}, "set/accuracy", CONFIG)
    np.testing.assert_array_equal(alone, together["base"])   # draws: seed and figure only
    again = percentile_interval(base.value(), alone, 0.95)
    assert again == percentile_interval(base.value(), together["base"], 0.95)
    moved = resampled({"base": base}, "set/accuracy", BootstrapConfig(1000, 0.95, seed=1))
    assert not np.array_equal(moved["base"], alone)
    elsewhere = resampled({"base": base}, "other-set/accuracy", CONFIG)
    assert not np.array_equal(elsewhere["base"], alone)


def test_the_95_percent_interval_covers_the_true_accuracy_about_95_times_in_100():
    rng = np.random.default_rng(7)
    truth, covered, widths = 0.7, 0, []
    config = BootstrapConfig(n_resamples=400, level=0.95, seed=3)
    for trial in range(200):
        o = Outcomes("accuracy", correct=flags(rng, 200, truth))
        i = percentile_interval(o.value(), resampled({"m": o}, f"t{trial}/accuracy", config)["m"],
                                0.95)
        covered += i.low <= truth <= i.high
        widths.append(i.high - i.low)
    assert 0.90 <= covered / 200 <= 0.99
    # binomial standard error sqrt(.7 * .3 / 200) = 3.2 points: a 95% interval is ~12.7 wide
    assert np.mean(widths) == pytest.approx(2 * 1.96 * np.sqrt(truth * (1 - truth) / 200), rel=0.1)


def test_a_clearly_better_model_differs_significantly_and_a_shuffled_one_does_not():
    rng = np.random.default_rng(2)
    base = flags(rng, 400, 0.6)
    better = flipped(base, 20, 0, rng)           # 20 more right answers: +5 points
    same = flipped(base, 25, 25, rng)            # 50 answers changed, as many right as before
    group = {m: Outcomes("accuracy", correct=c) for m, c in
             {"base": base, "better": better, "same": same}.items()}
    draws = resampled(group, "set/accuracy", CONFIG)
    up = paired_difference(group["better"].value() - group["base"].value(), draws["better"],
                           draws["base"], 0.95, 400)
    assert up.value == pytest.approx(0.05)
    assert up.low > 0.02 and up.high < 0.08
    assert up.p_value < 0.01 and up.significant(0.05)
    flat = paired_difference(0.0, draws["same"], draws["base"], 0.95, 400)
    assert flat.low < 0 < flat.high and flat.p_value > 0.5 and not flat.significant(0.05)
    itself = paired_difference(0.0, draws["base"], draws["base"], 0.95, 400)
    assert (itself.low, itself.high, itself.p_value) == (0.0, 0.0, 1.0)
    # paired, the +5 points stand out; the two models' own intervals overlap
    base_i = percentile_interval(group["base"].value(), draws["base"], 0.95)
    better_i = percentile_interval(group["better"].value(), draws["better"], 0.95)
    assert better_i.low < base_i.high
    assert up.high - up.low < (better_i.high - better_i.low)


@pytest.mark.parametrize("metric", ["accuracy", "mean-per-class", "11point_mAP", "roc_auc"])
def test_the_statistic_on_the_whole_set_is_the_reported_metric(metric):
    rng = np.random.default_rng(4)
    n_classes = 2 if metric == "roc_auc" else 5
    labels = rng.integers(0, n_classes, 120)
    labels[:n_classes] = np.arange(n_classes)
    scores = rng.random((120, n_classes)) + 0.8 * np.eye(n_classes)[labels]
    scores[:, -1] = 0.0 if metric == "mean-per-class" else scores[:, -1]
    outcomes = outcomes_from_scores(metric, scores, labels)
    assert outcomes.value() == pytest.approx(compute_metric(metric, scores, labels))
    draws = resampled({"m": outcomes}, f"set/{metric}", BootstrapConfig(n_resamples=100))["m"]
    assert draws.shape == (100,) and np.isfinite(draws).all()


def test_evidence_compares_each_model_with_the_base_and_the_champion_on_the_same_draws():
    rng = np.random.default_rng(5)
    base = flags(rng, 300, 0.5)
    champion = flipped(base, 30, 0, rng)
    challenger = flipped(champion, 0, 30, rng)   # the base's answers again
    outcomes = {(m, "set", "accuracy"): Outcomes("accuracy", correct=c)
                for m, c in {"base": base, "champion": champion, "new": challenger}.items()}
    outcomes |= {("base", "captions", "text_to_image_R@1"): Outcomes(RECALL, correct=base[:50])}
    evidence = measure_evidence(outcomes, "base", "champion", CONFIG)
    assert set(evidence.intervals) == set(outcomes)
    found = {(c.model_id, c.role): c.difference for c in evidence.comparisons}
    assert set(found) == {("champion", "base"), ("new", "base"), ("new", "champion")}
    assert found[("new", "base")].p_value == 1.0                     # the same answers
    assert found[("new", "champion")].value == pytest.approx(-0.10)
    assert found[("new", "champion")].significant(0.05)


def test_outcomes_refuse_what_cannot_be_resampled():
    with pytest.raises(ValueError, match="'mean-per-class' need labels"):
        Outcomes("mean-per-class", correct=np.ones(3, bool))
    with pytest.raises(ValueError, match="no resampled statistic for metric 'f1'"):
        Outcomes("f1", correct=np.ones(3, bool))
    with pytest.raises(ValueError, match="the same samples and metric for every model"):
        resampled({"a": Outcomes("accuracy", correct=np.ones(3, bool)),
                   "b": Outcomes("accuracy", correct=np.ones(4, bool))}, "set/accuracy", CONFIG)
    with pytest.raises(ValueError, match="n_resamples must be >= 100"):
        BootstrapConfig(n_resamples=10)
