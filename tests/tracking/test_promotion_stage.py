"""The evaluation stage end to end on a small registered domain: every figure stored with its
interval and paired comparisons, the newest version promoted or held and the champion evaluated
beside it; the blocking check, the asset metadata and the leaderboard read what it decided."""

from __future__ import annotations

import json

import dagster as dg
import numpy as np
import pytest
from PIL import Image
from registry_world import RegistryHome, register_version

from dagster_project import checks
from dagster_project.assets.evaluation import evaluation_metadata
from dagster_project.partitions import domain_partitions
from dagster_project.resources import MlflowResource, ReactHomeResource
from react_assets.domains.registry import register_domains
from react_assets.evaluate.publish import publish_leaderboard
from react_assets.evaluate.stage import EvaluationConfig, evaluate_registered_domain
from react_assets.tracking.links import TrackingLinks
from react_assets.tracking.promote import CHALLENGER, CHAMPION, alias_version, rollback

CONFIG = EvaluationConfig(batch_size=32, linear_probe=False, n_resamples=200)
COLORS = {"circle": (220, 40, 40), "square": (40, 40, 220), "star": (40, 200, 40)}


def write_world(root) -> None:
    """A spec with a two-class test set, a three-class general set and 12 captioned images."""
    rng = np.random.default_rng(0)

    def image(path, color) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        noise = rng.integers(0, 60, (16, 16, 3))
        Image.fromarray(np.clip(np.array(color) + noise, 0, 255).astype(np.uint8)).save(path)

    for cls in ("circle", "square"):
        for i in range(20):
            image(root / "eval/shapes-test" / cls / f"{i}.png", COLORS[cls])
    for cls, color in COLORS.items():
        for i in range(10):
            image(root / "eval/general-test" / cls / f"{i}.png", color)
    lines = []
    for i in range(12):
        cls = list(COLORS)[i % 3]
        image(root / "eval/captions" / f"{i}.png", COLORS[cls])
        lines.append(json.dumps({"image": f"{i}.png", "caption": f"a {cls}, number {i}"}))
    (root / "eval/captions/pairs.jsonl").write_text("\n".join(lines) + "\n")
    (root / "spec.yaml").write_text(
        "domains:\n  - {name: shapes, classes: [circle, square], templates: ['a {}.'],\n"
        "     datasets: [{name: shapes-test, path: eval/shapes-test}]}\n"
        "general_datasets: [{name: general-test, path: eval/general-test}]\n"
        "retrieval_datasets: [{name: captions, path: eval/captions/pairs.jsonl, "
        "layout: pairs-jsonl}]\n")


@pytest.fixture(scope="module")
def home(registry) -> RegistryHome:
    """The folder's registry home with the domain ``shapes`` registered."""
    write_world(registry.paths.root)
    register_domains(registry.store, registry.paths.root / "spec.yaml")
    return registry


@pytest.fixture(scope="module")
def first(home):
    """Version 1 (gates at 0: the base's answers exactly) evaluated."""
    v1 = register_version(home, "shapes", 0.0)
    return v1, evaluate_registered_domain(home.store, home.paths, home.writer, "shapes", CONFIG,
                                          dagster_run_id="run-1")


@pytest.fixture(scope="module")
def second(home, first):
    """Version 1 made champion by hand, then version 2 evaluated beside it."""
    rollback(home.store, home.client, "shapes", 1, "the only version")
    v2 = register_version(home, "shapes", 0.8)
    return v2, evaluate_registered_domain(home.store, home.paths, home.writer, "shapes", CONFIG)


def run_check(home: RegistryHome) -> dg.AssetCheckEvaluation:
    @dg.asset(name="zeroshot_eval", partitions_def=domain_partitions)
    def stand_in() -> None:
        return None

    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions(domain_partitions.name, ["shapes"])
        result = dg.materialize(
            [stand_in, checks.champion_by_evidence], instance=instance, partition_key="shapes",
            resources={"react_home": ReactHomeResource(root=str(home.paths.root)),
                       "mlflow": MlflowResource(root=str(home.paths.root))},
            raise_on_error=False)
    (evaluation,) = result.get_asset_check_evaluations()
    return evaluation


def sql(home: RegistryHome, text: str) -> list[tuple]:
    return home.store.read(lambda conn: conn.execute(text).fetchall())


