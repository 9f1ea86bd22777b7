"""The cluster profile end to end on 127.0.0.1: PostgreSQL, a Dask scheduler with 2 workers and
the MLflow tracking server run the tiny world; its metadata equals the embedded profile's (the
session's tiny world, tests/conftest.py); MLflow answers over HTTP with the lineage; steps ran in
2 worker processes; a worker SIGKILLed in the middle of a training step costs nothing: the step
is retried (or the run fails and a re-run completes) and no metadata row is lost or
duplicated."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
from cluster_gate import skip_unless_cluster_tests

from devtools.cluster import Cluster

pytestmark = pytest.mark.slow
# It starts PostgreSQL, Dask and MLflow and runs the tiny world on them (minutes on an idle
# 2-core machine): CI runs it (CI=true, as .ci/run sets), a local run with REACT_CLUSTER_TESTS=1.
skip_unless_cluster_tests("the cluster end-to-end test")

REPO = Path(__file__).resolve().parents[2]
RUN = REPO / "tests" / "cluster" / "run_tiny_world.py"


def _run(env: dict[str, str], out: Path, *job: str) -> dict:
    proc = subprocess.run([sys.executable, str(RUN), str(out), *job], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=3600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(out.read_text())


def _base_env(home: Path) -> dict[str, str]:
    from dagster_project import OFFLINE_ENV
    env = {k: v for k, v in os.environ.items() if not k.startswith("REACT_")}
    return {**env, **OFFLINE_ENV, "PYTHONPATH": str(REPO), "REACT_HOME": str(home),
            "DAGSTER_HOME": str(home / "dagster_home"), "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def embedded(tiny_world) -> dict:
    """The embedded profile's metadata of the tiny world: the session's (tests/conftest.py), built
    in-process on one thread, as a cluster worker runs (``OMP_NUM_THREADS=1``)."""
    from run_tiny_world import metadata_rows

    from dagster_project.profile import Profile

    return {"metadata": metadata_rows(tiny_world.root.resolve(), Profile().metadata_backend, None)}


@pytest.fixture(scope="module")
def cluster():
    # Not under pytest's temporary root: PostgreSQL runs as the postgres user and must traverse
    # every parent of its data folder, and any pytest session starting on this machine resets
    # /tmp/pytest-of-<user> to 0700 (a PostgreSQL here once panicked mid-test: "could not open
    # file .../pg/global/pg_control: Permission denied").
    root = Path(tempfile.mkdtemp(prefix="react-cluster-test-"))
    root.chmod(0o755)
    home = root / "react-home"
    try:
        with Cluster(home, n_workers=2) as running:
            env = _base_env(home) | running.settings()
            yield running, env, _run(env, root / "out.json")
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_every_cluster_run_succeeds_in_two_worker_processes(cluster) -> None:
    _, _, result = cluster
    assert result["runs"] and all(r["success"] for r in result["runs"]), [
        (r["job"], r["partition"]) for r in result["runs"] if not r["success"]]
    workers = {m["worker"] for r in result["runs"] for m in r["materialized"]}
    assert None not in workers
    assert len(workers) >= 2, workers


def test_cluster_metadata_equals_the_embedded_profiles(cluster, embedded) -> None:
    _, _, result = cluster
    assert all(rows for table, rows in embedded["metadata"].items()
               if table != "skipped_samples")  # the tiny world's shards are all valid
    for table, rows in embedded["metadata"].items():
        assert result["metadata"][table] == rows, table


def test_mlflow_runs_and_registered_models_read_back_over_http(cluster) -> None:
    from mlflow import MlflowClient

    from react_assets.tracking.lineage import TAG_PARTITION, TAG_RETRIEVAL_DIGEST
    running, _, result = cluster
    client = MlflowClient(tracking_uri=running.settings()["REACT_MLFLOW_URI"])
    models = [r for r in result["metadata"]["models"] if r["kind"] == "gated-image"]
    assert sorted(m["domain"] for m in models) == ["digits", "emoji", "fashion"]
    for model in models:
        versions = client.search_model_versions(f"name = 'react-{model['domain']}'")
        assert versions, model["domain"]
        run = client.get_run(versions[0].run_id)
        assert run.data.tags[TAG_PARTITION] == model["domain"]
        assert run.data.tags[TAG_RETRIEVAL_DIGEST] == model["retrieval_digest"]
        assert [d.dataset.name for d in run.inputs.dataset_inputs] == [
            f"retrieved_pairs/{model['domain']}"]
        artifacts = client.list_artifacts(run.info.run_id)  # served by the server over HTTP
        assert run.info.artifact_uri.startswith("mlflow-artifacts:"), run.info.artifact_uri
        assert artifacts is not None


def _kill_worker_in_step(running: Cluster, step_key: str, after: float) -> int | None:
    """SIGKILL the worker process that starts ``step_key`` (a STEP_START after ``after``)."""
    import psycopg2
    url = running.settings()["REACT_PG_URL"].replace("+psycopg2", "")
    deadline = time.monotonic() + 1800
    while time.monotonic() < deadline:
        with psycopg2.connect(url) as conn, conn.cursor() as cur:
            cur.execute("SELECT event FROM event_logs WHERE dagster_event_type = 'STEP_START' "
                        "AND step_key = %s AND timestamp > to_timestamp(%s) AT TIME ZONE 'UTC' "
                        "ORDER BY id DESC LIMIT 1", (step_key, after))
            row = cur.fetchone()
        if row:
            pid = json.loads(row[0])["dagster_event"]["pid"]
            time.sleep(2.0)  # inside the step
            os.kill(pid, signal.SIGKILL)
            return pid
        time.sleep(0.5)
    return None


def test_a_worker_killed_mid_step_loses_and_duplicates_nothing(cluster, tmp_path) -> None:
    running, env, before = cluster
    killed: list[int | None] = []
    started = time.time()
    killer = threading.Thread(target=lambda: killed.append(
        _kill_worker_in_step(running, "react_model", started)))
    killer.start()
    first = _run(env, tmp_path / "killed.json", "domain_job", "fashion")
    killer.join()
    assert killed and killed[0] is not None, "no react_model step started"
    if not first["runs"][0]["success"]:  # a clear failure: the re-run completes
        first = _run(env, tmp_path / "rerun.json", "domain_job", "fashion")
    assert first["runs"][0]["success"]
    redone = ("models", "evaluations", "retrieval_sets", "comparisons", "promotions")
    assert first["metadata"] == before["metadata"] | {t: first["metadata"][t] for t in redone}
    decisions = [(p["registered_model"], p["version"], p["action"])
                 for p in first["metadata"]["promotions"]]
    assert len(decisions) == len(set(decisions))  # no decision recorded twice
    assert all(p in first["metadata"]["promotions"]  # the decisions are a history: none lost
               for p in before["metadata"]["promotions"])
    fashion = [m["kind"] for m in first["metadata"]["models"] if m["domain"] == "fashion"]
    assert sorted(fashion) == sorted(m["kind"] for m in before["metadata"]["models"]
                                     if m["domain"] == "fashion")  # one model per variant
    assert len(first["metadata"]["evaluations"]) == len(before["metadata"]["evaluations"])
