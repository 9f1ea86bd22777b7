"""The cluster's worker settings, without starting any service."""

from __future__ import annotations

import os

import dagster as dg

from devtools.cluster import CLUSTER_YAML, Cluster, max_concurrent_runs, worker_threads
from devtools.code_server import write_workspace


def test_workers_share_the_cores_out(tmp_path, monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    cores = len(os.sched_getaffinity(0))
    assert worker_threads(1) == cores
    assert worker_threads(2) == max(1, cores // 2)
    assert worker_threads(cores * 4) == 1
    env = Cluster(tmp_path, n_workers=2, ports={"postgres": 1, "mlflow": 2, "dask": 3}).worker_env()
    assert env["OMP_NUM_THREADS"] == str(max(1, cores // 2))
    assert env["REACT_PROFILE"] == "cluster"


def test_a_thread_count_already_set_is_kept(tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    env = Cluster(tmp_path, n_workers=2, ports={"postgres": 1, "mlflow": 2, "dask": 3}).worker_env()
    assert env["OMP_NUM_THREADS"] == "3"


def test_runs_at_once_follow_the_workers(tmp_path):
    ports = {"postgres": 1, "mlflow": 2, "dask": 3}
    assert max_concurrent_runs(2) == 3
    assert Cluster(tmp_path, n_workers=4, ports=ports).settings()["REACT_MAX_CONCURRENT_RUNS"] == "5"
    instance_yaml = CLUSTER_YAML.read_text()  # the instance reads it from cluster.env
    assert "env: REACT_MAX_CONCURRENT_RUNS" in instance_yaml


def test_the_workspace_names_the_code_server_and_nothing_to_start(tmp_path):
    import yaml

    entries = yaml.safe_load(write_workspace(tmp_path / "workspace.yaml", "127.0.0.1", 4321).read_text())[
        "load_from"
    ]
    assert entries == [{"grpc_server": {"host": "127.0.0.1", "port": 4321, "location_name": "react"}}]


def test_dask_sizes_a_steps_events_without_failing(caplog):
    """A step's result on a Dask worker is its list of events; Dask must size it (it logged
    "Sizeof calculation for object of type 'list' failed" for every step and counted 1 MB)."""
    import pickle

    from distributed.sizeof import safe_sizeof

    import dagster_project.executor  # noqa: F401 - what a worker imports to run a step

    @dg.asset
    def described(context) -> None:  # unannotated: Dagster resolves no string annotation here
        context.add_output_metadata({"rows": 3, "path": dg.MetadataValue.path("/x/y")})

    events = dg.materialize([described]).all_events
    with caplog.at_level("WARNING", logger="distributed.sizeof"):
        size = safe_sizeof(events)
        message_size = safe_sizeof({"op": "task-finished", "result": events}, default_size=-1)
    assert caplog.records == []
    pickled = sum(len(pickle.dumps(event)) for event in events)
    # Dask sizes a list of more than 10 items from a sample of 10: an estimate of the pickled bytes
    assert pickled / 2 < size < pickled * 2 and message_size > size / 2
