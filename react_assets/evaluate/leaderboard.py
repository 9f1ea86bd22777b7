"""Every evaluation side by side: a table, a chart and CLIP_benchmark-style JSON records.

Input rows are ``(model_id, model_kind, domain, dataset, metric, value)`` with ``value`` a
fraction in [0, 1] (tables and charts show it times 100). The model of kind ``base`` is the
reference: every other model's gain on a dataset is its value minus the base model's value there.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from react_assets.files.atomic import atomic_path

logger = logging.getLogger(__name__)

BASE_KIND = "base"
CLIP_BENCHMARK_TASKS = ("zeroshot_classification", "zeroshot_retrieval", "linear_probe",
                        "captioning")
ROW_FIELDS = ("model_id", "model_kind", "domain", "dataset", "metric", "value")


class LeaderboardError(ValueError):
    """Evaluation rows that cannot form one leaderboard; the message names the row."""


@dataclass(frozen=True)
class EvaluationRow:
    """One model's official metric on one dataset of one domain."""

    model_id: str
    model_kind: str
    domain: str
    dataset: str
    metric: str
    value: float


DatasetKey = tuple[str, str]  # (domain, dataset)


@dataclass(frozen=True)
class Leaderboard:
    """Models (base first) x datasets, with values and gains over the base model."""

    models: tuple[tuple[str, str], ...]                 # (model_id, model_kind)
    datasets: tuple[tuple[str, str, str], ...]           # (domain, dataset, metric)
    values: Mapping[tuple[str, DatasetKey], float] = field(repr=False)
    base_model_id: str | None = None

    def value(self, model_id: str, domain: str, dataset: str) -> float | None:
        """The model's value on the dataset, or None when it was not evaluated there."""
        return self.values.get((model_id, (domain, dataset)))

    def gain(self, model_id: str, domain: str, dataset: str) -> float | None:
        """Value minus the base model's value; None without a base or either value."""
        if self.base_model_id is None or model_id == self.base_model_id:
            return None
        mine = self.value(model_id, domain, dataset)
        base = self.value(self.base_model_id, domain, dataset)
        return None if mine is None or base is None else mine - base

    def average(self, model_id: str) -> float | None:
        """Mean value over the datasets the model was evaluated on."""
        found = [v for d, s, _ in self.datasets if (v := self.value(model_id, d, s)) is not None]
        return sum(found) / len(found) if found else None

    def average_gain(self, model_id: str) -> float | None:
        """Mean gain over the datasets where both the model and the base were evaluated."""
        found = [g for d, s, _ in self.datasets if (g := self.gain(model_id, d, s)) is not None]
        return sum(found) / len(found) if found else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: per model its averages, per dataset every value and gain."""
        return {
            "base_model_id": self.base_model_id,
            "models": [
                {"model_id": m, "model_kind": k, "average": self.average(m),
                 "average_gain": self.average_gain(m),
                 "n_datasets": sum(self.value(m, d, s) is not None for d, s, _ in self.datasets)}
                for m, k in self.models
            ],
            "datasets": [
                {"domain": d, "dataset": s, "metric": metric,
                 "values": {m: self.value(m, d, s) for m, _ in self.models},
                 "gains": {m: self.gain(m, d, s) for m, _ in self.models
                           if m != self.base_model_id}}
                for d, s, metric in self.datasets
            ],
        }

    def to_json(self) -> str:
        """:meth:`to_dict` as indented JSON text."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=False) + "\n"

    def to_markdown(self) -> str:
        """A markdown table: a row per dataset, a column per model, values x100 (gain)."""
        header = ["domain", "dataset", "metric"] + [f"{m} ({k})" for m, k in self.models]
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for d, s, metric in self.datasets:
            cells = [_cell(self.value(m, d, s), self.gain(m, d, s)) for m, _ in self.models]
            lines.append("| " + " | ".join([d, s, metric, *cells]) + " |")
        averages = [_cell(self.average(m), self.average_gain(m)) for m, _ in self.models]
        lines.append("| " + " | ".join(["**average**", "", "", *averages]) + " |")
        return "\n".join(lines) + "\n"

    def render_chart(self, path: Path | str, title: str = "Zero-shot evaluation") -> Path:
        """A grouped bar chart (PNG): a group per dataset, a bar per model. Written atomically."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        path = Path(path)
        n_models = max(len(self.models), 1)
        width = 0.8 / n_models
        figure = Figure(figsize=(max(6.0, 1.2 * len(self.datasets) + 2), 4.5), dpi=100)
        FigureCanvasAgg(figure)
        axes = figure.add_subplot(1, 1, 1)
        for i, (model_id, kind) in enumerate(self.models):
            heights = [100 * (self.value(model_id, d, s) or 0.0) for d, s, _ in self.datasets]
            xs = [j + (i - (n_models - 1) / 2) * width for j in range(len(self.datasets))]
            axes.bar(xs, heights, width=width, label=f"{model_id} ({kind})")
        axes.set_xticks(range(len(self.datasets)))
        axes.set_xticklabels([s for _, s, _ in self.datasets], rotation=30, ha="right")
        axes.set_ylabel("official metric (x100)")
        axes.set_title(title)
        axes.legend(fontsize="small")
        figure.tight_layout()
        with atomic_path(path) as tmp:
            figure.savefig(tmp, format="png")
        logger.info("leaderboard chart written to %s", path)
        return path


def _cell(value: float | None, gain: float | None) -> str:
    if value is None:
        return "-"
    return f"{100 * value:.2f}" + (f" ({100 * gain:+.2f})" if gain is not None else "")


def _as_row(row: EvaluationRow | Mapping[str, Any] | Sequence[Any], index: int) -> EvaluationRow:
    if isinstance(row, EvaluationRow):
        return row
    if isinstance(row, Mapping):
        missing = [f for f in ROW_FIELDS if f not in row]
        if missing:
            raise LeaderboardError(f"row {index}: missing fields {missing}")
        values = [row[f] for f in ROW_FIELDS]
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
    return EvaluationRow(*(str(v) for v in values[:5]), value)


def build_leaderboard(rows: Iterable[EvaluationRow | Mapping[str, Any] | Sequence[Any]],
                      base_model_id: str | None = None) -> Leaderboard:
    """Every model on every dataset side by side, with the gain over the base model.

    The base is ``base_model_id`` or else the single model of kind ``base`` (no base: no gains;
    several and none chosen: an error). Models keep first-seen order, the base first.
    """
    parsed = [_as_row(r, i) for i, r in enumerate(rows)]
    if not parsed:
        raise LeaderboardError("no evaluation rows")
    kinds: dict[str, str] = {}
    metrics: dict[DatasetKey, str] = {}
    values: dict[tuple[str, DatasetKey], float] = {}
    for i, r in enumerate(parsed):
        key = (r.domain, r.dataset)
        if kinds.setdefault(r.model_id, r.model_kind) != r.model_kind:
            raise LeaderboardError(f"row {i}: model {r.model_id} is kind {r.model_kind!r} here "
                                   f"but {kinds[r.model_id]!r} before")
        if metrics.setdefault(key, r.metric) != r.metric:
            raise LeaderboardError(f"row {i}: {r.domain}/{r.dataset} has metric {r.metric!r} here "
                                   f"but {metrics[key]!r} before")
        if (r.model_id, key) in values:
            raise LeaderboardError(f"row {i}: {r.model_id} on {r.domain}/{r.dataset} appears twice")
        values[(r.model_id, key)] = r.value
    if base_model_id is None:
        bases = [m for m, k in kinds.items() if k == BASE_KIND]
        if len(bases) > 1:
            raise LeaderboardError(f"several base models {bases}; pass base_model_id")
        base_model_id = bases[0] if bases else None
    elif base_model_id not in kinds:
        raise LeaderboardError(f"base model {base_model_id!r} has no evaluation rows")
    order = sorted(kinds, key=lambda m: m != base_model_id)  # stable: base first
    return Leaderboard(
        models=tuple((m, kinds[m]) for m in order),
        datasets=tuple((d, s, metric) for (d, s), metric in metrics.items()),
        values=values,
        base_model_id=base_model_id,
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
