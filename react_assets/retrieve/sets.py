"""Immutable retrieval sets: every retrieval of a domain is kept under its digest.

A set's digest is the sha256 of the domain, its spec version (the spec digest, when the domain
has one: :mod:`react_assets.domains.versions`), its retrieval settings, the base model and the
pair ids; the set's row names that spec version. Re-retrieving a domain adds a set, or, when the
digest is one already stored (same version, settings, model and pairs), marks that set as the
domain's newest again; a stored set is never rewritten. Customization trains on the domain's
newest set and records its digest, so the lineage of any model resolves to the exact pairs it
saw.

Retention (:class:`RetrievalRetention`): after each retrieval of a domain, a set of that domain is
dropped, with its pairs, only when no registered model names it and it is not among the domain's
``keep_latest`` newest sets. A set that a model was trained on (or imported against) stays.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from react_assets.domains.settings import RetrievalConfig
from react_assets.metadata import Store, insert_table, query_rows
from react_assets.metadata.sql import (
    count_retrieval_set_rows,
    delete_unused_retrieval_sets,
    delete_unused_retrievals,
    insert_retrievals,
    select_latest_retrieval_set,
    select_retrieval_set_pair_ids,
    upsert_retrieval_set,
)


@dataclass(frozen=True)
class RetrievalRetention:
    """Which unused sets a domain keeps: its ``keep_latest`` newest, whatever their use."""

    keep_latest: int = 3

    def __post_init__(self) -> None:
        if self.keep_latest < 1:
            raise ValueError(f"RetrievalRetention.keep_latest={self.keep_latest}: must be >= 1 "
                             "(the newest set is what the next customization trains on)")


def retrieval_digest(pair_ids) -> str:
    """SHA-256 of the sorted, distinct pair ids of a retrieval set."""
    ids = np.unique(np.asarray(list(pair_ids), dtype=np.int64))
    return hashlib.sha256(ids.tobytes()).hexdigest()


def retrieval_set_digest(domain: str, config: RetrievalConfig, base_model_id: str,
                         pairs_digest: str, spec_digest: str | None = None) -> str:
    """A set's identity: sha256 of its domain, settings, base model and pair digest, and of the
    domain's spec version when it has one (the same pairs under other classes are another set:
    their rows hold the class names)."""
    identity = {"domain": domain, "settings": dataclasses.asdict(config),
                "base_model_id": base_model_id, "pairs_digest": pairs_digest}
    if spec_digest is not None:
        identity["spec_digest"] = spec_digest
    return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()


def store_retrieval_set(
    store: Store, *, domain: str, rows: pa.Table, config: RetrievalConfig, base_model_id: str,
    n_queries: int, stats: dict[str, Any], retention: RetrievalRetention | None = None,
    spec_digest: str | None = None,
) -> str:
    """Add ``rows`` (the retrievals table's columns but ``set_digest``) as a set of ``domain``,
    retrieved for its spec version ``spec_digest`` (None: a domain registered before versions),
    make it the domain's newest and apply the retention rule, in one transaction.

    Returns the set's digest.
    """
    retention = retention or RetrievalRetention()
    pairs_digest = retrieval_digest(rows.column("pair_id").to_numpy())
    digest = retrieval_set_digest(domain, config, base_model_id, pairs_digest, spec_digest)
    batch = rows.append_column("set_digest", pa.array([digest] * rows.num_rows, pa.string()))
    def write(conn) -> None:
        if query_rows(conn, count_retrieval_set_rows, {"set_digest": digest})[0]["n_rows"] == 0:
            insert_table(conn, insert_retrievals, batch)
        conn.execute(upsert_retrieval_set, {
            "set_digest": digest, "domain": domain, "model_id": base_model_id,
            "mode": config.mode, "k_per_query": config.k_per_query,
            "settings": json.dumps(dataclasses.asdict(config), default=str),
            "n_queries": n_queries, "n_pairs": rows.num_rows, "pairs_digest": pairs_digest,
            "stats": json.dumps(stats), "spec_digest": spec_digest,
        })
        keep = {"domain": domain, "keep_latest": retention.keep_latest}
        conn.execute(delete_unused_retrievals, keep)
        conn.execute(delete_unused_retrieval_sets, keep)

    store.write(write, what=f"retrieval set of {domain}")
    return digest


def latest_retrieval_set(store: Store, domain: str, *, snapshot: int | None = None
                         ) -> dict[str, Any] | None:
    """The newest set of ``domain`` (its retrieval_sets row), or None if never retrieved; as of
    metadata ``snapshot`` (default: the newest)."""
    snapshot = store.snapshot_id() if snapshot is None else snapshot
    rows = store.fetch(select_latest_retrieval_set, {"domain": domain, "snapshot": snapshot})
    return rows[0] if rows else None


def retrieval_set_pair_ids(store: Store, set_digest: str, *, snapshot: int | None = None
                           ) -> tuple[int, ...]:
    """The distinct pair ids of a set, ascending; as of metadata ``snapshot`` (default: the
    newest)."""
    snapshot = store.snapshot_id() if snapshot is None else snapshot
    rows = store.fetch(select_retrieval_set_pair_ids, {"set_digest": set_digest,
                                                       "snapshot": snapshot})
    return tuple(int(r["pair_id"]) for r in rows)
