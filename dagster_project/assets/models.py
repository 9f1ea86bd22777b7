"""Model stage: the frozen base CLIP (pre-trained for the demo world, or loaded and registered)."""

import dagster as dg

from dagster_project.assets.corpus import corpus_shards
from dagster_project.configs import launch_config, launch_schema, library_config, override
from dagster_project.partitions import COMPUTE_POOL
from dagster_project.profile import compute_step_tags, executed_by
from dagster_project.resources import MlflowResource, ReactHomeResource
from react_assets.customize.base_model import BaseModelPlan, make_base_model

BASE_MODEL_CODE_VERSION = "1"


class BaseModelAssetConfig(dg.Config):
    """Which base CLIP: an open_clip architecture with weights, or the demo mini-CLIP to train."""

    arch: str | None = override(BaseModelPlan, "arch", "open_clip architecture, or local-dir:")
    pretrained: str | None = override(BaseModelPlan, "pretrained",
                                      "hub tag, checkpoint file or local-dir: of the weights")
    pretrain_epochs: int | None = override(BaseModelPlan, "pretrain_epochs",
                                           "mini-CLIP pre-training epochs", ge=1)
    pretrain_batch_size: int | None = override(BaseModelPlan, "pretrain_batch_size",
                                               "mini-CLIP pre-training batch", ge=2)
    pretrain_lr: float | None = override(BaseModelPlan, "pretrain_lr",
                                         "mini-CLIP pre-training learning rate", gt=0.0)
    pretrain_warmup_steps: int | None = override(BaseModelPlan, "pretrain_warmup_steps",
                                                 "mini-CLIP warmup steps", ge=0)
    pretrain_max_pairs: int | None = override(BaseModelPlan, "pretrain_max_pairs",
                                              "general pairs pre-trained on at most", ge=1)
    seed: int | None = override(BaseModelPlan, "seed", "initialisation and shuffling seed",
                                ge=0)


@dg.asset(
    deps=[corpus_shards],
    pool=COMPUTE_POOL,
    op_tags=compute_step_tags(),
    group_name="models",
    kinds={"torch", "mlflow", "duckdb"},
    code_version=BASE_MODEL_CODE_VERSION,
    config_schema=launch_schema(BaseModelAssetConfig),
)
def base_model(
    context: dg.AssetExecutionContext,
    react_home: ReactHomeResource,
    mlflow: MlflowResource,
) -> dg.MaterializeResult:
    """The frozen base CLIP every other stage uses, registered in DuckDB and MLflow."""
    config = launch_config(context, BaseModelAssetConfig)
    writer = mlflow.writer()
    made = make_base_model(
        react_home.store(), react_home.paths(), writer,
        library_config(config, BaseModelPlan()), dagster_run_id=context.run_id,
        code_version=BASE_MODEL_CODE_VERSION,
        on_log=lambda step, loss, lr: context.log.info(f"step {step} loss {loss:.4f} lr {lr:.2e}"),
    )
    return dg.MaterializeResult(metadata=executed_by() | {
        "model_id": made.model_id, "embed_dim": made.embed_dim, "parameters": made.parameters,
        "pretrain_final_loss": float(made.losses[-1]) if made.losses else float("nan"),
        "mlflow_run": dg.MetadataValue.url(mlflow.links().run(writer.experiment_id,
                                                              made.mlflow_run_id)),
    })
