"""Data contracts of the corpus embeddings."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from react_assets.embed.encode import EMBEDDING_FILES
from react_assets.metadata import Store
from react_assets.metadata.sql import select_embedding_set, select_shard_pair_ids
from react_assets.models.base import current_base
from react_assets.tracking.contracts import CheckOutcome

log = logging.getLogger(__name__)

# float16 keeps 11 significant bits (unit roundoff 2**-11 ~ 4.9e-4): a unit vector stored in
# float16 has a norm within that of 1; four times it leaves room for the accumulated rounding.
NORM_TOLERANCE = 4 * 2.0**-11
NORM_CHUNK_ROWS = 65_536


def max_norm_error(path: Path) -> tuple[int, float]:
    """(rows, largest |norm - 1|) of a float16 embedding file, read in chunks (NaN counts as inf)."""
    array = np.load(path, mmap_mode="r")
    worst = 0.0
    for start in range(0, array.shape[0], NORM_CHUNK_ROWS):
        chunk = np.asarray(array[start:start + NORM_CHUNK_ROWS], dtype=np.float32)
        error = np.abs(np.linalg.norm(chunk, axis=1) - 1.0)
        worst = max(worst, float(np.max(np.nan_to_num(error, nan=np.inf), initial=0.0)))
    return int(array.shape[0]), worst


def _embedding_problems(folder: Path, expected_ids: np.ndarray, n_rows: int) -> tuple[
        list[str], dict[str, float]]:
    """Every way the embedding folder disagrees with the shard's pairs, and the norm errors."""
    problems: list[str] = []
    missing = [name for name in ("pair_ids.npy", *EMBEDDING_FILES.values())
               if not (folder / name).is_file()]
    if missing:
        return [f"{folder}: missing {', '.join(missing)}"], {}
    pair_ids = np.load(folder / "pair_ids.npy")
    if pair_ids.shape != expected_ids.shape or not np.array_equal(pair_ids, expected_ids):
        mismatch = np.flatnonzero(pair_ids[:len(expected_ids)] != expected_ids[:len(pair_ids)])
        first = int(mismatch[0]) if mismatch.size else min(len(pair_ids), len(expected_ids))
        problems.append(f"{folder / 'pair_ids.npy'}: {len(pair_ids)} ids vs {len(expected_ids)} "
                        f"pairs in DuckDB, first difference at row {first}")
    errors: dict[str, float] = {}
    for modality, filename in EMBEDDING_FILES.items():
        rows, errors[modality] = max_norm_error(folder / filename)
        if rows != len(expected_ids) or rows != n_rows:
            problems.append(f"{folder / filename}: {rows} rows, expected {len(expected_ids)} "
                            f"(DuckDB pairs) and {n_rows} (embedding_sets)")
        if not errors[modality] <= NORM_TOLERANCE:
            problems.append(f"{folder / filename}: max |norm - 1| = {errors[modality]:.4g} "
                            f"> {NORM_TOLERANCE:.4g}")
    return problems, errors


def embeddings_unit_norm_and_aligned(store: Store, shard_id: str) -> CheckOutcome:
    """pair_ids.npy equals the shard's pair ids in ordinal order; every row has norm 1 (float16)."""
    model_id = current_base(store).model_id
    sets = store.fetch(select_embedding_set, {"shard_id": shard_id, "model_id": model_id})
    expected = np.array([r["pair_id"] for r in store.fetch(select_shard_pair_ids,
                                                           {"shard_id": shard_id})], dtype=np.int64)
    if not sets:
        problems, errors = [f"shard {shard_id}: no embedding_sets row for model {model_id}"], {}
    else:
        problems, errors = _embedding_problems(store.home.resolve(sets[0]["folder"]), expected,
                                               int(sets[0]["n_rows"]))
    for problem in problems:
        log.error(problem)
    return CheckOutcome(passed=not problems, metadata={
        "shard": shard_id, "model_id": model_id, "pairs_in_duckdb": len(expected),
        **{f"{m}_max_norm_error": round(e, 6) for m, e in errors.items()},
        "norm_tolerance": NORM_TOLERANCE, "problems": problems,
    })
