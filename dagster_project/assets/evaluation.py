"""Evaluation stage: zero-shot figures per domain, and the leaderboard across all of them."""

import base64

import dagster as dg

from dagster_project.assets.customization import react_model
from dagster_project.partitions import DUCKDB_POOL, domain_partitions
from dagster_project.resources import MlflowResource, ReactHomeResource
from react_assets.atomic import write_text
from react_assets.evaluate import (
    EvaluatedModel,
    evaluate_domain,
    store_domain_evaluation,
    write_clip_benchmark_files,
)
from react_assets.evaluation.leaderboard import build_leaderboard
from react_assets.models.saved import load_customized_model
from react_assets.pipeline import current_base, load_base_bundle
from react_assets.registry import registered_domain


class ZeroshotEvalConfig(dg.Config):
    """Evaluation batch size."""

    batch_size: int = 128


@dg.asset(
    partitions_def=domain_partitions,
    deps=[react_model],
    pool=DUCKDB_POOL,
    group_name="evaluation",
    kinds={"torch", "duckdb", "mlflow"},
    code_version="1",
)
def zeroshot_eval(
    context: dg.AssetExecutionContext,
    config: ZeroshotEvalConfig,
    react_home: ReactHomeResource,
    mlflow: MlflowResource,
) -> dg.MaterializeResult:
    """Base vs customized models on the domain's datasets and the held-out general sets."""
    domain = context.partition_key
    store = react_home.store()
    base = current_base(store)
    models = [EvaluatedModel(base.model_id, "base", load_base_bundle(store))]
    runs = {base.model_id: base.mlflow_run_id}
    for row in store.fetch("select_latest_domain_models", {"domain": domain}):
        bundle = load_customized_model(row["checkpoint"])
        models.append(EvaluatedModel(row["model_id"], row["kind"], bundle,
                                     shares_text_tower=row["kind"] != "full"))
        runs[row["model_id"]] = row["mlflow_run_id"]
    if len(models) == 1:
        raise ValueError(f"domain {domain} has no customized model: materialize react_model")
    evaluation = evaluate_domain(registered_domain(store, domain), models, config.batch_size)
    n_rows = store_domain_evaluation(store, evaluation, models)
    files = write_clip_benchmark_files(react_home.paths().reports / "clip_benchmark", evaluation,
                                       models)
    writer = mlflow.writer()
    for (model_id, dataset), result in evaluation.zeroshot.items():
        if runs.get(model_id):
            writer.log_metrics(runs[model_id], {f"{domain}.{dataset}.{result.metric}": result.value})
    for (model_id, dataset), recalls in evaluation.retrieval.items():
        if runs.get(model_id):
            writer.log_metrics(runs[model_id],
                               {f"{domain}.{dataset}.{k.replace('@', '_at_')}": v
                                for k, v in recalls.items()})
    return dg.MaterializeResult(metadata={
        "figures": n_rows,
        "models": ", ".join(m.model_id for m in models),
        "results": dg.MetadataValue.md(_results_markdown(evaluation)),
        "clip_benchmark_files": len(files),
    })


def _results_markdown(evaluation) -> str:
    lines = ["| model | dataset | metric | value | most confused |", "|---|---|---|---|---|"]
    for (model_id, dataset), r in evaluation.zeroshot.items():
        confused = "; ".join(f"{c.true}->{c.predicted} ({c.count})"
                             for c in r.confused_pairs[:3])
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


@dg.asset(
    deps=[zeroshot_eval],
    group_name="evaluation",
    kinds={"duckdb"},
    code_version="1",
)
def leaderboard(react_home: ReactHomeResource) -> dg.MaterializeResult:
    """Every model on every dataset side by side, with the gain over the base model."""
    store = react_home.store()
    rows = store.fetch("select_official_evaluations")
    if not rows:
        raise ValueError("no evaluations yet: materialize zeroshot_eval for a domain first")
    board = build_leaderboard(rows, base_model_id=current_base(store).model_id)
    reports = react_home.paths().reports
    markdown = board.to_markdown()
    write_text(reports / "leaderboard.md", markdown + "\n")
    write_text(reports / "leaderboard.json", board.to_json())
    chart = board.render_chart(reports / "leaderboard.png")
    image = base64.b64encode(chart.read_bytes()).decode()
    return dg.MaterializeResult(metadata={
        "table": dg.MetadataValue.md(markdown),
        "chart": dg.MetadataValue.md(f"![leaderboard](data:image/png;base64,{image})"),
        "report": dg.MetadataValue.path(str(reports / "leaderboard.md")),
        "models": len(board.models),
    })
