"""Data contracts of the corpus."""

from __future__ import annotations

from react_assets.contracts import CheckOutcome
from react_assets.sql import count_pair_integrity, select_duplicate_pair_ids, select_orphan_pair_shards
from react_assets.store import Store


def pair_ids_unique_and_attached(store: Store, examples: int = 10) -> CheckOutcome:
    """Duplicate pair ids and pairs whose shard is missing from ``shards`` (whole corpus)."""
    counts = store.fetch(count_pair_integrity)[0]
    duplicates = store.fetch(select_duplicate_pair_ids, {"limit": examples})
    orphans = store.fetch(select_orphan_pair_shards)
    return CheckOutcome(
        passed=counts["duplicate_pair_ids"] == 0 and counts["orphan_pairs"] == 0,
        metadata={
            "duplicate_pair_ids": int(counts["duplicate_pair_ids"]),
            "orphan_pairs": int(counts["orphan_pairs"]),
            "duplicate_examples": [{"pair_id": int(r["pair_id"]), "rows": int(r["n_rows"]),
                                    "shards": list(r["shards"])} for r in duplicates],
            "orphan_shards": {r["shard_id"]: int(r["n_pairs"]) for r in orphans},
            "queries": ", ".join(s.name for s in (count_pair_integrity, select_duplicate_pair_ids,
                                                  select_orphan_pair_shards)),
        },
    )
