"""The MLflow lineage writer against a real, temporary sqlite store (one per module: the
store's migrations cost ~10 s)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # nothing may phone home in tests
os.environ.setdefault("DO_NOT_TRACK", "true")

import mlflow  # noqa: E402
import pytest  # noqa: E402

from react_assets.tracking.lineage import (  # noqa: E402
    TAG_CODE_VERSION,
    TAG_DAGSTER_RUN_ID,
    TAG_ERROR,
    TAG_LOGGED_MODEL_ID,
    TAG_PARENT_MODEL,
    TAG_PARTITION,
    TAG_REDACTED,
    TAG_RETRIEVAL_DIGEST,
    LineageConfig,
    LineageWriter,
    pipeline_tags,
)
from react_assets.tracking.run_params import flatten_params, redact_secrets  # noqa: E402


@dataclasses.dataclass(frozen=True)
class _TrainConfig:
    lr: float = 5e-4
    betas: tuple[float, float] = (0.9, 0.98)


def _model_folder(root: Path, payload: bytes) -> Path:
    root.mkdir(parents=True)
    (root / "gated.safetensors").write_bytes(payload)
    (root / "config.json").write_text(json.dumps({"gated_layers": 2}))
    return root


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[LineageWriter, Path]:
    root = tmp_path_factory.mktemp("mlflow")
    config = LineageConfig(tracking_uri=f"sqlite:///{root / 'mlflow.db'}",
                           artifact_root=root / "mlartifacts")
    return LineageWriter(config), root


@pytest.fixture(scope="module")
def base_model(store: tuple[LineageWriter, Path]):
    """A pre-training run with a registered base model, the parent of customizations."""
    writer, root = store
    with writer.start_run("pretrain-base", params={"arch": "mini-vit"}) as run:
        ref = writer.log_model(run, _model_folder(root / "base", b"base-weights"), "react-base")
    return ref


@pytest.fixture(scope="module")
def customization(store: tuple[LineageWriter, Path], base_model):
    """One customization run logged the way the react_model asset logs it."""
    writer, root = store
    digest = hashlib.sha256(b"retrieved pairs of fashion").hexdigest()
    params = {"domain": "fashion", "train": _TrainConfig(), "model": {"gated": {"k": 2}},
              "hub": {"hf_token": "hf_abcdefghijklmnopqrstuvwxyz123456", "password": "hunter2"},
              "store_url": "postgresql://react:s3cr3t@db:5432/meta"}
    tags = pipeline_tags(dagster_run_id="dag-123", partition="fashion", code_version="abc1234")
    with writer.start_run("react-fashion", params=params, tags=tags) as run:
        writer.log_retrieval_input(run, name="retrieval-fashion", digest=digest, num_rows=4321,
                                   source_query="SELECT pair_id FROM retrievals WHERE domain = $d",
                                   database="/var/react.duckdb")
        parent_id = writer.log_parent_model(run, base_model.model_uri)
        steps = list(range(0, 2500, 2))  # 1,250 points: more than one log_batch
        writer.log_curve(run, "train/loss", [4.0 / (1 + s) for s in steps], steps)
        ref = writer.log_model(run, _model_folder(root / "fashion", b"gated-weights"),
                               "react-fashion")
    return {"run": run, "ref": ref, "digest": digest, "parent_id": parent_id, "steps": steps}


def test_flatten_params_dots_nested_configs_and_truncates() -> None:
    flat = flatten_params({"train": _TrainConfig(), "a": {"b": {"c": 3}}, "bad key!": 1,
                           "long": "x" * 7000, "path": Path("/x/y")})
    assert flat == {"train.lr": "0.0005", "train.betas": "[0.9, 0.98]", "a.b.c": "3",
                    "bad key_": "1", "long": "x" * 6000, "path": "/x/y"}
    with pytest.raises(ValueError, match="over MLflow's limit of 250"):
        flatten_params({"k" * 251: 1})


def test_redact_secrets_drops_credentials_and_keeps_lookalikes() -> None:
    sha = hashlib.sha256(b"x").hexdigest()
    kept, dropped = redact_secrets({
        "db.password": "hunter2", "hub.hf_token": "abc", "openai.api_key": "short",
        "wandb.key": "Zx8Qw3Rt6Yu1Io4Pa7Sd0Fg", "hub.hfToken": "x",
        "notes": "ghp_abcdefghijklmnop1234",
        "shard_key": "pair_id", "retrieval.digest": sha, "text.tokenizer": "minilm",
        "max_tokens": "77", "url": "postgresql://react:s3cr3t@db:5432/meta"})
    assert sorted(dropped) == ["db.password", "hub.hfToken", "hub.hf_token", "notes",
                               "openai.api_key", "wandb.key"]
    assert kept == {"shard_key": "pair_id", "retrieval.digest": sha, "text.tokenizer": "minilm",
                    "max_tokens": "77", "url": "postgresql://react:***@db:5432/meta"}


def test_config_refuses_file_store_and_relative_root(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="file store"):
        LineageConfig(tracking_uri=str(tmp_path / "mlruns"), artifact_root=tmp_path)
    with pytest.raises(ValueError, match="not absolute"):
        LineageConfig(tracking_uri="sqlite:///x.db", artifact_root=Path("rel"))


def test_run_records_params_and_pipeline_tags(store, customization) -> None:
    writer, _ = store
    run = writer.get_run(customization["run"].run_id)
    assert run.info.status == "FINISHED"
    assert run.info.run_name == "react-fashion"
    assert run.data.params["train.lr"] == "0.0005"
    assert run.data.params["train.betas"] == "[0.9, 0.98]"
    assert run.data.params["model.gated.k"] == "2"
    assert run.data.params["store_url"] == "postgresql://react:***@db:5432/meta"
    assert run.data.tags[TAG_DAGSTER_RUN_ID] == "dag-123"
    assert run.data.tags[TAG_PARTITION] == "fashion"
    assert run.data.tags[TAG_CODE_VERSION] == "abc1234"


def test_secret_looking_params_are_not_logged(store, customization) -> None:
    writer, _ = store
    run = writer.get_run(customization["run"].run_id)
    assert "hub.hf_token" not in run.data.params and "hub.password" not in run.data.params
    assert not any("hunter2" in v or "hf_abc" in v for v in run.data.params.values())
    assert run.data.tags[TAG_REDACTED] == "hub.hf_token,hub.password"


def test_retrieval_set_is_the_runs_input_dataset(store, customization) -> None:
    writer, _ = store
    run = writer.get_run(customization["run"].run_id)
    [dataset_input] = run.inputs.dataset_inputs
    dataset = dataset_input.dataset
    assert dataset.name == "retrieval-fashion"
    assert dataset.digest == customization["digest"][:36]
    assert dataset.source_type == "duckdb"
    assert json.loads(dataset.source)["query"].startswith("SELECT pair_id FROM retrievals")
    assert json.loads(dataset.profile) == {"num_rows": 4321, "digest": customization["digest"]}
    assert {t.key: t.value for t in dataset_input.tags} == {"mlflow.data.context": "training"}
    assert run.data.tags[TAG_RETRIEVAL_DIGEST] == customization["digest"]


def test_parent_model_is_a_model_input(store, base_model, customization) -> None:
    writer, _ = store
    run = writer.get_run(customization["run"].run_id)
    assert customization["parent_id"] == base_model.logged_model_id
    assert [m.model_id for m in run.inputs.model_inputs] == [base_model.logged_model_id]
    assert run.data.tags[TAG_PARENT_MODEL] == "models:/react-base/1"
    with writer.start_run("from-run-id") as other:
        assert writer.log_parent_model(other, base_model.run_id) == base_model.logged_model_id
        assert writer.log_parent_model(other, "hf-hub:timm/vit_b32") is None
    assert writer.get_run(other.run_id).data.tags[TAG_PARENT_MODEL] == "hf-hub:timm/vit_b32"


def test_loss_curve_is_a_metric_history(store, customization) -> None:
    writer, _ = store
    history = writer.metric_history(customization["run"], "train/loss")
    steps = customization["steps"]
    assert [s for s, _ in history] == steps
    assert history[0][1] == pytest.approx(4.0) and history[-1][1] == pytest.approx(4.0 / 2499)


def test_model_is_registered_with_the_run_as_source(store, customization) -> None:
    writer, root = store
    ref, run_id = customization["ref"], customization["run"].run_id
    assert (ref.model_uri, ref.version, ref.run_id) == ("models:/react-fashion/1", 1, run_id)
    version = writer.client.get_model_version("react-fashion", "1")
    assert version.run_id == run_id and version.source == ref.artifact_uri
    assert version.tags[TAG_LOGGED_MODEL_ID] == ref.logged_model_id
    logged = writer.client.get_logged_model(ref.logged_model_id)
    assert logged.source_run_id == run_id and logged.status == "READY"
    outputs = writer.get_run(run_id).outputs.model_outputs
    assert [m.model_id for m in outputs] == [ref.logged_model_id]
    local = mlflow.artifacts.download_artifacts(artifact_uri=ref.artifact_uri,
                                                dst_path=str(root / "download"))
    assert (Path(local) / "gated.safetensors").read_bytes() == b"gated-weights"
    assert Path(ref.artifact_uri).is_relative_to(root / "mlartifacts")


def test_failing_body_ends_the_run_failed(store) -> None:
    writer, _ = store
    tags = pipeline_tags(dagster_run_id="dag-fail", partition="digits", code_version="abc1234")
    with pytest.raises(RuntimeError, match="out of memory"):
        with writer.start_run("react-digits", tags=tags):
            raise RuntimeError("out of memory")
    [run] = writer.find_runs({TAG_DAGSTER_RUN_ID: "dag-fail"})
    assert run.info.status == "FAILED"
    assert run.data.tags[TAG_ERROR] == "RuntimeError: out of memory"
    assert writer.find_runs({TAG_DAGSTER_RUN_ID: "dag-fail"}, status="FINISHED") == []


def test_evaluation_metrics_attach_to_the_model_run(store, customization) -> None:
    writer, _ = store
    parent = customization["run"].run_id
    writer.log_metrics(parent, {"zeroshot/fashion/acc1": 0.71, "zeroshot/digits/acc1": 0.42})
    with writer.start_run("eval-fashion", parent_run_id=parent) as child:
        writer.log_metrics(child, {"acc1": 0.71}, step=3)
    assert writer.get_run(parent).data.metrics["zeroshot/fashion/acc1"] == pytest.approx(0.71)
    assert writer.get_run(child.run_id).data.tags["mlflow.parentRunId"] == parent
    assert writer.metric_history(child, "acc1") == [(3, pytest.approx(0.71))]
    with pytest.raises(ValueError, match="non-finite"):
        writer.log_metrics(parent, {"acc1": float("nan")})


def test_bad_model_folder_and_mismatched_curve_fail_loudly(store, tmp_path: Path) -> None:
    writer, _ = store
    (tmp_path / "empty").mkdir()
    with writer.start_run("bad-inputs") as run:
        with pytest.raises(FileNotFoundError, match="holds no .safetensors"):
            writer.log_model(run, tmp_path / "empty", "react-bad")
        with pytest.raises(ValueError, match="3 values but 2 steps"):
            writer.log_curve(run, "loss", [1.0, 2.0, 3.0], [0, 1])


def test_writer_leaves_global_mlflow_state_alone(store, customization) -> None:
    assert mlflow.get_tracking_uri() != store[0].config.tracking_uri
    assert mlflow.active_run() is None
