"""The embedding stage's vectors read back by pair id: retrieval's near-duplicate cut and
REAL-Linear read image vectors, training reads the captions' text vectors."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from react_assets.embed.encode import EMBEDDING_FILES
from react_assets.metadata import Store
from react_assets.metadata.sql import select_embedding_sets


def embedding_folders(store: Store, model_id: str) -> list[Path]:
    """The embedding folder of every shard embedded with ``model_id``."""
    return [store.home.resolve(r["folder"])
            for r in store.fetch(select_embedding_sets, {"model_id": model_id})]


class EmbeddingLookup:
    """One modality's embeddings (``image`` or ``text``) of any pair id, from the per-shard
    float16 arrays (memory-mapped)."""

    def __init__(self, folders: list[Path], modality: str = "image") -> None:
        if modality not in EMBEDDING_FILES:
            raise ValueError(f"modality {modality!r}: expected one of {sorted(EMBEDDING_FILES)}")
        self.arrays = [np.load(f / EMBEDDING_FILES[modality], mmap_mode="r") for f in folders]
        ids = [np.load(f / "pair_ids.npy") for f in folders]
        self.ids = np.concatenate(ids) if ids else np.zeros(0, dtype=np.int64)
        self.where = (np.concatenate([np.stack([np.full(len(a), s), np.arange(len(a))], axis=1)
                                      for s, a in enumerate(ids)])
                      if ids else np.zeros((0, 2), dtype=np.int64))
        self.order = np.argsort(self.ids)

    def __call__(self, pair_ids: np.ndarray) -> np.ndarray:
        """float32 rows (N, D) of ``pair_ids``, in their order; KeyError when one is missing."""
        rows = self._rows(pair_ids)
        if rows is None:
            raise KeyError("some pair ids have no embeddings")
        out = np.empty((len(pair_ids), self.arrays[0].shape[1]), dtype=np.float32)
        shard, local = self.where[rows, 0], self.where[rows, 1]
        for s in np.unique(shard):  # one fancy-indexed read per shard
            mask = shard == s
            out[mask] = self.arrays[s][np.sort(local[mask])][np.argsort(np.argsort(local[mask]))]
        return out

    def _rows(self, pair_ids: np.ndarray) -> np.ndarray | None:
        """Where each pair id's row is (indices into ``ids``), or None when one is missing."""
        if not len(self.ids):
            return None if len(pair_ids) else np.zeros(0, dtype=np.int64)
        pos = np.searchsorted(self.ids, pair_ids, sorter=self.order)
        rows = self.order[np.clip(pos, 0, len(self.order) - 1)]
        return rows if np.array_equal(self.ids[rows], pair_ids) else None
