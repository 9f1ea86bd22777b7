"""The cluster's worker settings, without starting any service."""

from __future__ import annotations

import os

from devtools.cluster import Cluster, worker_threads


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
