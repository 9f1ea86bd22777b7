"""Drive a Dagster webserver as its UI does: GraphQL queries, asset backfills and sensor toggles.

`launch_asset_backfill` sends the mutation of the UI's Materialize dialog (``allPartitions`` is
its "all partitions" choice); `wait_for_backfill` polls until the backfill and its runs ended;
`stop_sensors` turns a code location's sensors off, as their toggles on the Automation page do.
`launch_job_run` sends the Launchpad's mutation (``launchRun``); `wait_for_run` polls one run,
`list_runs` reads runs with their queue, launch, start and end times.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


def graphql(url: str, query: str, variables: dict[str, Any] | None = None,
            timeout_s: float = 30.0) -> dict[str, Any]:
    """POST one GraphQL query to the webserver at `url`; return `data`, raise on errors."""
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    request = urllib.request.Request(f"{url}/graphql", data=body,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout_s) as response:
        payload = json.loads(response.read())
    if payload.get("errors"):
        raise RuntimeError(f"GraphQL errors from {url}: {payload['errors']}")
    return payload["data"]


_LAUNCH_BACKFILL = """
mutation Launch($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) { __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on PartitionKeysNotFoundError { message } } }
"""

_BACKFILL_STATUS = """
query Backfill($id: String!) {
  partitionBackfillOrError(backfillId: $id) { __typename
    ... on PartitionBackfill { id status numPartitions startTime endTime
      runs { runId status creationTime startTime endTime tags { key value } }
      error { message } }
    ... on PythonError { message } } }
"""

BACKFILL_DONE = ("COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED")


@dataclass(frozen=True)
class BackfillOutcome:
    """A finished backfill: its status, seconds waited for it, and its runs (GraphQL dicts)."""

    backfill_id: str
    status: str
    wall_s: float
    runs: list[dict[str, Any]]

    @property
    def run_statuses(self) -> dict[str, str]:
        return {run["runId"]: run["status"] for run in self.runs}


def launch_asset_backfill(url: str, assets: list[str], run_config: dict[str, Any] | None = None,
                          partitions: list[str] | None = None, title: str | None = None) -> str:
    """Backfill ``partitions`` (default: all) of ``assets``, as the UI's Materialize dialog does."""
    params: dict[str, Any] = {"assetSelection": [{"path": [a]} for a in assets]}
    if partitions is None:
        params["allPartitions"] = True
    else:
        params["partitionNames"] = partitions
    if run_config:
        params["runConfigData"] = run_config
    if title:
        params["title"] = title
    result = graphql(url, _LAUNCH_BACKFILL, {"params": params})["launchPartitionBackfill"]
    if result["__typename"] != "LaunchBackfillSuccess":
        raise RuntimeError(f"backfill of {assets} refused: {result}")
    return result["backfillId"]


def wait_for_backfill(url: str, backfill_id: str, timeout_s: float, poll_s: float = 2.0,
                      on_poll: Callable[[dict[str, Any]], None] | None = None) -> BackfillOutcome:
    """Poll until the backfill and all of its runs are finished; raise TimeoutError after."""
    started = time.monotonic()
    while True:
        data = graphql(url, _BACKFILL_STATUS, {"id": backfill_id})["partitionBackfillOrError"]
        if data["__typename"] != "PartitionBackfill":
            raise RuntimeError(f"backfill {backfill_id}: {data}")
        runs = data["runs"] or []
        if on_poll is not None:
            on_poll(data)
        finished = data["status"] in BACKFILL_DONE and all(
            r["status"] in ("SUCCESS", "FAILURE", "CANCELED") for r in runs)
        if finished:
            return BackfillOutcome(backfill_id, data["status"], time.monotonic() - started, runs)
        if time.monotonic() - started > timeout_s:
            raise TimeoutError(f"backfill {backfill_id} still {data['status']} after "
                               f"{timeout_s:.0f} s; runs: {[r['status'] for r in runs]}")
        time.sleep(poll_s)


