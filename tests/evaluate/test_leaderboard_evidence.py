"""The leaderboard with its evidence: intervals beside values, paired gains marked when not
significant, image-text retrieval rows, readable model names and each domain's champion."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from react_assets.evaluate.leaderboard import build_leaderboard, figure_label, model_names
from react_assets.evaluate.methods import build_method_tables, methods_markdown

BASE, GATED, LOCKED = "clip@sha256:0000aaaa1111", "react-digits-gi@sha256:ab12cd34ef56", "lt@x"
ROWS = [
    {"model_id": BASE, "model_kind": "base", "domain": "digits", "dataset": "digits-test",
     "metric": "accuracy", "value": 0.50, "ci_low": 0.45, "ci_high": 0.55},
    {"model_id": GATED, "model_kind": "gated-image", "domain": "digits", "dataset": "digits-test",
     "metric": "accuracy", "value": 0.58, "ci_low": 0.53, "ci_high": 0.63},
    {"model_id": LOCKED, "model_kind": "locked-text", "domain": "digits",
     "dataset": "digits-test", "metric": "accuracy", "value": 0.51, "ci_low": 0.46,
     "ci_high": 0.56},
    {"model_id": BASE, "model_kind": "base", "domain": "digits", "dataset": "captions",
     "metric": "text_to_image_R@1", "value": 0.16, "ci_low": 0.12, "ci_high": 0.20},
    {"model_id": GATED, "model_kind": "gated-image", "domain": "digits", "dataset": "captions",
     "metric": "text_to_image_R@1", "value": 0.10, "ci_low": 0.07, "ci_high": 0.14},
]
COMPARISONS = [
    {"model_id": GATED, "domain": "digits", "dataset": "digits-test", "metric": "accuracy",
     "difference": 0.08, "ci_low": 0.04, "ci_high": 0.12, "p_value": 0.001, "level": 0.95},
    {"model_id": LOCKED, "domain": "digits", "dataset": "digits-test", "metric": "accuracy",
     "difference": 0.01, "ci_low": -0.02, "ci_high": 0.04, "p_value": 0.52, "level": 0.95},
    {"model_id": GATED, "domain": "digits", "dataset": "captions",
     "metric": "text_to_image_R@1", "difference": -0.06, "ci_low": -0.10, "ci_high": -0.02,
     "p_value": 0.004, "level": 0.95},
]
NAMES = model_names([(BASE, "base", None, None),
                     (GATED, "gated-image", "digits", "models:/react-digits/3"),
                     (LOCKED, "locked-text", "digits", None)])


def board():
    return build_leaderboard(ROWS, base_model_id=BASE, comparisons=COMPARISONS, names=NAMES,
                             champions={"digits": GATED, "fashion": "not-on-the-board"})


def test_readable_names_from_the_kind_domain_and_registered_version():
    assert NAMES == {BASE: "base", GATED: "gated-image · digits · v3",
                     LOCKED: "locked-text · digits · lt@x"}
    twins = model_names([("a@sha256:11112222", "gated-image", "d", None),
                         ("b@sha256:33334444", "gated-image", "d", "models:/react-d/1"),
                         ("c@sha256:55556666", "gated-image", "d", "models:/react-d/1")])
    assert twins == {"a@sha256:11112222": "gated-image · d · 11112222",
                     "b@sha256:33334444": "gated-image · d · v1 · 33334444",
                     "c@sha256:55556666": "gated-image · d · v1 · 55556666"}
    assert figure_label("captions", "image_to_text_R@5") == ("captions image→text", "R@5")
    assert figure_label("digits-test", "accuracy") == ("digits-test", "accuracy")


def test_markdown_shows_intervals_marks_what_is_not_significant_and_the_champion():
    lines = board().to_markdown().splitlines()
    assert lines[0] == ("| domain | dataset | metric | base | gated-image · digits · v3 ★ | "
                        "locked-text · digits · lt@x |")
    assert lines[2] == ("| digits | digits-test | accuracy | 50.00 [45.0, 55.0] | "
                        "58.00 [53.0, 63.0] (+8.00 [+4.0, +12.0]) | "
                        "51.00 [46.0, 56.0] (+1.00 [-2.0, +4.0] n.s.) |")
    assert lines[3] == ("| digits | captions text→image | R@1 | 16.00 [12.0, 20.0] | "
                        "10.00 [7.0, 14.0] (-6.00 [-10.0, -2.0]) | - |")
    assert lines[4] == "| **average** |  |  | 50.00 | 58.00 (+8.00) | 51.00 (+1.00) |"
    legend = "\n".join(lines[5:])
    assert "95% bootstrap interval over the test samples" in legend
    assert "n.s.: the gain is not significant (p >= 0.05)" in legend
    assert "★: the domain's @champion in MLflow (digits: gated-image · digits · v3)" in legend


def test_json_keeps_the_ids_and_gives_names_intervals_and_significance():
    data = json.loads(board().to_json())
    assert data["champions"] == {"digits": GATED}
    gated = next(m for m in data["models"] if m["model_id"] == GATED)
    assert (gated["name"], gated["champion_of"]) == ("gated-image · digits · v3", ["digits"])
    assert gated["average"] == pytest.approx(0.58)  # the retrieval row is not averaged
    digits, captions = data["datasets"]
    assert digits["intervals"][LOCKED] == [0.46, 0.56]
    assert digits["gain_intervals"] == {GATED: [0.04, 0.12], LOCKED: [-0.02, 0.04]}
    assert digits["significant"] == {GATED: True, LOCKED: False}
    assert digits["p_values"][LOCKED] == 0.52
    assert (captions["dataset"], captions["metric"], captions["task"]) == (
        "captions text→image", "R@1", "zeroshot_retrieval")


def test_the_chart_has_error_bars_and_is_a_png(tmp_path):
    path = board().render_chart(tmp_path / "leaderboard.png")
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size == (600, 450)


def test_the_methods_table_shows_the_interval_of_a_single_dataset_figure():
    rows = [{"model_id": m, "model_kind": k, "domain": "digits", "dataset": d, "task":
             "zeroshot_classification", "metric": "accuracy", "value": v, "details": None,
             "ci_low": v - 0.05, "ci_high": v + 0.05, "model_config": None}
            for m, k, d, v in [(BASE, "base", "digits-test", 0.5), (BASE, "base", "general", 0.7),
                               (GATED, "gated-image", "digits-test", 0.6),
                               (GATED, "gated-image", "general", 0.65)]]
    markdown = methods_markdown(build_method_tables(rows, {"digits": ["general"]}))
    assert "| REACT gated-image | 60.00 [55.0, 65.0] | 65.00 [60.0, 70.0] |" in markdown
