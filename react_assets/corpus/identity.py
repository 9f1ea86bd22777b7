"""Which shard a tar is, and what may replace an ingested one.

img2dataset names every run's shards ``00000.tar``, ``00001.tar``, ... so a landed file's name
cannot be its identity. A landed shard's id is its name plus the first 12 hex digits of its
sha256 (:func:`landed_shard_id`): a second corpus, or a corrected shard under the same name, is a
new shard with its own pairs (pair ids derive from the shard id), and the same bytes landed
again are the same shard. An ingested shard's rows are replaced only on an explicit request
(:func:`check_replacement`).

The img2dataset ``.parquet`` beside a tar lists every sample of the shard with its status; it
gives each key's URL and lets ingestion count the successful samples that a damaged tar lost.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from react_assets.metadata import Store
from react_assets.metadata.sql import select_shard

log = logging.getLogger(__name__)

SHARD_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
DIGEST_CHARS = 12
MAX_STEM_CHARS = 128 - DIGEST_CHARS - 1


class ShardReplaceError(RuntimeError):
    """Ingesting would replace or shrink an ingested shard without an explicit request."""


def landed_shard_id(stem: str, tar_sha256: str) -> str:
    """``00000`` + sha256 ``ab12...`` -> ``00000-ab12cd34ef56``: the id of a landed shard."""
    return f"{stem}-{tar_sha256[:DIGEST_CHARS]}"


def stem_problem(stem: str) -> str | None:
    """Why a landed file's name cannot start a shard id, or None."""
    if len(stem) > MAX_STEM_CHARS or not SHARD_ID_PATTERN.fullmatch(stem):
        return (f"name {stem!r} must be 1-{MAX_STEM_CHARS} letters, digits, '.', '_' or '-' "
                "(starting with a letter or digit)")
    return None


def check_replacement(store: Store, shard_id: str, tar_sha256: str, n_pairs: int,
                      allow_replace: bool) -> str | None:
    """Refuse (raise :class:`ShardReplaceError`) to replace shard ``shard_id``'s rows with those
    of a different tar, or with fewer pairs than it has, unless ``allow_replace``. Returns a
    note of what an allowed replacement changes, else None."""
    rows = store.fetch(select_shard, {"shard_id": shard_id})
    if not rows:
        return None
    old = rows[0]
    changes = []
    if old["tar_sha256"] != tar_sha256:
        changes.append(f"its tar changed (sha256 {old['tar_sha256'][:12]} -> {tar_sha256[:12]})")
    if n_pairs < old["n_pairs"]:
        changes.append(f"it would go from {old['n_pairs']} to {n_pairs} pairs")
    if not changes:
        return None
    note = f"shard {shard_id}: {' and '.join(changes)}"
    if not allow_replace:
        raise ShardReplaceError(
            f"{note}; its {old['n_pairs']} ingested pairs are kept. Land the new tar as a new "
            "shard (the landing sensor names shards by content), or re-run with "
            "allow_replace: true to replace them.")
    log.warning("%s: replaced on request (allow_replace)", note)
    return note


@dataclass
class Sidecar:
    """What the img2dataset parquet beside a tar says: each key's URL and the successful keys."""

    urls: dict[str, str] = field(default_factory=dict)
    success_keys: set[str] | None = None  # None: no parquet, or no key/status columns


def read_sidecar(tar_path: Path) -> Sidecar:
    """Read the optional ``.parquet`` beside the tar (an unreadable one is logged and ignored)."""
    parquet = tar_path.with_suffix(".parquet")
    if not parquet.exists():
        return Sidecar()
    try:
        table = pq.read_table(parquet)
    except (OSError, pa.ArrowInvalid) as err:
        log.warning("%s: unreadable parquet ignored: %s", parquet, err)
        return Sidecar()
    names = table.column_names
    if "key" not in names:
        return Sidecar()
    keys = [None if k is None else str(k) for k in table.column("key").to_pylist()]
    urls = {}
    if "url" in names:
        urls = {k: str(u) for k, u in zip(keys, table.column("url").to_pylist(), strict=True)
                if k is not None and u is not None}
    success = None
    if "status" in names:
        success = {k for k, s in zip(keys, table.column("status").to_pylist(), strict=True)
                   if k is not None and s == "success"}
    return Sidecar(urls=urls, success_keys=success)
