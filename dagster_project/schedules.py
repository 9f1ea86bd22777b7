"""Schedules: the weekly re-customization of every domain whose upstream changed.

A schedule launches runs of one job, so the weekly refresh is two schedules on the same cron:
``weekly_index_refresh`` rebuilds the index when embeddings are newer than it (tagged, so that
``recustomize_after_index_sensor`` re-customizes the stale domains once the new index exists), and
``weekly_recustomization`` re-customizes the domains whose retrieval is older than the index when
the index is current. "Newer" is the order of materializations in the event log (storage ids).
"""

import os

import dagster as dg

from dagster_project.assets.customization import ReactModelConfig
from dagster_project.assets.evaluation import ZeroshotEvalConfig
from dagster_project.assets.retrieval import RetrievedPairsConfig
from dagster_project.jobs import domain_job, index_job
from dagster_project.partitions import domain_partitions

RECUSTOMIZATION_CRON = os.environ.get("REACT_RECUSTOMIZATION_CRON", "0 3 * * 0")
RECUSTOMIZATION_TIMEZONE = os.environ.get("REACT_RECUSTOMIZATION_TIMEZONE", "UTC")
RECUSTOMIZE_TAG = "react/recustomize"
BACKFILL_TAG = "dagster/backfill"  # set by Dagster on every run a backfill launches
UNFINISHED_STATUSES = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED,
                       dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED,
                       dg.DagsterRunStatus.CANCELING]

# What a scheduled re-customization runs with (the launchpad defaults, spelled out to edit here).
RECUSTOMIZATION_RUN_CONFIG = dg.RunConfig(ops={
    "retrieved_pairs": RetrievedPairsConfig(),
    "react_model": ReactModelConfig(),
    "zeroshot_eval": ZeroshotEvalConfig(),
})


def latest_materialization_id(instance: dg.DagsterInstance, asset: str,
                              partition: str | None = None) -> int | None:
    """Storage id of the newest materialization of ``asset`` (of one partition), None if never."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset),
                              asset_partitions=[partition] if partition is not None else None),
        limit=1,
    ).records
    return records[0].storage_id if records else None


def is_newer(instance: dg.DagsterInstance, upstream: str, downstream: str) -> bool:
    """Whether ``upstream`` was materialized after ``downstream`` (or downstream never was)."""
    up = latest_materialization_id(instance, upstream)
    down = latest_materialization_id(instance, downstream)
    return up is not None and (down is None or up > down)


def jobs_in_flight(instance: dg.DagsterInstance, job_names: list[str]) -> list[str]:
    """The jobs among ``job_names`` that have a queued or running run."""
    return [name for name in job_names
            if instance.get_runs_count(dg.RunsFilter(job_name=name, statuses=UNFINISHED_STATUSES))]


def backfills_in_flight(instance: dg.DagsterInstance) -> list[str]:
    """Ids of the backfills (from the UI or the CLI) that have a queued or running run."""
    runs = instance.get_runs(dg.RunsFilter(statuses=UNFINISHED_STATUSES))
    return sorted({run.tags[BACKFILL_TAG] for run in runs if BACKFILL_TAG in run.tags})


def stale_domains(instance: dg.DagsterInstance) -> list[str]:
    """Registered domains whose retrieved_pairs is older than knn_index, or never materialized.

    Empty while knn_index was never materialized (nothing to retrieve from yet).
    """
    index_id = latest_materialization_id(instance, "knn_index")
    if index_id is None:
        return []
    stale = []
    for domain in sorted(instance.get_dynamic_partitions(domain_partitions.name)):
        retrieved = latest_materialization_id(instance, "retrieved_pairs", domain)
        if retrieved is None or retrieved < index_id:
            stale.append(domain)
    return stale


def domain_run_requests(domains: list[str], key_prefix: str) -> list[dg.RunRequest]:
    """One domain_job run per domain, with the re-customization run config."""
    return [dg.RunRequest(run_key=f"{key_prefix}:{domain}", partition_key=domain,
                          run_config=RECUSTOMIZATION_RUN_CONFIG, tags={RECUSTOMIZE_TAG: "true"})
            for domain in domains]


@dg.schedule(
    cron_schedule=RECUSTOMIZATION_CRON, execution_timezone=RECUSTOMIZATION_TIMEZONE,
    job=domain_job, default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Re-retrieve, re-train and re-evaluate every domain whose retrieval is older "
                "than the index (or was never made). Waits for the index when it is stale.",
)
def weekly_recustomization(
    context: dg.ScheduleEvaluationContext,
) -> list[dg.RunRequest] | dg.SkipReason:
    """domain_job runs for the stale domains, unless the index itself is behind its embeddings."""
    if is_newer(context.instance, "corpus_embeddings", "knn_index"):
        return dg.SkipReason("knn_index is older than corpus_embeddings: weekly_index_refresh "
                             "rebuilds it and recustomize_after_index_sensor follows")
    domains = stale_domains(context.instance)
    if not domains:
        return dg.SkipReason("every domain's retrieval is at least as new as knn_index")
    tick = context.scheduled_execution_time.isoformat() if context.scheduled_execution_time else ""
    context.log.info(f"re-customizing {len(domains)} domains: {', '.join(domains)}")
    return domain_run_requests(domains, f"weekly:{tick}")


@dg.schedule(
    cron_schedule=RECUSTOMIZATION_CRON, execution_timezone=RECUSTOMIZATION_TIMEZONE,
    job=index_job, default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Rebuild the index first when embeddings are newer than it; the stale domains "
                "are re-customized when that run succeeds.",
)
def weekly_index_refresh(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
    """An index_job run tagged for re-customization when corpus_embeddings is newer."""
    if not is_newer(context.instance, "corpus_embeddings", "knn_index"):
        return dg.SkipReason("knn_index is at least as new as every corpus_embeddings partition")
    tick = context.scheduled_execution_time.isoformat() if context.scheduled_execution_time else ""
    return dg.RunRequest(run_key=f"weekly-index:{tick}", tags={RECUSTOMIZE_TAG: "true"})


ALL_SCHEDULES = [weekly_recustomization, weekly_index_refresh]
