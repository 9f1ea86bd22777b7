"""The deployment profile, switched by one setting: ``REACT_PROFILE`` = ``embedded`` (default) or
``cluster``.

embedded: metadata in a DuckLake with its catalog in a SQLite file, MLflow in sqlite, steps in
the run's process, the Dagster instance in DAGSTER_HOME's sqlite (no server anywhere; the demo
and the test suite's default).
cluster: metadata in a DuckLake with its catalog on the cluster's PostgreSQL
(``REACT_METADATA_DSN``; ``react_assets.metadata``), MLflow through its tracking server's HTTP
URI, steps on a Dask scheduler's workers, the Dagster instance on PostgreSQL
(``dagster.cluster.yaml``). ``devtools.cluster`` / ``scripts/cluster.sh`` start those
services and write the settings below into ``REACT_HOME/cluster/cluster.env``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

PROFILES = ("embedded", "cluster")
# Dask resources a heavy step (embedding, pre-training, customization, evaluation) asks of its
# worker: a worker started with `--resources "GPU=1"` on a GPU node, `"CPU=1"` per heavy slot on
# a CPU node; override with REACT_COMPUTE_RESOURCES='{"GPU": 1}'.
DEFAULT_COMPUTE_RESOURCES = {"CPU": 1}


@dataclass(frozen=True)
class Profile:
    """Where each shared part lives in this deployment."""

    name: str = "embedded"
    metadata_backend: str = "sqlite"
    metadata_dsn: str | None = None         # the postgres backend's libpq connection string
    mlflow_uri: str | None = None           # None: sqlite under REACT_HOME
    dask_scheduler: str | None = None       # None: steps run in the run's process
    compute_resources: str = json.dumps(DEFAULT_COMPUTE_RESOURCES)


def current_profile() -> Profile:
    """The profile named by REACT_PROFILE, with the cluster's addresses from the environment."""
    name = os.environ.get("REACT_PROFILE", "embedded")
    if name not in PROFILES:
        raise ValueError(f"REACT_PROFILE={name!r}: expected one of {PROFILES}")
    if name == "embedded":
        return Profile()
    missing = [v for v in ("REACT_MLFLOW_URI", "REACT_DASK_SCHEDULER", "REACT_METADATA_DSN")
               if not os.environ.get(v)]
    if missing:
        raise ValueError(f"REACT_PROFILE=cluster needs {', '.join(missing)} (source "
                         "REACT_HOME/cluster/cluster.env written by scripts/cluster.sh start)")
    return Profile(name="cluster", metadata_backend="postgres",
                   metadata_dsn=os.environ["REACT_METADATA_DSN"],
                   mlflow_uri=os.environ["REACT_MLFLOW_URI"],
                   dask_scheduler=os.environ["REACT_DASK_SCHEDULER"],
                   compute_resources=os.environ.get(
                       "REACT_COMPUTE_RESOURCES", json.dumps(DEFAULT_COMPUTE_RESOURCES)))


def compute_step_tags() -> dict[str, str]:
    """Tags of a heavy step: the Dask resources it needs (ignored by the embedded profile)."""
    return {"dagster-dask/resource_requirements": current_profile().compute_resources}


def executed_by() -> dict[str, str]:
    """Step metadata naming the process that ran it (host and pid): where a worker ran a step."""
    import socket
    return {"worker": f"{socket.gethostname()}:{os.getpid()}"}
