"""Resources: where outputs live (REACT_HOME), the DuckDB store in it, and MLflow lineage."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

from react_assets.files.paths import ReactPaths
from react_assets.metadata import Catalog, Store, open_store
from react_assets.tracking.lineage import LineageConfig, LineageWriter
from react_assets.tracking.links import TrackingLinks

MLFLOW_PORT = 5000  # scripts/mlflow.sh's default port (MLFLOW_PORT)


class ReactHomeResource(dg.ConfigurableResource):
    """The output root (REACT_HOME); hands out its paths and the metadata store (a DuckLake
    catalog: a SQLite file in the home, or PostgreSQL in the cluster profile)."""

    root: str
    metadata_backend: str = "sqlite"  # "postgres": the catalog in metadata_dsn's database
    metadata_dsn: str | None = None

    def paths(self) -> ReactPaths:
        return ReactPaths(Path(self.root).resolve()).create()

    def layout(self) -> ReactPaths:
        """The paths without creating any folder: what a sensor tick, which only looks, uses."""
        return ReactPaths(Path(self.root).resolve())

    def catalog(self) -> Catalog:
        """Where the metadata lives, not opened: what a sensor tick reads, read-only."""
        return Catalog(Path(self.root).resolve(), self.metadata_backend, self.metadata_dsn)

    def store(self) -> Store:
        """The metadata store, with the schema applied (idempotent)."""
        return open_store(self.paths().root, self.metadata_backend, dsn=self.metadata_dsn)


def default_react_home() -> str:
    """REACT_HOME from the environment, else ./var (read here, never in the library)."""
    return os.environ.get("REACT_HOME", "var")


def local_mlflow_ui() -> str:
    """Where scripts/mlflow.sh serves the embedded profile's MLflow UI (MLFLOW_PORT, else 5000)."""
    return f"http://127.0.0.1:{os.environ.get('MLFLOW_PORT') or MLFLOW_PORT}"


class MlflowResource(dg.ConfigurableResource):
    """MLflow lineage (our own, not the legacy dagster-mlflow): a sqlite store under REACT_HOME,
    or a tracking server's http URI (cluster profile; the server keeps the artifacts).
    ``ui_url``: where people open the tracking UI, for the links in the assets' metadata
    (default: the server's URI, else scripts/mlflow.sh's address)."""

    root: str
    experiment_name: str = "react"
    tracking_uri: str | None = None
    ui_url: str | None = None

    def links(self) -> TrackingLinks:
        """Links to runs and registered model versions in the tracking UI."""
        server = self.tracking_uri if (self.tracking_uri or "").startswith("http") else None
        return TrackingLinks(self.ui_url or server or local_mlflow_ui())

    def writer(self) -> LineageWriter:
        if self.tracking_uri:
            return LineageWriter(LineageConfig(tracking_uri=self.tracking_uri, artifact_root=None,
                                               experiment_name=self.experiment_name))
        paths = ReactPaths(Path(self.root).resolve()).create()
        return LineageWriter(LineageConfig(
            tracking_uri=paths.mlflow_tracking_uri,
            artifact_root=paths.mlartifacts.resolve(),
            experiment_name=self.experiment_name,
        ))
