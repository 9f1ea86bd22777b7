"""The react_model asset trains over 2 processes (torch.distributed, gloo on CPU), materialized
in-process for the tiny world's fashion domain: the same model as with 1 process, within the
library DDP test's tolerance (tests/customize/test_ddp.py), recorded once: one MLflow run, one
models row, rank 0's files alone."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import numpy as np
import pytest
from mlflow import MlflowClient
from safetensors.numpy import load_file
from tiny_world import TinyWorld, copy_tiny_world

from dagster_project.assets.customization import PROCESSES_ENV, launch_settings, react_model
from dagster_project.resources import MlflowResource, ReactHomeResource
from react_assets.customize.saved import CUSTOMIZATION_WEIGHTS
from react_assets.files.paths import ReactPaths
from react_assets.metadata import open_store
from react_assets.tracking.lineage import TAG_DAGSTER_RUN_ID

DOMAIN = "fashion"
# float32 (amp off) on any CPU, as the library test; a seed the tiny world's own run did not use,
# so each run trains from step 0 in its own copy of the world.
TRAINING = {"variants": ["gated-image"], "max_steps": 6, "batch_size": 16, "warmup_steps": 2,
            "amp": "off", "seed": 7}


def _materialize(world: TinyWorld, processes: int) -> dg.ExecuteInProcessResult:
    config = {"ops": {"react_model": {"config": TRAINING | {"processes": processes}}}}
    with world.instance() as instance:
        return dg.materialize(
            [react_model], instance=instance, partition_key=DOMAIN, run_config=config,
            resources={"react_home": ReactHomeResource(root=str(world.root)),
                       "mlflow": MlflowResource(root=str(world.root))})


def _trained(world: TinyWorld, result: dg.ExecuteInProcessResult) -> dict:
    """What the run recorded: its materialization, MLflow runs, models rows and weights."""
    assert result.success
    [materialization] = result.asset_materializations_for_node("react_model")
    metadata = {k: v.value for k, v in materialization.metadata.items()}
    model_id = metadata["gated-image/model_id"]
    store = open_store(world.root)
    rows = store.read(lambda conn: conn.execute(
        "SELECT checkpoint, mlflow_run_id FROM models WHERE dagster_run_id = ?",
        [result.run_id]).fetchall())
    client = MlflowClient(ReactPaths(world.root).mlflow_tracking_uri)
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()],
                              f"tags.`{TAG_DAGSTER_RUN_ID}` = '{result.run_id}'")
    [(checkpoint, mlflow_run_id)] = rows
    losses = [m.value for m in sorted(client.get_metric_history(mlflow_run_id, "train_loss"),
                                      key=lambda m: m.step)]
    return {"metadata": metadata, "model_id": model_id, "rows": rows, "mlflow_runs": runs,
            "losses": losses,
            "weights": load_file(str(store.home.resolve(checkpoint) / CUSTOMIZATION_WEIGHTS))}


@pytest.mark.slow
def test_two_processes_train_the_model_one_process_trains_and_record_it_once(
        tiny_world, tmp_path: Path) -> None:
    one_world = copy_tiny_world(tiny_world, tmp_path / "one" / "react-home")
    two_world = copy_tiny_world(tiny_world, tmp_path / "two" / "react-home")
    one = _trained(one_world, _materialize(one_world, processes=1))
    two = _trained(two_world, _materialize(two_world, processes=2))

    assert (one["metadata"]["gated-image/processes"], two["metadata"]["gated-image/processes"]) \
        == (1, 2)
    assert len(two["mlflow_runs"]) == 1 and len(two["rows"]) == 1  # one model, recorded once
    assert two["mlflow_runs"][0].data.params["launch.processes"] == "2"
    assert len(one["losses"]) == len(two["losses"]) == TRAINING["max_steps"]
    np.testing.assert_allclose(two["losses"], one["losses"], rtol=1e-4, atol=1e-5)
    assert one["weights"].keys() == two["weights"].keys()
    for name, tensor in one["weights"].items():
        np.testing.assert_allclose(two["weights"][name], tensor, rtol=1e-4, atol=1e-4,
                                   err_msg=name)


def test_the_processes_default_comes_from_the_environment(monkeypatch) -> None:
    from dagster_project.assets.customization import ReactModelConfig

    monkeypatch.delenv(PROCESSES_ENV, raising=False)
    assert launch_settings(ReactModelConfig()).processes == 1
    monkeypatch.setenv(PROCESSES_ENV, "4")
    assert launch_settings(ReactModelConfig()).processes == 4
    assert launch_settings(ReactModelConfig(processes=2)).processes == 2  # the launchpad wins
    monkeypatch.setenv(PROCESSES_ENV, "two")
    with pytest.raises(ValueError, match=PROCESSES_ENV):
        launch_settings(ReactModelConfig())
