"""The demo's timing report and its optional training budgets in the jobs' run config."""

from __future__ import annotations

import dagster as dg

from dagster_project.demo import demo_run_config, timing_report


def test_timing_report_sums_stages_and_records_the_machine():
    report = timing_report({"world": 1.5, "base": 2.25}, "world,base")
    assert report["total_s"] == 3.75 and report["stages"] == {"world": 1.5, "base": 2.25}
    machine = report["machine"]
    assert machine["cores"] >= 1 and "cpu_flags" in machine
    assert machine["torch_intra_op_threads"] >= 1 and "faiss_omp_threads" in machine


def test_budgets_are_valid_run_config_of_their_jobs():
    from dagster_project.definitions import defs

    assert set(demo_run_config(100)) == {"demo_world_job"}
    config = demo_run_config(100, max_steps=150, pretrain_epochs=4)
    for job in ("demo_world_job", "domain_job", "base_model_job"):
        assert dg.validate_run_config(defs.resolve_job_def(job), config[job]), job
