"""What an evaluation shows its readers: the leaderboard over every domain (Markdown, JSON and
charts, with intervals, significance marks, readable names and each domain's champion), and a
domain evaluation's figures, per-class accuracy and promotion decision as plain records that the
orchestration turns into tables."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from react_assets.domains.registry import registered_domain
from react_assets.evaluate.domain import DomainEvaluation
from react_assets.evaluate.evidence import Comparison
from react_assets.evaluate.leaderboard import Leaderboard, build_leaderboard, model_names
from react_assets.evaluate.methods import (
    DomainTable,
    build_method_tables,
    methods_dict,
    methods_markdown,
    render_methods_chart,
)
from react_assets.evaluate.promotion import PromotionOutcome
from react_assets.files.atomic import write_json, write_text
from react_assets.files.paths import ReactPaths
from react_assets.metadata import Store
from react_assets.metadata.sql import (
    select_base_comparisons,
    select_champions,
    select_leaderboard_figures,
    select_official_evaluations,
)
from react_assets.models.base import current_base


@dataclass(frozen=True)
class PublishedLeaderboard:
    """The leaderboard and where it was written."""

    board: Leaderboard
    markdown: str
    markdown_path: Path
    json_path: Path
    chart_path: Path
    methods: list[DomainTable]
    methods_markdown: str
    methods_chart_path: Path


def publish_leaderboard(store: Store, paths: ReactPaths) -> PublishedLeaderboard:
    """Every model on every dataset with its interval and its gain over the current base (paired
    interval, significance), each domain's champion marked; written to reports/."""
    rows = store.fetch(select_official_evaluations)
    if not rows:
        raise ValueError("no evaluations yet: materialize zeroshot_eval for a domain first")
    base = current_base(store).model_id
    names = model_names({r["model_id"]: (r["model_id"], r["model_kind"], r["model_domain"],
                                         r["mlflow_model_uri"]) for r in rows}.values())
    champions = {r["domain"]: r["model_id"] for r in store.fetch(select_champions)
                 if r["model_id"]}
    board = build_leaderboard(rows, base_model_id=base,
                              comparisons=store.fetch(select_base_comparisons, {"base": base}),
                              names=names, champions=champions)
    markdown = board.to_markdown()
    md_path, json_path = paths.reports / "leaderboard.md", paths.reports / "leaderboard.json"
    chart = board.render_chart(paths.reports / "leaderboard.png")
    general = {d: [s.name for s in registered_domain(store, d).catalog.general_datasets]
               for d in sorted({r["domain"] for r in rows})}
    tables = build_method_tables(store.fetch(select_leaderboard_figures), general)
    methods_md = methods_markdown(tables)
    markdown = f"## Methods per domain\n\n{methods_md}\n## Zero-shot per dataset\n\n{markdown}"
    write_text(md_path, markdown + "\n")
    write_json(json_path, board.to_dict() | {"methods": methods_dict(tables)})
    methods_chart = render_methods_chart(tables, paths.reports / "leaderboard_methods.png")
    return PublishedLeaderboard(board, markdown, md_path, json_path, chart, tables, methods_md,
                                methods_chart)


def _pct(value: float | None) -> float | None:
    return None if value is None else round(100 * value, 2)


def _versus(comparisons: dict[tuple[str, str, str, str], Comparison], role: str, model_id: str,
            dataset: str, metric: str) -> str:
    found = comparisons.get((role, model_id, dataset, metric))
    if found is None:
        return "-"
    d = found.difference
    mark = "" if d.significant(1 - d.level) else " n.s."
    return (f"{100 * d.value:+.2f} [{100 * d.low:+.1f}, {100 * d.high:+.1f}] "
            f"p={d.p_value:.3g}{mark}")


