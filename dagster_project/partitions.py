"""Partitions: one per corpus shard, one per target domain (both registered at run time)."""

import dagster as dg

shard_partitions = dg.DynamicPartitionsDefinition(name="shards")
domain_partitions = dg.DynamicPartitionsDefinition(name="domains")

# CPU/GPU-heavy steps (embedding, index build, retrieval, pre-training, customization,
# evaluation): one at a time by default, so concurrent runs on a small machine do not
# oversubscribe its cores. Metadata writes need no pool: the metadata store takes many writers.
COMPUTE_POOL = "compute"
