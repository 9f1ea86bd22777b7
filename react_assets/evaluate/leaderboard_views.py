"""The leaderboard as people read it: a Markdown table and a PNG chart with error bars.

A cell is the value x100 with its interval in brackets, then the gain over the base with its
paired interval; ``n.s.`` marks a gain whose paired test is not significant. A column is a
model's readable name; ``★`` marks a domain's champion.
"""

from __future__ import annotations

import logging
from pathlib import Path

from react_assets.evaluate.leaderboard import GainEvidence, Leaderboard
from react_assets.files.atomic import atomic_path

logger = logging.getLogger(__name__)

CHAMPION_MARK = "★"
NOT_SIGNIFICANT = "n.s."


def _bounds(low: float, high: float, sign: str = "") -> str:
    return f"[{100 * low:{sign}.1f}, {100 * high:{sign}.1f}]"


def _cell(value: float | None, gain: float | None, interval: tuple[float, float] | None = None,
          evidence: GainEvidence | None = None) -> str:
    if value is None:
        return "-"
    text = f"{100 * value:.2f}" + (f" {_bounds(*interval)}" if interval else "")
    if gain is None:
        return text
    if evidence is None:
        return f"{text} ({100 * gain:+.2f})"
    mark = "" if evidence.significant else f" {NOT_SIGNIFICANT}"
    return f"{text} ({100 * gain:+.2f} {_bounds(evidence.low, evidence.high, '+')}{mark})"


def column_label(board: Leaderboard, model_id: str, kind: str) -> str:
    """A column's header: the readable name (``★`` for a champion), else ``id (kind)``."""
    if model_id not in board.names:
        return f"{model_id} ({kind})"
    return board.name(model_id) + (f" {CHAMPION_MARK}" if board.champion_of(model_id) else "")


def leaderboard_markdown(board: Leaderboard) -> str:
    """A row per dataset, a column per model; a legend when intervals or marks are shown."""
    header = ["domain", "dataset", "metric"] + [column_label(board, m, k) for m, k in board.models]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for d, s, metric in board.datasets:
        cells = [_cell(board.value(m, d, s), board.gain(m, d, s), board.interval(m, d, s),
                       board.evidence(m, d, s)) for m, _ in board.models]
        lines.append("| " + " | ".join([d, s, metric, *cells]) + " |")
    averages = [_cell(board.average(m), board.average_gain(m)) for m, _ in board.models]
    lines.append("| " + " | ".join(["**average**", "", "", *averages]) + " |")
    legend = _legend(board)
    return "\n".join(lines) + "\n" + (f"\n{legend}\n" if legend else "")


def _legend(board: Leaderboard) -> str:
    notes = []
    levels = sorted({e.level for e in board.gain_evidence.values()})
    if board.intervals or levels:
        level = f"{100 * levels[0]:g}%" if len(levels) == 1 else "the domain's"
        alpha = f"p >= {1 - levels[0]:.2g}" if len(levels) == 1 else \
            "p at or above the domain's significance"
        notes.append(f"[low, high]: {level} bootstrap interval over the test samples; a gain's "
                     "interval and p-value come from a paired bootstrap against the base on the "
                     f"same samples; {NOT_SIGNIFICANT}: the gain is not significant ({alpha}). "
                     "The average covers the classification rows.")
    if board.champions:
        champions = ", ".join(f"{d}: {board.name(m)}" for d, m in sorted(board.champions.items()))
        notes.append(f"{CHAMPION_MARK}: the domain's @champion in MLflow ({champions}).")
    return "\n\n".join(notes)


def render_leaderboard_chart(board: Leaderboard, path: Path, title: str) -> Path:
    """A grouped bar chart (PNG): a group per dataset, a bar per model, its interval as an error
    bar; a bar whose gain over the base is not significant is drawn faded. Written atomically."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    n_models = max(len(board.models), 1)
    width = 0.8 / n_models
    figure = Figure(figsize=(max(6.0, 1.2 * len(board.datasets) + 2), 4.5), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    faded_any, handles = False, []
    for i, (model_id, kind) in enumerate(board.models):
        xs, heights, errors, alphas = [], [], [[], []], []
        for j, (d, s, _) in enumerate(board.datasets):
            value = board.value(model_id, d, s)
            interval = board.interval(model_id, d, s)
            xs.append(j + (i - (n_models - 1) / 2) * width)
            heights.append(100 * (value or 0.0))
            errors[0].append(100 * max(0.0, (value or 0.0) - interval[0]) if interval else 0.0)
            errors[1].append(100 * max(0.0, interval[1] - (value or 0.0)) if interval else 0.0)
            evidence = board.evidence(model_id, d, s)
            faded = evidence is not None and not evidence.significant
            faded_any |= faded
            alphas.append(0.4 if faded else 1.0)
        bars = axes.bar(xs, heights, width=width, yerr=errors, capsize=2,
                        label=column_label(board, model_id, kind),
                        error_kw={"elinewidth": 0.8})
        for bar, alpha in zip(bars, alphas, strict=True):
            bar.set_alpha(alpha)
        handles.append(Patch(color=bars.patches[0].get_facecolor()[:3] if bars.patches else None,
                             label=column_label(board, model_id, kind)))
    axes.set_xticks(range(len(board.datasets)))
    axes.set_xticklabels([f"{d}: {s}" for d, s, _ in board.datasets], rotation=30, ha="right",
                         fontsize="small")
    axes.set_ylabel("official metric (x100)")
    note = "\nerror bars: intervals; faded: gain over the base not significant" \
        if faded_any or board.intervals else ""
    axes.set_title(title + note, fontsize="medium")
    axes.legend(handles=handles, fontsize="x-small")  # solid: a faded first bar is no colour key
    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png")
    logger.info("leaderboard chart written to %s", path)
    return path
