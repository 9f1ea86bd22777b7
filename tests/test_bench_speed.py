"""The speed benches run on CPU at tiny sizes, so they are ready when a GPU machine is there.

Each bench runs as its users run it, ``python -m bench.speed.<name>`` from the repository root,
and writes its result with ``bench.common.results.write_result``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from bench.common.flops import count_flops, matmul_rate
from bench.speed.stages import stage_flops

REPO = Path(__file__).resolve().parents[1]


def run_bench(module: str, results: Path, *args: str, timeout: int = 600) -> dict:
    """Run ``python -m <module> <args>``; its result record in ``results``."""
    done = subprocess.run([sys.executable, "-m", module, *args, "--results-dir", str(results)],
                          cwd=REPO, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    (written,) = results.glob("*.json")
    record = json.loads(written.read_text())
    assert record["command"] == " ".join(["python -m", module, *args, "--results-dir",
                                          str(results)])
    assert record["date"] and record["machine"]["cores"] >= 1
    return record


def test_count_flops_counts_a_matmul_and_its_backward():
    a = torch.randn(8, 16, requires_grad=True)
    b = torch.randn(16, 4)
    assert count_flops(lambda: a @ b) == 2 * 8 * 16 * 4
    assert count_flops(lambda: (a @ b).sum().backward()) == 2 * (2 * 8 * 16 * 4)  # + grad of a


def test_matmul_rate_is_positive():
    rate = matmul_rate(torch.float32, n=64, seconds=0.05)
    assert rate["gflops_wall"] > 0 and rate["runs"] >= 2


@pytest.mark.slow
def test_gpu_bench_runs_on_cpu_with_a_tiny_model(tmp_path):
    record = run_bench("bench.speed.gpu", tmp_path, "--arch", "react-tiny", "--batch", "4",
                       "--train-batch", "4", "--steps", "1", "--device", "cpu", "--bf16", "off",
                       "--peak-tflops", "1.0")
    report = record["figures"]
    assert record["bench"] == "gpu" and report["device"] == "cpu"
    assert report["embedding"]["images_per_s"] > 0
    assert report["embedding"]["flops_per_image"] > 0
    assert report["training_gated_image"]["samples_per_s"] > 0
    # a training step is forward + backward: more FLOPs than an image forward alone
    assert report["training_gated_image"]["flops_per_sample"] > report["embedding"][
        "flops_per_image"]


def test_stage_flops_scale_with_the_workload():
    unit = {"image_forward": 10.0, "text_caption": 100.0, "train_gated-image": 30.0,
            "train_locked-text": 40.0}
    work = {"base": {"batch_size": 2, "train_steps": {"locked-text": 3}, "text_captions": 1},
            "embed": {"image_forward": 5, "text_captions": 5},
            "domains": {"batch_size": 4, "train_steps": {"gated-image": 2}}}
    flops = stage_flops(work, unit)
    assert flops == {"base": 3 * 2 * 40 + 100, "embed": 5 * 10 + 5 * 100, "domains": 2 * 4 * 30}


def test_faiss_bench_compares_the_simd_levels_of_the_wheel(tmp_path):
    import faiss

    record = run_bench("bench.speed.faiss_build", tmp_path, "--n", "3000", "--dim", "32",
                       "--nlist", "16", "--queries", "50")
    report = record["figures"]
    levels = list(report["levels"])
    if faiss.SIMDConfig.has_dynamic_dispatch():  # every level is measured, generic first
        assert levels[0] == "NONE" and len(levels) >= 2
        assert set(report["speedup_over_first_level"]) == set(levels[1:])
    recalls = [figures["recall_at_10_ivf_sq8"] for figures in report["levels"].values()]
    assert min(recalls) > 0.5 and max(recalls) - min(recalls) < 0.05  # kernels, not results


def test_metadata_bench_reports_every_figure_of_both_stores(tmp_path):
    results = tmp_path / "results"
    record = run_bench("bench.speed.metadata", results, "--rows", "6000", "--shard-rows", "500",
                       "--lineage-pairs", "300", "--repeats", "2", "--workdir", str(tmp_path))
    report = record["figures"]
    assert record["bench"] == "metadata" and report["shards"] == 12
    lake, file = report["ducklake"], report["duckdb_file"]
    for ingest in (lake["ingest_1_writer"], lake["ingest_4_writers"], file["ingest_1_writer"]):
        assert ingest["rows"] == 6000 and ingest["rows_per_s"] > 0 and ingest["wall_s"] > 0
    assert lake["ingest_4_writers"]["writers"] == 4
    assert len(lake["ingest_4_writers"]["writer_wall_s"]) == 4
    assert lake["lineage_model_lineage"]["pairs"] == 300
    for store in (lake, file):
        for figure in ("lineage_statement", "count_by_shard", "replace_shard"):
            assert store[figure]["median_s"] > 0, figure
        assert store["disk"]["bytes"] > 0
    assert lake["disk"]["data_files"] >= 12 and lake["disk"]["catalog_bytes"] > 0
    # a DuckDB file has one writing process: a second one cannot even read it meanwhile
    assert file["ingest_4_writers"]["possible"] is False
    for attempt in file["second_process_while_open"].values():
        assert not attempt["opened"] and "lock" in attempt["error"].lower()
    ratios = report["ratios_ducklake_over_duckdb_file"]
    assert len(ratios) == 6 and all(r > 0 for r in ratios.values())
    assert report["ratios_ducklake"]["ingest_rows_per_s_4_writers_over_1"] > 0
    assert not list(tmp_path.glob("bench-metadata-*"))  # the stores are removed