_SENSORS = """
query Sensors($repo: RepositorySelector!) {
  sensorsOrError(repositorySelector: $repo) { __typename
    ... on Sensors { results { name sensorState { id status } } }
    ... on PythonError { message } } }
"""

_STOP_SENSOR = """
mutation Stop($id: String!) {
  stopSensor(id: $id) { __typename
    ... on StopSensorMutationResult { instigationState { status } }
    ... on PythonError { message } } }
"""


def stop_sensors(url: str, location: str, repository: str = "__repository__") -> list[str]:
    """Turn off every running sensor of code location ``location``; the names turned off.

    The state is kept in the instance: the sensors stay off when the webserver and the daemon
    are started again on the same DAGSTER_HOME."""
    repo = {"repositoryName": repository, "repositoryLocationName": location}
    data = graphql(url, _SENSORS, {"repo": repo})["sensorsOrError"]
    if data["__typename"] != "Sensors":
        raise RuntimeError(f"sensors of {location}: {data}")
    stopped = []
    for sensor in data["results"]:
        if sensor["sensorState"]["status"] != "RUNNING":
            continue
        result = graphql(url, _STOP_SENSOR, {"id": sensor["sensorState"]["id"]})["stopSensor"]
        if result["__typename"] != "StopSensorMutationResult":
            raise RuntimeError(f"sensor {sensor['name']} not stopped: {result}")
        stopped.append(sensor["name"])
    return stopped


_LAUNCH_RUN = """
mutation Launch($params: ExecutionParams!) {
  launchRun(executionParams: $params) { __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on Error { message } } }
"""

_RUNS = """
query Runs($filter: RunsFilter) {
  runsOrError(filter: $filter) { __typename
    ... on Runs { results { runId jobName status parentRunId creationTime startTime endTime
      tags { key value }
      stats { __typename ... on RunStatsSnapshot { enqueuedTime launchTime startTime endTime } } } }
    ... on PythonError { message } } }
"""

RUN_DONE = ("SUCCESS", "FAILURE", "CANCELED")


def launch_job_run(
    url: str,
    job: str,
    run_config: dict[str, Any] | None = None,
    tags: dict[str, str] | None = None,
    location: str = "react",
    repository: str = "__repository__",
) -> str:
    """Launch one run of ``job`` as the Launchpad does; its run id."""
    params = {
        "selector": {"repositoryLocationName": location, "repositoryName": repository, "jobName": job},
        "runConfigData": run_config or {},
        "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in (tags or {}).items()]},
    }
    result = graphql(url, _LAUNCH_RUN, {"params": params})["launchRun"]
    if result["__typename"] != "LaunchRunSuccess":
        raise RuntimeError(f"run of {job} refused: {result}")
    return result["run"]["runId"]


def list_runs(
    url: str, run_ids: list[str] | None = None, tags: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """Runs (every run, or those with ``run_ids`` / all of ``tags``), newest first: status,
    parent, tags, and ``stats`` with the epoch seconds each was enqueued, launched (STARTING),
    started (its process began the steps) and ended."""
    run_filter: dict[str, Any] = {}
    if run_ids is not None:
        run_filter["runIds"] = run_ids
    if tags:
        run_filter["tags"] = [{"key": k, "value": v} for k, v in tags.items()]
    data = graphql(url, _RUNS, {"filter": run_filter})["runsOrError"]
    if data["__typename"] != "Runs":
        raise RuntimeError(f"runs from {url}: {data}")
    return data["results"]


def wait_for_run(url: str, run_id: str, timeout_s: float, poll_s: float = 2.0) -> dict[str, Any]:
    """Poll run ``run_id`` until it ended (SUCCESS, FAILURE or CANCELED); the run. Raises
    TimeoutError after ``timeout_s``."""
    started = time.monotonic()
    while True:
        found = list_runs(url, run_ids=[run_id])
        if not found:
            raise RuntimeError(f"no run {run_id} at {url}")
        if found[0]["status"] in RUN_DONE:
            return found[0]
        if time.monotonic() - started > timeout_s:
            raise TimeoutError(f"run {run_id} still {found[0]['status']} after {timeout_s:.0f} s")
        time.sleep(poll_s)
