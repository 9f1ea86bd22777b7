"""Data contracts of the corpus."""

from __future__ import annotations

import json

from react_assets.metadata import Store
from react_assets.metadata.sql import (
    count_pair_integrity,
    select_duplicate_pair_ids,
    select_orphan_pair_shards,
    select_shard,
)
from react_assets.tracking.contracts import CheckOutcome


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


def shard_has_pairs(store: Store, shard_id: str, max_skipped_fraction: float = 0.5) -> CheckOutcome:
    """A shard ingested 0 pairs, or skipped more than ``max_skipped_fraction`` of its samples
    (an empty tar, images without captions, a cut tar): the run must not look green."""
    rows = store.fetch(select_shard, {"shard_id": shard_id})
    if not rows:
        return CheckOutcome(passed=False, metadata={"error": f"shard {shard_id} is not ingested"})
    row = rows[0]
    skipped = json.loads(row["skipped"]) if isinstance(row["skipped"], str) else dict(row["skipped"])
    samples = {k: v for k, v in skipped.items() if k != "truncated_archive"}
    n_samples = row["n_pairs"] + sum(samples.values())
    fraction = sum(samples.values()) / n_samples if n_samples else 1.0
    problems = []
    if row["n_pairs"] == 0:
        problems.append("0 pairs")
    if fraction > max_skipped_fraction:
        problems.append(f"{fraction:.0%} of {n_samples} samples skipped "
                        f"(> {max_skipped_fraction:.0%})")
    return CheckOutcome(passed=not problems, metadata={
        "pairs": int(row["n_pairs"]), "samples": int(n_samples),
        "skipped_fraction": round(fraction, 4), "skipped_by_reason": skipped,
        "problems": "; ".join(problems) or "none", "tar": str(store.home.resolve(row["path"])),
        "tar_damaged": "truncated_archive" in skipped,
        "query": select_shard.name,
    })
