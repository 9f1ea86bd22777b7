"""Customization of the base model for one domain: train on its retrieved pairs, record lineage."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from react_assets.corpus.pairs import read_pairs
from react_assets.customize.concurrent import (
    concurrent_trainings,
    run_trainings,
    start_fork_server,
)
from react_assets.customize.data import train_transform
from react_assets.customize.distributed import is_main_process
from react_assets.customize.gated import CustomizationConfig, customize_model
from react_assets.customize.launch import LaunchConfig, train_over_processes
from react_assets.customize.real import CONFIG_FILE as REAL_CONFIG
from react_assets.customize.real import RealConfig, build_real_linear, build_real_prompt
from react_assets.customize.recipe import CustomizationRecipe
from react_assets.customize.saved import CUSTOMIZATION_CONFIG, save_customization
from react_assets.customize.train import (
    TrainConfig,
    TrainResult,
    train_contrastive,
    trajectory_config,
)
from react_assets.domains.registry import RegisteredDomain, registered_domain
from react_assets.domains.settings import BASELINES
from react_assets.embed.lookup import EmbeddingLookup, embedding_folders
from react_assets.files.guard import check_publish
from react_assets.files.paths import ReactPaths
from react_assets.metadata import Store
from react_assets.metadata.sql import select_retrieval_set_pair_ids, upsert_model
from react_assets.models.base import BaseModelRecord, current_base, stored_base_config
from react_assets.models.factory import create_base_model
from react_assets.retrieve.sets import latest_retrieval_set, retrieval_set_pair_ids
from react_assets.tracking.lineage import LineageWriter, ModelRef, RunHandle, pipeline_tags

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetrievalSet:
    """The training data of a domain: one retrieval set's pair ids and the set's digest, read
    at one metadata snapshot (the lineage query reads the set as of that snapshot again)."""

    domain: str
    pair_ids: tuple[int, ...]
    digest: str  # the set's digest (domain, spec version, settings, base model, pairs): models record it
    query: str
    snapshot: int | None = None
    spec_digest: str | None = None  # the domain spec version it was retrieved for

    @classmethod
    def of_domain(cls, store: Store, domain: str, *, spec_digest: str | None = None
                  ) -> RetrievalSet:
        """The domain's newest retrieval set; with ``spec_digest`` (the domain's current spec
        version), refused when the set was retrieved for another version (a set of unknown
        version is taken)."""
        snapshot = store.snapshot_id()
        latest = latest_retrieval_set(store, domain, snapshot=snapshot)
        ids = retrieval_set_pair_ids(store, latest["set_digest"], snapshot=snapshot) if latest else ()
        if not ids:
            raise ValueError(f"domain {domain!r} has no retrieved pairs: materialize "
                             "retrieved_pairs for it first")
        made_for = latest["spec_digest"]
        if spec_digest is not None and made_for not in (None, spec_digest):
            raise ValueError(f"domain {domain!r}: its newest retrieval set "
                             f"({latest['set_digest'][:12]}) was retrieved for spec version "
                             f"{made_for[:12]}, not the current {spec_digest[:12]} (the spec was "
                             "replaced since): materialize retrieved_pairs for it first")
        return cls(domain, ids, latest["set_digest"], select_retrieval_set_pair_ids, snapshot,
                   made_for)


@dataclass
class CustomizedModel:
    """A trained customization: where it is saved and how it was made."""

    model_id: str
    base_model_id: str
    domain: str
    variant: str
    folder: Path
    train: TrainResult
    retrieval: RetrievalSet
    spec_digest: str | None = None  # the domain spec version it was made for


def customize_domain(
    store: Store,
    base: BaseModelRecord,
    domain: str,
    customization: CustomizationConfig,
    train_config: TrainConfig,
    out_dir: Path,
    on_log: Callable[[int, float, float], None] | None = None,
    augmentation: str = "open_clip",
    spec_digest: str | None = None,
    retrieval: RetrievalSet | None = None,
) -> CustomizedModel | None:
    """Train ``customization`` of the base model on the domain's newest retrieval set (or on
    ``retrieval``, read once for every rank of a distributed training), save it. In a training
    over N processes every rank trains and rank 0 alone saves and returns the model; the other
    ranks return None.

    Each distinct run (retrieval set, customization, trajectory settings, augmentation) has its
    own folder ``out_dir/<run key>``, so a model trained earlier is never overwritten and never
    resumed from: a killed run resumes from ``<run key>/train`` (the training checkpoints); only
    the trainable tensors and the config that rebuilds the whole model are saved, under
    ``<run key>/model``. ``augmentation``: the train transform
    (:func:`react_assets.customize.data.train_transform`).
    The captions' text features come from the embedding stage (the base model's text tower is
    the locked one trained against); decoded pixels, and text features the embedding stage
    lacks, are cached in ``out_dir.parent/input-cache`` (named by the digest of their inputs):
    the domain's other variants and runs reuse them. ``spec_digest``: the domain's current spec
    version, which the model is made for (its retrieval set must be of it).
    """
    retrieval = retrieval or RetrievalSet.of_domain(store, domain, spec_digest=spec_digest)
    cache_dir = out_dir.parent / "input-cache"
    out_dir = out_dir / run_key(retrieval.digest, customization, train_config, augmentation)
    pair_ids, images, captions = read_pairs(store, retrieval.pair_ids)
    bundle = create_base_model(base.config)
    model = customize_model(bundle.model, customization)
    log.info("customizing %s (%s) on %d retrieved pairs", domain, customization.variant,
             len(images))
    transform = train_transform(augmentation, model, bundle.preprocess_train)
    result = train_contrastive(model, images, captions, bundle.tokenizer, transform,
                               train_config, checkpoint_dir=out_dir / "train", on_log=on_log,
                               cache_dir=cache_dir,
                               text_features=embedded_text_features(store, base.model_id, pair_ids))
    if not is_main_process():
        return None
    folder = out_dir / "model"
    model_id = save_customization(model, customization, base.config, folder,
                                  name=f"react-{domain}-{customization.variant}")
    return CustomizedModel(model_id, base.model_id, domain, customization.variant, folder, result,
                           retrieval, spec_digest)


def embedded_text_features(store: Store, model_id: str, pair_ids: list[int]) -> np.ndarray | None:
    """The text features the embedding stage made of ``pair_ids`` with ``model_id``, in their
    order; None when a pair has none (then training encodes the captions)."""
    if not pair_ids:
        return None
    try:
        return EmbeddingLookup(embedding_folders(store, model_id), "text")(
            np.asarray(pair_ids, dtype=np.int64))
    except KeyError:
        return None


def run_key(retrieval_digest: str, customization: CustomizationConfig, train: TrainConfig,
            augmentation: str) -> str:
    """16 hex digits naming one training run: what it trains on, what and how."""
    identity = {"retrieval": retrieval_digest, "customization": dataclasses.asdict(customization),
                "train": trajectory_config(train), "augmentation": augmentation}
    return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:16]


def record_customization(
    store: Store,
    writer: LineageWriter,
    run: RunHandle,
    base: BaseModelRecord,
    made: CustomizedModel,
    config: dict,
    dagster_run_id: str,
) -> ModelRef:
    """Log the customization to its MLflow run and point DuckDB's models table at it (nothing,
    when the publish guard in force refuses)."""
    check_publish(f"recording {made.model_id}")
    writer.log_retrieval_input(run, name=f"retrieved_pairs/{made.domain}",
                               digest=made.retrieval.digest, num_rows=len(made.retrieval.pair_ids),
                               source_query=made.retrieval.query,
                               snapshot=made.retrieval.snapshot)
    writer.log_parent_model(run, base.mlflow_model_uri or base.mlflow_run_id or base.model_id)
    steps = list(range(1, len(made.train.losses) + 1))
    writer.log_curve(run, "train_loss", made.train.losses, steps)
    writer.log_curve(run, "learning_rate", made.train.lrs, steps)
    writer.log_metrics(run, {f"gate.{k}": v for k, v in made.train.gate_values.items()})
    suffix = "" if made.variant == "gated-image" else f"-{made.variant}"
    ref = writer.log_model(run, made.folder, f"react-{made.domain}{suffix}")
    cost = training_cost(made)
    writer.log_metrics(run, {f"cost.{k}": float(v) for k, v in cost.items()})
    config = {**config, "cost": cost}
    stored = stored_base_config(base.config, store.home)  # paths in the home: relative
    store.execute(upsert_model, {
        "model_id": made.model_id, "parent_model_id": base.model_id, "kind": made.variant,
        "domain": made.domain, "arch": stored.arch, "pretrained": stored.pretrained,
        "checkpoint": store.home.relative(made.folder), "retrieval_digest": made.retrieval.digest,
        "metadata_snapshot": made.retrieval.snapshot,
        "config": json.dumps(config, default=str), "mlflow_run_id": run.run_id,
        "mlflow_model_uri": ref.model_uri, "dagster_run_id": dagster_run_id,
        "spec_digest": made.spec_digest,
    })
    return ref


def training_cost(made: CustomizedModel) -> dict[str, float]:
    """What the model cost to make: wall-clock seconds and trainable parameters."""
    saved = made.folder / CUSTOMIZATION_CONFIG
    if not saved.is_file():
        saved = made.folder / REAL_CONFIG
    n = json.loads(saved.read_text(encoding="utf-8"))["num_parameters"]
    return {"seconds": round(float(made.train.elapsed_s), 3), "trainable_parameters": int(n)}


def make_real_baseline(store: Store, paths: ReactPaths, base: BaseModelRecord, domain: str,
                       kind: str, config: RealConfig | None = None) -> CustomizedModel:
    """REAL-Prompt or REAL-Linear of the domain's current spec version, saved beside the
    customizations."""
    registered = registered_domain(store, domain)
    spec = registered.spec
    retrieval = RetrievalSet.of_domain(store, domain, spec_digest=registered.digest)
    bundle = create_base_model(base.config)
    folder = paths.customization(base.model_id, domain, kind) / "model"
    if kind == "real-prompt":
        made = build_real_prompt(store, bundle, spec, folder)
    else:
        made = build_real_linear(store, bundle, base.model_id, spec, folder, config)
    result = TrainResult(losses=[], lrs=[], steps=0, start_step=0,
                         samples_per_s=made.n_train / max(made.elapsed_s, 1e-9),
                         elapsed_s=made.elapsed_s, text_cache_s=0.0)
    return CustomizedModel(made.model_id, base.model_id, domain, kind, folder, result, retrieval,
                           registered.digest)


def config_params(customization: CustomizationConfig, train: TrainConfig,
                  recipe: CustomizationRecipe | None = None) -> dict:
    """The full configuration of a customization, as nested params for MLflow."""
    params = {"customization": dataclasses.asdict(customization),
              "train": dataclasses.asdict(train)}
    if recipe is not None:
        params["recipe"] = {"augmentation": recipe.augmentation}
    return params


@dataclass(frozen=True)
class RecordedCustomization:
    """A customization trained, saved, logged to its MLflow run and registered."""

    made: CustomizedModel
    mlflow_run_id: str
    ref: ModelRef


def customize_registered_domain(
    store: Store,
    paths: ReactPaths,
    writer: LineageWriter,
    domain: str,
    recipe: CustomizationRecipe | None = None,
    variants: list[str] | None = None,
    *,
    dagster_run_id: str,
    code_version: str,
    on_log: Callable[[str, int, float, float], None] | None = None,
    launch: LaunchConfig | None = None,
) -> list[RecordedCustomization]:
    """Train every requested variant of the domain on its retrieved pairs, one MLflow run each.

    ``variants`` left empty: the domain spec's ``variants``, else gated-image alone.
    ``on_log(variant, step, loss, lr)`` reports training progress. ``launch``: the processes
    each training uses (:mod:`react_assets.customize.launch`); over more than one, the variants
    train one after the other, each over all of them.
    """
    launch = launch or LaunchConfig()
    recipe = recipe or CustomizationRecipe()
    base = current_base(store)
    registered = registered_domain(store, domain)
    spec = registered.spec
    tags = pipeline_tags(dagster_run_id=dagster_run_id, partition=domain,
                         code_version=code_version)
    requested = variants or spec.variants or ["gated-image"]
    trained = [v for v in requested if v not in BASELINES]
    workers = concurrent_trainings(len(trained)) if launch.processes == 1 else 1
    if workers > 1 or launch.processes > 1:
        start_fork_server()  # its imports overlap the baselines below
    recorded = {}
    for variant in (v for v in requested if v in BASELINES):
        params = {"baseline": variant, "real": dataclasses.asdict(RealConfig())}
        with writer.start_run(f"react_model/{domain}/{variant}", params=params, tags=tags) as run:
            made = make_real_baseline(store, paths, base, domain, variant)
            ref = record_customization(store, writer, run, base, made, params, dagster_run_id)
        recorded[variant] = RecordedCustomization(made, run.run_id, ref)
    if trained:
        made = _train_variants(store, paths, writer, base, registered, recipe, trained,
                               workers, launch, tags, dagster_run_id, on_log)
        recorded.update(zip(trained, made, strict=True))
    return [recorded[v] for v in requested]


def _train_variants(
    store: Store,
    paths: ReactPaths,
    writer: LineageWriter,
    base: BaseModelRecord,
    registered: RegisteredDomain,
    recipe: CustomizationRecipe,
    variants: list[str],
    workers: int,
    launch: LaunchConfig,
    tags: dict[str, str],
    dagster_run_id: str,
    on_log: Callable[[str, int, float, float], None] | None,
) -> list[RecordedCustomization]:
    """Train ``variants``, ``workers`` side by side (:mod:`react_assets.customize.concurrent`)
    or one after the other over ``launch.processes`` processes each, each in its own MLflow
    run; every run ends FAILED when one training fails."""
    domain = registered.spec.name
    jobs = training_jobs(store, base, domain, recipe, variants,
                         [paths.customization(base.model_id, domain, v) for v in variants],
                         spec_digest=registered.digest)
    if launch.processes > 1:  # every rank trains on the same retrieval set, read here once
        retrieval = RetrievalSet.of_domain(store, domain, spec_digest=registered.digest)
        jobs = [job | {"retrieval": retrieval} for job in jobs]
    params = [config_params(job["customization"], job["train_config"], recipe)
              | {"launch": dataclasses.asdict(launch)} for job in jobs]
    with contextlib.ExitStack() as stack:
        runs = [stack.enter_context(writer.start_run(f"react_model/{domain}/{variant}",
                                                     params=p, tags=tags))
                for variant, p in zip(variants, params, strict=True)]
        if launch.processes > 1:
            made = [train_over_processes(customize_domain, job, launch, on_log=None if on_log is None
                                         else functools.partial(on_log, variant))
                    for variant, job in zip(variants, jobs, strict=True)]
        else:
            made = run_trainings(customize_domain, jobs, workers, on_log=None if on_log is None else (
                lambda i, step, loss, lr: on_log(variants[i], step, loss, lr)))
        return [RecordedCustomization(m, run.run_id, record_customization(
            store, writer, run, base, m, p, dagster_run_id))
            for m, run, p in zip(made, runs, params, strict=True)]


def training_jobs(store: Store, base: BaseModelRecord, domain: str, recipe: CustomizationRecipe,
                  variants: list[str], out_dirs: list[Path], *, spec_digest: str | None = None
                  ) -> list[dict]:
    """The :func:`customize_domain` arguments of each variant (for
    :func:`~react_assets.customize.concurrent.run_trainings`), each into its ``out_dirs``, for
    the domain's spec version ``spec_digest``."""
    return [{"store": store, "base": base, "domain": domain,
             "customization": recipe.customization(v), "train_config": recipe.train(v),
             "out_dir": out_dir, "augmentation": recipe.augmentation, "spec_digest": spec_digest}
            for v, out_dir in zip(variants, out_dirs, strict=True)]
