"""Evaluation of a domain: the base and its customized models on the domain's datasets (zero-shot
and, where a dataset names its train split, linear probes), the held-out general sets
(forgetting) and captioned retrieval sets; stored in DuckDB and MLflow.

Image features are computed once per image tower and dataset: REAL's baselines share the base
model's tower, so they reuse its features (and its from-scratch probe figures). Each zero-shot
and retrieval figure keeps what the model did on every sample, from which its bootstrap
interval and its paired differences from the base and the champion are measured
(:mod:`react_assets.evaluate.evidence`)."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import torch

from react_assets.customize.linear_head import LinearHead
from react_assets.domains.datasets import open_dataset
from react_assets.domains.images import DatasetLayoutError
from react_assets.domains.registry import RegisteredDomain
from react_assets.domains.spec import DatasetSpec
from react_assets.evaluate.evidence import Comparison, FigureKey, measure_evidence
from react_assets.evaluate.image_text import encode_captions, evaluate_retrieval_hits
from react_assets.evaluate.leaderboard import clip_benchmark_metrics, clip_benchmark_record
from react_assets.evaluate.probe import LOGISTIC, TEXT_INIT, ProbeConfig, ProbeFigure, run_probes
from react_assets.evaluate.uncertainty import (
    RECALL,
    BootstrapConfig,
    Interval,
    Outcomes,
    outcomes_from_scores,
)
from react_assets.evaluate.zeroshot import (
    ZeroShotResult,
    encode_dataset_towers,
    score_predictions,
    zeroshot_classifier,
)
from react_assets.files.atomic import write_json
from react_assets.files.paths import model_folder_name
from react_assets.metadata import Store, insert_table
from react_assets.metadata.sql import upsert_comparisons, upsert_evaluations
from react_assets.models.factory import ClipBundle

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvaluatedModel:
    """A model to evaluate: its id, kind (base, gated-image, ...) and loaded bundle.

    ``head`` replaces the text classifier on the domain's own classes (REAL's baselines);
    ``features_of`` names the model whose image tower it uses (None: its own)."""

    model_id: str
    kind: str
    bundle: ClipBundle
    shares_text_tower: bool = True
    head: LinearHead | None = None
    features_of: str | None = None

    @property
    def tower(self) -> str:
        return self.features_of or self.model_id


@dataclass
class DomainEvaluation:
    """Every figure of one domain's evaluation, under one version of its spec (``spec_digest``:
    the classes and templates evaluated; None for a domain registered before versions).

    ``outcomes`` holds each zero-shot and retrieval figure's per-sample results;
    ``intervals`` and ``comparisons`` the evidence measured from them."""

    domain: str
    zeroshot: dict[tuple[str, str], ZeroShotResult] = field(default_factory=dict)
    retrieval: dict[tuple[str, str], dict[str, float]] = field(default_factory=dict)
    probes: dict[tuple[str, str], list[ProbeFigure]] = field(default_factory=dict)
    spec_digest: str | None = None
    outcomes: dict[FigureKey, Outcomes] = field(default_factory=dict)
    intervals: dict[FigureKey, Interval] = field(default_factory=dict)
    comparisons: list[Comparison] = field(default_factory=list)
    bootstrap: BootstrapConfig = field(default_factory=BootstrapConfig)

    def interval(self, model_id: str, dataset: str, metric: str) -> tuple[float | None, ...]:
        """The figure's interval bounds, (None, None) when it has none."""
        found = self.intervals.get((model_id, dataset, metric))
        return (None, None) if found is None else (found.low, found.high)

    def rows(self, models: list[EvaluatedModel]) -> list[dict[str, Any]]:
        kinds = {m.model_id: m.kind for m in models}
        rows = [{"model_id": mid, "model_kind": kinds[mid], "domain": self.domain, "dataset": ds,
                 "task": "zeroshot_classification", "metric": r.metric, "value": float(r.value),
                 "n_samples": r.n_samples, "details": json.dumps(r.to_dict(), default=str),
                 **dict(zip(("ci_low", "ci_high"), self.interval(mid, ds, r.metric), strict=True))}
                for (mid, ds), r in self.zeroshot.items()]
        rows += [{"model_id": mid, "model_kind": kinds[mid], "domain": self.domain, "dataset": ds,
                  "task": "zeroshot_retrieval", "metric": metric, "value": float(value),
                  "n_samples": self._samples(mid, ds, metric), "details": None,
                  **dict(zip(("ci_low", "ci_high"), self.interval(mid, ds, metric), strict=True))}
                 for (mid, ds), recalls in self.retrieval.items() for metric, value in recalls.items()]
        metrics = {ds: r.metric for (_, ds), r in self.zeroshot.items()}
        rows += [{"model_id": mid, "model_kind": kinds[mid], "domain": self.domain, "dataset": ds,
                  "task": "linear_probe", "metric": probe_metric(metrics[ds], f),
                  "value": f.value, "n_samples": f.n_train,
                  "details": json.dumps({"metric": metrics[ds], "setting": f.setting,
                                         "shots": f.shots, "seed": f.seed, "head": f.head,
                                         "chosen": f.chosen, "n_train": f.n_train}),
                  "ci_low": None, "ci_high": None}
                 for (mid, ds), figures in self.probes.items() for f in figures]
        return rows

    def _samples(self, model_id: str, dataset: str, metric: str) -> int:
        found = self.outcomes.get((model_id, dataset, metric))
        return 0 if found is None else found.n

    def comparison_rows(self) -> list[dict[str, Any]]:
        """The paired comparisons as ``comparisons`` rows (fractions)."""
        return [{"model_id": c.model_id, "reference_id": c.reference_id, "role": c.role,
                 "domain": self.domain, "dataset": c.dataset, "metric": c.metric,
                 "difference": c.difference.value, "ci_low": c.difference.low,
                 "ci_high": c.difference.high, "p_value": c.difference.p_value,
                 "n_samples": c.difference.n_samples, "level": c.difference.level,
                 "n_resamples": self.bootstrap.n_resamples, "seed": self.bootstrap.seed}
                for c in self.comparisons]


