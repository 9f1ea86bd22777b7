"""Retrieval stage: the corpus pairs most relevant to each class of a domain."""

import base64

import dagster as dg
from pydantic import Field

from dagster_project.assets.domains import domain_spec
from dagster_project.assets.index import knn_index
from dagster_project.automation import RETRIEVAL_CONDITION
from dagster_project.configs import launch_config, launch_schema, override
from dagster_project.metadata_tables import records_table
from dagster_project.partitions import COMPUTE_POOL, domain_partitions
from dagster_project.profile import executed_by
from dagster_project.resources import ReactHomeResource
from react_assets.domains.settings import MODES, RetrievalConfig
from react_assets.retrieve.domain import retrieve_registered_domain


class RetrievedPairsConfig(dg.Config):
    """Retrieval mode and sizes. A field left empty takes the domain spec's ``retrieval`` value,
    else the library default shown."""

    mode: str | None = override(RetrievalConfig, "mode", "what is searched with what",
                                choices=MODES)
    k_per_query: int | None = override(RetrievalConfig, "k_per_query", "hits per query", ge=1)
    max_per_class: int | None = override(RetrievalConfig, "max_per_class",
                                         "pairs kept per class at most", ge=1)
    near_duplicate_threshold: float | None = override(
        RetrievalConfig, "near_duplicate_threshold",
        "cosine above which a pair is a near copy of an evaluation image", gt=0.0, le=1.0)
    general_fraction: float | None = override(
        RetrievalConfig, "general_fraction",
        "uniform corpus sample added, as a fraction of the class pairs", ge=0.0)
    grid_classes: int = Field(default=4, ge=0, le=64)


@dg.asset(
    partitions_def=domain_partitions,
    deps=[knn_index, domain_spec],
    automation_condition=RETRIEVAL_CONDITION,
    pool=COMPUTE_POOL,
    group_name="retrieval",
    kinds={"faiss", "duckdb"},
    code_version="3",  # 2: general sample, decontamination against the general sets; 3: recall
    # checked against exact search on the retrieval queries, search parameter raised to target
    config_schema=launch_schema(RetrievedPairsConfig),
)
def retrieved_pairs(
    context: dg.AssetExecutionContext, react_home: ReactHomeResource
) -> dg.MaterializeResult:
    """Top pairs per class of one domain: merged, de-duplicated and decontaminated."""
    config = launch_config(context, RetrievedPairsConfig)
    done = retrieve_registered_domain(
        react_home.store(), react_home.paths(), context.partition_key,
        overrides=config.model_dump(exclude={"grid_classes"}), grid_classes=config.grid_classes)
    stats = done.result.stats
    per_class = dict(zip(done.classes, stats.count_per_class, strict=False))
    grid = base64.b64encode(done.grid.read_bytes()).decode()
    return dg.MaterializeResult(metadata=executed_by() | {
        "pairs": done.rows.num_rows,
        "mode": done.config.mode,
        "k_per_query": done.config.k_per_query,
        "retrieval_digest": done.digest,
        "per_class": records_table([{"class": c, "pairs": n} for c, n in per_class.items()],
                                   ("class", "pairs")),
        "min_per_class": min(per_class.values(), default=0),
        "removed_duplicates": stats.removed_duplicates,
        "removed_exact_contamination": stats.removed_exact_contamination,
        "removed_near_contamination": stats.removed_near_contamination,
        "general_pairs": stats.general_pairs,
        "queries": stats.n_queries,
        "ann_recall": stats.ann_recall.recall,
        "ann_recall_check": dg.MetadataValue.json(stats.ann_recall.as_dict()),
        "grid": dg.MetadataValue.md(f"![top pairs](data:image/png;base64,{grid})"),
        "dagster/row_count": done.rows.num_rows,
    })
