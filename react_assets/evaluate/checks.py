"""Data contracts of a domain's evaluation."""

from __future__ import annotations

from react_assets.domains.registry import registered_domain
from react_assets.metadata import Store
from react_assets.metadata.sql import select_domain_zeroshot_figures
from react_assets.tracking.contracts import CheckOutcome


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
