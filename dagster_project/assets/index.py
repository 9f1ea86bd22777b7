"""Index stage: faiss indexes over the corpus image and caption embeddings."""

import json

import dagster as dg

from dagster_project.assets.embeddings import corpus_embeddings
from dagster_project.automation import INDEX_CONDITION
from dagster_project.configs import launch_config, launch_schema, library_config, override
from dagster_project.partitions import COMPUTE_POOL
from dagster_project.profile import executed_by
from dagster_project.resources import ReactHomeResource
from react_assets.index.build import IndexConfig
from react_assets.index.corpus_index import build_corpus_indexes


class KnnIndexConfig(dg.Config):
    """Index choice and tuning: recall target, memory budget, exact-search threshold."""

    recall_target: float | None = override(IndexConfig, "recall_target",
                                           "recall@k the search parameters are tuned to",
                                           gt=0.0, le=1.0)
    memory_budget_bytes: int | None = override(IndexConfig, "memory_budget_bytes",
                                               "memory the index may use", ge=1)
    exact_max_vectors: int | None = override(IndexConfig, "exact_max_vectors",
                                             "largest corpus searched exactly (flat index)", ge=0)
    n_tune_queries: int | None = override(IndexConfig, "n_tune_queries",
                                          "held-out queries that measure recall", ge=1)


@dg.asset(
    deps=[corpus_embeddings],
    automation_condition=INDEX_CONDITION,
    pool=COMPUTE_POOL,
    group_name="retrieval",
    kinds={"faiss", "duckdb"},
    code_version="1",
    config_schema=launch_schema(KnnIndexConfig),
)
def knn_index(
    context: dg.AssetExecutionContext, react_home: ReactHomeResource
) -> dg.MaterializeResult:
    """Inner-product faiss indexes over image and caption embeddings, tuned to a recall target."""
    config = launch_config(context, KnnIndexConfig)
    index_config = library_config(config, IndexConfig())
    made = build_corpus_indexes(react_home.store(), react_home.paths(), index_config)
    metadata: dict = {"model_id": made.model_id, "shards": made.n_shards,
                      "recall_target": index_config.recall_target}
    for modality, built in made.built.items():
        metadata.update({
            f"{modality}_factory": built.factory,
            f"{modality}_params": json.dumps(built.params),
            f"{modality}_recall_at_{built.k}": round(built.recall, 4),
            f"{modality}_build_seconds": round(built.build_seconds, 2),
            f"{modality}_bytes_on_disk": built.bytes_on_disk or 0,
            f"{modality}_vectors": built.n_vectors,
        })
    return dg.MaterializeResult(metadata=executed_by() | metadata)
