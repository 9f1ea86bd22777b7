"""Every evaluation side by side: a table, a chart and CLIP_benchmark-style JSON records.

Input rows are ``(model_id, model_kind, domain, dataset, metric, value)`` with ``value`` a
fraction in [0, 1] (tables and charts show it times 100), optionally with the figure's interval
(``ci_low``, ``ci_high``). The model of kind ``base`` is the reference: every other model's gain
on a dataset is its value minus the base model's value there; a paired comparison with the base
(``comparisons``) gives the gain's interval and p-value, and marks a gain that is not
significant. Image-text retrieval figures (``text_to_image_R@k``, ``image_to_text_R@k``) are
rows of their own (``<set> text→image``, metric ``R@k``), left out of the averages.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from react_assets.tracking.links import version_of

logger = logging.getLogger(__name__)

BASE_KIND = "base"
CLIP_BENCHMARK_TASKS = ("zeroshot_classification", "zeroshot_retrieval", "linear_probe",
                        "captioning")
ROW_FIELDS = ("model_id", "model_kind", "domain", "dataset", "metric", "value")
RETRIEVAL_METRIC = re.compile(r"^(text|image)_to_(text|image)_R@(\d+)$")
NAME_SEPARATOR = " · "


class LeaderboardError(ValueError):
    """Evaluation rows that cannot form one leaderboard; the message names the row."""


@dataclass(frozen=True)
class EvaluationRow:
    """One model's official metric on one dataset of one domain, with its interval if known."""

    model_id: str
    model_kind: str
    domain: str
    dataset: str
    metric: str
    value: float
    ci_low: float | None = None
    ci_high: float | None = None


@dataclass(frozen=True)
class GainEvidence:
    """A gain's paired interval (fractions) and p-value; ``level``: the interval's."""

    low: float
    high: float
    p_value: float
    level: float

    @property
    def significant(self) -> bool:
        """Whether the gain is not zero at ``1 - level``."""
        return self.p_value < 1.0 - self.level


DatasetKey = tuple[str, str]  # (domain, dataset)


def figure_label(dataset: str, metric: str) -> tuple[str, str]:
    """A figure's row label and metric: a retrieval recall becomes ``<set> text→image`` with
    metric ``R@k``; any other figure keeps both."""
    match = RETRIEVAL_METRIC.match(metric)
    if match is None:
        return dataset, metric
    return f"{dataset} {match.group(1)}→{match.group(2)}", f"R@{match.group(3)}"


def model_names(models: Iterable[tuple[str, str, str | None, str | None]]) -> dict[str, str]:
    """Readable names of ``(model_id, kind, domain, mlflow_model_uri)``: ``gated-image · digits ·
    v3`` (v: the MLflow registered version; the id's hash when it has none), ``base``; a name
    two models would share gets the id's hash too."""
    names: dict[str, str] = {}
    for model_id, kind, domain, uri in models:
        version = version_of(uri)
        parts = [kind] + ([domain] if domain and kind != BASE_KIND else [])
        parts.append(f"v{version}" if version is not None else _short(model_id))
        names[model_id] = NAME_SEPARATOR.join(
            parts if kind != BASE_KIND or version is not None else [kind])
    taken: dict[str, int] = {}
    for name in names.values():
        taken[name] = taken.get(name, 0) + 1
    return {m: n if taken[n] == 1 else f"{n}{NAME_SEPARATOR}{_short(m)}" for m, n in names.items()}


def _short(model_id: str) -> str:
    return model_id.rpartition("@sha256:")[2][:8] if "@sha256:" in model_id else model_id[:12]


