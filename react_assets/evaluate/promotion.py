"""Promotion by evidence: whether a new version of a domain's model becomes its champion.

The rules of the domain's :class:`PromotionPolicy`, each checked on the evaluation's paired
comparisons (:mod:`react_assets.evaluate.evidence`):

1. **gain**: on each of the domain's own datasets, the new version's gain over the base on the
   official metric is positive with a p-value below ``significance``;
2. **general**: on each general set (official metric) and each image-text retrieval set (R@1,
   text to image and image to text), the lower bound of the difference from the base is at least
   ``-max_general_loss`` points;
3. **champion**: with a current champion, on each of the domain's own datasets the new version
   is not significantly worse than it (``not-worse``) or is significantly better (``better``).

A rule without its figure fails (no evidence, no promotion). The decision passes when every
rule does; it is then applied to the registry by :mod:`react_assets.tracking.promote`. Each
version is decided once, by the first evaluation that sees it: a later evaluation reports its
figures again but moves no alias (so a rollback stays).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from mlflow import MlflowClient

from react_assets.domains.registry import RegisteredDomain
from react_assets.domains.settings import PromotionPolicy
from react_assets.evaluate.evidence import BASE_ROLE, CHAMPION_ROLE, Comparison
from react_assets.evaluate.uncertainty import Difference
from react_assets.metadata import Store
from react_assets.metadata.sql import select_version_decision
from react_assets.tracking.promote import HELD, PROMOTED, AliasChange, apply_alias_change

RETRIEVAL_R1 = ("text_to_image_R@1", "image_to_text_R@1")
GAIN, GENERAL, VERSUS_CHAMPION = "gain over the base", "general sets", "versus the champion"


@dataclass(frozen=True)
class RuleCheck:
    """One rule on one figure: the difference (fractions), whether it held, and why."""

    rule: str
    dataset: str
    metric: str
    passed: bool
    reason: str
    difference: float | None = None
    low: float | None = None
    high: float | None = None
    p_value: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class PromotionDecision:
    """The policy's verdict on one version: promote it to ``@champion`` or hold it as
    ``@challenger``, with every rule checked."""

    promote: bool
    checks: tuple[RuleCheck, ...]
    policy: PromotionPolicy

    @property
    def reasons(self) -> tuple[str, ...]:
        """Why: the failed rules' reasons, or a line saying every rule held."""
        failed = tuple(c.reason for c in self.checks if not c.passed)
        if failed:
            return failed
        return (f"every rule held ({len(self.checks)} figures): "
                + "; ".join(c.reason for c in self.checks),)


def _points(value: float) -> str:
    return f"{100 * value:+.2f}"


def _describe(d: Difference) -> str:
    return (f"{_points(d.value)} points [{_points(d.low)}, {_points(d.high)}], "
            f"p = {d.p_value:.3g}")


def _check(rule: str, dataset: str, metric: str, found: Difference | None, passed: bool,
           verdict: str) -> RuleCheck:
    if found is None:
        return RuleCheck(rule, dataset, metric, False,
                         f"{dataset} {metric}: no paired figure for '{rule}': no evidence")
    return RuleCheck(rule, dataset, metric, passed,
                     f"{dataset} {metric} {rule}: {_describe(found)}: {verdict}",
                     found.value, found.low, found.high, found.p_value)