def figure_records(evaluation: DomainEvaluation, names: dict[str, str]) -> list[dict[str, Any]]:
    """One record per zero-shot and retrieval figure (x100): model (name and id), dataset,
    metric, value, its interval, and the paired difference from the base and from the
    champion."""
    compared = {(c.role, c.model_id, c.dataset, c.metric): c for c in evaluation.comparisons}
    figures = [(m, ds, r.metric, r.value) for (m, ds), r in evaluation.zeroshot.items()]
    figures += [(m, ds, metric, v) for (m, ds), recalls in evaluation.retrieval.items()
                for metric, v in recalls.items()]
    records = []
    for model_id, dataset, metric, value in figures:
        low, high = evaluation.interval(model_id, dataset, metric)
        records.append({
            "model": names.get(model_id, model_id), "model_id": model_id, "dataset": dataset,
            "metric": metric,
            "value": _pct(value), "low": _pct(low), "high": _pct(high),
            "vs_base": _versus(compared, "base", model_id, dataset, metric),
            "vs_champion": _versus(compared, "champion", model_id, dataset, metric)})
    return records


def per_class_records(evaluation: DomainEvaluation, names: dict[str, str],
                      datasets: list[str]) -> list[dict[str, Any]]:
    """Per model, dataset (of ``datasets``) and class: the test images of the class and the
    model's top-1 recall on them (x100; None for a class without images)."""
    return [{"model": names.get(model_id, model_id), "dataset": dataset, "class": cls,
             "images": n, "accuracy": _pct(value)}
            for (model_id, dataset), r in evaluation.zeroshot.items() if dataset in datasets
            for cls, n, value in zip(r.classes, r.support or (None,) * len(r.classes),
                                     r.per_class, strict=True)]


def results_markdown(evaluation: DomainEvaluation, names: dict[str, str] | None = None) -> str:
    """A domain's figures as Markdown (x100): value with its interval, the paired difference
    from the base and from the champion, and the most confused classes."""
    names = names or {}
    confused = {(m, ds): "; ".join(f"{c.true}->{c.predicted} ({c.count})"
                                   for c in r.confused_pairs[:3])
                for (m, ds), r in evaluation.zeroshot.items()}
    lines = ["| model | dataset | metric | value [interval] | vs base | vs champion | "
             "most confused |", "|---|---|---|---|---|---|---|"]
    for record in figure_records(evaluation, names):
        interval = "" if record["low"] is None else f" [{record['low']:.1f}, {record['high']:.1f}]"
        lines.append(f"| {record['model']} | {record['dataset']} | {record['metric']} | "
                     f"{record['value']:.2f}{interval} | {record['vs_base']} | "
                     f"{record['vs_champion']} | "
                     f"{confused.get((record['model_id'], record['dataset']), '')} |")
    return "\n".join(lines)


def promotion_markdown(outcome: PromotionOutcome, version_link: str | None = None) -> str:
    """The promotion decision: what happened to which version, and every rule with its figure."""
    version = f"{outcome.registered_model} version {outcome.candidate.version}"
    if version_link:
        version = f"[{version}]({version_link})"
    verdict = {"promoted": "promoted to **@champion**", "challenger": "held as **@challenger**",
               "unchanged": "unchanged"}[outcome.action]
    lines = [f"{version} ({outcome.candidate.model_id}): {verdict}. "
             f"@champion is now version {outcome.champion_version or '-'} "
             f"(was {outcome.previous_champion_version or '-'}).", ""]
    if outcome.note:
        lines += [outcome.note, ""]
    lines += ["| rule | dataset | metric | difference | interval | p | passed |",
              "|---|---|---|---|---|---|---|"]
    for c in outcome.decision.checks:
        figure = ("-", "-", "-") if c.difference is None else (
            f"{100 * c.difference:+.2f}", f"[{100 * c.low:+.1f}, {100 * c.high:+.1f}]",
            f"{c.p_value:.3g}")
        lines.append(f"| {c.rule} | {c.dataset} | {c.metric} | {' | '.join(figure)} | "
                     f"{'yes' if c.passed else '**no**'} |")
    return "\n".join(lines)
