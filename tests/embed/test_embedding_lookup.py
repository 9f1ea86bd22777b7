"""Feeding retrieval from the pipeline's stores: image embeddings looked up by pair id."""

from __future__ import annotations

import numpy as np
import pytest

from react_assets.embed.lookup import EmbeddingLookup


def test_embedding_lookup_returns_each_pairs_row_across_shards(tmp_path):
    rng = np.random.default_rng(0)
    folders, ids, vectors = [], [], []
    for shard in range(3):
        folder = tmp_path / f"shard-{shard}"
        folder.mkdir()
        shard_ids = rng.choice(10**9, 50, replace=False) + shard * 10**9
        shard_vectors = rng.normal(size=(50, 4)).astype(np.float16)
        np.save(folder / "pair_ids.npy", shard_ids)
        np.save(folder / "img_emb.npy", shard_vectors)
        folders.append(folder)
        ids.append(shard_ids)
        vectors.append(shard_vectors)
    lookup = EmbeddingLookup(folders)
    all_ids, all_vectors = np.concatenate(ids), np.concatenate(vectors).astype(np.float32)
    pick = rng.choice(150, 40, replace=False)
    np.testing.assert_array_equal(lookup(all_ids[pick]), all_vectors[pick])
    with pytest.raises(KeyError, match="no embeddings"):
        lookup(np.array([7], dtype=np.int64))
