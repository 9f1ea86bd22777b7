"""Retrieval stage: the corpus pairs most relevant to each class of a domain."""

import base64
from pathlib import Path

import dagster as dg

from dagster_project.assets.index import knn_index
from dagster_project.partitions import DUCKDB_POOL, domain_partitions
from dagster_project.resources import ReactHomeResource
from react_assets.domain_retrieval import (
    domain_retrieval_config,
    retrieval_grid_for_domain,
    retrieve_for_domain,
)
from react_assets.pipeline import current_base, load_base_bundle
from react_assets.registry import registered_domain


class RetrievedPairsConfig(dg.Config):
    """Retrieval mode and sizes. A field left empty takes the domain spec's ``retrieval`` value,
    else the official REACT default (text-to-image, 50 per query, near-duplicates at 0.95, no
    general sample)."""

    mode: str | None = None
    k_per_query: int | None = None
    max_per_class: int | None = None
    near_duplicate_threshold: float | None = None
    general_fraction: float | None = None
    grid_classes: int = 4


@dg.asset(
    partitions_def=domain_partitions,
    deps=[knn_index],
    pool=DUCKDB_POOL,
    group_name="retrieval",
    kinds={"faiss", "duckdb"},
    code_version="2",  # 2: general sample, decontamination against the general sets
)
def retrieved_pairs(
    context: dg.AssetExecutionContext, config: RetrievedPairsConfig, react_home: ReactHomeResource
) -> dg.MaterializeResult:
    """Top pairs per class of one domain: merged, de-duplicated and decontaminated."""
    store = react_home.store()
    base = current_base(store)
    registered = registered_domain(store, context.partition_key)
    indexes = {modality: Path(row["path"]) for modality in ("image", "text")
               for row in store.fetch("select_index", {"model_id": base.model_id,
                                                       "modality": modality})}
    folders = [Path(r["folder"]) for r in store.fetch("select_embedding_sets",
                                                        {"model_id": base.model_id})]
    retrieval_config = domain_retrieval_config(
        registered.spec, k_per_query=config.k_per_query, mode=config.mode,
        max_per_class=config.max_per_class,
        near_duplicate_threshold=config.near_duplicate_threshold,
        general_fraction=config.general_fraction,
    )
    done = retrieve_for_domain(store, load_base_bundle(store), registered, indexes, folders,
                               retrieval_config)
    grid = retrieval_grid_for_domain(
        store, registered.spec, react_home.paths().reports / "retrieval" / f"{registered.spec.name}.png",
        n_classes=config.grid_classes)
    stats = done.result.stats
    per_class = dict(zip(registered.spec.classes, stats.count_per_class, strict=False))
    return dg.MaterializeResult(metadata={
        "pairs": done.rows.num_rows,
        "mode": retrieval_config.mode,
        "k_per_query": retrieval_config.k_per_query,
        "retrieval_digest": done.digest,
        "per_class": dg.MetadataValue.json(per_class),
        "min_per_class": min(per_class.values(), default=0),
        "removed_duplicates": stats.removed_duplicates,
        "removed_exact_contamination": stats.removed_exact_contamination,
        "removed_near_contamination": stats.removed_near_contamination,
        "general_pairs": stats.general_pairs,
        "queries": stats.n_queries,
        "grid": dg.MetadataValue.md(
            f"![top pairs](data:image/png;base64,{base64.b64encode(grid.read_bytes()).decode()})"),
        "dagster/row_count": done.rows.num_rows,
    })
