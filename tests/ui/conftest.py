"""Fixtures of the browser tests: a tiny world, `dagster dev` on it, and a headless Chromium page.

Chromium is Debian's (/usr/bin/chromium, from setup.sh), driven by Playwright's bundled driver;
no browser is ever downloaded. The page may only talk to 127.0.0.1: every other request is aborted.
"""

from __future__ import annotations

import importlib.util
import logging
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from shard_factory import good_samples, write_shard

from devtools.dagster_server import DagsterServer, DagsterServerConfig, prepare_dagster_home
from devtools.ui_client import graphql

log = logging.getLogger(__name__)

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
SHARD_PARTITIONS = "shards"


@dataclass(frozen=True)
class UiWorld:
    """What the browser test materializes: one valid shard registered as a dynamic partition."""

    react_home: Path
    dagster_home: Path
    shard_id: str
    n_pairs: int


def browser_skip_reason() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (apt-get install -y chromium; scripts/setup.sh does it)"
    if importlib.util.find_spec("playwright") is None:
        return "the playwright package is missing (pip install the pinned playwright)"
    return None


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]):
    """Keep each phase's report on the item, so fixtures can tell whether the test failed."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def ui_world(tmp_path: Path) -> UiWorld:
    """REACT_HOME with one 6-pair shard and its partition registered, before any server starts."""
    import dagster as dg

    react_home = tmp_path / "react-home"
    shard_id = "ui-shard-000000"
    samples = good_samples(6, source="ui-test")
    write_shard(react_home / "shards" / f"{shard_id}.tar", samples)
    dagster_home = prepare_dagster_home(react_home)
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        instance.add_dynamic_partitions(SHARD_PARTITIONS, [shard_id])
    return UiWorld(react_home=react_home, dagster_home=dagster_home, shard_id=shard_id,
                   n_pairs=len(samples))


@pytest.fixture
def dagster_server(ui_world: UiWorld) -> Iterator[DagsterServer]:
    """`dagster dev` on a free 127.0.0.1 port over the tiny world; the whole group dies after."""
    reason = browser_skip_reason()
    if reason:
        pytest.skip(reason)
    # the test reads nothing once it ends: SIGKILL after 10 s instead of waiting for a graceful stop
    with DagsterServer(DagsterServerConfig(react_home=ui_world.react_home, stop_timeout_s=10)) as server:
        # What the "Join the Dagster community" dialog's Skip does; it would cover the page.
        graphql(server.url, "mutation { setNuxSeen }")
        yield server


@pytest.fixture
def page(request: pytest.FixtureRequest, tmp_path: Path):
    """A headless Chromium page (fresh profile) that may only reach 127.0.0.1.

    On a failed test, a full-page screenshot lands in tmp_path/failure.png.
    """
    reason = browser_skip_reason()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    blocked: list[str] = []
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=str(CHROMIUM), headless=True,
            args=CHROMIUM_ARGS, viewport={"width": 1400, "height": 900},
        )
        context.route("**/*", lambda route: _local_only(route, blocked))
        context.set_default_timeout(30_000)
        page = context.new_page()
        try:
            yield page
        finally:
            report = getattr(request.node, "report_call", None)
            if report is not None and report.failed:
                shot = tmp_path / "failure.png"
                page.screenshot(path=str(shot), full_page=True)
                log.error("browser test failed at %s; screenshot: %s", page.url, shot)
            if blocked:
                log.warning("blocked %d non-local requests, e.g. %s", len(blocked), blocked[:3])
            context.close()


def _local_only(route: Any, blocked: list[str]) -> None:
    host = urllib.parse.urlparse(route.request.url).hostname
    if host == "127.0.0.1":
        route.continue_()
    else:
        blocked.append(route.request.url)
        route.abort()
