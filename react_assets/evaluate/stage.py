"""The evaluation stage: a registered domain's base and customized models evaluated, stored in
DuckDB, written as CLIP_benchmark files and logged to each model's MLflow run; and the
leaderboard over every domain, published as Markdown, JSON and charts: models x datasets
zero-shot, and per domain the methods (base, REAL's baselines, REACT's customizations) with and
without linear probes, their forgetting and their cost."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from react_assets.customize.real import load_head
from react_assets.customize.saved import load_customized_model
from react_assets.domains.registry import registered_domain
from react_assets.domains.settings import BASELINES
from react_assets.evaluate.domain import (
    DomainEvaluation,
    EvaluatedModel,
    evaluate_domain,
    store_domain_evaluation,
    write_clip_benchmark_files,
)
from react_assets.evaluate.leaderboard import Leaderboard, build_leaderboard
from react_assets.evaluate.methods import (
    DomainTable,
    build_method_tables,
    methods_dict,
    methods_markdown,
    render_methods_chart,
)
from react_assets.evaluate.probe import ProbeConfig
from react_assets.files.atomic import write_json, write_text
from react_assets.files.paths import ReactPaths
from react_assets.metadata import Store
from react_assets.metadata.sql import (
    select_latest_domain_models,
    select_leaderboard_figures,
    select_official_evaluations,
)
from react_assets.models.base import current_base, load_base_bundle
from react_assets.tracking.lineage import LineageWriter


@dataclass(frozen=True)
class EvaluationConfig:
    """How a domain is evaluated."""

    batch_size: int = 128
    linear_probe: bool = True  # few- and full-shot probes where a dataset names a train split
    probe: ProbeConfig = field(default_factory=ProbeConfig)


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
    methods: list[DomainTable]
    methods_markdown: str
    methods_chart_path: Path


def evaluate_registered_domain(store: Store, paths: ReactPaths, writer: LineageWriter,
                               domain: str, config: EvaluationConfig | None = None,
                               ) -> EvaluationReport:
    """The base and the domain's latest customized models on its datasets and the general sets."""
    config = config or EvaluationConfig()
    base = current_base(store)
    base_bundle = load_base_bundle(store)
    models = [EvaluatedModel(base.model_id, "base", base_bundle)]
    runs = {base.model_id: base.mlflow_run_id}
    for row in store.fetch(select_latest_domain_models, {"domain": domain}):
        checkpoint = store.home.resolve(row["checkpoint"])
        if row["kind"] in BASELINES:  # REAL: the base's towers with a head of its own
            models.append(EvaluatedModel(row["model_id"], row["kind"], base_bundle,
                                         head=load_head(checkpoint),
                                         features_of=base.model_id))
        else:
            models.append(EvaluatedModel(row["model_id"], row["kind"],
                                         load_customized_model(checkpoint),
                                         shares_text_tower=row["kind"] != "full"))
        runs[row["model_id"]] = row["mlflow_run_id"]
    if len(models) == 1:
        raise ValueError(f"domain {domain} has no customized model: materialize react_model")
    evaluation = evaluate_domain(registered_domain(store, domain), models, config.batch_size,
                                 config.probe if config.linear_probe else None)
    n_rows = store_domain_evaluation(store, evaluation, models)
    files = write_clip_benchmark_files(paths.reports / "clip_benchmark", evaluation, models)
    for (model_id, dataset), result in evaluation.zeroshot.items():
        if runs.get(model_id):
            writer.log_metrics(runs[model_id], {f"{domain}.{dataset}.{result.metric}": result.value})
    for (model_id, dataset), recalls in evaluation.retrieval.items():
        if runs.get(model_id):
            writer.log_metrics(runs[model_id], {f"{domain}.{dataset}.{k.replace('@', '_at_')}": v
                                                for k, v in recalls.items()})
    for (model_id, dataset), figures in evaluation.probes.items():
        if runs.get(model_id):
            writer.log_metrics(runs[model_id], probe_summary(f"{domain}.{dataset}", figures))
    return EvaluationReport(evaluation, models, n_rows, files)


def probe_summary(prefix: str, figures: list) -> dict[str, float]:
    """Mean over seeds of each (head, setting) probe figure, as MLflow metric names."""
    groups: dict[str, list[float]] = {}
    for f in figures:
        groups.setdefault(f"{prefix}.probe.{f.head}.{f.setting}", []).append(f.value)
    return {k: sum(v) / len(v) for k, v in groups.items()}


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
