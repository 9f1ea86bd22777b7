"""The evidence of a domain's evaluation: an interval on every figure, and each model's paired
differences from the base and from the domain's champion, on the same samples.

Figures are grouped by (dataset, metric); within a group every model is resampled with the same
draws (:mod:`react_assets.evaluate.uncertainty`), so each model's interval and each paired
difference come from one set of resamples.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from react_assets.evaluate.uncertainty import (
    BootstrapConfig,
    Difference,
    Interval,
    Outcomes,
    paired_difference,
    percentile_interval,
    resampled,
)

FigureKey = tuple[str, str, str]  # (model_id, dataset, metric)
BASE_ROLE, CHAMPION_ROLE = "base", "champion"


@dataclass(frozen=True)
class Comparison:
    """``model_id`` minus ``reference_id`` on one figure, paired (``role``: what the reference
    is to the domain, ``base`` or ``champion``)."""

    model_id: str
    reference_id: str
    role: str
    dataset: str
    metric: str
    difference: Difference

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (fractions)."""
        d = self.difference
        return {"model_id": self.model_id, "reference_id": self.reference_id, "role": self.role,
                "dataset": self.dataset, "metric": self.metric, "difference": d.value,
                "low": d.low, "high": d.high, "p_value": d.p_value, "level": d.level,
                "n_samples": d.n_samples}


@dataclass(frozen=True)
class Evidence:
    """Every figure's interval and every paired comparison of one evaluation."""

    intervals: dict[FigureKey, Interval]
    comparisons: list[Comparison]
    config: BootstrapConfig


def measure_evidence(outcomes: Mapping[FigureKey, Outcomes], base_id: str | None,
                     champion_id: str | None, config: BootstrapConfig) -> Evidence:
    """Intervals of every figure in ``outcomes``; each other model compared with ``base_id``
    and with ``champion_id`` (either None or absent from a figure: no such comparison)."""
    groups: dict[tuple[str, str], dict[str, Outcomes]] = defaultdict(dict)
    for (model_id, dataset, metric), o in outcomes.items():
        groups[(dataset, metric)][model_id] = o
    intervals: dict[FigureKey, Interval] = {}
    comparisons: list[Comparison] = []
    for (dataset, metric), group in groups.items():
        draws = resampled(group, f"{dataset}/{metric}", config)
        values = {model_id: o.value() for model_id, o in group.items()}
        for model_id in group:
            intervals[(model_id, dataset, metric)] = percentile_interval(
                values[model_id], draws[model_id], config.level)
        for role, reference in ((BASE_ROLE, base_id), (CHAMPION_ROLE, champion_id)):
            if reference is None or reference not in group:
                continue
            for model_id, o in group.items():
                if model_id == reference or (role == CHAMPION_ROLE and model_id == base_id):
                    continue
                difference = paired_difference(values[model_id] - values[reference],
                                               draws[model_id], draws[reference], config.level,
                                               o.n)
                comparisons.append(Comparison(model_id, reference, role, dataset, metric,
                                              difference))
    return Evidence(intervals, comparisons, config)
