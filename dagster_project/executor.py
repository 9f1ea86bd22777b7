"""Steps on a Dask cluster: dagster-dask's executor, each step a Dask task on any worker.

dagster-dask names a step's task ``<job>.<step>``; Dask treats equal keys as the same task, so
two runs of one job at once (a backfill's partitions) would share one task and one of them would
never execute. This subclass keys each task by run as well. It also hands the step's arguments
to Dask inside one opaque object: Dask (2024.12 and later) walks tuple arguments looking for
futures, and Dagster's ``@record`` classes (the run, the known state) forbid iteration, so
dagster-dask 0.29.27 fails every step on a current Dask with "Iteration is not allowed on
`@record` DagsterRun". Everything else (the worker side, ``query_on_dask_worker``) is
dagster-dask's.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import dagster as dg
import dask.distributed
from dagster_dask.executor import DaskExecutor, get_dask_resource_requirements, query_on_dask_worker

from dagster_project.private_api import (
    DagsterEvent,
    ExecutionPlan,
    iterate_with_context,
    raise_execution_interrupts,
)


class StepArguments:
    """The arguments of ``query_on_dask_worker``, kept out of Dask's argument traversal."""

    def __init__(self, *args: Any) -> None:
        self.args = args


def run_step_on_worker(dependencies: list[Any], step: StepArguments) -> list[DagsterEvent]:
    """Executed by a Dask worker: one step, after the futures of its inputs (``dependencies``)."""
    return list(query_on_dask_worker(dependencies, *step.args))


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
            done = dask.distributed.as_completed(list(futures.values()), with_results=True)
            for _future, events in iterate_with_context(raise_execution_interrupts, done):
                yield from events


@dg.executor(name="dask", config_schema={"address": dg.Field(str, description=(
    "the Dask scheduler, e.g. tcp://127.0.0.1:8786"))})
def dask_cluster_executor(init_context: dg.InitExecutorContext) -> RunKeyedDaskExecutor:
    """Run each step as a Dask task on an existing scheduler's workers."""
    return RunKeyedDaskExecutor("existing", {"address": init_context.executor_config["address"]})
