"""The cluster profile as ``./scripts/cluster.sh start --workers 2`` leaves it, driven through the
webserver's GraphQL API: the code location is a gRPC server of its own that the webserver and the
daemon connect to (neither starts one), a backfill completes while it keeps its pid, a run whose
process dies while starting is retried, the instance runs workers + 1 runs at once, the metadata
reads with the project's command, start-up is quiet and the cluster keeps one DAGSTER_HOME.

One cluster for the module (started and stopped by the script, every service by its pid), on the
tests' tiny world (``tests/tiny_world.py``).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from cluster_gate import skip_unless_cluster_tests
from tiny_world import TINY_RUN_CONFIG

from devtools.cluster import CODE_SERVER, Cluster
from devtools.code_server import code_server_serving
from devtools.ui_client import (
    graphql,
    launch_asset_backfill,
    launch_job_run,
    list_runs,
    stop_sensors,
    wait_for_backfill,
    wait_for_run,
)

pytestmark = pytest.mark.slow
skip_unless_cluster_tests("the cluster services test")

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "cluster.sh"
SERVICES = (
    "postgres",
    CODE_SERVER,
    "dask-scheduler",
    "dask-worker-0",
    "dask-worker-1",
    "mlflow",
    "dagster-webserver",
    "dagster-daemon",
)
NOTHING_TO_CLEAN = {"ops": {"clear_landed_files": {"config": {"files": []}}}}


def _script_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REACT_") and k != "DAGSTER_HOME"}
    return {**env, "REACT_HOME": str(home), "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def started():
    """The cluster started by the script: (Cluster, the script's console output)."""
    # Not under pytest's temporary root: PostgreSQL runs as the postgres user and must traverse
    # every parent of its data folder (see test_cluster_e2e).
    root = Path(tempfile.mkdtemp(prefix="react-cluster-services-"))
    root.chmod(0o755)
    home = root / "react-home"
    try:
        proc = subprocess.run(
            [str(SCRIPT), "start", "--workers", "2"],
            env=_script_env(home),
            capture_output=True,
            text=True,
            timeout=1800,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        yield Cluster.load(home), proc.stdout + proc.stderr
    finally:
        subprocess.run([str(SCRIPT), "stop"], env=_script_env(home), capture_output=True, timeout=600)
        if (home / "cluster" / "services.json").exists():  # the script did not get to stop it
            Cluster.load(home).stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def backfilled(started) -> dict:
    """Sensors off, the tiny world materialized (the Launchpad's mutation), then every shard of
    ``corpus_shards`` backfilled (the Materialize dialog's); the code server's pid before."""
    cluster, _ = started
    url = cluster.ui_url
    pid_before = cluster.pids[CODE_SERVER]
    stop_sensors(url, "react")
    world = wait_for_run(url, launch_job_run(url, "demo_world_job", TINY_RUN_CONFIG["demo_world_job"]), 1200)
    assert world["status"] == "SUCCESS", world
    backfill_id = launch_asset_backfill(url, ["corpus_shards"], title="every shard")
    return {
        "code_server_pid": pid_before,
        "outcome": wait_for_backfill(url, backfill_id, timeout_s=1200, poll_s=2.0),
    }


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def test_start_up_prints_one_line_per_service_and_keeps_one_dagster_home(started):
    cluster, output = started
    lines = [line for line in output.strip().splitlines() if not line.startswith("setup: ")]
    assert "alembic" not in output
    started_lines = [line for line in lines if " started " in line]
    assert [line.split()[2] for line in started_lines] == list(SERVICES), output
    assert len(lines) == len(SERVICES) + 3, output  # and "cluster up", the two addresses
    home = cluster.react_home
    assert (home / "cluster" / "dagster_home" / "dagster.yaml").is_file()
    assert not (home / "dagster_home").exists(), "setup.sh wrote an embedded instance beside"
    shown = subprocess.run(
        ["bash", "-c", f". {REPO}/scripts/env.sh && echo $DAGSTER_HOME"],
        env=_script_env(home) | {"REACT_PROFILE": "cluster"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert shown.stdout.strip() == cluster.settings()["DAGSTER_HOME"]


def test_the_webserver_and_daemon_use_the_code_server_they_did_not_start(started):
    cluster, _ = started
    code_port = cluster.ports["code"]
    assert f"port: {code_port}" in cluster.workspace_file.read_text()
    assert "grpc_server" in cluster.workspace_file.read_text()
    assert "api grpc" in _cmdline(cluster.pids[CODE_SERVER])
    assert code_server_serving("127.0.0.1", code_port)
    for name in ("dagster-webserver", "dagster-daemon"):
        spawned = [p for p in _descendants(cluster.pids[name]) if "api grpc" in _cmdline(p)]
        assert spawned == [], f"{name} started a code server of its own: {spawned}"
    queue = graphql(cluster.ui_url, "query { instance { runQueueConfig { maxConcurrentRuns } } }")
    assert queue["instance"]["runQueueConfig"]["maxConcurrentRuns"] == 3  # 2 workers + 1


def test_a_backfill_completes_while_the_code_server_stays_up(started, backfilled):
    cluster, _ = started
    outcome = backfilled["outcome"]
    assert outcome.status == "COMPLETED_SUCCESS", (outcome, cluster.log("dagster-daemon"))
    assert set(outcome.run_statuses.values()) == {"SUCCESS"}
    assert cluster.pids[CODE_SERVER] == backfilled["code_server_pid"]
    assert code_server_serving("127.0.0.1", cluster.ports["code"])
    logs = {path.name: path.read_text(errors="replace") for path in (cluster.folder / "logs").glob("*.log")}
    assert not [name for name, text in logs.items() if "No heartbeat received" in text]
    # the steps ran on the workers, whose results Dask now sizes (dagster_project/dask_sizes.py)
    assert "STEP_SUCCESS" in logs["dask-worker-0.log"] + logs["dask-worker-1.log"]
    assert not [name for name, text in logs.items() if "Sizeof calculation" in text]


def _new_run_process(code_server: int, before: set[int], timeout_s: float = 120.0) -> int:
    """A run process the code server started after ``before`` (its multiprocessing child)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for pid in set(_descendants(code_server)) - before:
            if "spawn_main" in _cmdline(pid):
                return pid
        time.sleep(0.1)
    raise TimeoutError("the code server started no run process")


def test_a_run_whose_process_dies_while_starting_is_retried(started, backfilled):
    cluster, _ = started
    url, code_server = cluster.ui_url, cluster.pids[CODE_SERVER]
    before = set(_descendants(code_server))
    run_id = launch_job_run(url, "landing_cleanup_job", NOTHING_TO_CLEAN)
    os.kill(_new_run_process(code_server, before), signal.SIGKILL)
    failed = wait_for_run(url, run_id, 300)
    assert failed["status"] == "FAILURE"
    assert failed["stats"]["startTime"] is None  # it never got to start its steps
    deadline = time.monotonic() + 300
    while not (retries := list_runs(url, tags={"dagster/parent_run_id": run_id})):
        assert time.monotonic() < deadline, "the failed run was not retried"
        time.sleep(2.0)
    retried = wait_for_run(url, retries[0]["runId"], 600)
    assert retried["status"] == "SUCCESS", retried
    assert {"key": "dagster/retry_number", "value": "1"} in retried["tags"]
    assert cluster.pids[CODE_SERVER] == code_server and code_server_serving(
        "127.0.0.1", cluster.ports["code"]
    )


def test_the_metadata_reads_with_the_projects_command_in_the_cluster_profile(started, backfilled):
    cluster, _ = started
    script = REPO / "scripts" / "metadata.sh"
    # as a client that sourced cluster.env: REACT_PROFILE=cluster, REACT_METADATA_DSN
    env = _script_env(cluster.react_home) | cluster.settings()
    counted = subprocess.run(
        [str(script), "--csv", "SELECT count(*) AS n FROM pairs"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert counted.returncode == 0, counted.stderr
    assert counted.stdout.splitlines()[0] == "n" and int(counted.stdout.splitlines()[1]) > 0
    refused = subprocess.run(
        [str(script), "DELETE FROM pairs"], env=env, capture_output=True, text=True, timeout=300
    )
    assert refused.returncode == 1 and "read-only" in refused.stderr, refused.stderr
    again = subprocess.run(
        [str(script), "--csv", "SELECT count(*) AS n FROM pairs"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert again.stdout == counted.stdout
