"""Run the tiny world's stages (or one job) in the profile REACT_PROFILE names; dump what ran.

    python tests/cluster/run_tiny_world.py OUT.json                      # every stage
    python tests/cluster/run_tiny_world.py OUT.json domain_job fashion   # one job [partition]
    python tests/cluster/run_tiny_world.py OUT.json stages=world,corpus  # some stages

embedded: each job in-process against DAGSTER_HOME's instance. cluster: each job through
dg.execute_job, its steps on the Dask workers, runs and events in PostgreSQL. OUT.json gets every
run (job, partition, run id, success, the worker that materialized each asset) and the metadata
tables' rows with the volatile columns (times, speeds, run ids) left out and REACT_HOME replaced.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import dagster as dg

from dagster_project.private_api import ReconstructableRepository

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))
from tiny_world import TINY_RUN_CONFIG  # noqa: E402

from dagster_project.demo import STAGES, run_pipeline  # noqa: E402
from dagster_project.profile import current_profile  # noqa: E402
from react_assets.metadata import TABLES, open_store  # noqa: E402

VOLATILE = {"created_at", "ingested_at", "registered_at", "evaluated_at", "retrieved_at",
            "compared_at", "decided_at",
            "pairs_per_second",
            "build_seconds", "mlflow_run_id", "dagster_run_id", "memory_bytes", "stats",
            "bytes_on_disk", "details", "config", "mlflow_model_uri", "metadata_snapshot"}


def _materialized_by(events: list[dg.DagsterEvent]) -> list[dict]:
    out = []
    for event in events:
        if event.event_type_value == "ASSET_MATERIALIZATION":
            mat = event.event_specific_data.materialization
            worker = mat.metadata.get("worker")
            out.append({"asset": mat.asset_key.to_user_string(), "step": event.step_key,
                        "worker": worker.value if worker is not None else None})
    return out


def metadata_rows(home: Path, backend: str, dsn: str | None) -> dict[str, list]:
    """Every table's rows, sorted, volatile columns dropped, REACT_HOME replaced by <home>."""
    store = open_store(home, backend, dsn=dsn)
    tables = {}
    with store.connect() as conn:
        for table in TABLES:
            result = conn.execute(f"SELECT * FROM {table}")  # noqa: S608 - table names only
            names = [d[0] for d in result.description]
            rows = [{k: str(v).replace(str(home), "<home>") for k, v in zip(names, row,
                                                                            strict=True)
                     if k not in VOLATILE} for row in result.fetchall()]
            tables[table] = sorted(rows, key=lambda r: json.dumps(r, sort_keys=True))
    return tables


def main(out: Path, job: str | None, partition: str | None) -> None:
    profile = current_profile()
    home = Path(os.environ["REACT_HOME"]).resolve()
    runs: list[dict] = []
    with dg.DagsterInstance.get() as instance:
        if profile.name == "cluster":
            repo = ReconstructableRepository.for_module("dagster_project.definitions", "defs",
                                                        working_directory=str(REPO))

            def execute(job: str, partition: str | None, config: dict) -> None:
                tags = {"dagster/partition": partition} if partition else {}
                result = dg.execute_job(repo.get_reconstructable_job(job), instance=instance,
                                        run_config=config, tags=tags)
                runs.append({"job": job, "partition": partition, "run_id": result.run_id,
                             "success": result.success,
                             "materialized": _materialized_by(result.all_events)})
        else:
            from dagster_project.definitions import defs

            def execute(job: str, partition: str | None, config: dict) -> None:
                result = defs.resolve_job_def(job).execute_in_process(
                    instance=instance, partition_key=partition, run_config=config,
                    raise_on_error=False)
                runs.append({"job": job, "partition": partition, "run_id": result.run_id,
                             "success": result.success,
                             "materialized": _materialized_by(result.all_events)})

        if job is None or job.startswith("stages="):
            stages = tuple(job[len("stages="):].split(",")) if job else STAGES
            run_pipeline(instance, execute, TINY_RUN_CONFIG, stages)
        else:
            execute(job, partition, TINY_RUN_CONFIG.get(job, {}))
    out.write_text(json.dumps({"runs": runs,
                               "metadata": metadata_rows(home, profile.metadata_backend,
                                                         profile.metadata_dsn)}))


if __name__ == "__main__":
    args = sys.argv[1:] + [None, None]
    main(Path(args[0]), args[1], args[2])
