"""Sensors: shards landing, domain specs arriving, and refreshes of what fell behind.

- ``landing_shards_sensor``: ``REACT_HOME/landing/*.tar`` (any case; with an optional ``.parquet``
  beside) that stopped changing are moved into ``REACT_HOME/shards`` as ``NAME-<sha256 prefix>``
  (a rename: same file system; the same bytes again are a no-op, a changed file of the same name
  a new shard), registered as shard partitions, and ingested by one run of ``shard_ingest_job``,
  embedded too once a base model exists. A file that is not a tar goes to ``landing/rejected``.
- ``domain_specs_sensor``: spec files in ``REACT_HOME/domains/incoming`` are registered (they stay
  there: relative dataset paths resolve against their folder); their domains become partitions and
  get a ``domain_job`` run once an index exists. A bad spec is reported, never fatal.
- ``index_freshness_sensor`` / ``leaderboard_freshness_sensor``: a downstream asset is rebuilt
  once its upstream is newer and no run that feeds it (nor any backfill) is still going.
- ``recustomize_after_index_sensor``: the weekly index rebuild is followed by the stale domains.
"""

import hashlib
import json
import time
from pathlib import Path

import dagster as dg

from dagster_project.jobs import (
    corpus_job,
    domain_job,
    embedding_job,
    index_job,
    leaderboard_job,
    shard_ingest_job,
)
from dagster_project.partitions import domain_partitions, shard_partitions
from dagster_project.resources import ReactHomeResource
from dagster_project.schedules import (
    RECUSTOMIZE_TAG,
    backfills_in_flight,
    domain_run_requests,
    is_newer,
    jobs_in_flight,
    latest_materialization_id,
    stale_domains,
)
from react_assets.corpus.landing import land_shard, settled_files
from react_assets.domains.registry import register_domains
from react_assets.domains.spec import DomainSpecError

SENSOR_INTERVAL_SECONDS = 30
# A landed file is taken once unchanged since the previous tick, or untouched for this long.
LANDING_SETTLE_SECONDS = 60.0
SPEC_SUFFIXES = (".yaml", ".yml", ".json")
EMBEDDING_ASSET = "corpus_embeddings"
EMBEDDING_SKIPPED_TAG = "react/embedding_skipped"  # on an ingestion-only run, says why


@dg.sensor(
    job=shard_ingest_job, minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Moves settled shards (*.tar, any case, + .parquet) from REACT_HOME/landing into "
                "shards/ under a content-addressed id, adds their partitions and ingests each "
                "(and embeds it once a base model exists); refuses what is not a tar.",
)
def landing_shards_sensor(
    context: dg.SensorEvaluationContext, react_home: ReactHomeResource
) -> dg.SensorResult:
    """One shard_ingest_job run per new landed shard; the cursor remembers unsettled ones."""
    paths = react_home.paths()
    previous = json.loads(context.cursor)["pending"] if context.cursor else {}
    ready, pending = settled_files(paths.landing, previous, time.time(), LANDING_SETTLE_SECONDS)
    has_base_model = latest_materialization_id(context.instance, "base_model") is not None
    requests, new_ids, notes = [], [], []
    for path in ready:
        try:
            landed = land_shard(path, paths.shards)
        except OSError as err:  # the others still go ahead; this one stays and is retried
            notes.append(str(err))
            context.log.error(str(err))
            continue
        log = context.log.warning if landed.status == "rejected" or "WARNING" in landed.message \
            else context.log.info
        log(landed.message)
        if landed.status != "new":
            notes.append(landed.message)
            continue
        shard_id = landed.shard_id
        if not context.instance.has_dynamic_partition(shard_partitions.name, shard_id):
            new_ids.append(shard_id)
        selection = None if has_base_model else [dg.AssetKey("corpus_shards")]
        tags = {} if has_base_model else {EMBEDDING_SKIPPED_TAG: "no base_model yet"}
        requests.append(dg.RunRequest(run_key=shard_id, partition_key=shard_id,
                                      asset_selection=selection, tags=tags))
    if requests and not has_base_model:
        context.log.info(f"no base_model yet: {EMBEDDING_ASSET} is not requested for "
                         f"{', '.join(r.partition_key for r in requests)} (ingestion only); "
                         "materialize base_model, then embedding_job, to embed them")
    cursor = json.dumps({"pending": pending}, sort_keys=True)
    if not requests:
        waiting = f"{len(pending)} landed shard(s) still changing" if pending else "no new shard"
        return dg.SensorResult(skip_reason="; ".join([waiting, *notes]), cursor=cursor)
    return dg.SensorResult(
        run_requests=requests, cursor=cursor,
        dynamic_partitions_requests=[shard_partitions.build_add_request(new_ids)] if new_ids else [],
    )


def _spec_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and p.suffix.lower() in SPEC_SUFFIXES and not p.name.startswith("."))


