"""Every private Dagster name this project uses, imported here and nowhere else.

Dagster's public API has no way yet to (a) give a config field a numeric bound that Dagster
itself checks while it resolves a run's config (so the launchpad refuses a bad value before a run
exists: a custom ``ConfigScalar`` with ``post_process``), nor (b) run a job's steps on an
existing Dask scheduler with dagster-dask on a current Dask (the executor needs the execution
plan and the step-event plumbing), nor (c) record an asset backfill in a test instance without a
webserver (``PartitionBackfill``: the automation tests show that a backfill upstream holds the
index and the domains back), nor (d) tell a backfill that may still launch runs from a finished
one (``BulkActionStatus``: the automation conditions wait for unfinished job backfills), nor
(e) record a job backfill in a test instance (``PartitionBackfill`` with the origin of a job's
partition set: ``RemotePartitionSetOrigin``, ``RemoteRepositoryOrigin``,
``RegisteredCodeLocationOrigin``).
``tests/dagster_project/test_private_api.py`` checks the behaviour each name is used for, so a
Dagster upgrade that moves or changes one fails there, naming it, before anything else breaks.
Written against Dagster 1.13.
"""

from __future__ import annotations

from dagster._config.config_type import ConfigScalar, ConfigScalarKind, ConfigTypeKind
from dagster._config.errors import PostProcessingError
from dagster._core.definitions.reconstruct import ReconstructableRepository
from dagster._core.errors import raise_execution_interrupts
from dagster._core.events import DagsterEvent
from dagster._core.execution.backfill import BulkActionStatus, PartitionBackfill
from dagster._core.execution.plan.plan import ExecutionPlan
from dagster._core.remote_origin import (
    RegisteredCodeLocationOrigin,
    RemotePartitionSetOrigin,
    RemoteRepositoryOrigin,
)
from dagster._utils import iterate_with_context

__all__ = [
    "BulkActionStatus", "ConfigScalar", "ConfigScalarKind", "ConfigTypeKind", "DagsterEvent",
    "ExecutionPlan", "PartitionBackfill", "PostProcessingError", "ReconstructableRepository",
    "RegisteredCodeLocationOrigin", "RemotePartitionSetOrigin", "RemoteRepositoryOrigin",
    "iterate_with_context", "raise_execution_interrupts",
]
