"""Asset metadata people read in the UI: records as tables, MLflow runs and versions as links."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import dagster as dg

from react_assets.tracking.links import TrackingLinks


def records_table(records: Sequence[dict[str, Any]], columns: Sequence[str]) -> dg.TableMetadataValue:
    """``columns`` of ``records`` as a table (each column typed by its first value that is not
    None: bool, int, float, else string)."""
    def kind(column: str) -> str:
        value = next((r[column] for r in records if r[column] is not None), "")
        return {bool: "bool", int: "int", float: "float"}.get(type(value), "string")

    return dg.MetadataValue.table(
        records=[dg.TableRecord({c: r[c] for c in columns}) for r in records],
        schema=dg.TableSchema(columns=[dg.TableColumn(c, kind(c)) for c in columns]))


def mlflow_links(links: TrackingLinks, experiment_id: str, prefix: str, run_id: str | None,
                 model_uri: str | None) -> dict[str, dg.UrlMetadataValue]:
    """``<prefix>mlflow_run`` and ``<prefix>mlflow_model`` as links to the tracking UI (each
    only when known)."""
    out = {}
    if run_id:
        out[f"{prefix}mlflow_run"] = dg.MetadataValue.url(links.run(experiment_id, run_id))
    page = links.model_uri(model_uri) if model_uri else None
    if page:
        out[f"{prefix}mlflow_model"] = dg.MetadataValue.url(page)
    return out
