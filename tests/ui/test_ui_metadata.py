"""In a real browser: an evaluation's metadata reads as the asset writes it, MLflow runs and
registered versions as links to the tracking UI, per-class accuracy as a table.

The materialization is recorded on the instance before `dagster dev` starts (an evaluation
itself takes a whole world), with the metadata the zeroshot_eval asset builds
(dagster_project/metadata_tables.py); the page is the asset's events view of that partition.
"""

from __future__ import annotations

import pytest

from dagster_project.metadata_tables import mlflow_links, records_table
from dagster_project.partitions import domain_partitions
from devtools.dagster_server import DagsterServer
from react_assets.tracking.links import TrackingLinks

from .conftest import UiWorld

pytestmark = [pytest.mark.browser, pytest.mark.slow]

MLFLOW_UI = "http://127.0.0.1:5000"
RUN_ID = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def evaluated(ui_world: UiWorld) -> UiWorld:
    """The world with one zeroshot_eval materialization of the domain ``shapes``."""
    import dagster as dg

    records = [{"model": "gated-image · shapes · v1", "dataset": "shapes-test", "class": cls,
                "images": 20, "accuracy": accuracy}
               for cls, accuracy in (("circle", 85.0), ("square", 60.0))]
    metadata = {"per_class": records_table(records, ("model", "dataset", "class", "images",
                                                     "accuracy"))}
    metadata |= mlflow_links(TrackingLinks(MLFLOW_UI), "1", "gated-image · shapes · v1/", RUN_ID,
                             "models:/react-shapes/1")
    with dg.DagsterInstance.from_config(str(ui_world.dagster_home)) as instance:
        instance.add_dynamic_partitions(domain_partitions.name, ["shapes"])
        instance.report_runless_asset_event(dg.AssetMaterialization(
            "zeroshot_eval", partition="shapes", metadata=metadata))
    return ui_world


def test_mlflow_links_and_per_class_tables_in_the_asset_page(
    evaluated: UiWorld, page, dagster_server: DagsterServer,
) -> None:
    from playwright.sync_api import expect

    page.goto(f"{dagster_server.url}/assets/zeroshot_eval?view=events&partition=shapes",
              wait_until="domcontentloaded")
    run = page.locator(f'a[href="{MLFLOW_UI}/#/experiments/1/runs/{RUN_ID}"]').first
    version = page.locator(f'a[href="{MLFLOW_UI}/#/models/react-shapes/versions/1"]').first
    expect(run).to_be_visible(timeout=60_000)
    expect(version).to_be_visible()
    table = page.locator("table").filter(has_text="accuracy").last
    for text in ("model", "class", "images", "gated-image · shapes · v1", "circle", "85",
                 "square", "60"):
        expect(table).to_contain_text(text)
