"""A home with real metadata and a real MLflow registry, the tiny base model, and customizations of
it registered as versions of ``react-<domain>`` (the promotion and loading tests share it)."""

from __future__ import annotations

import copy
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from react_assets.metadata.sql import upsert_model
from tiny_world import TINY_BASE, register_tiny_base

from react_assets.customize.gated import CustomizationConfig, customize_model, gated_blocks
from react_assets.customize.saved import save_customization
from react_assets.evaluate.promotion import RegisteredVersion
from react_assets.files.paths import ReactPaths
from react_assets.metadata import Store, open_store
from react_assets.models.factory import create_base_model
from react_assets.tracking.lineage import LineageConfig, LineageWriter
from react_assets.tracking.promote import registered_model_name

GATED = CustomizationConfig(variant="gated-image", num_gated_blocks=1)


@dataclass
class RegistryHome:
    """A REACT_HOME as the MLflow resource lays it out: metadata and ``mlflow.db`` in it."""

    paths: ReactPaths
    store: Store
    writer: LineageWriter
    base_id: str

    @property
    def client(self):
        return self.writer.client


def registry_home(root: Path) -> RegistryHome:
    paths = ReactPaths(root).create()
    store = open_store(paths.root)
    base_id = register_tiny_base(store)
    writer = LineageWriter(LineageConfig(tracking_uri=paths.mlflow_tracking_uri,
                                         artifact_root=paths.mlartifacts.resolve()))
    return RegistryHome(paths, store, writer, base_id)


def register_version(home: RegistryHome, domain: str, gate: float,
                     spec_digest: str | None = None) -> RegisteredVersion:
    """A gated-image customization of the tiny base whose gates are ``gate`` (so each version has
    its own weights), saved in the home, logged and registered as the next version of
    ``react-<domain>``, and recorded in ``models`` as ``record_customization`` does."""
    model = customize_model(copy.deepcopy(create_base_model(TINY_BASE).model), GATED)
    with torch.no_grad():
        for block in gated_blocks(model).values():
            block.alpha_attn.fill_(gate)
            block.alpha_dense.fill_(gate)
    folder = home.paths.checkpoints / domain / f"gate-{gate}" / "model"
    model_id = save_customization(model, GATED, TINY_BASE, folder, f"react-{domain}-gated-image")
    with home.writer.start_run(f"react_model-{domain}") as run:
        ref = home.writer.log_model(run, folder, registered_model_name(domain))
    home.store.execute(upsert_model, {
        "model_id": model_id, "parent_model_id": home.base_id, "kind": "gated-image",
        "domain": domain, "arch": TINY_BASE.arch, "pretrained": None,
        "checkpoint": home.store.home.relative(folder), "retrieval_digest": None,
        "metadata_snapshot": None, "config": json.dumps({"customization": asdict(GATED)}),
        "mlflow_run_id": run.run_id, "mlflow_model_uri": ref.model_uri, "dagster_run_id": None,
        "spec_digest": spec_digest})
    return RegisteredVersion(model_id, ref.version)
