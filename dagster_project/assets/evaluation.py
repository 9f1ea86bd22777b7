"""Evaluation stage: zero-shot figures per domain, and the leaderboard across all of them."""

import base64

import dagster as dg

from dagster_project.assets.customization import react_model
from dagster_project.automation import EVALUATION_CONDITION, LEADERBOARD_CONDITION
from dagster_project.configs import launch_config, launch_schema, library_config, override
from dagster_project.partitions import COMPUTE_POOL, domain_partitions
from dagster_project.profile import executed_by
from dagster_project.resources import MlflowResource, ReactHomeResource
from react_assets.evaluate.stage import (
    EvaluationConfig,
    evaluate_registered_domain,
    publish_leaderboard,
    results_markdown,
)


class ZeroshotEvalConfig(dg.Config):
    """Evaluation batch size, and whether the few- and full-shot linear probes run."""

    batch_size: int | None = override(EvaluationConfig, "batch_size", "images per batch", ge=1)
    linear_probe: bool | None = override(EvaluationConfig, "linear_probe",
                                         "n-shot and full-shot probes on the train splits")


@dg.asset(
    partitions_def=domain_partitions,
    deps=[react_model],
    automation_condition=EVALUATION_CONDITION,
    pool=COMPUTE_POOL,
    group_name="evaluation",
    kinds={"torch", "duckdb", "mlflow"},
    code_version="2",
    config_schema=launch_schema(ZeroshotEvalConfig),
)
def zeroshot_eval(
    context: dg.AssetExecutionContext,
    react_home: ReactHomeResource,
    mlflow: MlflowResource,
) -> dg.MaterializeResult:
    """Base, REAL baselines and customized models on the domain's datasets (zero-shot, and
    linear probes where a dataset names a train split) and the held-out general sets."""
    config = launch_config(context, ZeroshotEvalConfig)
    report = evaluate_registered_domain(react_home.store(), react_home.paths(), mlflow.writer(),
                                        context.partition_key,
                                        library_config(config, EvaluationConfig()))
    return dg.MaterializeResult(metadata=executed_by() | {
        "figures": report.n_rows,
        "models": ", ".join(m.model_id for m in report.models),
        "results": dg.MetadataValue.md(results_markdown(report.evaluation)),
        "clip_benchmark_files": len(report.files),
        "probe_runs": sum(len(f) for f in report.evaluation.probes.values()),
    })


@dg.asset(
    deps=[zeroshot_eval],
    automation_condition=LEADERBOARD_CONDITION,
    group_name="evaluation",
    kinds={"duckdb"},
    code_version="2",
)
def leaderboard(react_home: ReactHomeResource) -> dg.MaterializeResult:
    """Per domain the methods with and without linear probes, their forgetting and cost; and
    every model on every dataset side by side, with the gain over the base model."""
    published = publish_leaderboard(react_home.store(), react_home.paths())
    image = base64.b64encode(published.chart_path.read_bytes()).decode()
    methods = base64.b64encode(published.methods_chart_path.read_bytes()).decode()
    return dg.MaterializeResult(metadata=executed_by() | {
        "methods": dg.MetadataValue.md(published.methods_markdown),
        "methods_chart": dg.MetadataValue.md(f"![methods](data:image/png;base64,{methods})"),
        "table": dg.MetadataValue.md(published.markdown),
        "chart": dg.MetadataValue.md(f"![leaderboard](data:image/png;base64,{image})"),
        "report": dg.MetadataValue.path(str(published.markdown_path)),
        "models": len(published.board.models),
    })
