"""A run whose process was killed leaves its pool slot claimed; the demo's next start frees it."""

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import dagster as dg
import pytest

from dagster_project.orphans import STARTED_TAG, process_tags, release_orphaned_runs
from dagster_project.partitions import COMPUTE_POOL

HERE = Path(__file__).parent


@dg.op(pool=COMPUTE_POOL)
def quick_step() -> None:
    pass


@dg.job
def quick_job() -> None:
    quick_step()


def killed_holder(dagster_home: Path, marker: Path) -> None:
    """Start slot_holder.py, wait until its step holds the slot, SIGKILL it."""
    env = os.environ | {"DAGSTER_HOME": str(dagster_home)}
    proc = subprocess.Popen([sys.executable, str(HERE / "slot_holder.py"), str(marker)], env=env,
                            cwd=HERE.parents[1], start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert proc.poll() is None, "slot_holder.py exited before holding the slot"
            assert time.monotonic() < deadline, "slot_holder.py never reached its step"
            time.sleep(0.2)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def test_a_killed_runs_slot_is_freed_and_the_next_run_completes(tmp_path, monkeypatch):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(HERE.parents[1] / "dagster_project" / "dagster.yaml", home)
    killed_holder(home, tmp_path / "holding")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with dg.DagsterInstance.get() as instance:
        [orphan] = instance.get_runs()
        assert orphan.status == dg.DagsterRunStatus.STARTED
        claimed = instance.event_log_storage.get_concurrency_info(COMPUTE_POOL)
        assert [slot.run_id for slot in claimed.claimed_slots] == [orphan.run_id]

        assert release_orphaned_runs(instance) == [orphan.run_id]
        assert instance.get_run_by_id(orphan.run_id).status == dg.DagsterRunStatus.FAILURE
        assert instance.event_log_storage.get_concurrency_info(COMPUTE_POOL).claimed_slots == []
        assert release_orphaned_runs(instance) == []

        done = []  # the next run takes the freed slot (it would wait for ever otherwise)
        worker = threading.Thread(target=lambda: done.append(quick_job.execute_in_process(
            instance=instance, tags=process_tags()).success), daemon=True)
        worker.start()
        worker.join(timeout=120)
        assert done == [True]


@pytest.mark.parametrize("reused_pid", [False, True])
def test_a_started_run_is_released_only_when_its_process_is_gone(tmp_path, reused_pid):
    """This process's own started run stays; one tagged with this pid but another process start
    time (a pid the OS handed out again) is an orphan."""
    tags = process_tags() | ({STARTED_TAG: "0.0"} if reused_pid else {})
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        run = instance.create_run_for_job(dg.GraphDefinition("g").to_job(), tags=tags)
        instance.handle_run_event(run.run_id, dg.DagsterEvent(
            event_type_value=dg.DagsterEventType.RUN_START.value, job_name=run.job_name))
        assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.STARTED
        assert release_orphaned_runs(instance) == ([run.run_id] if reused_pid else [])
        assert instance.get_run_by_id(run.run_id).status == (
            dg.DagsterRunStatus.FAILURE if reused_pid else dg.DagsterRunStatus.STARTED)
