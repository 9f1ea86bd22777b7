"""The base model every stage uses: an open_clip architecture with weights, or the demo mini-CLIP
pre-trained here on the corpus's general split; registered in DuckDB and MLflow."""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from react_assets.corpus.pairs import read_pairs
from react_assets.customize.pretrain import pretrain_mini_clip
from react_assets.customize.train import TrainConfig
from react_assets.files.paths import ReactPaths
from react_assets.metadata import Store
from react_assets.metadata.sql import select_general_pairs, upsert_model
from react_assets.models.base import stored_base_config, stored_location
from react_assets.models.factory import BaseModelConfig, create_base_model
from react_assets.models.mini_clip import MINI_CLIP_ARCH
from react_assets.tracking.lineage import LineageWriter, pipeline_tags

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BaseModelPlan:
    """Which base CLIP: an open_clip architecture with weights (``pretrained``), or, with
    ``arch`` the mini-CLIP and no weights, the demo base pre-trained on the general split."""

    arch: str = MINI_CLIP_ARCH
    pretrained: str | None = None
    pretrain_epochs: int = 8
    pretrain_batch_size: int = 128
    pretrain_lr: float = 1e-3
    pretrain_warmup_steps: int = 50
    pretrain_max_pairs: int = 20000
    seed: int = 0

    @property
    def pretrains(self) -> bool:
        return self.pretrained is None and self.arch == MINI_CLIP_ARCH


@dataclass(frozen=True)
class RegisteredBase:
    """The registered base model and what making it did."""

    model_id: str
    embed_dim: int
    parameters: int
    losses: list[float]
    mlflow_run_id: str


def make_base_model(store: Store, paths: ReactPaths, writer: LineageWriter,
                    plan: BaseModelPlan | None = None, *, dagster_run_id: str,
                    code_version: str,
                    on_log: Callable[[int, float, float], None] | None = None) -> RegisteredBase:
    """Build (or pre-train) the base model, log it to MLflow and register it as the current base."""
    plan = plan or BaseModelPlan()
    tags = pipeline_tags(dagster_run_id=dagster_run_id, partition=None, code_version=code_version)
    with writer.start_run("base_model", params=dataclasses.asdict(plan), tags=tags) as run:
        if plan.pretrains:
            base_config, losses = _pretrain_demo_base(store, paths, plan, on_log)
            writer.log_curve(run, "train_loss", losses, list(range(1, len(losses) + 1)))
        else:
            base_config, losses = BaseModelConfig(arch=plan.arch, pretrained=plan.pretrained), []
        bundle = create_base_model(base_config)
        model_dir = base_config.arch.removeprefix("local-dir:")
        ref = (writer.log_model(run, Path(model_dir), "react-base")
               if base_config.arch.startswith("local-dir:") else None)
        stored = stored_base_config(base_config, store.home)  # weights in the home: relative
        store.execute(upsert_model, {
            "model_id": bundle.model_id, "parent_model_id": None, "kind": "base", "domain": None,
            "arch": stored_location(plan.arch, store.home),
            "pretrained": stored.pretrained or stored.arch,
            "checkpoint": stored.arch.removeprefix("local-dir:"), "retrieval_digest": None,
            "metadata_snapshot": None, "config": json.dumps(dataclasses.asdict(stored)),
            "mlflow_run_id": run.run_id, "mlflow_model_uri": ref.model_uri if ref else None,
            "dagster_run_id": dagster_run_id, "spec_digest": None,  # of no domain
        })
    return RegisteredBase(bundle.model_id, bundle.embed_dim,
                          sum(p.numel() for p in bundle.model.parameters()), losses, run.run_id)


def _pretrain_demo_base(store: Store, paths: ReactPaths, plan: BaseModelPlan,
                        on_log: Callable[[int, float, float], None] | None,
                        ) -> tuple[BaseModelConfig, list[float]]:
    """Locked-text pre-training of the mini-CLIP on the general split of the corpus."""
    general = store.fetch(select_general_pairs, {"limit": plan.pretrain_max_pairs})
    if not general:
        raise ValueError("the corpus has no general-split pairs (meta.general = true) to "
                         "pre-train the demo base model on; ingest the demo shards first")
    _, images, captions = read_pairs(store, [r["pair_id"] for r in general])
    log.info("pre-training the mini-CLIP on %d general pairs", len(images))
    result = pretrain_mini_clip(
        images, captions, paths.checkpoints / "base",
        TrainConfig(epochs=plan.pretrain_epochs, batch_size=plan.pretrain_batch_size,
                    lr=plan.pretrain_lr, warmup_steps=plan.pretrain_warmup_steps,
                    seed=plan.seed, checkpoint_every=100),
        init_seed=plan.seed, on_log=on_log,
    )
    return result.base_config, list(result.train_result.losses)
