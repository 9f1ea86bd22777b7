"""Partitions: one per corpus shard, one per target domain (both registered at run time)."""

import dagster as dg

shard_partitions = dg.DynamicPartitionsDefinition(name="shards")
domain_partitions = dg.DynamicPartitionsDefinition(name="domains")

DUCKDB_POOL = "duckdb"
# CPU/GPU-heavy steps (embedding, pre-training, customization): one at a time by default, so
# concurrent runs on a small machine do not oversubscribe its cores.
COMPUTE_POOL = "compute"
