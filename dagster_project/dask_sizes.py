"""The size of a Dagster step event for Dask's memory accounting.

A step run on a Dask worker returns its events (``list[DagsterEvent]``); the worker keeps that
list as the task's result, hands it to the run process and to the steps that depend on it, and
sizes it each time with ``dask.sizeof``. Dask's default walks tuples item by item, and a
``DagsterEvent`` is a tuple whose fields hold Dagster ``@record`` values (metadata values, asset
keys) that refuse iteration, so every step's result logged "Sizeof calculation for object of
type 'list' failed" and was counted as 1 MB. Importing this module registers the size Dask
ships: the event's pickled bytes. ``dagster_project.executor`` imports it, so it is registered
wherever a step runs.
"""

from __future__ import annotations

import pickle

from dask.sizeof import sizeof

from dagster_project.private_api import DagsterEvent


@sizeof.register(DagsterEvent)
def sizeof_dagster_event(event: DagsterEvent) -> int:
    """Bytes of ``event`` as Dask sends it between processes (pickled)."""
    return len(pickle.dumps(event, protocol=pickle.HIGHEST_PROTOCOL))
