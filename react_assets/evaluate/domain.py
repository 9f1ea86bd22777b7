"""Evaluation of a domain: the base and its customized models on the domain's datasets, the
held-out general sets (forgetting) and captioned retrieval sets; stored in DuckDB and MLflow."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import torch

from react_assets.atomic import write_json
from react_assets.domains.images import DatasetLayoutError
from react_assets.domains.registry import RegisteredDomain
from react_assets.domains.spec import DatasetSpec
from react_assets.evaluate.image_text import evaluate_retrieval
from react_assets.evaluate.leaderboard import clip_benchmark_metrics, clip_benchmark_record
from react_assets.evaluate.zeroshot import ZeroShotResult, evaluate_zeroshot, zeroshot_classifier
from react_assets.models.factory import ClipBundle
from react_assets.paths import model_folder_name
from react_assets.sql import delete_domain_evaluations, insert_evaluations
from react_assets.store import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvaluatedModel:
    """A model to evaluate: its id, kind (base, gated-image, ...) and loaded bundle."""

    model_id: str
    kind: str
    bundle: ClipBundle
    shares_text_tower: bool = True


@dataclass
class DomainEvaluation:
    """Every figure of one domain's evaluation."""

    domain: str
    zeroshot: dict[tuple[str, str], ZeroShotResult] = field(default_factory=dict)
    retrieval: dict[tuple[str, str], dict[str, float]] = field(default_factory=dict)

    def rows(self, models: list[EvaluatedModel]) -> list[dict[str, Any]]:
        kinds = {m.model_id: m.kind for m in models}
        rows = [{"model_id": mid, "model_kind": kinds[mid], "domain": self.domain, "dataset": ds,
                 "task": "zeroshot_classification", "metric": r.metric, "value": float(r.value),
                 "n_samples": r.n_samples, "details": json.dumps(r.to_dict(), default=str)}
                for (mid, ds), r in self.zeroshot.items()]
        rows += [{"model_id": mid, "model_kind": kinds[mid], "domain": self.domain, "dataset": ds,
                  "task": "zeroshot_retrieval", "metric": metric, "value": float(value),
                  "n_samples": 0, "details": None}
                 for (mid, ds), recalls in self.retrieval.items() for metric, value in recalls.items()]
        return rows


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
) -> DomainEvaluation:
    """Zero-shot classification on the domain's and general datasets, retrieval on captioned sets."""
    domain, catalog = registered.spec, registered.catalog
    jobs = [(d, list(domain.classes), list(domain.templates)) for d in domain.datasets]
    jobs += [(d, dataset_classes(d), list(catalog.general_templates))
             for d in catalog.general_datasets]
    out = DomainEvaluation(domain.name)
    for dataset, classes, templates in jobs:
        shared = zeroshot_classifier(models[0].bundle.model, models[0].bundle.tokenizer,
                                     classes, templates)
        for model in models:
            result = evaluate_zeroshot(
                model.bundle.model, model.bundle.tokenizer, model.bundle.preprocess_val, dataset,
                classes, templates, dataset.metric, batch_size=batch_size,
                classifier=shared if model.shares_text_tower else None)
            out.zeroshot[(model.model_id, dataset.name)] = result
            log.info("%s on %s: %s=%.4f", model.model_id, dataset.name, result.metric,
                     result.value)
    for dataset in catalog.retrieval_datasets:
        root = dataset.path.parent if dataset.path.is_file() else dataset.path
        for model in models:
            with torch.inference_mode():
                out.retrieval[(model.model_id, dataset.name)] = evaluate_retrieval(
                    model.bundle.model, model.bundle.tokenizer, model.bundle.preprocess_val, root,
                    batch_size=batch_size)
    return out


def store_domain_evaluation(store: Store, evaluation: DomainEvaluation,
                            models: list[EvaluatedModel]) -> int:
    """Replace the domain's figures in DuckDB; returns the number of rows written."""
    rows = evaluation.rows(models)
    with store.transaction() as conn:
        conn.execute(delete_domain_evaluations, {"domain": evaluation.domain})
        if rows:
            conn.register("batch", pa.Table.from_pylist(rows))
            conn.execute(insert_evaluations)
            conn.unregister("batch")
    return len(rows)


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
