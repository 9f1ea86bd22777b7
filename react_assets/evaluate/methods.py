"""The methods leaderboard: per domain, each method as rows (its zero-shot head, and with a
linear probe from scratch and from its text classifier) and columns for zero-shot, n-shot
(mean +/- std over seeds), full-shot, the general sets (forgetting) and the training cost.

A figure over a domain's datasets is their mean (a domain usually has one); n-shot figures are
averaged per seed over the datasets first, then mean and standard deviation (population) are
taken over the seeds. A zero-shot or general figure of a single dataset shows its bootstrap
interval (``[low, high]``; a mean over several datasets has none).
"""

from __future__ import annotations

import json
import logging
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from react_assets.files.atomic import atomic_path

log = logging.getLogger(__name__)

METHOD_ORDER = ("base", "real-prompt", "real-linear", "gated-image", "locked-text", "full")
METHOD_NAMES = {"base": "base zero-shot", "real-prompt": "REAL-Prompt",
                "real-linear": "REAL-Linear", "gated-image": "REACT gated-image",
                "locked-text": "locked-text", "full": "full fine-tune"}
PROBE_NAMES = {None: "", "logistic": " + linear probe", "text-init": " + linear probe (text init)"}


@dataclass(frozen=True)
class Spread:
    """A mean and standard deviation over seeds (fractions)."""

    mean: float
    std: float
    n_seeds: int


@dataclass
class MethodRow:
    """One row of a domain's table."""

    method: str
    model_id: str
    probe: str | None
    zeroshot: float | None = None
    general: float | None = None
    shots: dict[str, Spread] = field(default_factory=dict)
    seconds: float | None = None
    trainable_parameters: int | None = None
    zeroshot_interval: tuple[float, float] | None = None
    general_interval: tuple[float, float] | None = None

    @property
    def label(self) -> str:
        return METHOD_NAMES.get(self.method, self.method) + PROBE_NAMES[self.probe]


@dataclass
class DomainTable:
    """A domain's rows and the settings (columns) they have figures for."""

    domain: str
    datasets: list[str]
    general_datasets: list[str]
    settings: list[str]
    rows: list[MethodRow]


def _setting_order(setting: str) -> tuple[int, int]:
    match = re.fullmatch(r"(\d+)-shot", setting)
    return (0, int(match.group(1))) if match else (1, 0)


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def _cost(config: str | None, kind: str) -> tuple[float | None, int | None]:
    if kind == "base":
        return 0.0, 0
    cost = json.loads(config).get("cost", {}) if config else {}
    return cost.get("seconds"), cost.get("trainable_parameters")


def build_method_tables(rows: Iterable[Mapping[str, Any]],
                        general: Mapping[str, Iterable[str]]) -> list[DomainTable]:
    """Tables from ``select_leaderboard_figures`` rows; ``general`` names each domain's general
    (forgetting) datasets."""
    by_domain: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for row in rows:
        by_domain[row["domain"]].append(row)
    return [_domain_table(d, items, set(general.get(d, ()))) for d, items in by_domain.items()]


def _domain_table(domain: str, items: list[Mapping[str, Any]], general: set[str]) -> DomainTable:
    models: dict[str, tuple[str, str | None]] = {}
    zeroshot: dict[tuple[str, bool], list[float]] = defaultdict(list)
    intervals: dict[tuple[str, bool], list[tuple[float, float] | None]] = defaultdict(list)
    probes: dict[tuple[str, str, str, int], list[float]] = defaultdict(list)
    own = sorted({r["dataset"] for r in items if r["dataset"] not in general})
    for r in items:
        models.setdefault(r["model_id"], (r["model_kind"], r["model_config"]))
        if r["task"] == "zeroshot_classification":
            zeroshot[(r["model_id"], r["dataset"] in general)].append(float(r["value"]))
            intervals[(r["model_id"], r["dataset"] in general)].append(
                None if r.get("ci_low") is None or r.get("ci_high") is None
                else (float(r["ci_low"]), float(r["ci_high"])))
        elif r["dataset"] not in general:
            d = json.loads(r["details"])
            probes[(r["model_id"], d["head"], d["setting"], int(d["seed"]))].append(
                float(r["value"]))
    settings = sorted({k[2] for k in probes}, key=_setting_order)
    table_rows = []
    for model_id, (kind, config) in sorted(models.items(), key=lambda m: (
            METHOD_ORDER.index(m[1][0]) if m[1][0] in METHOD_ORDER else len(METHOD_ORDER), m[0])):
        seconds, params = _cost(config, kind)
        table_rows.append(MethodRow(kind, model_id, None, _mean(zeroshot[(model_id, False)]),
                                    _mean(zeroshot[(model_id, True)]), {}, seconds, params,
                                    _single(intervals[(model_id, False)]),
                                    _single(intervals[(model_id, True)])))
        for head in ("logistic", "text-init"):
            shots = {}
            for setting in settings:
                per_seed = [float(np.mean(v)) for (m, h, s, _), v in sorted(probes.items())
                            if m == model_id and h == head and s == setting]
                if per_seed:
                    shots[setting] = Spread(float(np.mean(per_seed)), float(np.std(per_seed)),
                                            len(per_seed))
            if shots:
                table_rows.append(MethodRow(kind, model_id, head, shots=shots, seconds=seconds,
                                            trainable_parameters=params))
    return DomainTable(domain, own, sorted(general & {r["dataset"] for r in items}), settings,
                       table_rows)