@dataclass(frozen=True)
class Leaderboard:
    """Models (base first) x datasets, with values, intervals and gains over the base model;
    readable names, and each domain's champion."""

    models: tuple[tuple[str, str], ...]                 # (model_id, model_kind)
    datasets: tuple[tuple[str, str, str], ...]           # (domain, dataset, metric)
    values: Mapping[tuple[str, DatasetKey], float] = field(repr=False)
    base_model_id: str | None = None
    intervals: Mapping[tuple[str, DatasetKey], tuple[float, float]] = field(
        default_factory=dict, repr=False)
    gain_evidence: Mapping[tuple[str, DatasetKey], GainEvidence] = field(
        default_factory=dict, repr=False)
    names: Mapping[str, str] = field(default_factory=dict)
    champions: Mapping[str, str] = field(default_factory=dict)  # domain -> model_id
    retrieval: frozenset[DatasetKey] = frozenset()  # rows of image-text retrieval

    def value(self, model_id: str, domain: str, dataset: str) -> float | None:
        """The model's value on the dataset, or None when it was not evaluated there."""
        return self.values.get((model_id, (domain, dataset)))

    def interval(self, model_id: str, domain: str, dataset: str) -> tuple[float, float] | None:
        """The value's interval, or None when it has none."""
        return self.intervals.get((model_id, (domain, dataset)))

    def gain(self, model_id: str, domain: str, dataset: str) -> float | None:
        """Value minus the base model's value; None without a base or either value."""
        if self.base_model_id is None or model_id == self.base_model_id:
            return None
        mine = self.value(model_id, domain, dataset)
        base = self.value(self.base_model_id, domain, dataset)
        return None if mine is None or base is None else mine - base

    def evidence(self, model_id: str, domain: str, dataset: str) -> GainEvidence | None:
        """The gain's paired interval and p-value, or None without a paired comparison."""
        return self.gain_evidence.get((model_id, (domain, dataset)))

    def name(self, model_id: str) -> str:
        """The model's readable name (its id when it has none)."""
        return self.names.get(model_id, model_id)

    def champion_of(self, model_id: str) -> list[str]:
        """The domains whose champion the model is."""
        return sorted(d for d, m in self.champions.items() if m == model_id)

    def _classification(self) -> list[tuple[str, str, str]]:
        return [k for k in self.datasets if (k[0], k[1]) not in self.retrieval]

    def average(self, model_id: str) -> float | None:
        """Mean value over the classification datasets the model was evaluated on."""
        found = [v for d, s, _ in self._classification()
                 if (v := self.value(model_id, d, s)) is not None]
        return sum(found) / len(found) if found else None

    def average_gain(self, model_id: str) -> float | None:
        """Mean gain over the classification datasets where the model and the base were
        evaluated."""
        found = [g for d, s, _ in self._classification()
                 if (g := self.gain(model_id, d, s)) is not None]
        return sum(found) / len(found) if found else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: per model its name and averages, per dataset every value and gain,
        with intervals, p-values and whether each gain is significant where known."""
        def pairs(d: str, s: str, get) -> dict[str, Any]:
            return {m: list(found) for m, _ in self.models if (found := get(m, d, s)) is not None}

        return {
            "base_model_id": self.base_model_id,
            "champions": dict(self.champions),
            "models": [
                {"model_id": m, "name": self.name(m), "model_kind": k,
                 "champion_of": self.champion_of(m), "average": self.average(m),
                 "average_gain": self.average_gain(m),
                 "n_datasets": sum(self.value(m, d, s) is not None for d, s, _ in self.datasets)}
                for m, k in self.models
            ],
            "datasets": [
                {"domain": d, "dataset": s, "metric": metric,
                 "task": "zeroshot_retrieval" if (d, s) in self.retrieval else
                 "zeroshot_classification",
                 "values": {m: self.value(m, d, s) for m, _ in self.models},
                 "intervals": pairs(d, s, self.interval),
                 "gains": {m: self.gain(m, d, s) for m, _ in self.models
                           if m != self.base_model_id},
                 "gain_intervals": pairs(d, s, lambda m, d_, s_: None if (
                     e := self.evidence(m, d_, s_)) is None else (e.low, e.high)),
                 "p_values": {m: e.p_value for m, _ in self.models
                              if (e := self.evidence(m, d, s)) is not None},
                 "significant": {m: e.significant for m, _ in self.models
                                 if (e := self.evidence(m, d, s)) is not None}}
                for d, s, metric in self.datasets
            ],
        }

    def to_json(self) -> str:
        """:meth:`to_dict` as indented JSON text."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=False) + "\n"

    def to_markdown(self) -> str:
        """A markdown table: a row per dataset, a column per model, values x100 with their
        intervals, gains with theirs (``n.s.``: not significant)."""
        from react_assets.evaluate.leaderboard_views import leaderboard_markdown

        return leaderboard_markdown(self)

    def render_chart(self, path: Path | str, title: str = "Zero-shot evaluation") -> Path:
        """A grouped bar chart (PNG) with error bars: a group per dataset, a bar per model."""
        from react_assets.evaluate.leaderboard_views import render_leaderboard_chart

        return render_leaderboard_chart(self, Path(path), title)


def _optional(value: Any, index: int, what: str) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError) as err:
        raise LeaderboardError(f"row {index}: {what} {value!r} is not a number") from err


def _as_row(row: EvaluationRow | Mapping[str, Any] | Sequence[Any], index: int) -> EvaluationRow:
    if isinstance(row, EvaluationRow):
        return row
    bounds: list[Any] = [None, None]
    if isinstance(row, Mapping):
        missing = [f for f in ROW_FIELDS if f not in row]
        if missing:
            raise LeaderboardError(f"row {index}: missing fields {missing}")
        values = [row[f] for f in ROW_FIELDS]
        bounds = [row.get("ci_low"), row.get("ci_high")]
    else:
        values = list(row)
        if len(values) != len(ROW_FIELDS):
            raise LeaderboardError(f"row {index}: expected {len(ROW_FIELDS)} fields "
                                   f"{ROW_FIELDS}, got {len(values)}")
    try:
        value = float(values[5])
    except (TypeError, ValueError) as err:
        raise LeaderboardError(f"row {index}: value {values[5]!r} is not a number") from err
    if value != value:
        raise LeaderboardError(f"row {index}: value is NaN")
    return EvaluationRow(*(str(v) for v in values[:5]), value,
                         _optional(bounds[0], index, "ci_low"), _optional(bounds[1], index,
                                                                          "ci_high"))


