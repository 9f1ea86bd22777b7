"""The one Definitions object of the REACT code location (wiring only)."""

import os
from pathlib import Path

import dagster as dg

from dagster_project import automation, checks, jobs, sensors
from dagster_project.assets import (
    corpus,
    customization,
    demo,
    domains,
    embeddings,
    evaluation,
    index,
    models,
    retrieval,
)
from dagster_project.profile import Profile, current_profile
from dagster_project.resources import MlflowResource, ReactHomeResource, default_react_home
from react_assets.files.paths import check_writable

ASSET_MODULES = [demo, corpus, models, embeddings, index, domains, retrieval, customization,
                 evaluation]


def build_definitions(root: str, profile: Profile | None = None) -> dg.Definitions:
    """The code location's definitions with every output under ``root`` (REACT_HOME), for the
    embedded profile by default or the given one (cluster: Dask executor, servers)."""
    profile = profile or Profile()
    executor = None
    if profile.dask_scheduler:
        from dagster_project.executor import dask_cluster_executor
        executor = dask_cluster_executor.configured({"address": profile.dask_scheduler})
    return dg.Definitions(
        executor=executor,
        assets=dg.load_assets_from_modules(ASSET_MODULES),
        jobs=jobs.ALL_JOBS,
        asset_checks=checks.ALL_CHECKS,
        sensors=[*sensors.ALL_SENSORS, automation.automation_sensor],
        resources={
            "react_home": ReactHomeResource(root=root,
                                            metadata_backend=profile.metadata_backend,
                                            metadata_dsn=profile.metadata_dsn),
            "mlflow": MlflowResource(root=root, tracking_uri=profile.mlflow_uri),
        },
    )


def check_homes() -> None:
    """REACT_HOME and DAGSTER_HOME can be written, else an error naming the path, before the
    code location touches anything (scripts/env.sh makes the same check before Dagster starts)."""
    check_writable(Path(default_react_home()), "REACT_HOME")
    if os.environ.get("DAGSTER_HOME"):
        check_writable(Path(os.environ["DAGSTER_HOME"]), "DAGSTER_HOME")


check_homes()
defs = build_definitions(default_react_home(), current_profile())
