"""A run canceled in the middle of a step on a Dask worker leaves no trace: the cluster profile on
127.0.0.1 (PostgreSQL, a Dask scheduler with one worker, MLflow, the code server, webserver and
daemon) runs a slow corpus-embedding step (one row a chunk), the run is terminated through the
UI's GraphQL mutation once the step has published a few chunks, and once the worker has let go
of the step there is no embedding_sets row, no materialization and no file published after the
cancel; the worker's step failed on its refused publish."""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

import pytest
from cluster_gate import skip_unless_cluster_tests

from devtools.cluster import Cluster

pytestmark = pytest.mark.slow
# It starts every service of the cluster profile and runs two jobs (about 4 min on an idle
# 2-core machine): CI runs it (CI=true), a local run with REACT_CLUSTER_TESTS=1.
skip_unless_cluster_tests("the cluster cancel test")

import dagster as dg  # noqa: E402

from devtools.ui_client import graphql, launch_job_run, list_runs, wait_for_run  # noqa: E402
from react_assets.files.paths import ReactPaths  # noqa: E402
from react_assets.metadata import open_store  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from shard_factory import good_samples, write_shard  # noqa: E402
from tiny_world import register_tiny_base  # noqa: E402

SHARD = "cancel-test"
N_SAMPLES = 400  # one chunk a row: hundreds of publishes, a step of tens of seconds
SLOW_EMBEDDING = {"ops": {"corpus_embeddings": {"config": {
    "batch_size": 1, "chunk_rows": 1, "workers": 0}}}}
CHUNKS_BEFORE_CANCEL = 3

_TERMINATE = """
mutation Terminate($runId: String!) {
  terminateRun(runId: $runId) { __typename
    ... on TerminateRunFailure { message }
    ... on PythonError { message } } }
"""


@pytest.fixture(scope="module")
def cluster():
    # Not under pytest's temporary root: PostgreSQL runs as the postgres user and must traverse
    # every parent of its data folder (see test_cluster_e2e.py).
    root = Path(tempfile.mkdtemp(prefix="react-cancel-test-"))
    root.chmod(0o755)
    try:
        with Cluster(root / "react-home", n_workers=1, ui=True) as running:
            yield running
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _published(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")
            if p.is_file() and not p.name.endswith(".tmp")} if folder.exists() else set()


def _wait_for_chunks(folder: Path, n: int, run_id: str, url: str, timeout_s: float) -> None:
    """Wait until the step has published ``n`` chunks (fail early when its run ended)."""
    deadline, polled = time.monotonic() + timeout_s, time.monotonic()
    while len(list((folder / "parts").glob("img-*.npy"))) < n:
        if time.monotonic() > deadline:
            raise TimeoutError(f"fewer than {n} chunks in {folder} after {timeout_s:.0f} s")
        if time.monotonic() - polled > 5:
            polled = time.monotonic()
            status = list_runs(url, run_ids=[run_id])[0]["status"]
            assert status not in ("SUCCESS", "FAILURE", "CANCELED"), f"run {run_id} {status}"
        time.sleep(0.05)


def _worker_idle(cluster: Cluster, timeout_s: float) -> None:
    """Wait until no Dask worker executes a task (a canceled task runs until it ends)."""
    from distributed import Client

    with Client(cluster.settings()["REACT_DASK_SCHEDULER"], timeout=60) as client:
        deadline = time.monotonic() + timeout_s
        while sum(client.run(lambda dask_worker: dask_worker.state.executing_count).values()):
            if time.monotonic() > deadline:
                raise TimeoutError(f"a Dask worker still executes after {timeout_s:.0f} s")
            time.sleep(0.5)


def test_a_run_canceled_mid_step_commits_publishes_and_materializes_nothing(
        cluster, monkeypatch) -> None:
    for key, value in cluster.settings().items():
        monkeypatch.setenv(key, value)
    home = ReactPaths(cluster.react_home)
    write_shard(home.shard_tar(SHARD), good_samples(N_SAMPLES))
    store = open_store(home.root, "postgres", dsn=cluster.settings()["REACT_METADATA_DSN"])
    with dg.DagsterInstance.get() as instance:
        instance.add_dynamic_partitions("shards", [SHARD])
        tags = {"dagster/partition": SHARD}
        ingested = launch_job_run(cluster.ui_url, "corpus_job", tags=tags)
        assert wait_for_run(cluster.ui_url, ingested, timeout_s=900)["status"] == "SUCCESS"
        model_id = register_tiny_base(store)
        folder = home.shard_embeddings(model_id, SHARD)

        run_id = launch_job_run(cluster.ui_url, "embedding_job", SLOW_EMBEDDING, tags=tags)
        _wait_for_chunks(folder, CHUNKS_BEFORE_CANCEL, run_id, cluster.ui_url, timeout_s=900)
        answer = graphql(cluster.ui_url, _TERMINATE, {"runId": run_id})["terminateRun"]
        assert answer["__typename"] == "TerminateRunSuccess", answer
        time.sleep(0.5)  # a rename whose check passed just before the cancel has landed by now
        at_cancel = _published(folder)
        assert wait_for_run(cluster.ui_url, run_id, timeout_s=600)["status"] == "CANCELED"
        _worker_idle(cluster, timeout_s=600)

        assert f"parts/img-{N_SAMPLES - 1:05d}.npy" not in at_cancel, "the step ended first"
        assert _published(folder) <= at_cancel, "files published after the cancel"
        assert not (folder / "meta.json").exists()
        rows = store.read(lambda conn: conn.execute(
            "SELECT count(*) FROM embedding_sets WHERE shard_id = ?", [SHARD]).fetchone()[0])
        assert rows == 0
        assert not instance.fetch_materializations(
            dg.AssetKey("corpus_embeddings"), limit=1).records
        failures = [e.dagster_event for e in instance.all_logs(
            run_id, of_type=dg.DagsterEventType.STEP_FAILURE)]
        assert failures, "the worker's step did not end in a failure"
        assert "refused" in str(failures[0].event_specific_data.error), failures[0]
