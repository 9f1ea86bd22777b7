"""The evaluation stage: a registered domain's base, customized models and champion evaluated
with every figure's interval and the paired comparisons, stored in the metadata, written as
CLIP_benchmark files and logged to each model's MLflow run; then the domain's newest version of
``react-<domain>`` promoted to ``@champion`` or held as ``@challenger`` by its policy. The
leaderboard over every domain is published by :mod:`react_assets.evaluate.publish`."""

from __future__ import annotations

import logging
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
from react_assets.evaluate.leaderboard import model_names
from react_assets.evaluate.probe import ProbeConfig
from react_assets.evaluate.promotion import PromotionOutcome, RegisteredVersion, settle_version
from react_assets.evaluate.uncertainty import BootstrapConfig
from react_assets.files.paths import ReactPaths
from react_assets.metadata import Store
from react_assets.metadata.sql import (
    select_latest_domain_models,
    select_model_by_mlflow_uri,
)
from react_assets.models.base import current_base, load_base_bundle
from react_assets.tracking.lineage import LineageWriter
from react_assets.tracking.links import RegisteredModelUri, parse_model_uri
from react_assets.tracking.promote import CHAMPION, alias_version, registered_model_name

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvaluationConfig:
    """How a domain is evaluated. The intervals' level is the domain's promotion policy's."""

    batch_size: int = 128
    linear_probe: bool = True  # few- and full-shot probes where a dataset names a train split
    probe: ProbeConfig = field(default_factory=ProbeConfig)
    n_resamples: int = 2000  # bootstrap resamples of each figure's test samples
    seed: int = 0  # with the dataset and metric, fixes each figure's resamples


@dataclass(frozen=True)
class ModelRecord:
    """Where an evaluated model is in MLflow, and its readable name."""

    name: str
    mlflow_run_id: str | None
    mlflow_model_uri: str | None


@dataclass(frozen=True)
class EvaluationReport:
    """A stored domain evaluation: its figures, the models and the files written, each model's
    MLflow run and version, the champion it was compared with, and the promotion outcome of the
    domain's newest version (None when the domain has no ``react-<domain>`` model)."""

    evaluation: DomainEvaluation
    models: list[EvaluatedModel]
    n_rows: int
    files: list[Path]
    records: dict[str, ModelRecord] = field(default_factory=dict)
    champion: RegisteredVersion | None = None
    promotion: PromotionOutcome | None = None
    own_datasets: tuple[str, ...] = ()  # the domain's datasets (the others: general sets)


def _evaluated(store: Store, row: dict, base_id: str, base_bundle) -> EvaluatedModel:
    """A models row as a model to evaluate (REAL's baselines: the base's towers with a head)."""
    checkpoint = store.home.resolve(row["checkpoint"])
    if row["kind"] in BASELINES:
        return EvaluatedModel(row["model_id"], row["kind"], base_bundle,
                              head=load_head(checkpoint), features_of=base_id)
    return EvaluatedModel(row["model_id"], row["kind"], load_customized_model(checkpoint),
                          shares_text_tower=row["kind"] != "full")


def current_champion(store: Store, client, registered_model: str
                     ) -> tuple[RegisteredVersion, dict] | None:
    """``@champion`` of the registered model, and its models row; None without one (or when the
    home's metadata has no model of that version, which is logged)."""
    version = alias_version(client, registered_model, CHAMPION)
    if version is None:
        return None
    rows = store.fetch(select_model_by_mlflow_uri,
                       {"uri": f"models:/{registered_model}/{version}"})
    if not rows:
        log.warning("%s@champion is version %d, which no model of the metadata is: not compared",
                    registered_model, version)
        return None
    return RegisteredVersion(rows[0]["model_id"], version), rows[0]