def probe_metric(metric: str, figure: ProbeFigure) -> str:
    """The evaluations row's metric name of a probe figure: ``accuracy@5-shot/seed1/logistic``."""
    return f"{metric}@{figure.setting}/seed{figure.seed}/{figure.head}"


class FeatureCache:
    """Image features and labels per (image tower, dataset), each computed once. The first
    request of a dataset encodes it with every tower of ``models`` that takes the same
    preprocessed images (a customization keeps its base's), decoding each image once."""

    def __init__(self, models: list[EvaluatedModel], batch_size: int) -> None:
        self.batch_size = batch_size
        self.towers = {m.tower: m for m in models if m.features_of is None}
        self.cache: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}

    def get(self, model: EvaluatedModel, dataset: DatasetSpec, classes: list[str]
            ) -> tuple[np.ndarray, np.ndarray]:
        key = (model.tower, dataset.name)
        if key not in self.cache:
            owner = self.towers.get(model.tower, model)
            preprocess = owner.bundle.preprocess_val
            same = [owner] + [m for tower, m in self.towers.items() if tower != owner.tower
                              and (tower, dataset.name) not in self.cache
                              and repr(m.bundle.preprocess_val) == repr(preprocess)]
            for m in same:
                m.bundle.model.eval()
            data = open_dataset(dataset, classes, preprocess)
            xs, y = encode_dataset_towers([m.bundle.model for m in same], data, self.batch_size)
            for m, x in zip(same, xs, strict=True):
                self.cache[(m.tower, dataset.name)] = (x.numpy(), y.numpy())
        return self.cache[key]


