"""Evaluation stage: zero-shot figures per domain, and the leaderboard across all of them."""

import base64

import dagster as dg

from dagster_project.assets.customization import react_model
from dagster_project.automation import EVALUATION_CONDITION, LEADERBOARD_CONDITION
from dagster_project.configs import launch_config, launch_schema, library_config, override
from dagster_project.metadata_tables import mlflow_links, records_table
from dagster_project.partitions import COMPUTE_POOL, domain_partitions
from dagster_project.profile import executed_by
from dagster_project.resources import MlflowResource, ReactHomeResource
from react_assets.evaluate.publish import (
    figure_records,
    per_class_records,
    promotion_markdown,
    publish_leaderboard,
    results_markdown,
)
from react_assets.evaluate.stage import EvaluationConfig, EvaluationReport, evaluate_registered_domain
from react_assets.tracking.links import TrackingLinks
from react_assets.tracking.promote import registered_model_name


class ZeroshotEvalConfig(dg.Config):
    """Evaluation batch size, whether the few- and full-shot linear probes run, and the
    bootstrap of the intervals."""

    batch_size: int | None = override(EvaluationConfig, "batch_size", "images per batch", ge=1)
    linear_probe: bool | None = override(EvaluationConfig, "linear_probe",
                                         "n-shot and full-shot probes on the train splits")
    n_resamples: int | None = override(EvaluationConfig, "n_resamples",
                                       "bootstrap resamples of each figure's test samples", ge=100)
    seed: int | None = override(EvaluationConfig, "seed", "seed of the bootstrap resamples", ge=0)


@dg.asset(
    partitions_def=domain_partitions,
    deps=[react_model],
    automation_condition=EVALUATION_CONDITION,
    pool=COMPUTE_POOL,
    group_name="evaluation",
    kinds={"torch", "duckdb", "mlflow"},
    code_version="3",  # 3: intervals, paired comparisons, promotion of react-<domain>
    config_schema=launch_schema(ZeroshotEvalConfig),
)
def zeroshot_eval(
    context: dg.AssetExecutionContext,
    react_home: ReactHomeResource,
    mlflow: MlflowResource,
) -> dg.MaterializeResult:
    """Base, REAL baselines, customized models and the domain's champion on its datasets
    (zero-shot with intervals and paired tests, and linear probes where a dataset names a train
    split) and the held-out general sets; the newest react-<domain> version promoted or held."""
    config = launch_config(context, ZeroshotEvalConfig)
    writer = mlflow.writer()
    report = evaluate_registered_domain(react_home.store(), react_home.paths(), writer,
                                        context.partition_key,
                                        library_config(config, EvaluationConfig()),
                                        dagster_run_id=context.run_id)
    return dg.MaterializeResult(metadata=executed_by() | evaluation_metadata(
        report, mlflow.links(), writer.experiment_id))


def evaluation_metadata(report: EvaluationReport, links: TrackingLinks,
                        experiment_id: str) -> dict:
    """What a domain evaluation shows in the UI: figures and per-class accuracy as tables, every
    model's MLflow run and version as links, and the promotion decision."""
    names = {m: r.name for m, r in report.records.items()}
    metadata: dict = {
        "figures": report.n_rows,
        "models": dg.MetadataValue.md("\n".join(
            f"- {r.name}: `{m}`" for m, r in report.records.items())),
        "results": dg.MetadataValue.md(results_markdown(report.evaluation, names)),
        "figures_table": records_table(figure_records(report.evaluation, names), (
            "model", "dataset", "metric", "value", "low", "high", "vs_base", "vs_champion")),
        "per_class": records_table(per_class_records(report.evaluation, names, list(report.own_datasets)), (
            "model", "dataset", "class", "images", "accuracy")),
        "clip_benchmark_files": len(report.files),
        "probe_runs": sum(len(f) for f in report.evaluation.probes.values()),
    }
    for record in report.records.values():
        metadata |= mlflow_links(links, experiment_id, f"{record.name}/", record.mlflow_run_id,
                                 record.mlflow_model_uri)
    outcome = report.promotion
    if outcome is not None:
        page = links.model_version(outcome.registered_model, outcome.candidate.version)
        metadata |= {
            "promotion": dg.MetadataValue.md(promotion_markdown(outcome, page)),
            "promotion/action": outcome.action,
            "promotion/version": dg.MetadataValue.url(page),
            "promotion/champion_version": "none" if outcome.champion_version is None
            else outcome.champion_version,
            "promotion/reasons": dg.MetadataValue.md("\n".join(
                f"- {reason}" for reason in outcome.decision.reasons)),
        }
    return metadata


@dg.asset(
    deps=[zeroshot_eval],
    automation_condition=LEADERBOARD_CONDITION,
    group_name="evaluation",
    kinds={"duckdb", "mlflow"},
    code_version="3",  # 3: intervals, significance marks, readable names, champions
)
def leaderboard(react_home: ReactHomeResource, mlflow: MlflowResource) -> dg.MaterializeResult:
    """Per domain the methods with and without linear probes, their forgetting and cost; and
    every model on every dataset side by side, with intervals, the gain over the base model
    (paired, significance marked) and each domain's champion."""
    published = publish_leaderboard(react_home.store(), react_home.paths())
    image = base64.b64encode(published.chart_path.read_bytes()).decode()
    methods = base64.b64encode(published.methods_chart_path.read_bytes()).decode()
    board, links = published.board, mlflow.links()
    champions = [f"- {domain}: [{board.name(model_id)}]"
                 f"({links.registered_model(registered_model_name(domain))})"
                 for domain, model_id in sorted(board.champions.items())]
    return dg.MaterializeResult(metadata=executed_by() | {
        "methods": dg.MetadataValue.md(published.methods_markdown),
        "methods_chart": dg.MetadataValue.md(f"![methods](data:image/png;base64,{methods})"),
        "table": dg.MetadataValue.md(published.markdown),
        "chart": dg.MetadataValue.md(f"![leaderboard](data:image/png;base64,{image})"),
        "champions": dg.MetadataValue.md("\n".join(champions) or "no domain has a champion"),
        "report": dg.MetadataValue.path(str(published.markdown_path)),
        "report_json": dg.MetadataValue.path(str(published.json_path)),
        "models": len(board.models),
    })
