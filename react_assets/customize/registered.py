"""Load a customization by its MLflow registry name: ``models:/react-<domain>@champion`` (the
domain's model to serve), another alias, or ``models:/<name>/<version>``.

The registry says which version the URI names; the metadata's ``models`` table says which model
that version is and where its folder lies in the home; :func:`load_customized_model` rebuilds it
and checks the weights against the model's id. A notebook::

    from react_assets.customize.registered import load_registered_model
    from react_assets.metadata import open_store
    from mlflow import MlflowClient

    store = open_store("var")
    client = MlflowClient(tracking_uri="sqlite:////abs/var/mlflow.db")  # or the server's URL
    bundle = load_registered_model(store, client, "models:/react-digits@champion")
    features = bundle.model.encode_image(bundle.preprocess_val(image)[None])
"""

from __future__ import annotations

from dataclasses import dataclass

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from react_assets.customize.saved import load_customized_model
from react_assets.domains.settings import VARIANTS
from react_assets.metadata import Store
from react_assets.metadata.sql import select_model_by_mlflow_uri
from react_assets.models.factory import ClipBundle
from react_assets.tracking.links import parse_model_uri


@dataclass(frozen=True)
class RegisteredModel:
    """A registry URI resolved: the version it names and the model row of that version."""

    uri: str
    name: str
    version: int
    model_id: str
    kind: str
    checkpoint: str
    mlflow_run_id: str | None


def resolve_registered_model(store: Store, client: MlflowClient, uri: str) -> RegisteredModel:
    """Which version ``uri`` names now, and which of the home's models that version is."""
    parsed = parse_model_uri(uri)
    try:
        if parsed.alias is not None:
            found = client.get_model_version_by_alias(parsed.name, parsed.alias)
        else:
            found = client.get_model_version(parsed.name, str(parsed.version))
    except MlflowException as err:
        raise LookupError(f"{uri}: not in the registry: {err.message}") from None
    version = int(found.version)
    rows = store.fetch(select_model_by_mlflow_uri, {"uri": f"models:/{parsed.name}/{version}"})
    if not rows:
        raise LookupError(f"{uri} is version {version} of {parsed.name}, which no model of this "
                          "home's metadata is registered as")
    row = rows[0]
    if row["mlflow_run_id"] and found.run_id and row["mlflow_run_id"] != found.run_id:
        raise LookupError(f"{uri}: version {version} comes from MLflow run {found.run_id}, but "
                          f"the home's model {row['model_id']} from run {row['mlflow_run_id']}: "
                          "the registry and the metadata belong to different homes")
    return RegisteredModel(uri, parsed.name, version, row["model_id"], row["kind"],
                           row["checkpoint"], row["mlflow_run_id"])


def load_registered_model(store: Store, client: MlflowClient, uri: str) -> ClipBundle:
    """The customized model ``uri`` names (see the module docstring), in eval mode."""
    found = resolve_registered_model(store, client, uri)
    if found.kind not in VARIANTS:
        raise ValueError(f"{uri} is a {found.kind} model ({found.model_id}), not a customization "
                         f"of {VARIANTS}: load its head with react_assets.customize.real.load_head")
    bundle = load_customized_model(store.home.resolve(found.checkpoint))
    if bundle.model_id != found.model_id:
        raise ValueError(f"{uri}: the folder {found.checkpoint} holds {bundle.model_id}, not "
                         f"the registered {found.model_id}")
    return bundle
