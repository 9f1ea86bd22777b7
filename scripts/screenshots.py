"""Screenshots of a running Dagster UI for the README: asset graph, one asset, one run.

    .venv/bin/python scripts/screenshots.py --url http://127.0.0.1:3000 [--asset corpus_shards]
        [--run-id ID] [--out docs/screenshots]

Drives Debian's headless Chromium (/usr/bin/chromium) with Playwright; only the server's own
address is reachable from the page. Without --run-id the most recent run is shown. The "Join the
Dagster community" dialog is dismissed through GraphQL first (what its Skip button does).
Each PNG is written to a temporary name and renamed, like every file the pipeline writes.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

log = logging.getLogger("react.screenshots")

REPO_ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
VIEWPORT = {"width": 1600, "height": 1000}
TIMEOUT_MS = 60_000


def graphql(url: str, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    """POST one GraphQL query to the webserver; return `data`, raise on errors."""
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    request = urllib.request.Request(f"{url}/graphql", data=body,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        payload = json.loads(response.read())
    if payload.get("errors"):
        raise RuntimeError(f"GraphQL errors from {url}: {payload['errors']}")
    return payload["data"]


def latest_run_id(url: str) -> str:
    """The id of the most recent run on the server; raise when there is none."""
    data = graphql(url, "query { runsOrError(limit: 1) { ... on Runs { results { runId } } } }")
    results = data["runsOrError"].get("results") or []
    if not results:
        raise SystemExit(f"{url} has no runs yet: materialize something first, or pass --run-id")
    return results[0]["runId"]


def save_screenshot(page: Any, path: Path) -> None:
    """Screenshot the viewport into `path` atomically (temporary name in the folder, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.stem}.partial{path.suffix}")
    page.screenshot(path=str(partial))
    partial.replace(path)
    log.info("wrote %s (%d bytes)", path, path.stat().st_size)


def shoot_asset_graph(page: Any, url: str, out: Path) -> Path:
    """The global lineage graph with every asset group expanded."""
    page.goto(f"{url}/asset-groups", wait_until="domcontentloaded")
    toggles = page.locator('[aria-label="unfold_more"]')
    toggles.first.wait_for(timeout=TIMEOUT_MS)
    for _ in range(toggles.count()):
        if toggles.count() == 0:
            break
        toggles.first.click()
    page.wait_for_function("() => !document.querySelector('[aria-label=\"unfold_more\"]')")
    # The expanded groups are remembered by the browser; a reload lays the graph out to fit.
    page.reload(wait_until="domcontentloaded")
    page.get_by_text("Global asset lineage").wait_for()
    page.wait_for_load_state("networkidle")
    # Each node fetches its own status: wait until none says "Loading...".
    page.wait_for_function("() => !/Loading/.test(document.body.innerText)")
    page.wait_for_timeout(1_500)  # the graph animates into place
    path = out / "asset_graph.png"
    save_screenshot(page, path)
    return path


def shoot_asset(page: Any, url: str, asset: str, out: Path) -> Path:
    """An asset's overview page (description, latest materialization metadata, lineage)."""
    page.goto(f"{url}/assets/{urllib.parse.quote(asset)}", wait_until="domcontentloaded")
    page.get_by_text("Latest materialization").first.wait_for(timeout=TIMEOUT_MS)
    page.wait_for_load_state("networkidle")
    path = out / f"asset_{asset.replace('/', '__')}.png"
    save_screenshot(page, path)
    return path


def shoot_run(page: Any, url: str, run_id: str, out: Path) -> Path:
    """A run's page: status, step timeline and event log."""
    page.goto(f"{url}/runs/{run_id}", wait_until="domcontentloaded")
    page.get_by_text(run_id[:8]).first.wait_for(timeout=TIMEOUT_MS)
    page.get_by_text("RUN_SUCCESS").or_(page.get_by_text("RUN_FAILURE")).first.wait_for(
        timeout=TIMEOUT_MS)
    page.wait_for_load_state("networkidle")
    path = out / "run.png"
    save_screenshot(page, path)
    return path


def take_screenshots(url: str, asset: str, run_id: str | None, out: Path) -> list[Path]:
    """Open `url` in headless Chromium and save the three screenshots into `out`."""
    from playwright.sync_api import sync_playwright

    url = url.rstrip("/")
    allowed = urllib.parse.urlparse(url).netloc
    graphql(url, "mutation { setNuxSeen }")
    run_id = run_id or latest_run_id(url)
    with sync_playwright() as playwright, tempfile.TemporaryDirectory() as profile:
        context = playwright.chromium.launch_persistent_context(
            profile, executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
            viewport=VIEWPORT)
        context.route("**/*", lambda route: route.continue_()
                      if urllib.parse.urlparse(route.request.url).netloc == allowed
                      else route.abort())
        context.set_default_timeout(TIMEOUT_MS)
        page = context.new_page()
        try:
            return [shoot_asset_graph(page, url, out), shoot_asset(page, url, asset, out),
                    shoot_run(page, url, run_id, out)]
        finally:
            context.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="the running Dagster UI, e.g. http://127.0.0.1:3000")
    parser.add_argument("--asset", default="corpus_shards", help="asset key of the asset page")
    parser.add_argument("--run-id", default=None, help="run to show (default: the latest run)")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "docs" / "screenshots")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    if not CHROMIUM.exists():
        raise SystemExit(f"{CHROMIUM} is missing: apt-get install -y chromium")
    take_screenshots(args.url, args.asset, args.run_id, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
