"""Customization stage: gated blocks (and baselines) trained per domain on its retrieved pairs.

A training may run over several processes of the step's machine (``processes``, default
``REACT_TRAIN_PROCESSES``, else 1): gloo on CPU with the cores shared out, nccl on CUDA with one
process per GPU (``react_assets.customize.launch``); rank 0 saves the model, and this step
records it once (metadata, one MLflow run per model).
"""

import os

import dagster as dg
from pydantic import Field

from dagster_project.assets.retrieval import retrieved_pairs
from dagster_project.automation import MODEL_CONDITION
from dagster_project.configs import launch_config, launch_schema, library_config, override
from dagster_project.partitions import COMPUTE_POOL, domain_partitions
from dagster_project.profile import compute_step_tags, executed_by
from dagster_project.resources import MlflowResource, ReactHomeResource
from react_assets.customize.domain import customize_registered_domain
from react_assets.customize.launch import LaunchConfig
from react_assets.customize.recipe import PRESETS, CustomizationRecipe, recipe_preset
from react_assets.customize.train import AMP_MODES
from react_assets.domains.settings import BASELINES, VARIANTS

REACT_MODEL_CODE_VERSION = "2"  # 2: gated blocks keep PyTorch's default init
PROCESSES_ENV = "REACT_TRAIN_PROCESSES"  # the deployment's default for ``processes``


class ReactModelConfig(dg.Config):
    """Which variants to train and the recipe. ``variants`` left empty: the domain spec's
    ``variants``, else gated-image alone; ``preset`` names the recipe (``demo``, tuned for the
    demo world, or ``official``, the REACT paper's); other fields left empty: the preset's."""

    variants: list[str] | None = Field(default=None, description=f"any of {VARIANTS + BASELINES}",
                                       json_schema_extra={"choices": list(VARIANTS + BASELINES)})
    preset: str = Field(default="demo", description="recipe preset: 'demo' (tuned for the demo "
                        "world) or 'official' (the REACT paper's: timm augmentation, logit scale "
                        "trained, warmup 5000, lr 5e-4 / 5e-5 locked-text, mixed precision)",
                        json_schema_extra={"choices": list(PRESETS)})
    num_gated_blocks: int | None = override(CustomizationRecipe, "num_gated_blocks",
                                            "gated blocks added to the image tower", ge=1)
    epochs: int | None = override(CustomizationRecipe, "epochs", "passes over the pairs", ge=1)
    batch_size: int | None = override(CustomizationRecipe, "batch_size", "pairs per step", ge=2)
    max_steps: int | None = override(CustomizationRecipe, "max_steps",
                                     "budget in optimizer steps", ge=1)
    lr: float | None = override(CustomizationRecipe, "lr", "peak learning rate", gt=0.0)
    locked_text_lr: float | None = override(CustomizationRecipe, "locked_text_lr",
                                            "peak learning rate of locked-text", gt=0.0)
    weight_decay: float | None = override(CustomizationRecipe, "weight_decay", "AdamW decay",
                                          ge=0.0)
    warmup_steps: int | None = override(CustomizationRecipe, "warmup_steps", "linear warmup",
                                        ge=0)
    seed: int | None = override(CustomizationRecipe, "seed", "initialisation and shuffling seed",
                                ge=0)
    amp: str | None = override(CustomizationRecipe, "amp", "mixed precision: auto, on or off",
                               choices=AMP_MODES)
    processes: int | None = Field(default=None, ge=1, description=(
        "processes that train each model together (torch.distributed: gloo on CPU, nccl with "
        f"one process per GPU); default: {PROCESSES_ENV} in the environment, else "
        f"{LaunchConfig().processes}"))


def launch_settings(config: ReactModelConfig) -> LaunchConfig:
    """The processes each training uses: the launchpad's, else the deployment's default."""
    if config.processes is not None:
        return LaunchConfig(processes=config.processes)
    value = os.environ.get(PROCESSES_ENV)
    if value is None:
        return LaunchConfig()
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{PROCESSES_ENV}={value!r}: expected a whole number of processes, "
                         "1 or more")
    return LaunchConfig(processes=int(value))


@dg.asset(
    partitions_def=domain_partitions,
    deps=[retrieved_pairs],
    automation_condition=MODEL_CONDITION,
    pool=COMPUTE_POOL,
    op_tags=compute_step_tags(),
    group_name="customization",
    kinds={"torch", "mlflow", "duckdb"},
    code_version=REACT_MODEL_CODE_VERSION,
    config_schema=launch_schema(ReactModelConfig),
)
def react_model(
    context: dg.AssetExecutionContext,
    react_home: ReactHomeResource,
    mlflow: MlflowResource,
) -> dg.MaterializeResult:
    """The base CLIP customized for one domain: gated blocks trained on its retrieved pairs."""
    config = launch_config(context, ReactModelConfig)
    writer, links = mlflow.writer(), mlflow.links()
    recorded = customize_registered_domain(
        react_home.store(), react_home.paths(), writer, context.partition_key,
        library_config(config, recipe_preset(config.preset)), config.variants,
        dagster_run_id=context.run_id, code_version=REACT_MODEL_CODE_VERSION,
        on_log=lambda variant, step, loss, lr: context.log.info(
            f"{variant} step {step} loss {loss:.4f} lr {lr:.2e}"),
        launch=launch_settings(config),
    )
    metadata: dict = {"base_model_id": recorded[0].made.base_model_id, "preset": config.preset}
    for done in recorded:
        made, losses = done.made, done.made.train.losses
        metadata.update({
            f"{made.variant}/model_id": made.model_id,
            f"{made.variant}/pairs": len(made.retrieval.pair_ids),
            f"{made.variant}/steps": made.train.steps,
            f"{made.variant}/first_loss": round(losses[0], 4) if losses else float("nan"),
            f"{made.variant}/final_loss": round(losses[-1], 4) if losses else float("nan"),
            f"{made.variant}/samples_per_s": round(made.train.samples_per_s, 1),
            f"{made.variant}/processes": made.train.world_size,
            f"{made.variant}/mlflow_run": dg.MetadataValue.url(
                links.run(writer.experiment_id, done.mlflow_run_id)),
            f"{made.variant}/mlflow_model": dg.MetadataValue.url(
                links.model_version(done.ref.name, done.ref.version)),
            f"{made.variant}/mlflow_model_uri": done.ref.model_uri,
        })
        if made.train.gate_values:
            metadata[f"{made.variant}/gates"] = dg.MetadataValue.json(made.train.gate_values)
    metadata["retrieval_digest"] = recorded[-1].made.retrieval.digest
    return dg.MaterializeResult(metadata=executed_by() | metadata)