def test_an_evaluation_stores_its_evidence_and_decides_the_new_version(home, first):
    v1, report = first
    figures = sql(home, "SELECT model_id, dataset, metric, value, ci_low, ci_high FROM "
                        "evaluations WHERE domain = 'shapes' ORDER BY model_id, dataset, metric")
    assert {(d, m) for _, d, m, *_ in figures} == {
        ("shapes-test", "accuracy"), ("general-test", "accuracy")} | {
        ("captions", f"{way}_R@{k}") for way in ("image_to_text", "text_to_image")
        for k in (1, 5, 10)}
    assert all(low <= value <= high for *_, value, low, high in figures)
    compared = sql(home, "SELECT dataset, metric, difference, p_value, role FROM comparisons "
                         f"WHERE model_id = '{v1.model_id}'")
    assert len(compared) == 8 and {r[4] for r in compared} == {"base"}
    assert all(difference == 0.0 and p_value == 1.0 for _, _, difference, p_value, _ in compared)

    outcome = report.promotion
    assert (outcome.action, outcome.candidate, outcome.champion_version) == (
        "challenger", v1, None)
    assert "shapes-test accuracy gain over the base: +0.00 points" in outcome.decision.reasons[0]
    assert alias_version(home.client, "react-shapes", CHALLENGER) == 1
    assert alias_version(home.client, "react-shapes", CHAMPION) is None
    assert [r.name for r in report.records.values()] == ["base", "gated-image · shapes · v1"]

    evaluation = run_check(home)
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.WARN
    assert evaluation.metadata["action"].value == "challenger"
    assert evaluation.metadata["problems"].value == []
    assert [r.data["rule"] for r in evaluation.metadata["figures"].value.records] == [
        "gain over the base", "general sets", "general sets", "general sets"]

    metadata = evaluation_metadata(report, TrackingLinks("http://127.0.0.1:5000"),
                                   home.writer.experiment_id)
    assert metadata["gated-image · shapes · v1/mlflow_model"].value == (
        "http://127.0.0.1:5000/#/models/react-shapes/versions/1")
    assert metadata["gated-image · shapes · v1/mlflow_run"].value.startswith(
        f"http://127.0.0.1:5000/#/experiments/{home.writer.experiment_id}/runs/")
    per_class = metadata["per_class"].value
    assert [c.name for c in per_class.schema.columns] == [
        "model", "dataset", "class", "images", "accuracy"]
    assert {(r.data["class"], r.data["images"]) for r in per_class.records} == {
        ("circle", 20), ("square", 20)}
    assert metadata["promotion/action"] == "challenger"
    assert "held as **@challenger**" in metadata["promotion"].value


def test_the_champion_is_evaluated_beside_the_new_version_and_marked_on_the_leaderboard(
        home, second):
    v2, report = second
    v1_id = report.champion.model_id
    assert [m.model_id for m in report.models][1:] == [v2.model_id, v1_id]
    versus = {(c.dataset, c.metric) for c in report.evaluation.comparisons
              if c.model_id == v2.model_id and c.role == "champion"}
    assert ("shapes-test", "accuracy") in versus and ("captions", "text_to_image_R@1") in versus
    assert report.promotion.action in ("promoted", "challenger")
    assert report.promotion.previous_champion_version == 1

    evaluation = run_check(home)
    assert evaluation.metadata["problems"].value == []
    assert evaluation.passed == (report.promotion.action == "promoted")

    board = publish_leaderboard(home.store, home.paths)
    champion = 2 if report.promotion.action == "promoted" else 1
    data = json.loads(board.json_path.read_text())
    names = {m["model_id"]: m["name"] for m in data["models"]}
    assert names[v1_id] == "gated-image · shapes · v1" and names[v2.model_id].endswith("v2")
    assert data["champions"] == {"shapes": v2.model_id if champion == 2 else v1_id}
    shapes = next(d for d in data["datasets"] if d["dataset"] == "shapes-test")
    assert shapes["significant"][v1_id] is False and shapes["p_values"][v1_id] == 1.0
    low, high = shapes["intervals"][v1_id]
    assert low <= shapes["values"][v1_id] <= high
    assert [d["dataset"] for d in data["datasets"] if d["task"] == "zeroshot_retrieval"] == [
        "captions image→text", "captions text→image"]
    assert f"gated-image · shapes · v{champion} ★" in board.markdown
    assert "n.s." in board.markdown and "bootstrap interval" in board.markdown
    assert board.chart_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # an alias moved by hand, outside REACT, blocks the leaderboard
    home.client.set_registered_model_alias("react-shapes", CHAMPION, str(3 - champion))
    evaluation = run_check(home)
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR
    assert "the alias was moved outside REACT" in evaluation.metadata["problems"].value[0]
