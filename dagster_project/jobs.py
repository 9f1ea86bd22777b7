"""Jobs: the pipeline split where the partitioning changes (per shard, global, per domain)."""

import dagster as dg

from dagster_project.partitions import shard_partitions

demo_world_job = dg.define_asset_job("demo_world_job", selection=dg.AssetSelection.groups("demo"))
corpus_job = dg.define_asset_job(
    "corpus_job",
    selection=dg.AssetSelection.assets("corpus_shards"),
    partitions_def=shard_partitions,
)
embedding_job = dg.define_asset_job(
    "embedding_job",
    selection=dg.AssetSelection.assets("corpus_embeddings"),
    partitions_def=shard_partitions,
)
base_model_job = dg.define_asset_job("base_model_job", selection=dg.AssetSelection.assets("base_model"))
