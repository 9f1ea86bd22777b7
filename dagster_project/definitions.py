"""The one Definitions object of the REACT code location (wiring only)."""

import os
from pathlib import Path

import dagster as dg

from dagster_project import checks, jobs, schedules, sensors
from dagster_project.assets import (
    corpus,
    customization,
    demo,
    embeddings,
    evaluation,
    index,
    models,
    retrieval,
)
from dagster_project.resources import MlflowResource, ReactHomeResource, default_react_home
from react_assets.paths import check_writable

ASSET_MODULES = [demo, corpus, models, embeddings, index, retrieval, customization, evaluation]


def build_definitions(root: str) -> dg.Definitions:
    """The code location's definitions with every output under ``root`` (REACT_HOME)."""
    return dg.Definitions(
        assets=dg.load_assets_from_modules(ASSET_MODULES),
        jobs=jobs.ALL_JOBS,
        asset_checks=checks.ALL_CHECKS,
        sensors=sensors.ALL_SENSORS,
        schedules=schedules.ALL_SCHEDULES,
        resources={
            "react_home": ReactHomeResource(root=root),
            "mlflow": MlflowResource(root=root),
        },
    )


def check_homes() -> None:
    """REACT_HOME and DAGSTER_HOME can be written, else an error naming the path, before the
    code location touches anything (scripts/env.sh makes the same check before Dagster starts)."""
    check_writable(Path(default_react_home()), "REACT_HOME")
    if os.environ.get("DAGSTER_HOME"):
        check_writable(Path(os.environ["DAGSTER_HOME"]), "DAGSTER_HOME")


check_homes()
defs = build_definitions(default_react_home())
