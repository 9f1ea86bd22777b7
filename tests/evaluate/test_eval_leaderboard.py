"""Leaderboard gains, markdown, JSON, chart, and CLIP_benchmark records."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from react_assets.evaluate.leaderboard import (
    EvaluationRow,
    LeaderboardError,
    build_leaderboard,
    clip_benchmark_metrics,
    clip_benchmark_record,
)

ROWS = [
    ("gated-fashion", "gated-image", "fashion", "fashion-test", "accuracy", 0.686),
    {"model_id": "clip-b32", "model_kind": "base", "domain": "fashion",
     "dataset": "fashion-test", "metric": "accuracy", "value": 0.632},
    EvaluationRow("clip-b32", "base", "digits", "digits-test", "mean-per-class", 0.50),
    EvaluationRow("gated-fashion", "gated-image", "digits", "digits-test", "mean-per-class", 0.48),
    EvaluationRow("locked-fashion", "locked-text", "fashion", "fashion-test", "accuracy", 0.669),
]


def test_gains_over_the_base_model():
    board = build_leaderboard(ROWS)
    assert board.base_model_id == "clip-b32"
    assert [m for m, _ in board.models] == ["clip-b32", "gated-fashion", "locked-fashion"]
    assert board.gain("gated-fashion", "fashion", "fashion-test") == pytest.approx(0.054)
    assert board.gain("gated-fashion", "digits", "digits-test") == pytest.approx(-0.02)
    assert board.gain("locked-fashion", "digits", "digits-test") is None   # not evaluated
    assert board.gain("clip-b32", "fashion", "fashion-test") is None       # the base itself
    assert board.average("gated-fashion") == pytest.approx((0.686 + 0.48) / 2)
    assert board.average_gain("gated-fashion") == pytest.approx((0.054 - 0.02) / 2)
    assert board.average_gain("locked-fashion") == pytest.approx(0.037)


def test_markdown_and_json():
    board = build_leaderboard(ROWS)
    md = board.to_markdown().splitlines()
    assert md[0] == ("| domain | dataset | metric | clip-b32 (base) | gated-fashion (gated-image) "
                     "| locked-fashion (locked-text) |")
    assert md[2] == "| fashion | fashion-test | accuracy | 63.20 | 68.60 (+5.40) | 66.90 (+3.70) |"
    assert md[3] == "| digits | digits-test | mean-per-class | 50.00 | 48.00 (-2.00) | - |"
    assert md[4].startswith("| **average** |  |  | 56.60 | 58.30 (+1.70) | 66.90 (+3.70) |")
    data = json.loads(board.to_json())
    assert data["base_model_id"] == "clip-b32"
    fashion = data["datasets"][0]
    assert fashion["values"]["locked-fashion"] == pytest.approx(0.669)
    assert fashion["gains"]["gated-fashion"] == pytest.approx(0.054)
    assert "clip-b32" not in fashion["gains"]
    assert data["models"][2] == {"model_id": "locked-fashion", "name": "locked-fashion",
                                 "model_kind": "locked-text", "champion_of": [],
                                 "average": pytest.approx(0.669),
                                 "average_gain": pytest.approx(0.037), "n_datasets": 1}


def test_chart_is_a_valid_png(tmp_path):
    target = build_leaderboard(ROWS).render_chart(tmp_path / "reports" / "leaderboard.png")
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(target) as image:
        image.verify()
    with Image.open(target) as image:
        assert image.format == "PNG" and image.size[0] >= 600 and image.size[1] == 450
    assert [p.name for p in target.parent.iterdir()] == ["leaderboard.png"]  # no temp left


def test_bad_rows_are_named():
    with pytest.raises(LeaderboardError, match="row 1: clip-b32 on fashion/fashion-test appears"):
        build_leaderboard([ROWS[1], ROWS[1]])
    two_bases = [ROWS[2], EvaluationRow("clip-b16", "base", "digits", "digits-test",
                                        "mean-per-class", 0.6)]
    with pytest.raises(LeaderboardError, match="several base models"):
        build_leaderboard(two_bases)
    board = build_leaderboard(two_bases, base_model_id="clip-b16")
    assert board.gain("clip-b32", "digits", "digits-test") == pytest.approx(-0.1)
    with pytest.raises(LeaderboardError, match="has metric 'accuracy' here"):
        build_leaderboard([ROWS[2], ("m", "x", "digits", "digits-test", "accuracy", 0.1)])
    with pytest.raises(LeaderboardError, match="row 0: value 'high' is not a number"):
        build_leaderboard([("m", "x", "d", "s", "accuracy", "high")])
    no_base = build_leaderboard([ROWS[0]])
    assert no_base.base_model_id is None and no_base.gain("gated-fashion", "fashion",
                                                          "fashion-test") is None


def test_clip_benchmark_record():
    metrics = clip_benchmark_metrics(top1=0.7, top5=0.9, mean_per_class=0.65,
                                     retrieval={"text_to_image_R@5": 0.4,
                                                "image_to_text_R@1": 0.3})
    assert metrics == {"acc1": 0.7, "acc5": 0.9, "mean_per_class_recall": 0.65,
                       "image_retrieval_recall@5": 0.4, "text_retrieval_recall@1": 0.3}
    record = clip_benchmark_record("cifar10", "ViT-B-32", "react-gated", "zeroshot_classification",
                                   metrics)
    assert record == {"dataset": "cifar10", "model": "ViT-B-32", "pretrained": "react-gated",
                      "task": "zeroshot_classification", "metrics": metrics, "language": "en"}
    assert json.loads(json.dumps(record)) == record
    with pytest.raises(LeaderboardError, match="task 'classify'"):
        clip_benchmark_record("c", "m", "p", "classify", {})
