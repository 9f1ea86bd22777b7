"""The code location as its own long-lived gRPC server, as Dagster's Helm chart runs it: the
webserver and the daemon connect to it through a ``grpc_server`` workspace entry and never start,
heartbeat or reload it themselves.

``dagster api grpc`` runs without ``--heartbeat``: it does not shut itself down when no client
pings it (a daemon busy on a loaded machine), and lives until its process group is stopped. Each
run it launches is a child process in that group.
"""

from __future__ import annotations

import time
import urllib.error
from collections.abc import Callable
from pathlib import Path

from devtools.dagster_server import LOCATION_NAME
from devtools.process_groups import venv_binary
from devtools.ui_client import graphql

CODE_MODULE = "dagster_project.definitions"
HEALTH_SERVICE = "DagsterApi"  # the service name Dagster's gRPC server reports health under


def code_server_command(host: str, port: int) -> list[str]:
    """``dagster api grpc`` serving the project's definitions on ``host:port``."""
    return [
        venv_binary("dagster"),
        "api",
        "grpc",
        "--module-name",
        CODE_MODULE,
        "--location-name",
        LOCATION_NAME,
        "--host",
        host,
        "--port",
        str(port),
    ]


def write_workspace(path: Path, host: str, port: int) -> Path:
    """A workspace file with one ``grpc_server`` entry: the code server at ``host:port``."""
    path.write_text(
        "# Written by devtools/cluster.py: the webserver and the daemon load the code\n"
        "# location from the code server it started (never a server of their own).\n"
        "load_from:\n"
        "  - grpc_server:\n"
        f"      host: {host}\n"
        f"      port: {port}\n"
        f"      location_name: {LOCATION_NAME}\n"
    )
    return path


def code_server_serving(host: str, port: int, timeout_s: float = 5.0) -> bool:
    """Whether the code server at ``host:port`` answers the gRPC health check with SERVING (it
    starts serving once the definitions are loaded)."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(f"{host}:{port}") as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=HEALTH_SERVICE), timeout=timeout_s
            )
        except grpc.RpcError:
            return False
    return reply.status == health_pb2.HealthCheckResponse.SERVING


def wait_until(
    ready: Callable[[], bool],
    what: str,
    timeout_s: float,
    check_alive: Callable[[], None],
    poll_s: float = 0.5,
) -> float:
    """Poll ``ready`` until it is true (seconds waited), calling ``check_alive`` between polls
    (it raises when a service died); TimeoutError after ``timeout_s``."""
    started = time.monotonic()
    while not ready():
        check_alive()
        if time.monotonic() - started > timeout_s:
            raise TimeoutError(f"{what} not ready after {timeout_s:.0f} s")
        time.sleep(poll_s)
    return time.monotonic() - started


_WORKSPACE = """
query { workspaceOrError { __typename
  ... on Workspace { locationEntries { name loadStatus
    locationOrLoadError { __typename ... on PythonError { message } } } } } }
"""


def location_loaded(url: str, name: str = LOCATION_NAME) -> bool:
    """Whether the webserver at ``url`` answers with code location ``name`` loaded; raises with
    the load error when the location failed to load."""
    try:
        workspace = graphql(url, _WORKSPACE, timeout_s=10)["workspaceOrError"]
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False  # not listening yet
    for entry in workspace.get("locationEntries", []):
        if entry["name"] == name and entry["loadStatus"] == "LOADED":
            loaded = entry["locationOrLoadError"] or {}
            if loaded.get("__typename") == "PythonError":
                raise RuntimeError(f"code location {name!r} failed to load: {loaded['message']}")
            return True
    return False