def decide_promotion(registered: RegisteredDomain, candidate_id: str,
                     comparisons: list[Comparison], champion_id: str | None) -> PromotionDecision:
    """The policy of ``registered``'s spec applied to ``candidate_id``'s paired comparisons
    (``champion_id``: the current champion, None when the domain has none)."""
    policy = registered.spec.promotion
    alpha = policy.significance
    found = {(c.role, c.dataset, c.metric): c.difference for c in comparisons
             if c.model_id == candidate_id
             and (c.role == BASE_ROLE or c.reference_id == champion_id)}
    checks: list[RuleCheck] = []
    for dataset in registered.spec.datasets:
        d = found.get((BASE_ROLE, dataset.name, dataset.metric))
        ok = d is not None and d.value > 0 and d.p_value < alpha
        checks.append(_check(GAIN, dataset.name, dataset.metric, d, ok,
                             f"significant at {alpha:g}" if ok else
                             f"not a significant gain at {alpha:g}"))
    if not registered.spec.datasets:
        checks.append(RuleCheck(GAIN, "-", "-", False, f"domain {registered.spec.name} declares "
                                "no dataset: nothing can show a gain"))
    general = [(d.name, d.metric) for d in registered.catalog.general_datasets]
    general += [(d.name, m) for d in registered.catalog.retrieval_datasets for m in RETRIEVAL_R1]
    floor = -policy.max_general_loss / 100
    for dataset, metric in general:
        d = found.get((BASE_ROLE, dataset, metric))
        ok = d is not None and d.low >= floor
        checks.append(_check(GENERAL, dataset, metric, d, ok,
                             f"{'within' if ok else 'beyond'} the allowed loss of "
                             f"{policy.max_general_loss:g} points at the interval's bound"))
    if champion_id is not None and champion_id != candidate_id:
        for dataset in registered.spec.datasets:
            d = found.get((CHAMPION_ROLE, dataset.name, dataset.metric))
            significant = d is not None and d.p_value < alpha
            if policy.versus_champion == "better":
                ok = significant and d.value > 0
                verdict = "significantly better" if ok else f"not significantly better at {alpha:g}"
            else:
                ok = d is not None and not (significant and d.value < 0)
                verdict = "not significantly worse" if ok else \
                    f"significantly worse at {alpha:g}"
            checks.append(_check(VERSUS_CHAMPION, dataset.name, dataset.metric, d, ok, verdict))
    return PromotionDecision(all(c.passed for c in checks), tuple(checks), policy)


UNCHANGED = "unchanged"  # the version was decided before, or is the champion already


@dataclass(frozen=True)
class RegisteredVersion:
    """A version of ``react-<domain>`` and the model it is."""

    model_id: str
    version: int


@dataclass(frozen=True)
class PromotionOutcome:
    """What an evaluation did about the domain's newest version: ``action`` ``promoted``,
    ``challenger`` or ``unchanged`` (``note`` says why), with the rules on its figures."""

    domain: str
    registered_model: str
    candidate: RegisteredVersion
    action: str
    champion_version: int | None
    previous_champion_version: int | None
    decision: PromotionDecision
    note: str = ""


def settle_version(store: Store, client: MlflowClient, registered: RegisteredDomain,
                   registered_model: str, candidate: RegisteredVersion,
                   champion: RegisteredVersion | None, comparisons: list[Comparison],
                   dagster_run_id: str | None = None) -> PromotionOutcome:
    """Decide ``candidate`` by the domain's policy and point the aliases (MLflow and
    ``promotions``), unless it was decided before or is the champion already."""
    decision = decide_promotion(registered, candidate.model_id, comparisons,
                                None if champion is None else champion.model_id)
    current = None if champion is None else champion.version
    outcome = PromotionOutcome(registered.spec.name, registered_model, candidate, UNCHANGED,
                               current, current, decision)
    if current == candidate.version:
        return dataclasses.replace(outcome, note=f"version {candidate.version} is @champion "
                                   "already: no alias moves")
    prior = store.fetch(select_version_decision, {"registered_model": registered_model,
                                                  "version": candidate.version})
    if prior:
        return dataclasses.replace(outcome, note=(
            f"version {candidate.version} was decided on {prior[0]['decided_at']:%Y-%m-%d %H:%M}"
            f" ({prior[0]['action']}): each version is decided once, no alias moves"))
    action = PROMOTED if decision.promote else HELD
    champion_after = candidate.version if decision.promote else current
    apply_alias_change(store, client, AliasChange(
        registered.spec.name, candidate.version, candidate.model_id, action, champion_after,
        current, decision.reasons, [c.as_dict() for c in decision.checks],
        dataclasses.asdict(decision.policy), registered.digest, dagster_run_id,
        registered_model))
    return dataclasses.replace(outcome, action=action, champion_version=champion_after)
