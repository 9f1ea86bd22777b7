"""Runs left behind by a killed process: reported failed, their pool slots freed.

A run executed in-process keeps its status STARTED, and the pool slot its step claimed, when its
process dies without cleaning up (the OOM killer, SIGKILL, a closed terminal). Every pool runs
one step at a time (dagster.yaml), so the next run's step for that pool would wait for ever,
silently, at full CPU. Runs executed by ``python -m dagster_project.demo`` carry tags naming
their process (host, pid and the process's start time, so a reused pid is not mistaken for the
run's own process); :func:`release_orphaned_runs` finds those whose process is gone from this
host, reports them failed with a message saying why, and frees their slots. Runs launched
otherwise (the UI, the daemon) carry no such tags and are left to Dagster.
"""

from __future__ import annotations

import os
import socket

import dagster as dg
import psutil

HOST_TAG = "react/host"
PID_TAG = "react/pid"
STARTED_TAG = "react/process_started"


def process_tags() -> dict[str, str]:
    """Tags naming this process, for the runs it executes in-process."""
    return {HOST_TAG: socket.gethostname(), PID_TAG: str(os.getpid()),
            STARTED_TAG: repr(psutil.Process().create_time())}


def _process_alive(pid: int, started: str) -> bool:
    try:
        return repr(psutil.Process(pid).create_time()) == started
    except psutil.NoSuchProcess:  # a zombie too: it ran no code any more
        return False
    except psutil.AccessDenied:  # another user's live process: not ours to judge
        return True


def release_orphaned_runs(instance: dg.DagsterInstance) -> list[str]:
    """Report failed the started runs of this host whose process is gone, free their pool
    slots; returns their run ids."""
    runs = instance.get_runs(filters=dg.RunsFilter(
        statuses=[dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED],
        tags={HOST_TAG: socket.gethostname()}))
    orphans = [run for run in runs
               if not _process_alive(int(run.tags[PID_TAG]), run.tags.get(STARTED_TAG, ""))]
    for run in orphans:
        instance.report_run_failed(run, message=(
            f"the process that executed this run (pid {run.tags[PID_TAG]} on "
            f"{run.tags[HOST_TAG]}) is gone, killed before the run ended: marked failed and its "
            "pool slots freed by the next run of dagster_project.demo"))
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
    return [run.run_id for run in orphans]