def evaluate_registered_domain(store: Store, paths: ReactPaths, writer: LineageWriter,
                               domain: str, config: EvaluationConfig | None = None, *,
                               dagster_run_id: str | None = None) -> EvaluationReport:
    """The base, the domain's latest customized models and its champion on its datasets and the
    general sets, with intervals and paired comparisons; then the domain's newest version of
    ``react-<domain>`` promoted or held by its policy."""
    config = config or EvaluationConfig()
    registered = registered_domain(store, domain)
    base = current_base(store)
    base_bundle = load_base_bundle(store)
    models = [EvaluatedModel(base.model_id, "base", base_bundle)]
    rows = {base.model_id: {"kind": "base", "domain": None, "mlflow_run_id": base.mlflow_run_id,
                            "mlflow_model_uri": base.mlflow_model_uri, "model_id": base.model_id}}
    name = registered_model_name(domain)
    candidate = None
    for row in store.fetch(select_latest_domain_models, {"domain": domain}):
        models.append(_evaluated(store, row, base.model_id, base_bundle))
        rows[row["model_id"]] = row | {"domain": domain}
        uri = parse_registered(row["mlflow_model_uri"])
        if uri is not None and uri.name == name and uri.version is not None:
            candidate = RegisteredVersion(row["model_id"], uri.version)
    if len(models) == 1:
        raise ValueError(f"domain {domain} has no customized model: materialize react_model")
    champion = current_champion(store, writer.client, name)
    if champion is not None and champion[0].model_id not in rows:
        models.append(_evaluated(store, champion[1], base.model_id, base_bundle))
        rows[champion[0].model_id] = champion[1]
    bootstrap = BootstrapConfig(config.n_resamples, registered.spec.promotion.level, config.seed)
    evaluation = evaluate_domain(registered, models, config.batch_size,
                                 config.probe if config.linear_probe else None,
                                 champion_id=None if champion is None else champion[0].model_id,
                                 bootstrap=bootstrap)
    n_rows = store_domain_evaluation(store, evaluation, models)
    files = write_clip_benchmark_files(paths.reports / "clip_benchmark", evaluation, models)
    log_evaluation_metrics(writer, domain, evaluation,
                           {m: r["mlflow_run_id"] for m, r in rows.items()})
    promotion = None
    if candidate is not None:
        promotion = settle_version(store, writer.client, registered, name, candidate,
                                   None if champion is None else champion[0],
                                   evaluation.comparisons, dagster_run_id)
    names = model_names([(m, r["kind"], r["domain"], r["mlflow_model_uri"])
                         for m, r in rows.items()])
    records = {m: ModelRecord(names[m], r["mlflow_run_id"], r["mlflow_model_uri"])
               for m, r in rows.items()}
    return EvaluationReport(evaluation, models, n_rows, files, records,
                            None if champion is None else champion[0], promotion,
                            tuple(d.name for d in registered.spec.datasets))


def parse_registered(uri: str | None) -> RegisteredModelUri | None:
    """``models:/<name>/<version>`` parsed; None for None or any other reference."""
    try:
        return parse_model_uri(uri or "")
    except ValueError:
        return None


def log_evaluation_metrics(writer: LineageWriter, domain: str, evaluation: DomainEvaluation,
                           runs: dict[str, str | None]) -> None:
    """Each model's figures, with their intervals, and its probe summaries, on its MLflow run."""
    for (model_id, dataset), result in evaluation.zeroshot.items():
        if runs.get(model_id):
            writer.log_metrics(runs[model_id], with_interval(
                evaluation, model_id, dataset, result.metric, f"{domain}.{dataset}.{result.metric}",
                result.value))
    for (model_id, dataset), recalls in evaluation.retrieval.items():
        if runs.get(model_id):
            metrics: dict[str, float] = {}
            for k, v in recalls.items():
                metrics |= with_interval(evaluation, model_id, dataset, k,
                                         f"{domain}.{dataset}.{k.replace('@', '_at_')}", v)
            writer.log_metrics(runs[model_id], metrics)
    for (model_id, dataset), figures in evaluation.probes.items():
        if runs.get(model_id):
            writer.log_metrics(runs[model_id], probe_summary(f"{domain}.{dataset}", figures))


def with_interval(evaluation: DomainEvaluation, model_id: str, dataset: str, metric: str,
                  key: str, value: float) -> dict[str, float]:
    """``{key: value}`` and, where the figure has an interval, ``key.ci_low`` / ``key.ci_high``."""
    low, high = evaluation.interval(model_id, dataset, metric)
    out = {key: value}
    if low is not None:
        out |= {f"{key}.ci_low": low, f"{key}.ci_high": high}
    return out


def probe_summary(prefix: str, figures: list) -> dict[str, float]:
    """Mean over seeds of each (head, setting) probe figure, as MLflow metric names."""
    groups: dict[str, list[float]] = {}
    for f in figures:
        groups.setdefault(f"{prefix}.probe.{f.head}.{f.setting}", []).append(f.value)
    return {k: sum(v) / len(v) for k, v in groups.items()}
