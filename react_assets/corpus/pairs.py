"""Access to the ingested corpus: a shard's rows in embedding order and images by pair id."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from react_assets.corpus.members import member_offsets
from react_assets.metadata import Store
from react_assets.metadata.sql import select_pairs_by_ids, select_shard_pairs


@dataclass(frozen=True)
class ShardRows:
    """The pairs of one shard in row order: ids, image member names and captions."""

    shard_id: str
    tar_path: Path
    pair_ids: np.ndarray  # (N,) int64
    image_members: Sequence[str]
    captions: Sequence[str]


def shard_rows(store: Store, shard_id: str, tar_path: Path) -> ShardRows:
    """The ingested pairs of one shard in row (ordinal) order."""
    rows = store.fetch(select_shard_pairs, {"shard_id": shard_id})
    if not rows:
        raise ValueError(f"shard {shard_id} has no ingested pairs: materialize corpus_shards first")
    return ShardRows(
        shard_id=shard_id,
        tar_path=tar_path,
        pair_ids=np.array([r["pair_id"] for r in rows], dtype=np.int64),
        image_members=[r["image_member"] for r in rows],
        captions=[r["caption"] for r in rows],
    )


def read_pairs(store: Store, pair_ids: Sequence[int]) -> tuple[list[int], list[bytes], list[str]]:
    """(pair ids, encoded image bytes, captions) for the given ids, read from their tars.

    Returned in corpus order; ids not in the store raise, naming a few of them. Members are
    located by :func:`member_offsets`, with ingestion's duplicate-key rule.
    """
    rows = store.fetch(select_pairs_by_ids, {"pair_ids": [int(i) for i in pair_ids]})
    missing = set(map(int, pair_ids)) - {r["pair_id"] for r in rows}
    if missing:
        raise KeyError(f"{len(missing)} pair ids are not in the corpus, e.g. {sorted(missing)[:3]}")
    by_tar: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        by_tar[row["tar_path"]].append(row)
    ids: list[int] = []
    images: list[bytes] = []
    captions: list[str] = []
    for stored, tar_rows in by_tar.items():
        tar_path = store.home.resolve(stored)
        offsets = member_offsets(tar_path, [r["image_member"] for r in tar_rows])
        with open(tar_path, "rb") as handle:
            for row, (offset, size) in zip(tar_rows, offsets, strict=True):
                handle.seek(offset)
                images.append(handle.read(size))
                ids.append(row["pair_id"])
                captions.append(row["caption"])
    return ids, images, captions