def _single(found: list[tuple[float, float] | None]) -> tuple[float, float] | None:
    """The interval of a figure of one dataset; None for a mean over several, or none known."""
    return found[0] if len(found) == 1 else None


def _pct(value: float | None, interval: tuple[float, float] | None = None) -> str:
    if value is None:
        return "-"
    bounds = f" [{100 * interval[0]:.1f}, {100 * interval[1]:.1f}]" if interval else ""
    return f"{100 * value:.2f}{bounds}"


def _spread(spread: Spread | None) -> str:
    if spread is None:
        return "-"
    if spread.n_seeds == 1:
        return f"{100 * spread.mean:.2f}"
    return f"{100 * spread.mean:.2f} ± {100 * spread.std:.2f}"


def methods_markdown(tables: list[DomainTable]) -> str:
    """One Markdown table per domain (values x100)."""
    out = []
    for t in tables:
        header = ["method", "zero-shot", *t.settings, "general (forgetting)", "train s",
                  "trainable params"]
        out += [f"### {t.domain} ({', '.join(t.datasets)}; general: "
                f"{', '.join(t.general_datasets) or '-'})", "",
                "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for r in t.rows:
            cells = [r.label, _pct(r.zeroshot, r.zeroshot_interval),
                     *(_spread(r.shots.get(s)) for s in t.settings),
                     _pct(r.general, r.general_interval),
                     "-" if r.seconds is None else f"{r.seconds:.1f}",
                     "-" if r.trainable_parameters is None else f"{r.trainable_parameters:,}"]
            out.append("| " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out)


def methods_dict(tables: list[DomainTable]) -> list[dict[str, Any]]:
    """JSON-ready form of the tables."""
    return [{"domain": t.domain, "datasets": t.datasets, "general_datasets": t.general_datasets,
             "settings": t.settings,
             "rows": [asdict(r) | {"label": r.label} for r in t.rows]} for t in tables]


def _below(value: float | None, interval: tuple[float, float] | None) -> float:
    return 0.0 if value is None or interval is None else max(0.0, value - interval[0])


def _above(value: float | None, interval: tuple[float, float] | None) -> float:
    return 0.0 if value is None or interval is None else max(0.0, interval[1] - value)


def render_methods_chart(tables: list[DomainTable], path: Path | str) -> Path:
    """Per domain, a bar group per column (zero-shot, each setting of the from-scratch probe,
    general), a bar per method; error bars: the bootstrap interval (zero-shot and general, of a
    single dataset) and the seed spread (probes). Written atomically (PNG)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    path = Path(path)
    figure = Figure(figsize=(10, 3.6 * max(len(tables), 1)), dpi=100)
    FigureCanvasAgg(figure)
    for i, t in enumerate(tables):
        axes = figure.add_subplot(max(len(tables), 1), 1, i + 1)
        columns = ["zero-shot", *t.settings, "general"]
        heads = [r for r in t.rows if r.probe is None]
        width = 0.8 / max(len(heads), 1)
        for j, head in enumerate(heads):
            probe = next((r for r in t.rows if r.model_id == head.model_id
                          and r.probe == "logistic"), None)
            spreads = [probe.shots.get(s) if probe else None for s in t.settings]
            means = [head.zeroshot, *(s.mean if s else None for s in spreads), head.general]
            below = [_below(head.zeroshot, head.zeroshot_interval),
                     *(s.std if s else 0.0 for s in spreads),
                     _below(head.general, head.general_interval)]
            above = [_above(head.zeroshot, head.zeroshot_interval),
                     *(s.std if s else 0.0 for s in spreads),
                     _above(head.general, head.general_interval)]
            xs = [k + (j - (len(heads) - 1) / 2) * width for k in range(len(columns))]
            axes.bar(xs, [100 * (m or 0.0) for m in means], width=width,
                     yerr=[[100 * e for e in below], [100 * e for e in above]], label=head.label,
                     capsize=2)
        axes.set_xticks(range(len(columns)))
        axes.set_xticklabels(columns)
        axes.set_ylabel("metric (x100)")
        axes.set_title(f"{t.domain}: zero-shot, linear probe (from scratch), general set")
        axes.legend(fontsize="x-small", ncol=2)
    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png")
    return path
