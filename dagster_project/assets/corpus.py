"""Corpus stage: webdataset shards validated and registered in DuckDB.

A shard that landed in ``REACT_HOME/landing`` is moved into ``shards/`` by its own run, as that
run's first act on it (the landing sensor only looks): a run that fails after the move is
re-executed on the moved file, one that fails before it finds the file still in landing. A run
may take several shards (a backfill's range, ``SHARDS_PER_RUN``): each is taken and ingested in
turn, and each partition's materialization carries its own shard's figures.
"""

import time

import dagster as dg

from dagster_project.assets.shard_runs import run_totals
from dagster_project.configs import launch_config, launch_schema, library_config, override
from dagster_project.partitions import SHARD_BACKFILL_POLICY, shard_partitions
from dagster_project.profile import executed_by
from dagster_project.resources import ReactHomeResource
from react_assets.corpus.ingest import IngestConfig, ingest_shard
from react_assets.corpus.intake import find_landed, take_landed


class CorpusShardsConfig(dg.Config):
    """Limits that decide which samples of a shard are accepted."""

    max_image_pixels: int | None = override(IngestConfig, "max_image_pixels",
                                            "largest image accepted, in pixels", ge=1)
    max_member_bytes: int | None = override(IngestConfig, "max_member_bytes",
                                            "largest tar member read, in bytes", ge=1)
    max_caption_chars: int | None = override(IngestConfig, "max_caption_chars",
                                             "longest caption accepted", ge=1)
    workers: int | None = override(IngestConfig, "workers", "image-decoding threads", ge=1)
    allow_replace: bool | None = override(
        IngestConfig, "allow_replace", "replace the shard's ingested pairs by a changed tar, or "
        "by fewer pairs (otherwise such a run fails and keeps them)")


@dg.asset(
    partitions_def=shard_partitions,
    backfill_policy=SHARD_BACKFILL_POLICY,
    group_name="corpus",
    kinds={"duckdb", "webdataset"},
    code_version="1",
    config_schema=launch_schema(CorpusShardsConfig),
)
def corpus_shards(
    context: dg.AssetExecutionContext, react_home: ReactHomeResource
) -> dg.MaterializeResult:
    """Validated image-text pairs of webdataset shards, recorded in DuckDB."""
    config = library_config(launch_config(context, CorpusShardsConfig), IngestConfig())
    paths, store = react_home.paths(), react_home.store()
    started, figures = time.perf_counter(), []
    for shard_id in context.partition_keys:
        landed = find_landed(shard_id, paths.landing)
        if landed is not None:
            context.log.info(take_landed(landed, shard_id, paths.shards))
        report = ingest_shard(paths.shard_tar(shard_id), shard_id, store, config)
        shard = {
            "taken_from_landing": landed.name if landed is not None else "",
            "pairs": report.n_pairs,
            "skipped": report.n_skipped,
            "skipped_by_reason": report.skipped,
            "pairs_by_source": report.sources,
            "tar_members": report.n_members,
            "archive_error": report.archive_error or "",
            "pairs_per_second": round(report.pairs_per_second, 1),
            "replaced": report.replaced or "",
            "dagster/row_count": report.n_pairs,
        }
        context.add_asset_metadata(shard, partition_key=shard_id)
        figures.append({"shard": shard_id, **shard})
    return dg.MaterializeResult(metadata=executed_by() | run_totals(
        figures, "pairs", time.perf_counter() - started,
        ("shard", "pairs", "skipped", "pairs_per_second", "taken_from_landing", "replaced",
         "archive_error")))

