"""Data contracts of the corpus indexes."""

from __future__ import annotations

from react_assets.embed.encode import EMBEDDING_FILES
from react_assets.metadata import Store
from react_assets.metadata.sql import select_index
from react_assets.models.base import current_base
from react_assets.tracking.contracts import CheckOutcome


def recall_meets_target(store: Store) -> CheckOutcome:
    """From the indexes table: recall >= recall_target and the index file exists, per modality."""
    model_id = current_base(store).model_id
    metadata: dict = {"model_id": model_id}
    problems: list[str] = []
    for modality in EMBEDDING_FILES:
        rows = store.fetch(select_index, {"model_id": model_id, "modality": modality})
        if not rows:
            problems.append(f"{modality}: no index recorded for model {model_id}")
            continue
        row = rows[0]
        metadata[f"{modality}_recall"] = round(float(row["recall"]), 4)
        metadata[f"{modality}_recall_target"] = float(row["recall_target"])
        metadata[f"{modality}_factory"] = row["factory"]
        if not row["recall"] >= row["recall_target"]:
            problems.append(f"{modality}: recall {row['recall']:.4f} < target "
                            f"{row['recall_target']:.4f} ({row['factory']})")
        index_file = store.home.resolve(row["path"])
        if not index_file.is_file():
            problems.append(f"{modality}: index file {index_file} does not exist")
    metadata["problems"] = problems
    return CheckOutcome(passed=not problems, metadata=metadata)
