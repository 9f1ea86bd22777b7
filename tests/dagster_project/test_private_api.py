"""The private Dagster names the project relies on (dagster_project/private_api.py) still behave
as it uses them: a Dagster upgrade that moves or changes one fails here, naming it."""

from __future__ import annotations

import inspect

import dagster as dg
import pytest
from dagster_dask.executor import query_on_dask_worker

from dagster_project import private_api as private
from dagster_project.configs import bounded_number


def test_a_config_scalar_post_process_refuses_a_value_while_dagster_resolves_the_config():
    @dg.op(config_schema={"steps": dg.Field(bounded_number(int, (("ge", 1.0),)))})
    def train(context) -> int:
        return context.op_config["steps"]

    @dg.job
    def job():
        train()

    assert issubclass(type(bounded_number(int, (("ge", 1.0),))), private.ConfigScalar)
    ok = job.execute_in_process(run_config={"ops": {"train": {"config": {"steps": 3}}}})
    assert ok.output_for_node("train") == 3
    with pytest.raises(dg.DagsterInvalidConfigError, match="must be >= 1"):
        job.execute_in_process(run_config={"ops": {"train": {"config": {"steps": 0}}}})


def test_config_type_kinds_name_what_the_launch_bounds_test_walks():
    assert {"SCALAR", "NONEABLE", "ENUM"} <= set(private.ConfigTypeKind.__members__)
    assert {"INT", "FLOAT"} <= set(private.ConfigScalarKind.__members__)
    assert issubclass(private.PostProcessingError, Exception)


def test_the_dask_executors_plumbing_has_the_shapes_it_uses():
    items = private.iterate_with_context(private.raise_execution_interrupts, iter([1, 2]))
    assert list(items) == [1, 2]
    assert callable(private.ExecutionPlan.get_steps_to_execute_by_level)
    assert "known_state" in private.ExecutionPlan._fields  # a NamedTuple field
    assert "event_type_value" in dir(private.DagsterEvent)
    assert list(inspect.signature(query_on_dask_worker).parameters) == [
        "dependencies", "recon_job", "dagster_run", "run_config", "step_keys", "instance_ref",
        "known_state"]


def test_a_reconstructable_repository_resolves_the_projects_jobs():
    repo = private.ReconstructableRepository.for_module("dagster_project.definitions", "defs")
    assert repo.get_reconstructable_job("corpus_job").job_name == "corpus_job"


def test_a_partition_backfill_is_built_from_asset_partitions_and_added_to_an_instance():
    params = inspect.signature(private.PartitionBackfill.from_asset_partitions).parameters
    assert {"backfill_id", "asset_graph", "partition_names", "asset_selection",
            "backfill_timestamp", "tags", "dynamic_partitions_store", "all_partitions", "title",
            "description", "run_config"} <= set(params)
    assert callable(dg.DagsterInstance.add_backfill)


def test_a_job_backfill_round_trips_through_an_instance_with_its_status():
    """automation.py tells unfinished job backfills by BulkActionStatus, and its tests record
    one with the origin of a job's partition set."""
    origin = private.RemotePartitionSetOrigin(
        repository_origin=private.RemoteRepositoryOrigin(
            code_location_origin=private.RegisteredCodeLocationOrigin("react"),
            repository_name="__repository__"),
        partition_set_name="embedding_job_partition_set")
    with dg.instance_for_test() as instance:
        instance.add_backfill(private.PartitionBackfill(
            backfill_id="privateapi", partition_set_origin=origin,
            status=private.BulkActionStatus.REQUESTED, partition_names=["a", "b"],
            from_failure=False, reexecution_steps=None, tags={}, backfill_timestamp=0.0))
        stored = instance.get_backfill("privateapi")
        assert stored.status == private.BulkActionStatus.REQUESTED
        assert not stored.is_asset_backfill
        assert stored.partition_set_origin.partition_set_name == "embedding_job_partition_set"
        assert {"REQUESTED", "COMPLETED_SUCCESS", "CANCELING"} <= {
            s.name for s in private.BulkActionStatus}
