"""Partitions: one per corpus shard, one per target domain (both registered at run time); how
many shards one run of a backfill takes."""

import os

import dagster as dg

shard_partitions = dg.DynamicPartitionsDefinition(name="shards")
domain_partitions = dg.DynamicPartitionsDefinition(name="domains")

# CPU/GPU-heavy steps (embedding, index build, retrieval, pre-training, customization,
# evaluation): one at a time by default, so concurrent runs on a small machine do not
# oversubscribe its cores. Metadata writes need no pool: the metadata store takes many writers.
COMPUTE_POOL = "compute"


def shards_per_run(name: str = "REACT_BACKFILL_SHARDS_PER_RUN", default: int = 8) -> int:
    """Shards per backfill run: the environment variable ``name``, else ``default``."""
    value = os.environ.get(name, str(default))
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{name}={value!r}: expected a whole number of shards, 1 or more")
    return int(value)


# A backfill of the per-shard assets runs up to this many shards per run: each run process
# imports torch, open_clip and torchvision (many seconds on a small machine) and the embedding
# step loads the base model, once for all of its shards. Bigger runs pay that less often;
# smaller ones spread over more workers and redo less after a failure. A run asked for one
# partition (a sensor's, the demo's) is unchanged.
SHARDS_PER_RUN = shards_per_run()
SHARD_BACKFILL_POLICY = dg.BackfillPolicy.multi_run(max_partitions_per_run=SHARDS_PER_RUN)
