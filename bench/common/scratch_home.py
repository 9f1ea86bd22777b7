"""A scratch copy of a materialized home, for experiments that re-retrieve and re-train.

``ScratchHome.of(home)`` makes a temporary home holding a copy of ``home``'s metadata (the
lake's SQLite catalog, backed up, and its Parquet files) and links to its files (shards,
embeddings, indexes, checkpoints, evaluation data, domain specs): paths in the metadata are
relative to the home, so the copy reads the same files, while the retrieval sets and models an
experiment makes land in the copy and ``home`` is left as it is. On it:

- ``retrieve(domain, **overrides)`` re-retrieves a domain (overrides win over its spec);
- ``train(domain, recipe, variant, label)`` trains one variant on the domain's newest retrieval;
- ``top1(domain, trained)`` evaluates the base and the trained models zero-shot: top-1 (x100)
  per model label and dataset, the base under ``"base"``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from react_assets.customize.domain import CustomizedModel, customize_domain
from react_assets.customize.recipe import CustomizationRecipe
from react_assets.customize.saved import load_customized_model
from react_assets.domains.registry import registered_domain
from react_assets.evaluate.domain import EvaluatedModel, evaluate_domain
from react_assets.files.paths import ReactPaths
from react_assets.metadata import Store, open_store
from react_assets.models.base import current_base, load_base_bundle
from react_assets.retrieve.domain import retrieve_registered_domain

# What the copy does not link: the metadata (copied), what a run or a service writes
# (reports, MLflow, Dagster, landing, the local cluster's files) and the legacy store file.
NOT_LINKED = frozenset({"lake", "reports", "mlflow.db", "mlartifacts", "dagster_home", "landing",
                        "cluster", "react.duckdb"})
BASE_LABEL = "base"


@dataclass(frozen=True)
class TrainedVariant:
    """A model trained in the scratch home, under the label the experiment gave it."""

    label: str
    made: CustomizedModel

    def as_dict(self) -> dict[str, object]:
        """Steps, pairs, seconds, final loss and model id of the training."""
        train = self.made.train
        return {"label": self.label, "variant": self.made.variant, "model_id": self.made.model_id,
                "pairs": len(self.made.retrieval.pair_ids), "steps": train.steps,
                "train_s": round(train.elapsed_s, 1),
                "final_loss": round(train.losses[-1], 4) if train.losses else None}


@dataclass(frozen=True)
class ScratchHome:
    """A temporary home over a materialized one: its own metadata, the source's files."""

    source: ReactPaths
    paths: ReactPaths
    store: Store

    @classmethod
    @contextlib.contextmanager
    def of(cls, home: Path | str, prefix: str = "bench-scratch-") -> Iterator[ScratchHome]:
        """The scratch copy of ``home``, removed on exit."""
        source = ReactPaths(Path(home).resolve())
        catalog = source.root / "lake" / "catalog.sqlite"
        if not catalog.is_file():
            raise SystemExit(f"{catalog} not found: materialize the pipeline on {source.root} "
                             "first (./scripts/demo.sh), in the embedded profile")
        with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
            paths = ReactPaths(Path(tmp) / "home")
            copy_lake(source.root / "lake", paths.root / "lake")
            for entry in sorted(source.root.iterdir()):
                if entry.name not in NOT_LINKED and not entry.name.startswith("."):
                    (paths.root / entry.name).symlink_to(entry)
            paths.reports.mkdir()
            yield cls(source, paths, open_store(paths.root))

    @property
    def runs(self) -> Path:
        """Where the trained models go (beside the copy, never inside the source)."""
        return self.paths.root.parent / "runs"

    def retrieve(self, domain: str, **overrides: object) -> dict[str, object]:
        """Re-retrieve ``domain`` with ``overrides`` over its spec's settings; its stats."""
        done = retrieve_registered_domain(self.store, self.paths, domain, overrides=overrides)
        return done.result.stats.as_dict()

    def train(self, domain: str, recipe: CustomizationRecipe, variant: str, label: str,
              **train_overrides: object) -> TrainedVariant:
        """Train ``variant`` under ``recipe`` on the domain's newest retrieval set;
        ``train_overrides`` replace fields of the recipe's ``TrainConfig`` (``num_workers=0``)."""
        train = dataclasses.replace(recipe.train(variant), **train_overrides)
        made = customize_domain(self.store, current_base(self.store), domain,
                                recipe.customization(variant), train,
                                self.runs / domain / label, augmentation=recipe.augmentation)
        return TrainedVariant(label, made)

    def top1(self, domain: str, trained: list[TrainedVariant]) -> dict[str, dict[str, float]]:
        """Zero-shot top-1 (x100) of the base and each trained model on the domain's datasets
        and the general sets: ``{label: {dataset: top1}}``."""
        base = current_base(self.store)
        models = [EvaluatedModel(base.model_id, BASE_LABEL, load_base_bundle(self.store))]
        models += [EvaluatedModel(t.made.model_id, t.label, load_customized_model(t.made.folder))
                   for t in trained]
        evaluation = evaluate_domain(registered_domain(self.store, domain), models)
        datasets = sorted({dataset for _, dataset in evaluation.zeroshot})
        return {model.kind: {d: round(100 * evaluation.zeroshot[(model.model_id, d)].value, 2)
                             for d in datasets} for model in models}


def copy_lake(source: Path, target: Path) -> None:
    """Copy a lake folder: the SQLite catalog through SQLite's backup (a consistent snapshot,
    WAL included, while writers commit), then the Parquet files it names."""
    target.mkdir(parents=True)
    src = sqlite3.connect(f"file:{source / 'catalog.sqlite'}?mode=ro", uri=True, timeout=60)
    dst = sqlite3.connect(target / "catalog.sqlite")
    try:
        src.backup(dst)
        dst.execute("PRAGMA journal_mode=WAL")
    finally:
        src.close()
        dst.close()
    shutil.copytree(source / "data", target / "data")


def gains(top1: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """Each trained model's top-1 minus the base's, per dataset."""
    base = top1[BASE_LABEL]
    return {label: {d: round(value - base[d], 2) for d, value in scores.items()}
            for label, scores in top1.items() if label != BASE_LABEL}
