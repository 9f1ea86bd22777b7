"""Sensors: shards landing and domain specs arriving. A tick only looks and asks; runs act.

- ``landing_shards_sensor`` reads ``REACT_HOME/landing`` (:func:`scan_landing`) and asks for one
  ``shard_ingest_job`` run per settled new tar (``*.tar``, any case, with an optional ``.parquet``
  and ``_stats.json`` beside it), under the content-addressed shard id ``NAME-<sha256 prefix>``
  that the tick adds as a partition; that run moves the file into ``shards/`` and ingests it, and
  embeds it once a base model exists. An entry that cannot be a shard (not a tar, compressed, a
  bad name, anything but a regular file: never opened) or that repeats an ingested shard's bytes
  gets one ``landing_cleanup_job`` run, which moves it to ``landing/rejected/`` with its reason,
  or removes the copy. A companion without its tar, and a landed file whose run failed, are named
  in the tick.
- ``domain_specs_sensor`` reads the spec files in ``REACT_HOME/domains/incoming`` and, for each new
  or changed valid one, asks one ``domain_spec_job`` run per domain it declares (the tick adds the
  partition): the ``domain_spec`` asset registers the file (it stays there: relative dataset paths
  resolve against its folder), then retrieval, customization and evaluation follow once a base
  model and an index exist. An invalid spec, or one that would change a registered domain's
  classes or templates without ``replace: true``, is reported in the tick, once.

What goes stale later is rebuilt by the assets' automation conditions (``automation.py``).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import dagster as dg

from dagster_project.assets.domains import DomainSpecConfig
from dagster_project.jobs import domain_spec_job, landing_cleanup_job, shard_ingest_job
from dagster_project.partitions import domain_partitions, shard_partitions
from dagster_project.resources import ReactHomeResource
from react_assets.corpus.intake import LandingScan, not_regular, scan_landing
from react_assets.domains.registry import check_datasets_exist, check_spec_versions
from react_assets.domains.spec import DomainSpecError, load_domain_catalog
from react_assets.files.hashing import file_sha256

SENSOR_INTERVAL_SECONDS = 30
# A landed file is taken once unchanged since the previous tick, or untouched for this long.
LANDING_SETTLE_SECONDS = 60.0
SPEC_SUFFIXES = (".yaml", ".yml", ".json")
EMBEDDING_SKIPPED_TAG = "react/embedding_skipped"  # on an ingestion-only run, says why
# Tags Dagster's sensor daemon puts on the runs it launches.
RUN_KEY_TAG, SENSOR_NAME_TAG = "dagster/run_key", "dagster/sensor_name"
FINISHED_BADLY = (dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED)


def materialized(instance: dg.DagsterInstance, asset: str, partition: str | None = None) -> bool:
    """Whether ``asset`` (its ``partition``) has been materialized at least once."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset),
                              asset_partitions=[partition] if partition is not None else None),
        limit=1).records
    return bool(records)


def cleanup_request(name: str, stamp: str) -> dg.RunRequest:
    """A landing_cleanup_job run for one landed entry."""
    return dg.RunRequest(run_key=f"cleanup:{name}:{stamp}", job_name=landing_cleanup_job.name,
                         run_config={"ops": {"clear_landed_files": {"config": {"files": [name]}}}})


def landing_requests(instance: dg.DagsterInstance, shards: Path, scan: LandingScan
                     ) -> tuple[list[tuple[str, dg.RunRequest, str]], list[str]]:
    """(file name, run request, what it does) for each settled or refused landed entry, and the
    shard ids that need a partition."""
    has_base_model = materialized(instance, "base_model")
    asked, new_ids = [], []
    for shard in scan.ready:
        name, shard_id = shard.path.name, shard.shard_id
        if (shards / f"{shard_id}.tar").exists() and materialized(instance, "corpus_shards",
                                                                   shard_id):
            asked.append((name, cleanup_request(name, shard.stamp), f"{name} has the same bytes "
                          f"as shard {shard_id}, ingested already: a landing_cleanup_job run "
                          "removes the landed copy"))
            continue
        if not instance.has_dynamic_partition(shard_partitions.name, shard_id):
            new_ids.append(shard_id)
        request = dg.RunRequest(
            run_key=f"{shard_id}:{shard.stamp}", partition_key=shard_id,
            job_name=shard_ingest_job.name,
            asset_selection=None if has_base_model else [dg.AssetKey("corpus_shards")],
            tags={} if has_base_model else {EMBEDDING_SKIPPED_TAG: "no base_model yet"})
        asked.append((name, request, f"{name} is shard {shard_id}: a shard_ingest_job run moves "
                      "it into shards/ and ingests it" + (
                          " and embeds it" if has_base_model else " (not embedded: no base_model "
                          "yet; materialize it, then embedding_job)")))
    for refusal in scan.refused:
        name = refusal.path.name
        asked.append((name, cleanup_request(name, refusal.stamp), f"{name} is not a shard: "
                      f"{refusal.reason}; a landing_cleanup_job run moves it to "
                      "landing/rejected/"))
    return asked, new_ids


