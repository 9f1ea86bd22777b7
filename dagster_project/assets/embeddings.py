"""Embedding stage: image and caption embeddings of every shard with the base model."""


import dagster as dg

from dagster_project.assets.corpus import corpus_shards
from dagster_project.assets.models import base_model
from dagster_project.partitions import COMPUTE_POOL, shard_partitions
from dagster_project.resources import ReactHomeResource
from react_assets.clip_retrieval import import_clip_retrieval
from react_assets.corpus import shard_rows
from react_assets.embedding import EmbeddingConfig, embed_shard
from react_assets.pipeline import load_base_bundle, model_folder_name


class CorpusEmbeddingsConfig(dg.Config):
    """Batch sizes and decoding workers of the embedding run."""

    batch_size: int = 256
    workers: int = 2
    chunk_rows: int = 4096
    clip_retrieval_dir: str | None = None  # reuse clip-retrieval output instead of embedding


@dg.asset(
    partitions_def=shard_partitions,
    deps=[corpus_shards, base_model],
    pool=COMPUTE_POOL,
    group_name="retrieval",
    kinds={"torch", "numpy"},
    code_version="1",
)
def corpus_embeddings(
    context: dg.AssetExecutionContext, config: CorpusEmbeddingsConfig, react_home: ReactHomeResource
) -> dg.MaterializeResult:
    """L2-normalised float16 image and caption embeddings of one shard, rows = DuckDB pair order."""
    paths = react_home.paths()
    store = react_home.store()
    shard_id = context.partition_key
    bundle = load_base_bundle(store)
    rows = shard_rows(store, shard_id, paths.shards / f"{shard_id}.tar")
    out_dir = paths.embeddings / model_folder_name(bundle.model_id) / shard_id
    if config.clip_retrieval_dir:
        result = import_clip_retrieval(config.clip_retrieval_dir, rows, out_dir, bundle.model_id)
    else:
        result = embed_shard(
            rows, bundle.model, bundle.preprocess_val, bundle.tokenizer, out_dir,
            EmbeddingConfig(batch_size=config.batch_size, workers=config.workers,
                            chunk_rows=config.chunk_rows),
            bundle.model_id,
        )
    if not result.skipped_complete:
        store.execute("upsert_embedding_set", {
            "shard_id": shard_id, "model_id": bundle.model_id, "folder": str(result.folder),
            "n_rows": result.n_rows, "dim": result.dim,
            "pairs_per_second": result.pairs_per_second,
        })
    return dg.MaterializeResult(metadata={
        "rows": result.n_rows, "dim": result.dim, "model_id": bundle.model_id,
        "pairs_per_second": round(result.pairs_per_second, 1),
        "resumed_chunks": result.resumed_chunks, "already_complete": result.skipped_complete,
        "folder": dg.MetadataValue.path(str(result.folder)),
    })
