"""The guard a Dask step publishes under (dagster_project/run_guard.py): silent while its run
goes on, the run's status once it is canceling, canceled or failed, and the same after pickling
(the training processes a step starts carry a copy)."""

from __future__ import annotations

import pickle

import dagster as dg
import pytest

from dagster_project.run_guard import RunStillGoing


@dg.op
def noop() -> None:
    """Nothing."""


@dg.job
def one_step() -> None:
    noop()


@pytest.mark.parametrize("stop", ["canceling", "canceled", "failed"])
def test_the_guard_answers_once_the_run_stopped(stop) -> None:
    with dg.instance_for_test() as instance:
        run = instance.create_run_for_job(one_step, status=dg.DagsterRunStatus.STARTED)
        guard = RunStillGoing(instance.get_ref(), run.run_id)
        copy = pickle.loads(pickle.dumps(guard))
        try:
            assert guard() is None and copy() is None
            if stop == "canceling":
                instance.report_run_canceling(run)
            elif stop == "canceled":
                instance.report_run_canceled(run)
            else:
                instance.report_run_failed(run)
            expected = {"canceling": "CANCELING", "canceled": "CANCELED", "failed": "FAILURE"}
            assert guard() == f"run {run.run_id} is {expected[stop]}"
            assert copy() == guard()
            instance.delete_run(run.run_id)
            assert guard() == f"run {run.run_id} no longer exists"
        finally:
            guard.close()
            copy.close()