def build_leaderboard(rows: Iterable[EvaluationRow | Mapping[str, Any] | Sequence[Any]],
                      base_model_id: str | None = None, *,
                      comparisons: Iterable[Mapping[str, Any]] = (),
                      names: Mapping[str, str] | None = None,
                      champions: Mapping[str, str] | None = None) -> Leaderboard:
    """Every model on every dataset side by side, with the gain over the base model.

    The base is ``base_model_id`` or else the single model of kind ``base`` (no base: no gains;
    several and none chosen: an error). Models keep first-seen order, the base first.
    ``comparisons``: paired differences from that base (``model_id``, ``domain``, ``dataset``,
    ``metric``, ``ci_low``, ``ci_high``, ``p_value``, ``level``); ``names``: readable names;
    ``champions``: each domain's champion model id.
    """
    parsed = [_as_row(r, i) for i, r in enumerate(rows)]
    if not parsed:
        raise LeaderboardError("no evaluation rows")
    kinds: dict[str, str] = {}
    metrics: dict[DatasetKey, str] = {}
    values: dict[tuple[str, DatasetKey], float] = {}
    intervals: dict[tuple[str, DatasetKey], tuple[float, float]] = {}
    retrieval: set[DatasetKey] = set()
    for i, r in enumerate(parsed):
        label, metric = figure_label(r.dataset, r.metric)
        key = (r.domain, label)
        if metric != r.metric:
            retrieval.add(key)
        if kinds.setdefault(r.model_id, r.model_kind) != r.model_kind:
            raise LeaderboardError(f"row {i}: model {r.model_id} is kind {r.model_kind!r} here "
                                   f"but {kinds[r.model_id]!r} before")
        if metrics.setdefault(key, metric) != metric:
            raise LeaderboardError(f"row {i}: {r.domain}/{label} has metric {metric!r} here "
                                   f"but {metrics[key]!r} before")
        if (r.model_id, key) in values:
            raise LeaderboardError(f"row {i}: {r.model_id} on {r.domain}/{label} appears twice")
        values[(r.model_id, key)] = r.value
        if r.ci_low is not None and r.ci_high is not None:
            intervals[(r.model_id, key)] = (r.ci_low, r.ci_high)
    if base_model_id is None:
        bases = [m for m, k in kinds.items() if k == BASE_KIND]
        if len(bases) > 1:
            raise LeaderboardError(f"several base models {bases}; pass base_model_id")
        base_model_id = bases[0] if bases else None
    elif base_model_id not in kinds:
        raise LeaderboardError(f"base model {base_model_id!r} has no evaluation rows")
    evidence = {}
    for c in comparisons:
        label, metric = figure_label(c["dataset"], c["metric"])
        if metrics.get((c["domain"], label)) == metric:
            evidence[(c["model_id"], (c["domain"], label))] = GainEvidence(
                float(c["ci_low"]), float(c["ci_high"]), float(c["p_value"]), float(c["level"]))
    order = sorted(kinds, key=lambda m: m != base_model_id)  # stable: base first
    return Leaderboard(
        models=tuple((m, kinds[m]) for m in order),
        datasets=tuple((d, s, metric) for (d, s), metric in metrics.items()),
        values=values,
        base_model_id=base_model_id,
        intervals=intervals, gain_evidence=evidence, names=dict(names or {}),
        champions={d: m for d, m in (champions or {}).items() if m in kinds},
        retrieval=frozenset(retrieval),
    )


def clip_benchmark_record(dataset: str, model: str, pretrained: str, task: str,
                          metrics: Mapping[str, float], language: str = "en") -> dict[str, Any]:
    """One result in CLIP_benchmark's JSON form (``clip_benchmark/cli.py`` dump)."""
    if task not in CLIP_BENCHMARK_TASKS:
        raise LeaderboardError(f"task {task!r} is not one of {CLIP_BENCHMARK_TASKS}")
    return {"dataset": dataset, "model": model, "pretrained": pretrained, "task": task,
            "metrics": {k: float(v) for k, v in metrics.items()}, "language": language}


def clip_benchmark_metrics(top1: float | None = None, top5: float | None = None,
                           mean_per_class: float | None = None,
                           retrieval: Mapping[str, float] | None = None) -> dict[str, float]:
    """Our figures under CLIP_benchmark's metric names.

    ``acc1``, ``acc5``, ``mean_per_class_recall``; retrieval: text-to-image recall is its
    ``image_retrieval_recall@k`` and image-to-text its ``text_retrieval_recall@k``.
    """
    out = {name: float(v) for name, v in (("acc1", top1), ("acc5", top5),
                                          ("mean_per_class_recall", mean_per_class))
           if v is not None}
    for key, v in (retrieval or {}).items():
        direction, _, k = key.partition("_R@")
        prefix = {"text_to_image": "image", "image_to_text": "text"}.get(direction)
        if prefix is None or not k:
            raise LeaderboardError(f"retrieval metric {key!r} is not '<direction>_R@<k>'")
        out[f"{prefix}_retrieval_recall@{k}"] = float(v)
    return out
