"""Index stage: faiss indexes over the corpus image and caption embeddings."""

import json
from pathlib import Path

import dagster as dg
import numpy as np

from dagster_project.assets.embeddings import corpus_embeddings
from dagster_project.partitions import DUCKDB_POOL
from dagster_project.resources import ReactHomeResource
from react_assets.index import save_index
from react_assets.index_build import IndexConfig, build_index
from react_assets.pipeline import current_base, model_folder_name

MODALITIES = {"image": "img_emb.npy", "text": "text_emb.npy"}


class KnnIndexConfig(dg.Config):
    """Index choice and tuning: recall target, memory budget, exact-search threshold."""

    recall_target: float = 0.95
    memory_budget_gib: float = 4.0
    exact_max_vectors: int = 100_000
    n_tune_queries: int = 500


@dg.asset(
    deps=[corpus_embeddings],
    pool=DUCKDB_POOL,
    group_name="retrieval",
    kinds={"faiss", "duckdb"},
    code_version="1",
)
def knn_index(
    context: dg.AssetExecutionContext, config: KnnIndexConfig, react_home: ReactHomeResource
) -> dg.MaterializeResult:
    """Inner-product faiss indexes over image and caption embeddings, tuned to a recall target."""
    paths = react_home.paths()
    store = react_home.store()
    model_id = current_base(store).model_id
    sets = store.fetch("select_embedding_sets", {"model_id": model_id})
    if not sets:
        raise ValueError(f"no embeddings for base model {model_id}: materialize corpus_embeddings")
    index_config = IndexConfig(
        recall_target=config.recall_target,
        memory_budget_bytes=int(config.memory_budget_gib * (1 << 30)),
        exact_max_vectors=config.exact_max_vectors,
        n_tune_queries=config.n_tune_queries,
    )
    metadata: dict = {"model_id": model_id, "shards": len(sets)}
    folder = paths.indexes / model_folder_name(model_id)
    for modality, filename in MODALITIES.items():
        shards = [(np.load(Path(s["folder"]) / "pair_ids.npy"), Path(s["folder"]) / filename)
                  for s in sets]
        built = build_index(shards, index_config, folder / f"{modality}-work")
        target = save_index(built, folder / f"{modality}.faiss")
        store.execute("upsert_index", {
            "model_id": model_id, "modality": modality, "path": str(target),
            "factory": built.factory, "params": json.dumps(built.params), "recall": built.recall,
            "recall_target": built.recall_target, "n_vectors": built.n_vectors,
            "build_seconds": built.build_seconds, "bytes_on_disk": built.bytes_on_disk,
            "memory_bytes": built.estimated_memory_bytes,
        })
        context.log.info(f"{modality} index: {built.factory} {built.params} "
                         f"recall@{built.k}={built.recall:.3f}")
        metadata.update({
            f"{modality}_factory": built.factory,
            f"{modality}_params": json.dumps(built.params),
            f"{modality}_recall_at_{built.k}": round(built.recall, 4),
            f"{modality}_build_seconds": round(built.build_seconds, 2),
            f"{modality}_bytes_on_disk": built.bytes_on_disk or 0,
            f"{modality}_vectors": built.n_vectors,
        })
    metadata["recall_target"] = config.recall_target
    return dg.MaterializeResult(metadata=metadata)
