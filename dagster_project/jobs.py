"""Jobs: the pipeline split where the partitioning changes (per shard, global, per domain)."""

import dagster as dg

from dagster_project.landing import landing_cleanup_job
from dagster_project.partitions import domain_partitions, shard_partitions

demo_world_job = dg.define_asset_job("demo_world_job", selection=dg.AssetSelection.groups("demo"))
corpus_job = dg.define_asset_job(
    "corpus_job",
    selection=dg.AssetSelection.assets("corpus_shards"),
    partitions_def=shard_partitions,
)
base_model_job = dg.define_asset_job(
    "base_model_job", selection=dg.AssetSelection.assets("base_model")
)
embedding_job = dg.define_asset_job(
    "embedding_job",
    selection=dg.AssetSelection.assets("corpus_embeddings"),
    partitions_def=shard_partitions,
)
shard_ingest_job = dg.define_asset_job(
    "shard_ingest_job",
    selection=dg.AssetSelection.assets("corpus_shards", "corpus_embeddings"),
    partitions_def=shard_partitions,
    description="Ingest one landed shard and embed it (corpus_job + embedding_job in one run).",
)
index_job = dg.define_asset_job("index_job", selection=dg.AssetSelection.assets("knn_index"))
domain_job = dg.define_asset_job(
    "domain_job",
    selection=dg.AssetSelection.assets("retrieved_pairs", "react_model", "zeroshot_eval"),
    partitions_def=domain_partitions,
)
domain_spec_job = dg.define_asset_job(
    "domain_spec_job",
    selection=dg.AssetSelection.assets("domain_spec", "retrieved_pairs", "react_model",
                                       "zeroshot_eval"),
    description="Register one domain's spec, then retrieve, customize and evaluate it "
                "(domain_specs_sensor asks for the registration alone before an index exists).",
)
leaderboard_job = dg.define_asset_job(
    "leaderboard_job", selection=dg.AssetSelection.assets("leaderboard")
)

ALL_JOBS = [demo_world_job, corpus_job, base_model_job, embedding_job, shard_ingest_job, index_job,
            domain_spec_job, domain_job, leaderboard_job, landing_cleanup_job]
