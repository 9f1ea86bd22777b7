"""Resources: where outputs live (REACT_HOME), the DuckDB store in it, and MLflow lineage."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

from react_assets.lineage import LineageConfig, LineageWriter
from react_assets.paths import ReactPaths
from react_assets.store import Store


class ReactHomeResource(dg.ConfigurableResource):
    """The output root (REACT_HOME); hands out its paths and the DuckDB metadata store."""

    root: str

    def paths(self) -> ReactPaths:
        return ReactPaths(Path(self.root).resolve()).create()

    def store(self) -> Store:
        """The DuckDB store, with the schema applied (idempotent)."""
        store = Store(self.paths().duckdb)
        store.apply_schema()
        return store


def default_react_home() -> str:
    """REACT_HOME from the environment, else ./var (read here, never in the library)."""
    return os.environ.get("REACT_HOME", "var")


class MlflowResource(dg.ConfigurableResource):
    """MLflow lineage in a sqlite store under REACT_HOME (our own, not the legacy dagster-mlflow)."""

    root: str
    experiment_name: str = "react"

    def writer(self) -> LineageWriter:
        paths = ReactPaths(Path(self.root).resolve()).create()
        return LineageWriter(LineageConfig(
            tracking_uri=paths.mlflow_tracking_uri,
            artifact_root=paths.mlartifacts.resolve(),
            experiment_name=self.experiment_name,
        ))
