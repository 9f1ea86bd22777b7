"""The lineage of a registered model: parent, the domain spec version it answers, the exact
retrieval set it saw, its pairs and shards."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from react_assets.metadata import Store
from react_assets.metadata.sql import select_model_lineage, select_model_snapshot


@dataclass(frozen=True)
class ModelLineage:
    """Where a model came from. ``imported`` models (official checkpoints) have no retrieval set:
    ``retrieval_digest`` is None and ``pair_ids``/``shards`` are empty; ``source`` names the file.
    ``spec_digest`` is the domain spec version the model was made for, ``spec_classes`` and
    ``spec_templates`` that version's (None and empty for a model of no domain, or made before
    versions were kept)."""

    model_id: str
    kind: str
    domain: str | None
    parent_model_id: str | None
    retrieval_digest: str | None
    settings: dict[str, Any]
    pair_ids: tuple[int, ...]
    shards: tuple[str, ...]
    imported: bool
    source: dict[str, Any]
    mlflow_run_id: str | None
    mlflow_model_uri: str | None
    metadata_snapshot: int | None = None  # the snapshot the pairs and shards were read at
    spec_digest: str | None = None
    spec_classes: tuple[str, ...] = ()
    spec_templates: tuple[str, ...] = ()


def model_lineage(store: Store, model_id: str) -> ModelLineage:
    """Walk back from ``model_id`` (any model in ``models``, however old) to its pairs and shards.

    Raises ``KeyError`` for an unknown model and ``LookupError`` when the model names a retrieval
    set that is no longer stored (never the case for sets kept by the retention rule).
    """
    recorded = store.fetch(select_model_snapshot, {"model_id": model_id})
    if not recorded:
        raise KeyError(f"model {model_id!r} is not registered in the models table")
    snapshot = recorded[0]["metadata_snapshot"]
    rows = store.fetch(select_model_lineage, {
        "model_id": model_id,
        "snapshot": store.snapshot_id() if snapshot is None else snapshot})
    if not rows:
        raise KeyError(f"model {model_id!r} is not registered in the models table")
    row = rows[0]
    config = json.loads(row["config"]) if row["config"] else {}
    imported = config.get("origin") == "imported"
    digest = row["retrieval_digest"]
    version = json.loads(row["spec_version"]) if row["spec_version"] else {}
    if digest and not row["pair_ids"]:
        raise LookupError(f"model {model_id} was trained on retrieval set {digest}, which is no "
                          "longer stored")
    return ModelLineage(
        model_id=row["model_id"], kind=row["kind"], domain=row["domain"],
        parent_model_id=row["parent_model_id"], retrieval_digest=digest,
        settings=json.loads(row["settings"]) if row["settings"] else {},
        pair_ids=tuple(int(i) for i in row["pair_ids"] or ()),
        shards=tuple(row["shards"] or ()), imported=imported,
        source=config.get("source", {}) if imported else {},
        mlflow_run_id=row["mlflow_run_id"], mlflow_model_uri=row["mlflow_model_uri"],
        metadata_snapshot=row["metadata_snapshot"], spec_digest=row["spec_digest"],
        spec_classes=tuple(version.get("classes", ())), spec_templates=tuple(
            version.get("templates", ())),
    )
