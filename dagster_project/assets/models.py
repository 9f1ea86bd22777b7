"""Model stage: the frozen base CLIP (pre-trained for the demo world, or loaded and registered)."""


import dataclasses
import json
from pathlib import Path

import dagster as dg

from dagster_project.assets.corpus import corpus_shards
from dagster_project.partitions import COMPUTE_POOL
from dagster_project.resources import MlflowResource, ReactHomeResource
from react_assets.corpus import read_pairs
from react_assets.lineage import pipeline_tags
from react_assets.models.factory import BaseModelConfig, create_base_model
from react_assets.models.mini_clip import MINI_CLIP_ARCH, pretrain_mini_clip
from react_assets.training import TrainConfig

BASE_MODEL_CODE_VERSION = "1"


class BaseModelAssetConfig(dg.Config):
    """Which base CLIP: an open_clip architecture with weights, or the demo mini-CLIP to train."""

    arch: str = MINI_CLIP_ARCH
    pretrained: str | None = None
    pretrain_epochs: int = 8
    pretrain_batch_size: int = 128
    pretrain_lr: float = 1e-3
    pretrain_warmup_steps: int = 50
    pretrain_max_pairs: int = 20000
    seed: int = 0


@dg.asset(
    deps=[corpus_shards],
    pool=COMPUTE_POOL,
    group_name="models",
    kinds={"torch", "mlflow", "duckdb"},
    code_version=BASE_MODEL_CODE_VERSION,
)
def base_model(
    context: dg.AssetExecutionContext,
    config: BaseModelAssetConfig,
    react_home: ReactHomeResource,
    mlflow: MlflowResource,
) -> dg.MaterializeResult:
    """The frozen base CLIP every other stage uses, registered in DuckDB and MLflow."""
    store = react_home.store()
    writer = mlflow.writer()
    tags = pipeline_tags(dagster_run_id=context.run_id, partition=None,
                         code_version=BASE_MODEL_CODE_VERSION)
    with writer.start_run("base_model", params=config.model_dump(), tags=tags) as run:
        if config.pretrained is None and config.arch == MINI_CLIP_ARCH:
            base_config, losses = _pretrain_demo_base(context, config, react_home, store)
            writer.log_curve(run, "train_loss", losses, list(range(1, len(losses) + 1)))
        else:
            base_config, losses = BaseModelConfig(arch=config.arch, pretrained=config.pretrained), []
        bundle = create_base_model(base_config)
        model_dir = base_config.arch.removeprefix("local-dir:")
        ref = (writer.log_model(run, Path(model_dir), "react-base")
               if base_config.arch.startswith("local-dir:") else None)
        store.execute("upsert_model", {
            "model_id": bundle.model_id, "parent_model_id": None, "kind": "base", "domain": None,
            "arch": config.arch, "pretrained": base_config.pretrained or base_config.arch,
            "checkpoint": model_dir, "retrieval_digest": None,
            "config": json.dumps(dataclasses.asdict(base_config)),
            "mlflow_run_id": run.run_id, "mlflow_model_uri": ref.model_uri if ref else None,
            "dagster_run_id": context.run_id,
        })
    n_params = sum(p.numel() for p in bundle.model.parameters())
    return dg.MaterializeResult(metadata={
        "model_id": bundle.model_id, "embed_dim": bundle.embed_dim, "parameters": n_params,
        "pretrain_final_loss": float(losses[-1]) if losses else float("nan"),
        "mlflow_run_id": run.run_id,
    })


def _pretrain_demo_base(
    context: dg.AssetExecutionContext, config: BaseModelAssetConfig,
    react_home: ReactHomeResource, store,
) -> tuple[BaseModelConfig, list[float]]:
    """Locked-text pre-training of the mini-CLIP on the general split of the corpus."""
    general = store.fetch("select_general_pairs", {"limit": config.pretrain_max_pairs})
    if not general:
        raise ValueError("the corpus has no general-split pairs (meta.general = true) to "
                         "pre-train the demo base model on; ingest the demo shards first")
    _, images, captions = read_pairs(store, [r["pair_id"] for r in general])
    context.log.info("pre-training the mini-CLIP on %d general pairs", len(images))
    result = pretrain_mini_clip(
        images, captions, react_home.paths().checkpoints / "base",
        TrainConfig(epochs=config.pretrain_epochs, batch_size=config.pretrain_batch_size,
                    lr=config.pretrain_lr, warmup_steps=config.pretrain_warmup_steps,
                    seed=config.seed, checkpoint_every=100),
        init_seed=config.seed,
        on_log=lambda step, loss, lr: context.log.info(f"step {step} loss {loss:.4f} lr {lr:.2e}"),
    )
    return result.base_config, list(result.train_result.losses)
