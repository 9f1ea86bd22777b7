"""The demo chain driven from a Dagster webserver's GraphQL API, stage by stage, and the metadata
it leaves compared by key columns.

Each stage is what a user sends from the UI: the Launchpad's ``launchRun`` for an unpartitioned
job, the Materialize dialog's ``launchPartitionBackfill`` over every partition for the assets of a
partitioned one (``devtools.ui_client``). A run that fails and is retried by the instance
(``run_retries``) is followed to its last retry.
"""

from __future__ import annotations

import collections
import json
import time
from dataclasses import dataclass
from typing import Any

from devtools.ui_client import (
    launch_asset_backfill,
    launch_job_run,
    list_runs,
    wait_for_backfill,
    wait_for_run,
)

STAGE_TAG = "react/soak_stage"
PARENT_TAG = "dagster/parent_run_id"
WILL_RETRY_TAG = "dagster/will_retry"


@dataclass(frozen=True)
class Stage:
    """One stage of the chain: a job, launched as one run, or backfilled over every partition of
    ``assets`` (the job's assets) when it is partitioned."""

    name: str
    job: str
    assets: tuple[str, ...] = ()


# The stages of ``dagster_project.demo.STAGES``, in their order.
STAGES = (
    Stage("world", "demo_world_job"),
    Stage("corpus", "corpus_job", ("corpus_shards",)),
    Stage("base", "base_model_job"),
    Stage("embed", "embedding_job", ("corpus_embeddings",)),
    Stage("index", "index_job"),
    Stage("domains", "domain_job", ("retrieved_pairs", "react_model", "zeroshot_eval")),
    Stage("leaderboard", "leaderboard_job"),
)

# The columns compared between two homes: what a row is about and what it holds, not when it was
# written, where, how fast, or the ids a store gives out.
KEY_COLUMNS = {
    "shards": ("shard_id", "tar_sha256", "n_members", "n_pairs", "n_skipped"),
    "pairs": ("shard_id", "ordinal", "key", "caption", "source", "image_sha256"),
    "skipped_samples": ("shard_id", "key", "reason"),
    "embedding_sets": ("shard_id", "n_rows", "dim"),
    "indexes": ("modality", "factory", "n_vectors"),
    "domains": ("domain", "n_classes", "n_templates", "spec_digest"),
    "domain_versions": ("domain", "version_no", "spec_digest"),
    "retrieval_sets": ("domain", "mode", "k_per_query", "n_queries", "n_pairs", "pairs_digest"),
    "retrievals": ("domain", "class_name", "rank", "mode"),
    "models": ("kind", "domain", "arch", "retrieval_digest"),
    "evaluations": ("model_kind", "domain", "dataset", "task", "metric", "n_samples"),
}


def run_stage(url: str, stage: Stage, run_config: dict[str, dict], timeout_s: float) -> dict:
    """Launch ``stage`` on the webserver at ``url`` and wait until it ended; its outcome."""
    config = run_config.get(stage.job) or None
    started = time.monotonic()
    if stage.assets:
        backfill_id = launch_asset_backfill(url, list(stage.assets), config, title=f"soak {stage.name}")
        outcome = wait_for_backfill(url, backfill_id, timeout_s, poll_s=5.0)
        return {
            "backfill_id": backfill_id,
            "status": outcome.status,
            "wall_s": round(time.monotonic() - started, 1),
            "run_statuses": dict(collections.Counter(outcome.run_statuses.values())),
            "succeeded": outcome.status == "COMPLETED_SUCCESS",
        }
    run_id = launch_job_run(url, stage.job, config, tags={STAGE_TAG: stage.name})
    attempts = follow_retries(url, run_id, timeout_s)
    return {
        "run_id": run_id,
        "status": attempts[-1]["status"],
        "attempts": len(attempts),
        "wall_s": round(time.monotonic() - started, 1),
        "succeeded": attempts[-1]["status"] == "SUCCESS",
    }


def follow_retries(
    url: str, run_id: str, timeout_s: float, retry_wait_s: float = 180.0
) -> list[dict[str, Any]]:
    """Wait for run ``run_id``; while it failed and the instance retries it, for its retry. The
    runs in order, the last one's status the outcome."""
    deadline = time.monotonic() + timeout_s
    attempts = [wait_for_run(url, run_id, timeout_s)]
    while attempts[-1]["status"] == "FAILURE":
        retry = _retry_of(url, attempts[-1]["runId"], min(retry_wait_s, deadline - time.monotonic()))
        if retry is None:
            break
        attempts.append(wait_for_run(url, retry, max(1.0, deadline - time.monotonic())))
    return attempts


def _retry_of(url: str, run_id: str, wait_s: float) -> str | None:
    """The run retrying ``run_id``, once the instance launched it; None if it will not."""
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        children = list_runs(url, tags={PARENT_TAG: run_id})
        if children:
            return children[-1]["runId"]  # newest first: the oldest is the retry
        tags = {t["key"]: t["value"] for t in list_runs(url, run_ids=[run_id])[0]["tags"]}
        if tags.get(WILL_RETRY_TAG) == "false":
            return None
        time.sleep(5.0)
    return None


def run_timings(runs: list[dict[str, Any]], stages: dict[str, dict]) -> list[dict[str, Any]]:
    """Each run's stage, status, the run it retried, and its seconds queued (enqueued to
    launched), in STARTING (launched to its process starting the steps) and running."""
    by_backfill = {s["backfill_id"]: name for name, s in stages.items() if "backfill_id" in s}
    out = []
    for run in sorted(runs, key=lambda r: r["creationTime"]):
        tags = {t["key"]: t["value"] for t in run["tags"]}
        stats = run.get("stats") or {}
        out.append(
            {
                "run_id": run["runId"],
                "job": run["jobName"],
                "status": run["status"],
                "stage": tags.get(STAGE_TAG) or by_backfill.get(tags.get("dagster/backfill", "")),
                "retry_of": run["parentRunId"],
                "queued_s": _span(stats.get("enqueuedTime"), stats.get("launchTime")),
                "starting_s": _span(stats.get("launchTime"), stats.get("startTime")),
                "running_s": _span(stats.get("startTime"), stats.get("endTime")),
            }
        )
    return out


def _span(start: float | None, end: float | None) -> float | None:
    return round(end - start, 1) if start is not None and end is not None else None


def starting_summary(timings: list[dict[str, Any]]) -> dict[str, float | int]:
    """Runs, and their seconds in STARTING: min, median, max."""
    seconds = sorted(t["starting_s"] for t in timings if t["starting_s"] is not None)
    if not seconds:
        return {"runs": len(timings)}
    return {
        "runs": len(timings),
        "starting_s_min": seconds[0],
        "starting_s_median": seconds[len(seconds) // 2],
        "starting_s_max": seconds[-1],
    }


def table_keys(conn: Any, tables: tuple[str, ...] | None = None) -> dict[str, dict]:
    """Each metadata table's row count and its rows' ``KEY_COLUMNS`` (sorted; None for a table
    without key columns listed), read over the DuckDB connection ``conn`` to a store."""
    from react_assets.metadata import TABLES

    out = {}
    for table in tables or TABLES:
        rows = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608
        keys = None
        if table in KEY_COLUMNS:
            columns = ", ".join(KEY_COLUMNS[table])
            fetched = conn.execute(f"SELECT {columns} FROM {table}").fetchall()  # noqa: S608
            keys = sorted(json.dumps([str(v) for v in row]) for row in fetched)
        out[table] = {"rows": int(rows), "keys": keys}
    return out
