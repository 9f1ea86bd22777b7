"""The offline demo world: real shards, evaluation sets and a domain spec, built into REACT_HOME."""


import dagster as dg

from dagster_project.partitions import DUCKDB_POOL, domain_partitions, shard_partitions
from dagster_project.profile import executed_by
from dagster_project.resources import ReactHomeResource
from react_assets.demo.config import DemoWorldConfig
from react_assets.demo.world import build_demo_world
from react_assets.domains.registry import register_domains


class DemoWorldAssetConfig(dg.Config):
    """How much of each source goes into the demo world (None = all)."""

    samples_per_shard: int = 2000
    fashion_train_limit: int | None = 10000
    fashion_test_limit: int | None = 2000
    clipart_limit: int | None = None
    emoji_limit: int | None = None
    digits_limit: int | None = None
    caption_noise: float = 0.15
    heldout_fraction: float = 0.2
    seed: int = 0
    workers: int = 2


@dg.asset(group_name="demo", pool=DUCKDB_POOL, kinds={"webdataset", "duckdb"}, code_version="1")
def demo_world(
    context: dg.AssetExecutionContext, config: DemoWorldAssetConfig, react_home: ReactHomeResource
) -> dg.MaterializeResult:
    """The demo world's shards, held-out evaluation sets and domain spec; registers partitions."""
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
