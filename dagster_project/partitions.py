"""Partitions: one per corpus shard, one per target domain (both registered at run time)."""

import dagster as dg

shard_partitions = dg.DynamicPartitionsDefinition(name="shards")
domain_partitions = dg.DynamicPartitionsDefinition(name="domains")

DUCKDB_POOL = "duckdb"
TRAINING_POOL = "training"
