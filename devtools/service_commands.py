"""The command line of each cluster service (``devtools.cluster`` starts them), from this
interpreter's environment."""

from __future__ import annotations

import shlex
from pathlib import Path

from devtools.process_groups import venv_binary


def _command(binary: str, arguments: str) -> list[str]:
    return [venv_binary(binary), *shlex.split(arguments)]


def dask_scheduler(host: str, port: int) -> list[str]:
    """The Dask scheduler, without its dashboard."""
    return _command("dask", f"scheduler --host {host} --port {port} --no-dashboard")


def dask_worker(scheduler: str, name: str, resources: str, host: str, scratch: Path) -> list[str]:
    """One Dask worker process running one task at a time, offering ``resources``."""
    return _command(
        "dask",
        f"worker {scheduler} --name {name} --nthreads 1 --nworkers 1 "
        f"--resources {shlex.quote(resources)} --host {host} --no-dashboard "
        f"--local-directory {shlex.quote(str(scratch))}",
    )


def mlflow_server(host: str, port: int, backend: str, artifacts: Path) -> list[str]:
    """The MLflow tracking server: runs in ``backend``, artifacts under ``artifacts``, served."""
    return _command(
        "mlflow",
        f"server --host {host} --port {port} --workers 1 --backend-store-uri {shlex.quote(backend)} "
        f"--serve-artifacts --artifacts-destination {shlex.quote(str(artifacts))}",
    )


def dagster_webserver(host: str, port: int, workspace: Path) -> list[str]:
    """The Dagster webserver on the code locations of ``workspace``."""
    return _command("dagster-webserver", f"-h {host} -p {port} -w {shlex.quote(str(workspace))}")


def dagster_daemon(workspace: Path) -> list[str]:
    """The Dagster daemon on the code locations of ``workspace``."""
    return _command("dagster-daemon", f"run -w {shlex.quote(str(workspace))}")
