"""The tiny demo world's evaluations (the session's ``tiny_world``, tests/conftest.py): every
figure has its interval, every gain its paired test, each domain's version was decided by its
policy and MLflow's aliases say the same as the metadata."""

from __future__ import annotations

import json
import re

import dagster as dg
import pytest
from tiny_world import TinyWorld

from dagster_project.resources import MlflowResource
from react_assets.files.paths import ReactPaths
from react_assets.metadata import open_store
from react_assets.tracking.promote import CHAMPION, alias_version, history

pytestmark = pytest.mark.slow  # the tiny world takes minutes to build

DOMAINS = ("digits", "emoji", "fashion")
NAME = re.compile(r"^(real-prompt|real-linear|gated-image) · (digits|emoji|fashion) · v1$")


def test_the_leaderboard_shows_intervals_paired_gains_and_readable_names(tiny_world: TinyWorld):
    paths = ReactPaths(tiny_world.root)
    board = json.loads((paths.reports / "leaderboard.json").read_text())
    base = board["base_model_id"]
    names = {m["model_id"]: m["name"] for m in board["models"]}
    assert re.match(r"^base( · v\d+)?$", names.pop(base))  # v: its MLflow registered version
    assert all(NAME.match(name) for name in names.values()), names
    for row in board["datasets"]:
        evaluated = [m for m, v in row["values"].items() if v is not None]
        assert set(row["intervals"]) == set(evaluated), row["dataset"]
        for model_id, (low, high) in row["intervals"].items():
            assert low <= row["values"][model_id] <= high
        compared = [m for m in evaluated if m != base]
        assert set(row["p_values"]) == set(compared) == set(row["significant"])
    tasks = {row["task"] for row in board["datasets"]}
    assert tasks == {"zeroshot_classification", "zeroshot_retrieval"}
    markdown = (paths.reports / "leaderboard.md").read_text()
    assert "bootstrap interval over the test samples" in markdown


def test_each_domain_decided_its_version_and_the_registry_agrees(tiny_world: TinyWorld):
    store = open_store(tiny_world.root)
    client = MlflowResource(root=str(tiny_world.root)).writer().client
    board = json.loads((ReactPaths(tiny_world.root).reports / "leaderboard.json").read_text())
    for domain in DOMAINS:
        (decision,) = history(store, domain)
        assert decision["action"] in ("promoted", "challenger") and decision["version"] == 1
        assert alias_version(client, f"react-{domain}", CHAMPION) == decision["champion_version"]
        rules = {f["rule"] for f in json.loads(decision["figures"])}
        assert rules == {"gain over the base", "general sets"}
        champion = board["champions"].get(domain)
        assert (champion is not None) == (decision["action"] == "promoted")
    with tiny_world.instance() as instance:
        event = instance.get_latest_materialization_event(dg.AssetKey("zeroshot_eval"))
        metadata = event.asset_materialization.metadata
    assert isinstance(metadata["per_class"], dg.TableMetadataValue)
    assert isinstance(metadata["promotion/version"], dg.UrlMetadataValue)
    assert any(key.endswith("/mlflow_run") and isinstance(value, dg.UrlMetadataValue)
               for key, value in metadata.items())
