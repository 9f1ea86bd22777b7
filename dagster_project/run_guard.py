"""The guard a step on a Dask worker publishes under: nothing once its run stopped.

A Dask task cannot be interrupted: a step that a canceled run left on a worker goes on in its
thread. :class:`RunStillGoing` is the library's publish guard (``react_assets.files.guard``)
for that step: right before each file rename and each metadata commit it reads the run's status
in the Dagster instance, and once the run is canceling, canceled or failed (or was deleted) it
answers why, so the library refuses to publish and the step ends there. It is picklable (an
instance ref and a run id), so the training processes a step starts carry it too.
"""

from __future__ import annotations

from typing import Any

import dagster as dg

# A run in one of these states must not gain rows, files or materializations any more.
STOPPED = (dg.DagsterRunStatus.CANCELING, dg.DagsterRunStatus.CANCELED,
           dg.DagsterRunStatus.FAILURE)


class RunStillGoing:
    """A publish guard: why run ``run_id`` may no longer publish, or None while it may."""

    def __init__(self, instance_ref: Any, run_id: str) -> None:
        self.instance_ref, self.run_id = instance_ref, run_id
        self._instance: dg.DagsterInstance | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {"instance_ref": self.instance_ref, "run_id": self.run_id}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["instance_ref"], state["run_id"])

    def close(self) -> None:
        """Let go of the instance this guard opened (a pickled copy opens its own)."""
        if self._instance is not None:
            self._instance.dispose()
            self._instance = None

    def __call__(self) -> str | None:
        if self._instance is None:
            self._instance = dg.DagsterInstance.from_ref(self.instance_ref)
        run = self._instance.get_run_by_id(self.run_id)
        if run is None:
            return f"run {self.run_id} no longer exists"
        if run.status in STOPPED:
            return f"run {self.run_id} is {run.status.value}"
        return None