def dataset_classes(spec: DatasetSpec) -> list[str]:
    """The class list of a general (ImageFolder) dataset: classes.txt, else its folder names."""
    listing = spec.path / "classes.txt"
    if listing.is_file():
        return [line for line in listing.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not spec.path.is_dir():
        raise DatasetLayoutError(f"dataset {spec.name}: folder {spec.path} does not exist")
    return sorted(p.name for p in spec.path.iterdir() if p.is_dir())


def evaluate_domain(
    registered: RegisteredDomain, models: list[EvaluatedModel], batch_size: int = 128,
    probe: ProbeConfig | None = None, *, champion_id: str | None = None,
    bootstrap: BootstrapConfig | None = None,
) -> DomainEvaluation:
    """Zero-shot classification on the domain's and general datasets, linear probes (``probe``
    given) on the domain's datasets that name a train split, retrieval on captioned sets; then
    every zero-shot and retrieval figure's interval, and each model's paired differences from the
    base (``models[0]``) and from the champion (``champion_id``, one of ``models``)."""
    domain, catalog = registered.spec, registered.catalog
    jobs = [(d, list(domain.classes), list(domain.templates), True) for d in domain.datasets]
    jobs += [(d, dataset_classes(d), list(catalog.general_templates), False)
             for d in catalog.general_datasets]
    out = DomainEvaluation(domain.name, spec_digest=registered.digest,
                           bootstrap=bootstrap or BootstrapConfig())
    features = FeatureCache(models, batch_size)
    for dataset, classes, templates, own in jobs:
        shared = zeroshot_classifier(models[0].bundle.model, models[0].bundle.tokenizer,
                                     classes, templates).cpu()
        logistic: dict[str, list[ProbeFigure]] = {}  # per image tower: no text involved
        for model in models:
            x, y = features.get(model, dataset, classes)
            classifier = shared if model.shares_text_tower else zeroshot_classifier(
                model.bundle.model, model.bundle.tokenizer, classes, templates).cpu()
            head = model.head if own and model.head is not None else \
                LinearHead.from_classifier(classifier.numpy())
            scores = head.probabilities(x)
            result = score_predictions(dataset.name, dataset.metric, scores, y, classes)
            out.zeroshot[(model.model_id, dataset.name)] = result
            out.outcomes[(model.model_id, dataset.name, dataset.metric)] = outcomes_from_scores(
                dataset.metric, scores, y)
            log.info("%s on %s: %s=%.4f", model.model_id, dataset.name, result.metric,
                     result.value)
            train = dataset.train_split() if own and probe is not None else None
            if train is None or y.ndim != 1:
                continue
            tx, ty = features.get(model, train, classes)
            if model.tower not in logistic:
                logistic[model.tower] = run_probes(tx, ty, x, y, dataset.metric, len(classes),
                                                   probe, heads=(LOGISTIC,))
            out.probes[(model.model_id, dataset.name)] = logistic[model.tower] + run_probes(
                tx, ty, x, y, dataset.metric, len(classes), probe, init=head, heads=(TEXT_INIT,))
    for dataset in catalog.retrieval_datasets:
        root = dataset.path.parent if dataset.path.is_file() else dataset.path
        shared_text = None  # the captions' features by the locked text tower, encoded once
        for model in models:
            if model.features_of is not None:
                continue  # the base's tower and text: the base's figures
            with torch.inference_mode():
                text = None
                if model.shares_text_tower:
                    if shared_text is None:
                        shared_text = encode_captions(model.bundle.model, model.bundle.tokenizer,
                                                      root, batch_size)
                    text = shared_text
                hits = evaluate_retrieval_hits(
                    model.bundle.model, model.bundle.tokenizer, model.bundle.preprocess_val, root,
                    batch_size=batch_size, text_features=text)
            out.retrieval[(model.model_id, dataset.name)] = {
                metric: float(flags.mean()) for metric, flags in hits.items()}
            for metric, flags in hits.items():
                out.outcomes[(model.model_id, dataset.name, metric)] = Outcomes(RECALL,
                                                                                correct=flags)
    evidence = measure_evidence(out.outcomes, models[0].model_id if models else None,
                                champion_id, out.bootstrap)
    out.intervals, out.comparisons = evidence.intervals, evidence.comparisons
    return out


def store_domain_evaluation(store: Store, evaluation: DomainEvaluation,
                            models: list[EvaluatedModel]) -> int:
    """Record these models' figures (with their intervals) and paired comparisons on the domain
    under the evaluation's spec version, in one transaction, replacing their earlier ones of the
    same version, dataset and metric (other models' and other versions' stay); returns the
    number of figures written."""
    rows = evaluation.rows(models)
    if not rows:
        return 0
    digest = pa.array([evaluation.spec_digest] * len(rows), pa.string())
    batch = pa.Table.from_pylist(rows, schema=EVALUATION_ROWS).append_column("spec_digest", digest)
    compared = evaluation.comparison_rows()

    def write(conn) -> None:
        insert_table(conn, upsert_evaluations, batch)
        if compared:
            table = pa.Table.from_pylist(compared).append_column(
                "spec_digest", pa.array([evaluation.spec_digest] * len(compared), pa.string()))
            insert_table(conn, upsert_comparisons, table)

    store.write(write, what=f"evaluations of {evaluation.domain}")
    return len(rows)


EVALUATION_ROWS = pa.schema([
    ("model_id", pa.string()), ("model_kind", pa.string()), ("domain", pa.string()),
    ("dataset", pa.string()), ("task", pa.string()), ("metric", pa.string()),
    ("value", pa.float64()), ("n_samples", pa.int64()), ("details", pa.string()),
    ("ci_low", pa.float64()), ("ci_high", pa.float64())])


def write_clip_benchmark_files(folder: Path, evaluation: DomainEvaluation,
                               models: list[EvaluatedModel]) -> list[Path]:
    """One CLIP_benchmark-style JSON per (model, dataset) under ``folder``."""
    pretrained = {m.model_id: m.kind for m in models}
    written = []
    for (model_id, dataset), r in evaluation.zeroshot.items():
        record = clip_benchmark_record(dataset, model_id, pretrained[model_id],
                                       "zeroshot_classification",
                                       clip_benchmark_metrics(r.top1, r.top5, r.mean_per_class)
                                       | {r.metric: r.value})
        path = folder / model_folder_name(model_id) / f"{dataset}.json"
        write_json(path, record)
        written.append(path)
    for (model_id, dataset), recalls in evaluation.retrieval.items():
        record = clip_benchmark_record(dataset, model_id, pretrained[model_id],
                                       "zeroshot_retrieval", clip_benchmark_metrics(retrieval=recalls))
        path = folder / model_folder_name(model_id) / f"{dataset}.json"
        write_json(path, record)
        written.append(path)
    return written
