"""Embedding stage: image and caption embeddings of every shard with the base model.

A run may take several shards (a backfill's range, ``SHARDS_PER_RUN``): the base model is loaded
once for all of them, and each partition's materialization carries its own shard's figures.
"""

import time

import dagster as dg

from dagster_project.assets.corpus import corpus_shards
from dagster_project.assets.models import base_model
from dagster_project.assets.shard_runs import run_totals
from dagster_project.configs import launch_config, launch_schema, library_config, override
from dagster_project.partitions import COMPUTE_POOL, SHARD_BACKFILL_POLICY, shard_partitions
from dagster_project.profile import compute_step_tags, executed_by
from dagster_project.resources import ReactHomeResource
from react_assets.embed.corpus_shard import embed_corpus_shards
from react_assets.embed.encode import EmbeddingConfig


class CorpusEmbeddingsConfig(dg.Config):
    """Batch sizes and decoding workers of the embedding run."""

    batch_size: int | None = override(EmbeddingConfig, "batch_size", "images per batch", ge=1)
    workers: int | None = override(EmbeddingConfig, "workers", "image-decoding processes", ge=0)
    chunk_rows: int | None = override(EmbeddingConfig, "chunk_rows",
                                      "rows per resumable chunk", ge=1)
    clip_retrieval_dir: str | None = None  # reuse clip-retrieval output instead of embedding


@dg.asset(
    partitions_def=shard_partitions,
    backfill_policy=SHARD_BACKFILL_POLICY,
    deps=[corpus_shards, base_model],
    pool=COMPUTE_POOL,
    op_tags=compute_step_tags(),
    group_name="retrieval",
    kinds={"torch", "numpy"},
    code_version="1",
    config_schema=launch_schema(CorpusEmbeddingsConfig),
)
def corpus_embeddings(
    context: dg.AssetExecutionContext, react_home: ReactHomeResource
) -> dg.MaterializeResult:
    """L2-normalised float16 image and caption embeddings of shards, rows = DuckDB pair order."""
    config = launch_config(context, CorpusEmbeddingsConfig)
    started = time.perf_counter()
    results = embed_corpus_shards(react_home.store(), react_home.paths(), context.partition_keys,
                                  library_config(config, EmbeddingConfig()),
                                  clip_retrieval_dir=config.clip_retrieval_dir)
    figures = []
    for result in results:
        shard = {"rows": result.n_rows, "dim": result.dim, "model_id": result.model_id,
                 "pairs_per_second": round(result.pairs_per_second, 1),
                 "resumed_chunks": result.resumed_chunks,
                 "already_complete": result.skipped_complete}
        context.add_asset_metadata(shard | {"folder": dg.MetadataValue.path(str(result.folder))},
                                   partition_key=result.shard_id)
        figures.append({"shard": result.shard_id, **shard})
    return dg.MaterializeResult(metadata=executed_by() | run_totals(
        figures, "rows", time.perf_counter() - started,
        ("shard", "rows", "pairs_per_second", "resumed_chunks", "already_complete")))
