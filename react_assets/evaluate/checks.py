"""Data contracts of a domain's evaluation."""

from __future__ import annotations

import json

from mlflow import MlflowClient

from react_assets.domains.registry import registered_domain
from react_assets.metadata import Store
from react_assets.metadata.sql import (
    select_domain_promotions,
    select_domain_zeroshot_figures,
    select_latest_domain_models,
    select_version_decision,
)
from react_assets.tracking.contracts import CheckOutcome
from react_assets.tracking.links import version_of
from react_assets.tracking.promote import (
    CHALLENGER,
    CHAMPION,
    HELD,
    ROLLBACK,
    alias_version,
    registered_model_name,
)


def customized_not_worse_than_base(store: Store, domain: str, model_kind: str = "gated-image",
                                   tolerance: float = 0.02) -> CheckOutcome:
    """Per domain dataset: customized - base >= -tolerance on the official metric (0..1)."""
    spec = registered_domain(store, domain).spec
    figures = {(r["model_kind"], r["dataset"]): float(r["value"])
               for r in store.fetch(select_domain_zeroshot_figures, {"domain": domain})}
    gains: dict[str, float] = {}
    problems: list[str] = []
    for dataset in spec.datasets:
        base = figures.get(("base", dataset.name))
        custom = figures.get((model_kind, dataset.name))
        if base is None or custom is None:
            problems.append(f"{dataset.name}: no figure for "
                            f"{'base' if base is None else model_kind}")
            continue
        gains[dataset.name] = round(custom - base, 4)
        if custom - base < -tolerance:
            problems.append(f"{dataset.name}: {model_kind} {custom:.4f} < base "
                            f"{base:.4f} - {tolerance}")
    if not spec.datasets:
        problems.append(f"domain {domain} declares no evaluation dataset")
    return CheckOutcome(passed=not problems, metadata={
        "domain": domain, "model_kind": model_kind, "tolerance": tolerance,
        "gain_by_dataset": gains, "problems": problems})


def champion_by_evidence(store: Store, client: MlflowClient, domain: str) -> CheckOutcome:
    """The domain's newest ``react-<domain>`` version was decided by its promotion policy, and
    MLflow's ``@champion`` is the version the metadata's last alias change left.

    Fails when either does not hold; passes with the action ``challenger`` too (the metadata says
    so: a new version that did not earn ``@champion`` is news, not a broken pipeline). The
    metadata shows the last change and the figures of the last decision."""
    name = registered_model_name(domain)
    changes = store.fetch(select_domain_promotions, {"domain": domain})
    newest = [version_of(r["mlflow_model_uri"]) for r in store.fetch(
        select_latest_domain_models, {"domain": domain})
        if (r["mlflow_model_uri"] or "").startswith(f"models:/{name}/")]
    registry = {alias: alias_version(client, name, alias) for alias in (CHAMPION, CHALLENGER)}
    metadata: dict = {"domain": domain, "registered_model": name,
                      "mlflow_champion": registry[CHAMPION],
                      "mlflow_challenger": registry[CHALLENGER]}
    problems: list[str] = []
    if not newest:
        return CheckOutcome(passed=True, metadata=metadata | {
            "action": "none", "problems": [],
            "reasons": [f"domain {domain} has no {name} model: nothing to promote"]})
    if not store.fetch(select_version_decision, {"registered_model": name,
                                                 "version": newest[0]}):
        problems.append(f"{name} version {newest[0]}, the domain's newest, has no promotion "
                        "decision: materialize zeroshot_eval for the domain")
    if changes:
        last = changes[0]
        metadata |= {"action": last["action"], "version": last["version"],
                     "champion_version": last["champion_version"],
                     "previous_champion_version": last["previous_champion_version"],
                     "decided_at": str(last["decided_at"]),
                     "reasons": json.loads(last["reasons"])}
        decided = next((r for r in changes if r["action"] != ROLLBACK), None)
        metadata["figures"] = json.loads(decided["figures"]) if decided and decided["figures"] \
            else []
        if registry[CHAMPION] != last["champion_version"]:
            problems.append(f"MLflow's {name}@champion is version {registry[CHAMPION]}, the "
                            f"metadata's last change left version {last['champion_version']}: "
                            "the alias was moved outside REACT; record it with `python -m "
                            "react_assets.tracking.promote rollback`")
    metadata["problems"] = problems
    return CheckOutcome(passed=not problems, metadata=metadata)


def held_as_challenger(outcome: CheckOutcome) -> bool:
    """Whether a passing :func:`champion_by_evidence` outcome left the new version a challenger."""
    return outcome.passed and outcome.metadata.get("action") == HELD
