"""Customization stage: gated blocks (and baselines) trained per domain on its retrieved pairs."""

import dagster as dg

from dagster_project.assets.retrieval import retrieved_pairs
from dagster_project.partitions import COMPUTE_POOL, domain_partitions
from dagster_project.resources import MlflowResource, ReactHomeResource
from react_assets.customize import config_params, customize_domain, record_customization
from react_assets.lineage import pipeline_tags
from react_assets.models.gated import CustomizationConfig
from react_assets.pipeline import current_base, model_folder_name
from react_assets.registry import registered_domain
from react_assets.training import TrainConfig

REACT_MODEL_CODE_VERSION = "1"


class ReactModelConfig(dg.Config):
    """Which variants to train and the recipe (official REACT defaults, scaled to the demo).

    ``variants`` left empty: the domain spec's ``variants``, else gated-image alone."""

    variants: list[str] | None = None
    num_gated_blocks: int = 2
    epochs: int = 20
    batch_size: int = 128
    # The official 5e-4 is for 32 epochs of millions of pairs (thousands of steps). With Adam a
    # gate moves at most ~lr per step, so on a few thousand retrieved pairs (a few hundred steps)
    # 5e-4 leaves the gates nearly shut (|alpha| 0.04 after 160 steps on the demo world).
    lr: float = 2e-3
    locked_text_lr: float = 1e-4
    weight_decay: float = 0.1
    warmup_steps: int = 20
    seed: int = 0

    def customization(self, variant: str) -> CustomizationConfig:
        """The model ``variant`` of this recipe."""
        return CustomizationConfig(variant=variant, num_gated_blocks=self.num_gated_blocks,
                                   init_seed=self.seed)

    def train(self, variant: str) -> TrainConfig:
        """The training settings of ``variant`` (locked-text has its own learning rate)."""
        return TrainConfig(
            epochs=self.epochs, batch_size=self.batch_size,
            lr=self.locked_text_lr if variant == "locked-text" else self.lr,
            weight_decay=self.weight_decay, warmup_steps=self.warmup_steps, seed=self.seed,
            checkpoint_every=50, log_every=10,
        )


@dg.asset(
    partitions_def=domain_partitions,
    deps=[retrieved_pairs],
    pool=COMPUTE_POOL,
    group_name="customization",
    kinds={"torch", "mlflow", "duckdb"},
    code_version=REACT_MODEL_CODE_VERSION,
)
def react_model(
    context: dg.AssetExecutionContext,
    config: ReactModelConfig,
    react_home: ReactHomeResource,
    mlflow: MlflowResource,
) -> dg.MaterializeResult:
    """The base CLIP customized for one domain: gated blocks trained on its retrieved pairs."""
    domain = context.partition_key
    store = react_home.store()
    writer = mlflow.writer()
    base = current_base(store)
    metadata: dict = {"base_model_id": base.model_id}
    spec = registered_domain(store, domain).spec
    for variant in config.variants or spec.variants or ["gated-image"]:
        customization, train = config.customization(variant), config.train(variant)
        out_dir = (react_home.paths().checkpoints / model_folder_name(base.model_id) / domain
                   / variant)
        params = config_params(customization, train)
        tags = pipeline_tags(dagster_run_id=context.run_id, partition=domain,
                             code_version=REACT_MODEL_CODE_VERSION)
        with writer.start_run(f"react_model/{domain}/{variant}", params=params, tags=tags) as run:
            made = customize_domain(
                store, base, domain, customization, train, out_dir,
                on_log=lambda step, loss, lr, variant=variant: context.log.info(
                    f"{variant} step {step} loss {loss:.4f} lr {lr:.2e}"),
            )
            ref = record_customization(store, writer, run, base, made, params, context.run_id)
        losses = made.train.losses
        metadata.update({
            f"{variant}/model_id": made.model_id,
            f"{variant}/pairs": len(made.retrieval.pair_ids),
            f"{variant}/steps": made.train.steps,
            f"{variant}/first_loss": round(losses[0], 4) if losses else float("nan"),
            f"{variant}/final_loss": round(losses[-1], 4) if losses else float("nan"),
            f"{variant}/samples_per_s": round(made.train.samples_per_s, 1),
            f"{variant}/mlflow_run_id": run.run_id,
            f"{variant}/mlflow_model_uri": ref.model_uri,
        })
        if made.train.gate_values:
            metadata[f"{variant}/gates"] = dg.MetadataValue.json(made.train.gate_values)
    metadata["retrieval_digest"] = made.retrieval.digest
    return dg.MaterializeResult(metadata=metadata)
