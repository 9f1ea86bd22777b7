"""End to end in a real browser: the asset graph shows, and a shard materializes from the UI.

Headless Chromium opens the Dagster UI served by `dagster dev` over a tiny REACT_HOME (one valid
6-pair shard registered as a dynamic partition), launches `corpus_shards` for that partition with
the Materialize dialog, waits for the run page to say Success, and then checks the run, the
materialization and the DuckDB rows through GraphQL, the instance and the store.
"""

from __future__ import annotations

import re
import time

import pytest
from react_assets.metadata.sql import select_shard_pairs

from devtools.dagster_server import DagsterServer
from devtools.ui_client import graphql
from react_assets.metadata import open_store

from .conftest import UiWorld

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CORE_ASSETS = ["demo_world", "corpus_shards", "base_model", "corpus_embeddings"]
RUN_TIMEOUT_S = 240.0  # the run process imports torch and the definitions: slow on 2 busy cores

_ASSET_NODES_QUERY = "query { assetNodes { assetKey { path } groupName } }"
_RUN_QUERY = """
query Run($runId: ID!) { runOrError(runId: $runId) { __typename
  ... on Run { runId status tags { key value }
    assetMaterializations { assetKey { path } partition } } } }
"""


def expand_all_groups(page) -> None:
    """Open every collapsed group node of the lineage graph (their 'unfold_more' toggles)."""
    toggles = page.locator('[aria-label="unfold_more"]')
    toggles.first.wait_for(timeout=60_000)
    for _ in range(toggles.count()):
        if toggles.count() == 0:
            break
        toggles.first.click()
    page.wait_for_function(
        "() => !document.querySelector('[aria-label=\"unfold_more\"]')", timeout=15_000)
    # The browser remembers the expanded groups; after a reload the graph is laid out to fit the
    # viewport, so every node is drawn (off-screen nodes are not rendered at all).
    page.reload(wait_until="domcontentloaded")
    page.get_by_text("Global asset lineage").wait_for(timeout=60_000)


def launch_partition_from_ui(page, url: str, asset: str, partition: str) -> str:
    """Materialize one partition of `asset` through its page's dialog; return the new run id."""
    from playwright.sync_api import expect

    page.goto(f"{url}/assets/{asset}", wait_until="domcontentloaded")
    page.get_by_role("button", name=re.compile(r"Materialize(?! all)")).first.click()
    dialog = page.get_by_role("dialog").filter(has_text=f"Launch runs to materialize {asset}")
    expect(dialog).to_be_visible(timeout=60_000)
    dialog.get_by_text("Select a partition or create one").click()
    page.get_by_role("menuitem", name=partition).click()
    expect(page.get_by_role("checkbox", name=partition)).to_be_checked()
    page.keyboard.press("Escape")  # closes the partition picker, not the dialog
    expect(dialog.get_by_text("1 partition", exact=True)).to_be_visible()
    dialog.get_by_role("button", name=re.compile(r"Launch 1 run")).click()
    view = page.locator('a[href^="/runs/"]').filter(has_text=re.compile(r"^\s*View\s*$"))
    expect(view).to_be_visible(timeout=60_000)
    return view.get_attribute("href").removeprefix("/runs/")


def wait_for_run_page_status(page, url: str, run_id: str, timeout_s: float) -> str:
    """Poll the run's page until its status tag reads Success or Failure; return that word."""
    page.goto(f"{url}/runs/{run_id}", wait_until="domcontentloaded")
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for status in ("Success", "Failure", "Canceled"):
            if page.get_by_text(status, exact=True).first.is_visible():
                return status
        page.wait_for_timeout(2_000)
    raise TimeoutError(f"run {run_id} page shows no final status after {timeout_s:.0f} s")


def test_asset_graph_and_shard_materialization_from_the_ui(
    page, dagster_server: DagsterServer, ui_world: UiWorld,
) -> None:
    from playwright.sync_api import expect

    url = dagster_server.url
    nodes = graphql(url, _ASSET_NODES_QUERY)["assetNodes"]
    asset_keys = {"/".join(n["assetKey"]["path"]) for n in nodes}
    assert set(CORE_ASSETS) <= asset_keys

    # The asset graph: every group expanded, every asset of the code location drawn as a node.
    page.goto(f"{url}/asset-groups", wait_until="domcontentloaded")
    expect(page.get_by_text("Global asset lineage")).to_be_visible(timeout=60_000)
    expand_all_groups(page)
    for asset in sorted(asset_keys):
        expect(page.get_by_text(asset, exact=True).first).to_be_visible(timeout=30_000)

    # Materialize the shard from the UI, then watch its run page.
    run_id = launch_partition_from_ui(page, url, "corpus_shards", ui_world.shard_id)
    status = wait_for_run_page_status(page, url, run_id, RUN_TIMEOUT_S)
    assert status == "Success", f"run {run_id} ended {status}; log:\n{dagster_server.log_tail()}"

    # The same run through GraphQL: SUCCESS, launched from the UI, for our partition.
    run = graphql(url, _RUN_QUERY, {"runId": run_id})["runOrError"]
    assert run["__typename"] == "Run" and run["status"] == "SUCCESS"
    tags = {t["key"]: t["value"] for t in run["tags"]}
    assert tags["dagster/partition"] == ui_world.shard_id
    assert tags["dagster/from_ui"] == "true"
    assert [(m["assetKey"]["path"], m["partition"]) for m in run["assetMaterializations"]] == [
        (["corpus_shards"], ui_world.shard_id)]

    # And through the instance and the store the asset wrote.
    import dagster as dg

    with dg.DagsterInstance.from_config(str(ui_world.dagster_home)) as instance:
        assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.SUCCESS
        event = instance.get_latest_materialization_event(dg.AssetKey("corpus_shards"))
    assert event is not None and event.run_id == run_id
    materialization = event.asset_materialization
    assert materialization.partition == ui_world.shard_id
    assert materialization.metadata["pairs"].value == ui_world.n_pairs
    assert materialization.metadata["skipped"].value == 0
    rows = open_store(ui_world.react_home).fetch(select_shard_pairs,
                                                            {"shard_id": ui_world.shard_id})
    assert len(rows) == ui_world.n_pairs
    assert {r["source"] for r in rows} == {"ui-test"}
