"""Corpus stage: webdataset shards validated and registered in DuckDB."""


import dagster as dg

from dagster_project.partitions import DUCKDB_POOL, shard_partitions
from dagster_project.resources import ReactHomeResource
from react_assets.ingest import IngestConfig, ingest_shard


class CorpusShardsConfig(dg.Config):
    """Limits that decide which samples of a shard are accepted."""

    max_image_pixels: int = 4096 * 4096
    max_member_bytes: int = 32 * 1024 * 1024
    max_caption_chars: int = 4000
    workers: int = 2


@dg.asset(
    partitions_def=shard_partitions,
    pool=DUCKDB_POOL,
    group_name="corpus",
    kinds={"duckdb", "webdataset"},
    code_version="1",
)
def corpus_shards(
    context: dg.AssetExecutionContext, config: CorpusShardsConfig, react_home: ReactHomeResource
) -> dg.MaterializeResult:
    """Validated image-text pairs of one webdataset shard, recorded in DuckDB."""
    shard_id = context.partition_key
    paths = react_home.paths()
    report = ingest_shard(
        paths.shards / f"{shard_id}.tar",
        shard_id,
        react_home.store(),
        IngestConfig(
            max_image_pixels=config.max_image_pixels,
            max_member_bytes=config.max_member_bytes,
            max_caption_chars=config.max_caption_chars,
            workers=config.workers,
        ),
    )
    return dg.MaterializeResult(
        metadata={
            "pairs": report.n_pairs,
            "skipped": report.n_skipped,
            "skipped_by_reason": report.skipped,
            "pairs_by_source": report.sources,
            "tar_members": report.n_members,
            "archive_error": report.archive_error or "",
            "pairs_per_second": round(report.pairs_per_second, 1),
            "dagster/row_count": report.n_pairs,
        }
    )
