"""The demo chain run in-process in the embedded profile: the reference a cluster run is
compared with (``bench.load.cluster_soak``)."""

from __future__ import annotations

import importlib.util
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def plan_run_config(small: bool, fashion_train_limit: int) -> dict[str, dict]:
    """Run config per job: the tests' tiny world (``tests/tiny_world.py``, read from its file),
    or the demo's (``dagster_project.demo``)."""
    if small:
        spec = importlib.util.spec_from_file_location("tiny_world", ROOT / "tests" / "tiny_world.py")
        tiny_world = sys.modules["tiny_world"] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(tiny_world)
        return tiny_world.TINY_RUN_CONFIG
    from dagster_project.demo import demo_run_config

    return demo_run_config(fashion_train_limit)


def run_embedded_chain(home: Path, run_config: dict[str, dict]) -> dict:
    """The demo chain executed in-process in the embedded profile on ``home``: the wall time
    and the runs that failed."""
    import dagster as dg

    from devtools.dagster_server import prepare_dagster_home

    dagster_home = prepare_dagster_home(home)
    os.environ.update(
        {"REACT_PROFILE": "embedded", "REACT_HOME": str(home), "DAGSTER_HOME": str(dagster_home)}
    )
    from dagster_project.definitions import build_definitions
    from dagster_project.demo import QUIET, run_pipeline

    defs = build_definitions(str(home))
    failed: list[str] = []
    started = time.monotonic()
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:

        def execute(job: str, partition: str | None, config: dict) -> None:
            result = defs.resolve_job_def(job).execute_in_process(
                instance=instance, partition_key=partition, run_config=config | QUIET, raise_on_error=False
            )
            if not result.success:
                failed.append(f"{job}[{partition}]" if partition else job)

        run_pipeline(instance, execute, run_config)
    return {"wall_s": round(time.monotonic() - started, 1), "failed_runs": failed}
