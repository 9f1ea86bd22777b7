"""docs/benchmarks.md is the rendering of the committed bench results, and the renderer reads
the common result format."""

from __future__ import annotations

import json

import pytest

from bench.common.render_docs import PAGE, committed_results, load_results, main, render
from bench.common.results import write_result


def test_the_committed_page_is_the_rendering_of_the_committed_results():
    rendered = render(load_results(committed_results()))
    assert PAGE.read_text(encoding="utf-8") == rendered, (
        "docs/benchmarks.md differs from the rendering of bench/results/*.json: run "
        "python -m bench.common.render_docs and commit the page with the JSON files")


def test_a_written_result_is_rendered_with_its_machine_date_and_command(tmp_path):
    figures = {"sequential": {"seconds": 80.0, "workers": 1, "steps": [432, 432]},
               "side_by_side": {"seconds": 71.5, "workers": 2, "steps": [432, 432]},
               "domain": "digits", "cores": 2, "speedup": 1.119}
    path = write_result("concurrent_training", figures, directory=tmp_path)
    record = json.loads(path.read_text())
    assert path == tmp_path / "concurrent_training.json"
    assert record["figures"] == figures and record["command"].startswith("python")
    assert record["machine"]["cores"] >= 1 and len(record["machine"]["load_average"]) == 3
    assert set(record["machine"]["isa_flags"]) <= {"avx2", "avx512f", "avx512_bf16", "amx_tile"}

    page = render(load_results([path]))
    section = page.split("### A domain's variants side by side")[1].split("###")[0]
    assert f"`{record['command']}`" in section and record["date"][:10] in section
    assert "| side_by_side | 71.5 | 2 | 432, 432 |" in section
    assert "1.12x the sequential throughput" in section
    # a bench with no result gives the command that measures it
    assert "Not measured yet: `python -m bench.speed.metadata --rows 10000000`" in page


def test_an_unknown_bench_is_rendered_under_other_results(tmp_path):
    path = write_result("cluster_soak", {"runs": 3, "failed": 0,
                                          "rows": [{"run": 1, "wall_s": 12.5}]},
                        directory=tmp_path)
    page = render(load_results([path]))
    other = page.split("## Other results")[1]
    assert "### cluster_soak" in other and "| runs | 3 |" in other
    assert "| run | wall_s |" in other and "| 1 | 12.5 |" in other


def test_a_file_that_is_not_a_result_is_refused_by_name(tmp_path):
    stray = tmp_path / "old.json"
    stray.write_text(json.dumps({"command": "x", "rows": []}))
    with pytest.raises(ValueError, match=r"old\.json is not a bench result.*'bench'"):
        load_results([stray])


def test_check_fails_on_a_stale_page(tmp_path):
    write_result("probe", {"noise": 1.5, "rows": []}, directory=tmp_path)
    page = tmp_path / "benchmarks.md"
    page.write_text("# Benchmarks\n\nold figures\n")
    argv = ["--results-dir", str(tmp_path), "--out", str(page)]
    assert main([*argv, "--check"]) == 1
    assert main(argv) == 0 and main([*argv, "--check"]) == 0
