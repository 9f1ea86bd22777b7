"""The evaluation stage: a registered domain's base and customized models evaluated, stored in
DuckDB, written as CLIP_benchmark files and logged to each model's MLflow run; and the
leaderboard over every domain, published as Markdown, JSON and a chart."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from react_assets.atomic import write_text
from react_assets.customize.saved import load_customized_model
from react_assets.domains.registry import registered_domain
from react_assets.evaluate.domain import (
    DomainEvaluation,
    EvaluatedModel,
    evaluate_domain,
    store_domain_evaluation,
    write_clip_benchmark_files,
)
from react_assets.evaluate.leaderboard import Leaderboard, build_leaderboard
from react_assets.lineage import LineageWriter
from react_assets.models.base import current_base, load_base_bundle
from react_assets.paths import ReactPaths
from react_assets.sql import select_latest_domain_models, select_official_evaluations
from react_assets.store import Store


@dataclass(frozen=True)
class EvaluationConfig:
    """How a domain is evaluated."""

    batch_size: int = 128


@dataclass(frozen=True)
class EvaluationReport:
    """A stored domain evaluation: its figures, the models and the files written."""

    evaluation: DomainEvaluation
    models: list[EvaluatedModel]
    n_rows: int
    files: list[Path]


@dataclass(frozen=True)
class PublishedLeaderboard:
    """The leaderboard and where it was written."""

    board: Leaderboard
    markdown: str
    markdown_path: Path
    json_path: Path
    chart_path: Path


def evaluate_registered_domain(store: Store, paths: ReactPaths, writer: LineageWriter,
                               domain: str, config: EvaluationConfig | None = None,
                               ) -> EvaluationReport:
    """The base and the domain's latest customized models on its datasets and the general sets."""
    config = config or EvaluationConfig()
    base = current_base(store)
    models = [EvaluatedModel(base.model_id, "base", load_base_bundle(store))]
    runs = {base.model_id: base.mlflow_run_id}
    for row in store.fetch(select_latest_domain_models, {"domain": domain}):
        models.append(EvaluatedModel(row["model_id"], row["kind"],
                                     load_customized_model(row["checkpoint"]),
                                     shares_text_tower=row["kind"] != "full"))
        runs[row["model_id"]] = row["mlflow_run_id"]
    if len(models) == 1:
        raise ValueError(f"domain {domain} has no customized model: materialize react_model")
    evaluation = evaluate_domain(registered_domain(store, domain), models, config.batch_size)
    n_rows = store_domain_evaluation(store, evaluation, models)
    files = write_clip_benchmark_files(paths.reports / "clip_benchmark", evaluation, models)
    for (model_id, dataset), result in evaluation.zeroshot.items():
        if runs.get(model_id):
            writer.log_metrics(runs[model_id], {f"{domain}.{dataset}.{result.metric}": result.value})
    for (model_id, dataset), recalls in evaluation.retrieval.items():
        if runs.get(model_id):
            writer.log_metrics(runs[model_id], {f"{domain}.{dataset}.{k.replace('@', '_at_')}": v
                                                for k, v in recalls.items()})
    return EvaluationReport(evaluation, models, n_rows, files)


def results_markdown(evaluation: DomainEvaluation) -> str:
    """A domain's figures as Markdown: per dataset, per class, and image-text retrieval."""
    lines = ["| model | dataset | metric | value | most confused |", "|---|---|---|---|---|"]
    for (model_id, dataset), r in evaluation.zeroshot.items():
        confused = "; ".join(f"{c.true}->{c.predicted} ({c.count})" for c in r.confused_pairs[:3])
        lines.append(f"| {model_id} | {dataset} | {r.metric} | {100 * r.value:.2f} | {confused} |")
    lines += ["", "Per-class top-1 (x100):", "", "| model | dataset | per class |", "|---|---|---|"]
    for (model_id, dataset), r in evaluation.zeroshot.items():
        per_class = ", ".join(f"{c}: {'-' if v is None else f'{100 * v:.0f}'}"
                              for c, v in zip(r.classes, r.per_class, strict=True))
        lines.append(f"| {model_id} | {dataset} | {per_class} |")
    for (model_id, dataset), recalls in evaluation.retrieval.items():
        lines.append(f"\n{model_id} on {dataset}: " + ", ".join(
            f"{k}={100 * v:.1f}" for k, v in recalls.items()))
    return "\n".join(lines)


def publish_leaderboard(store: Store, paths: ReactPaths) -> PublishedLeaderboard:
    """Every model on every dataset with its gain over the current base, written to reports/."""
    rows = store.fetch(select_official_evaluations)
    if not rows:
        raise ValueError("no evaluations yet: materialize zeroshot_eval for a domain first")
    board = build_leaderboard(rows, base_model_id=current_base(store).model_id)
    markdown = board.to_markdown()
    md_path, json_path = paths.reports / "leaderboard.md", paths.reports / "leaderboard.json"
    write_text(md_path, markdown + "\n")
    write_text(json_path, board.to_json())
    chart = board.render_chart(paths.reports / "leaderboard.png")
    return PublishedLeaderboard(board, markdown, md_path, json_path, chart)
