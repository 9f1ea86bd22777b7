"""The promotion policy: set per domain in its spec over the project's defaults, and applied to a
version's paired comparisons (real bootstrap figures of constructed per-sample answers)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from react_assets.domains.registry import RegisteredDomain
from react_assets.domains.settings import PromotionPolicy
from react_assets.domains.spec import DomainSpecError, parse_domain_catalog
from react_assets.domains.versions import spec_digest
from react_assets.evaluate.evidence import measure_evidence
from react_assets.evaluate.promotion import GAIN, GENERAL, VERSUS_CHAMPION, decide_promotion
from react_assets.evaluate.uncertainty import RECALL, BootstrapConfig, Outcomes

SHAPES = {"name": "shapes", "classes": ["circle", "square"], "templates": ["a {}."],
          "datasets": [{"name": "shapes-test", "path": "eval/shapes"}]}
CATALOG = {"general_datasets": [{"name": "general-test", "path": "eval/general"}],
           "retrieval_datasets": [{"name": "captions", "path": "eval/captions/pairs.jsonl",
                                   "layout": "pairs-jsonl"}]}


def registered(**promotion) -> RegisteredDomain:
    domain = SHAPES | ({"promotion": promotion} if promotion else {})
    catalog = parse_domain_catalog({"domains": [domain]} | CATALOG, base=Path("/w"), source="s")
    return RegisteredDomain(catalog.domains[0], catalog, Path("/w/spec.yaml"))


def answers(rng, base: np.ndarray, gained: int, lost: int) -> np.ndarray:
    out = base.copy()
    out[rng.choice(np.flatnonzero(~base), gained, replace=False)] = True
    out[rng.choice(np.flatnonzero(base), lost, replace=False)] = False
    return out


def comparisons(models: dict[str, dict[str, np.ndarray]], champion: str | None = None):
    """Every model's paired comparisons, from per-figure answers: figure -> flags."""
    figures = {"shapes-test": "accuracy", "general-test": "accuracy",
               "captions:t2i": "text_to_image_R@1", "captions:i2t": "image_to_text_R@1"}
    outcomes = {}
    for model, answered in models.items():
        for figure, correct in answered.items():
            dataset = figure.split(":")[0]
            metric = figures[figure]
            outcomes[(model, dataset, metric)] = Outcomes(
                RECALL if "R@" in metric else "accuracy", correct=correct)
    return measure_evidence(outcomes, "base", champion, BootstrapConfig(1000)).comparisons


@pytest.fixture(scope="module")
def world():
    rng = np.random.default_rng(0)
    base = {"shapes-test": rng.random(400) < 0.5, "general-test": rng.random(600) < 0.6,
            "captions:t2i": rng.random(300) < 0.4, "captions:i2t": rng.random(300) < 0.4}
    return rng, base


def test_a_version_that_gains_and_keeps_the_general_sets_passes(world):
    rng, base = world
    good = base | {"shapes-test": answers(rng, base["shapes-test"], 40, 5)}
    decision = decide_promotion(registered(), "good", comparisons({"base": base, "good": good}),
                                None)
    assert decision.promote, decision.reasons
    assert [(c.rule, c.dataset, c.metric) for c in decision.checks] == [
        (GAIN, "shapes-test", "accuracy"), (GENERAL, "general-test", "accuracy"),
        (GENERAL, "captions", "text_to_image_R@1"), (GENERAL, "captions", "image_to_text_R@1")]
    assert decision.reasons[0].startswith("every rule held (4 figures)")


def test_no_significant_gain_or_a_loss_on_a_general_set_holds_the_version(world):
    rng, base = world
    level = base | {"shapes-test": answers(rng, base["shapes-test"], 10, 8)}
    held = decide_promotion(registered(), "m", comparisons({"base": base, "m": level}), None)
    assert not held.promote
    assert held.reasons == (held.checks[0].reason,)
    assert held.checks[0].reason.startswith("shapes-test accuracy gain over the base: +0.50 "
                                            "points [")
    assert "not a significant gain at 0.05" in held.checks[0].reason

    forgets = base | {"shapes-test": answers(rng, base["shapes-test"], 40, 0),
                      "captions:t2i": answers(rng, base["captions:t2i"], 0, 25)}
    held = decide_promotion(registered(), "m", comparisons({"base": base, "m": forgets}), None)
    assert [c.metric for c in held.checks if not c.passed] == ["text_to_image_R@1"]
    assert "beyond the allowed loss of 5 points at the interval's bound" in held.reasons[0]
    # a looser policy in the spec lets the same figures through
    assert decide_promotion(registered(max_general_loss=20), "m",
                            comparisons({"base": base, "m": forgets}), None).promote


def test_a_missing_figure_is_no_evidence(world):
    rng, base = world
    good = base | {"shapes-test": answers(rng, base["shapes-test"], 40, 0)}
    without = {k: v for k, v in good.items() if k != "captions:i2t"}
    decision = decide_promotion(registered(), "m",
                                comparisons({"base": base, "m": without}), None)
    assert not decision.promote
    assert decision.reasons == ("captions image_to_text_R@1: no paired figure for 'general "
                                "sets': no evidence",)


def test_against_the_champion_not_worse_or_better_as_the_spec_says(world):
    rng, base = world
    champion = base | {"shapes-test": answers(rng, base["shapes-test"], 60, 0)}
    worse = champion | {"shapes-test": answers(rng, champion["shapes-test"], 0, 30)}
    alike = champion | {"shapes-test": answers(rng, champion["shapes-test"], 4, 4)}
    found = comparisons({"base": base, "champion": champion, "worse": worse, "alike": alike},
                        champion="champion")
    worse_decision = decide_promotion(registered(), "worse", found, "champion")
    assert worse_decision.checks[0].passed     # still a gain over the base
    assert not worse_decision.promote
    assert [c.rule for c in worse_decision.checks if not c.passed] == [VERSUS_CHAMPION]
    assert "significantly worse at 0.05" in worse_decision.reasons[0]
    assert decide_promotion(registered(), "alike", found, "champion").promote
    strict = decide_promotion(registered(versus_champion="better"), "alike", found, "champion")
    assert not strict.promote and "not significantly better" in strict.reasons[0]


def test_the_spec_sets_the_policy_over_the_project_defaults():
    assert registered().spec.promotion == PromotionPolicy()
    assert PromotionPolicy().level == pytest.approx(0.95)
    policy = registered(significance=0.01, max_general_loss=2, versus_champion="better")
    assert policy.spec.promotion == PromotionPolicy(0.01, 2.0, "better")
    assert spec_digest(policy.spec) == spec_digest(registered().spec)  # not what the domain means
    with pytest.raises(DomainSpecError, match="unknown promotion setting 'signifcance'; did you "
                                              "mean 'significance'"):
        registered(signifcance=0.01)
    with pytest.raises(DomainSpecError, match=r"significance must be in \(0, 0.5\], got 0.9"):
        registered(significance=0.9)
    with pytest.raises(DomainSpecError, match="promotion.max_general_loss must be a number"):
        registered(max_general_loss="two")
    with pytest.raises(DomainSpecError, match="versus_champion must be one of"):
        registered(versus_champion="newer")
