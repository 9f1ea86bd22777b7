"""Steps on a Dask cluster: dagster-dask's executor, each step a Dask task on any worker.

dagster-dask names a step's task ``<job>.<step>``; Dask treats equal keys as the same task, so
two runs of one job at once (a backfill's partitions) would share one task and one of them would
never execute. This subclass keys each task by run as well. It also hands the step's arguments
to Dask inside one opaque object: Dask (2024.12 and later) walks tuple arguments looking for
futures, and Dagster's ``@record`` classes (the run, the known state) forbid iteration, so
dagster-dask 0.29.27 fails every step on a current Dask with "Iteration is not allowed on
`@record` DagsterRun". Everything else (the worker side, ``query_on_dask_worker``) is
dagster-dask's.

A cancel is a cancel: dagster-dask lets go of the futures when the run is terminated, but a Dask
task that already runs cannot be interrupted, so a canceled run's step went on and committed its
rows and its materialization. Here the interrupted run cancels every future it submitted (a step
still waiting never starts), and each step runs under :class:`~dagster_project.run_guard.
RunStillGoing`: a step that starts after its run stopped does nothing, and one that is running
when it stops has its next file rename or metadata commit refused (``react_assets.files.guard``)
and fails there. What a step committed before the cancel stays, as after a crash.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import dagster as dg
import dask.distributed
from dagster_dask.executor import DaskExecutor, get_dask_resource_requirements, query_on_dask_worker

import dagster_project.dask_sizes  # noqa: F401 - Dask sizes the step events it keeps
from dagster_project.private_api import (
    DagsterEvent,
    ExecutionPlan,
    iterate_with_context,
    raise_execution_interrupts,
)
from dagster_project.run_guard import RunStillGoing
from react_assets.files.guard import publish_guard

log = logging.getLogger(__name__)


class StepArguments:
    """The arguments of ``query_on_dask_worker``, kept out of Dask's argument traversal."""

    def __init__(self, *args: Any) -> None:
        self.args = args


def run_step_on_worker(dependencies: list[Any], step: StepArguments) -> list[DagsterEvent]:
    """Executed by a Dask worker: one step, after the futures of its inputs (``dependencies``),
    publishing only while its run goes on (nothing at all when the run stopped before)."""
    _, run, _, step_keys, instance_ref, _ = step.args
    guard = RunStillGoing(instance_ref, run.run_id)
    try:
        stopped = guard()
        if stopped:
            log.warning("step %s not started: %s", ", ".join(step_keys), stopped)
            return []
        with publish_guard(guard):
            return list(query_on_dask_worker(dependencies, *step.args))
    finally:
        guard.close()


class RunKeyedDaskExecutor(DaskExecutor):
    """dagster-dask's executor on an existing scheduler, with one Dask key per run and step."""

    def execute(self, plan_context: Any, execution_plan: ExecutionPlan) -> Iterator[DagsterEvent]:
        if not plan_context.instance.is_persistent:
            raise dg.DagsterInvariantViolationError(
                "Dask execution needs a persistent Dagster instance (the cluster profile's "
                "PostgreSQL one): workers record their steps' events in it")
        run = plan_context.dagster_run
        with dask.distributed.Client(self.cluster_configuration["address"]) as client:
            futures: dict[str, Any] = {}
            for level in execution_plan.get_steps_to_execute_by_level():
                for step in level:
                    deps = [futures[key] for step_input in step.step_inputs
                            for key in step_input.dependency_keys]
                    futures[step.key] = client.submit(
                        run_step_on_worker, deps, StepArguments(
                            plan_context.reconstructable_job, run, plan_context.run_config,
                            [step.key], plan_context.instance.get_ref(),
                            execution_plan.known_state),
                        key=f"{run.job_name}.{run.run_id}.{step.key}",
                        resources=get_dask_resource_requirements(step.tags),
                        pure=False)
            try:
                done = dask.distributed.as_completed(list(futures.values()), with_results=True)
                for _future, events in iterate_with_context(raise_execution_interrupts, done):
                    yield from events
            except BaseException:  # terminated (or the scheduler lost): no step may go on
                with contextlib.suppress(Exception):  # a lost scheduler keeps the first error
                    client.cancel([f for f in futures.values() if not f.done()], force=True)
                raise


@dg.executor(name="dask", config_schema={"address": dg.Field(str, description=(
    "the Dask scheduler, e.g. tcp://127.0.0.1:8786"))})
def dask_cluster_executor(init_context: dg.InitExecutorContext) -> RunKeyedDaskExecutor:
    """Run each step as a Dask task on an existing scheduler's workers."""
    return RunKeyedDaskExecutor("existing", {"address": init_context.executor_config["address"]})
