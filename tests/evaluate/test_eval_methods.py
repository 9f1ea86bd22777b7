"""The methods leaderboard: rows per method and probe head, n-shot mean and std over seeds,
general sets apart, cost from the model's config."""

from __future__ import annotations

import json

import pytest

from react_assets.evaluate.methods import build_method_tables, methods_dict, methods_markdown


def zs(model: str, kind: str, dataset: str, value: float, config: str | None = None) -> dict:
    return {"model_id": model, "model_kind": kind, "domain": "fashion", "dataset": dataset,
            "task": "zeroshot_classification", "metric": "accuracy", "value": value,
            "details": None, "model_config": config}


def probe(model: str, kind: str, setting: str, seed: int, head: str, value: float,
          config: str | None = None) -> dict:
    return {"model_id": model, "model_kind": kind, "domain": "fashion",
            "dataset": "fashion-test", "task": "linear_probe",
            "metric": f"accuracy@{setting}/seed{seed}/{head}", "value": value,
            "details": json.dumps({"setting": setting, "seed": seed, "head": head}),
            "model_config": config}


COST = json.dumps({"cost": {"seconds": 12.5, "trainable_parameters": 4096}})
ROWS = [
    zs("b", "base", "fashion-test", 0.5), zs("b", "base", "clipart-test", 0.4),
    zs("g", "gated-image", "fashion-test", 0.7, COST),
    zs("g", "gated-image", "clipart-test", 0.38, COST),
    *(probe("b", "base", "5-shot", s, "logistic", v) for s, v in enumerate([0.6, 0.7, 0.8])),
    probe("b", "base", "full", 0, "logistic", 0.9),
    probe("b", "base", "20-shot", 0, "logistic", 0.85),
    *(probe("g", "gated-image", "5-shot", s, "text-init", 0.75, COST) for s in range(3)),
]


def test_rows_columns_means_and_stds():
    [table] = build_method_tables(ROWS, {"fashion": ["clipart-test"]})
    assert table.datasets == ["fashion-test"] and table.general_datasets == ["clipart-test"]
    assert table.settings == ["5-shot", "20-shot", "full"]  # numeric order, full last
    labels = [r.label for r in table.rows]
    assert labels == ["base zero-shot", "base zero-shot + linear probe", "REACT gated-image",
                      "REACT gated-image + linear probe (text init)"]
    base, base_probe, gated, gated_probe = table.rows
    assert base.zeroshot == 0.5 and base.general == 0.4
    assert (base.seconds, base.trainable_parameters) == (0.0, 0)
    assert (gated.seconds, gated.trainable_parameters) == (12.5, 4096)
    five = base_probe.shots["5-shot"]
    assert five.mean == pytest.approx(0.7) and five.std == pytest.approx(0.0816, abs=1e-3)
    assert five.n_seeds == 3 and base_probe.shots["full"].n_seeds == 1
    assert gated_probe.shots["5-shot"].std == 0.0 and "20-shot" not in gated_probe.shots


def test_markdown_and_json():
    tables = build_method_tables(ROWS, {"fashion": ["clipart-test"]})
    markdown = methods_markdown(tables)
    assert "| base zero-shot + linear probe | - | 70.00 ± 8.16 | 85.00 | 90.00 | - |" in markdown
    assert "| REACT gated-image | 70.00 | - | - | - | 38.00 | 12.5 | 4,096 |" in markdown
    [entry] = methods_dict(tables)
    assert entry["rows"][1]["shots"]["5-shot"]["n_seeds"] == 3
    json.dumps(entry)  # JSON-ready