def not_asked_before(context: dg.SensorEvaluationContext,
                     asked: list[tuple[str, dg.RunRequest, str]]
                     ) -> tuple[list[dg.RunRequest], list[str]]:
    """The requests this sensor has no run for yet, and a note on each earlier run: still going,
    or failed (the file stays ingestible: re-execute that run)."""
    requests, notes = [], []
    for name, request, note in asked:
        runs = context.instance.get_runs(dg.RunsFilter(
            tags={RUN_KEY_TAG: request.run_key, SENSOR_NAME_TAG: context.sensor_name}), limit=1)
        if not runs:
            requests.append(request)
            context.log.info(note)
        elif runs[0].status in FINISHED_BADLY:
            notes.append(f"{name}: run {runs[0].run_id} ({runs[0].job_name}) ended "
                         f"{runs[0].status.value}; re-execute it, or land the file again")
        else:
            notes.append(f"{name}: run {runs[0].run_id} is {runs[0].status.value}")
    return requests, notes


@dg.sensor(
    jobs=[shard_ingest_job, landing_cleanup_job], minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Asks for the ingestion (and embedding, once a base model exists) of each settled "
                "tar in REACT_HOME/landing under a content-addressed shard id, and a cleanup run "
                "for what cannot be a shard; moves nothing itself.",
)
def landing_shards_sensor(
    context: dg.SensorEvaluationContext, react_home: ReactHomeResource
) -> dg.SensorResult:
    """Run requests and new shard partitions for what landed; the cursor remembers files still
    being written and the digests already computed."""
    paths = react_home.layout()
    if not paths.landing.is_dir():
        return dg.SensorResult(skip_reason=f"no folder {paths.landing}: shards land there")
    cursor = json.loads(context.cursor) if context.cursor else {}
    scan = scan_landing(paths.landing, cursor.get("pending", {}), cursor.get("digests", {}),
                        time.time(), LANDING_SETTLE_SECONDS)
    asked, new_ids = landing_requests(context.instance, paths.shards, scan)
    requests, notes = not_asked_before(context, asked)
    notes = [*scan.notes, *notes]
    if scan.changing:
        notes.append(f"{len(scan.changing)} landed shard(s) still changing")
    for note in notes:
        context.log.warning(note)
    result = {"cursor": json.dumps({"pending": scan.changing, "digests": scan.digests},
                                   sort_keys=True),
              "dynamic_partitions_requests":
                  [shard_partitions.build_add_request(new_ids)] if new_ids else []}
    if requests:
        return dg.SensorResult(run_requests=requests, **result)
    return dg.SensorResult(skip_reason="; ".join(notes) or "no new shard", **result)


def spec_files(folder: Path) -> list[Path]:
    """The spec files in ``folder`` by name (links included: the caller refuses them unread)."""
    return sorted(Path(e.path) for e in os.scandir(folder)
                  if not e.name.startswith(".") and Path(e.name).suffix.lower() in SPEC_SUFFIXES)


@dg.sensor(
    job=domain_spec_job, minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Asks, for each new or changed valid spec file in REACT_HOME/domains/incoming, a "
                "run per domain that registers it and (once a base model and an index exist) "
                "customizes it; writes nothing itself.",
)
def domain_specs_sensor(
    context: dg.SensorEvaluationContext, react_home: ReactHomeResource
) -> dg.SensorResult:
    """Run requests and new domain partitions for new spec files; the cursor holds each file's
    digest, so an invalid spec is reported once and read again only once it changes."""
    paths = react_home.layout()
    incoming = paths.incoming_specs
    if not incoming.is_dir():
        return dg.SensorResult(skip_reason=f"no folder {incoming}: spec files go there")
    seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    ready = (materialized(context.instance, "base_model")
             and materialized(context.instance, "knn_index"))
    requests, new, notes, now_seen = [], [], [], {}
    for spec in spec_files(incoming):
        kind = not_regular(spec.lstat())
        token = f"not regular: {kind}" if kind else file_sha256(spec)
        now_seen[spec.name] = token
        if seen.get(spec.name) == token:
            continue
        if kind:
            notes.append(f"{spec} is {kind}, not read: put the spec file itself there")
            continue
        try:
            catalog = load_domain_catalog(spec)
            check_datasets_exist(catalog, spec.resolve())
            check_spec_versions(react_home.catalog(), catalog, spec.resolve())  # read-only
        except DomainSpecError as err:
            notes.append(f"domain spec rejected: {err}")
            continue
        for domain in (d.name for d in catalog.domains):
            if not context.instance.has_dynamic_partition(domain_partitions.name, domain):
                new.append(domain)
            requests.append(dg.RunRequest(
                run_key=f"spec:{domain}:{token[:16]}", partition_key=domain,
                job_name=domain_spec_job.name,
                asset_selection=None if ready else [dg.AssetKey("domain_spec")],
                run_config=dg.RunConfig(ops={
                    "domain_spec": DomainSpecConfig(spec_file=paths.relative(spec))})))
            context.log.info(f"{domain} from {spec}: registered" + (
                ", then customized" if ready else " (no base_model or knn_index yet: customized "
                "on the re-customization cron once both exist)"))
    for note in notes:
        context.log.error(note)
    result = {"cursor": json.dumps(now_seen, sort_keys=True), "dynamic_partitions_requests":
              [domain_partitions.build_add_request(new)] if new else []}
    if requests:
        return dg.SensorResult(run_requests=requests, **result)
    return dg.SensorResult(skip_reason="; ".join(notes) or "no new domain spec", **result)


ALL_SENSORS = [landing_shards_sensor, domain_specs_sensor]