@dg.sensor(
    job=domain_job, minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Registers new or changed domain specs from REACT_HOME/domains/incoming, adds "
                "their partitions and customizes each domain once an index exists.",
)
def domain_specs_sensor(
    context: dg.SensorEvaluationContext, react_home: ReactHomeResource
) -> dg.SensorResult:
    """Register each new spec file (by content digest); report invalid ones in the tick."""
    paths = react_home.paths()
    incoming = paths.domains / "incoming"
    incoming.mkdir(parents=True, exist_ok=True)
    seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    registered: dict[str, str] = {}  # domain -> digest of the spec that (re)declared it
    errors: list[str] = []
    for spec in _spec_files(incoming):
        digest = hashlib.sha256(spec.read_bytes()).hexdigest()
        if seen.get(spec.name) == digest:
            continue
        seen[spec.name] = digest  # an invalid spec is retried only once it changes
        try:
            names = register_domains(react_home.store(), spec)
        except DomainSpecError as err:
            errors.append(str(err))
            continue
        context.log.info(f"registered {', '.join(names)} from {spec}")
        registered.update({name: digest[:16] for name in names})
    for error in errors:
        context.log.error(f"domain spec rejected: {error}")
    new = [d for d in registered
           if not context.instance.has_dynamic_partition(domain_partitions.name, d)]
    partitions = [domain_partitions.build_add_request(new)] if new else []
    has_index = index_exists(context.instance)
    requests = [dg.RunRequest(run_key=f"spec:{d}:{digest}", partition_key=d)
                for d, digest in registered.items()] if has_index else []
    if registered and not has_index:
        context.log.info("no knn_index yet: the domains are customized by weekly_recustomization")
    if requests:
        return dg.SensorResult(run_requests=requests, dynamic_partitions_requests=partitions,
                               cursor=json.dumps(seen, sort_keys=True))
    reason = "; ".join(errors) or ("registered " + ", ".join(registered) if registered
                                   else "no new domain spec")
    return dg.SensorResult(skip_reason=reason, dynamic_partitions_requests=partitions,
                           cursor=json.dumps(seen, sort_keys=True))


def index_exists(instance: dg.DagsterInstance) -> bool:
    """Whether knn_index has been materialized at least once."""
    return latest_materialization_id(instance, "knn_index") is not None


def freshness_sensor(name: str, upstream: str, downstream: str, job_name: str,
                     feeding_jobs: list[str]) -> dg.SensorDefinition:
    """A sensor that requests ``job_name`` when ``upstream`` is newer than ``downstream`` and none
    of ``feeding_jobs`` (nor ``job_name``, nor a backfill) has a run queued or going."""

    @dg.sensor(name=name, job_name=job_name, minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
               default_status=dg.DefaultSensorStatus.RUNNING,
               description=f"Rebuilds {downstream} once {upstream} is newer and settled.")
    def _sensor(context: dg.SensorEvaluationContext) -> dg.RunRequest | dg.SkipReason:
        if not is_newer(context.instance, upstream, downstream):
            return dg.SkipReason(f"{downstream} is at least as new as {upstream}")
        busy = jobs_in_flight(context.instance, [*feeding_jobs, job_name])
        busy += [f"backfill {b}" for b in backfills_in_flight(context.instance)]
        if busy:
            return dg.SkipReason(f"{upstream} is newer, waiting for runs of {', '.join(busy)}")
        newest = latest_materialization_id(context.instance, upstream)
        return dg.RunRequest(run_key=f"{upstream}:{newest}")

    return _sensor


index_freshness_sensor = freshness_sensor(
    "index_freshness_sensor", "corpus_embeddings", "knn_index", index_job.name,
    [shard_ingest_job.name, corpus_job.name, embedding_job.name])
leaderboard_freshness_sensor = freshness_sensor(
    "leaderboard_freshness_sensor", "zeroshot_eval", "leaderboard", leaderboard_job.name,
    [domain_job.name])


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS, monitored_jobs=[index_job], request_job=domain_job,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="After a weekly index rebuild succeeds, re-customizes the domains it made stale.",
)
def recustomize_after_index_sensor(context: dg.RunStatusSensorContext):
    """domain_job runs for the stale domains when the finished index run was tagged weekly."""
    if context.dagster_run.tags.get(RECUSTOMIZE_TAG) != "true":
        return dg.SkipReason("index run was not a weekly re-customization")
    domains = stale_domains(context.instance)
    if not domains:
        return dg.SkipReason("no domain is older than the new index")
    return domain_run_requests(domains, f"after-index:{context.dagster_run.run_id}")


ALL_SENSORS = [landing_shards_sensor, domain_specs_sensor, index_freshness_sensor,
               leaderboard_freshness_sensor, recustomize_after_index_sensor]
