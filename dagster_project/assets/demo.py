"""The offline demo world: real shards, evaluation sets and a domain spec, built into REACT_HOME."""


import dagster as dg
from pydantic import Field

from dagster_project.configs import launch_config, launch_schema
from dagster_project.partitions import domain_partitions, shard_partitions
from dagster_project.profile import executed_by
from dagster_project.resources import ReactHomeResource
from react_assets.demo.config import DemoWorldConfig
from react_assets.demo.world import build_demo_world
from react_assets.domains.registry import register_domains


class DemoWorldAssetConfig(dg.Config):
    """How much of each source goes into the demo world (None = all)."""

    samples_per_shard: int = Field(default=2000, ge=1)
    fashion_train_limit: int | None = Field(default=10000, ge=1)
    fashion_test_limit: int | None = Field(default=2000, ge=1)
    clipart_limit: int | None = Field(default=None, ge=1)
    emoji_limit: int | None = Field(default=None, ge=1)
    digits_limit: int | None = Field(default=None, ge=1)
    caption_noise: float = Field(default=0.15, ge=0.0, le=1.0)
    heldout_fraction: float = Field(default=0.2, gt=0.0, lt=1.0)
    seed: int = Field(default=0, ge=0)
    workers: int = Field(default=2, ge=1)


@dg.asset(group_name="demo", kinds={"webdataset", "duckdb"}, code_version="1",
          config_schema=launch_schema(DemoWorldAssetConfig))
def demo_world(
    context: dg.AssetExecutionContext, react_home: ReactHomeResource
) -> dg.MaterializeResult:
    """The demo world's shards, held-out evaluation sets and domain spec; registers partitions."""
    config = launch_config(context, DemoWorldAssetConfig)
    paths = react_home.paths()
    world = build_demo_world(DemoWorldConfig(out_dir=paths.root, **config.model_dump()))
    shard_ids = [path.stem for path in world.shards]
    domains = register_domains(react_home.store(), world.spec_path)
    context.instance.add_dynamic_partitions(shard_partitions.name, shard_ids)
    context.instance.add_dynamic_partitions(domain_partitions.name, domains)
    return dg.MaterializeResult(metadata=executed_by() | {
        "pairs_by_source": world.corpus_counts,
        "shards": len(shard_ids),
        "domains": ", ".join(domains),
        "eval_datasets": ", ".join(sorted(world.eval_datasets)),
        "spec": dg.MetadataValue.path(str(world.spec_path)),
        "reused": world.reused,
    })
