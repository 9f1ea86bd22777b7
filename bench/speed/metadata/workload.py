"""The synthetic corpus of the metadata bench: shard batches and a retrieval set over them."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa

from react_assets.corpus.ingest import PAIR_SCHEMA

DOMAIN = "bench"


def splitmix64(x: np.ndarray) -> np.ndarray:
    """A bijective 64-bit mix: row numbers -> ids as spread out as stable_pair_id's hashes."""
    with np.errstate(over="ignore"):
        z = x.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def pair_ids(rows: np.ndarray) -> np.ndarray:
    """The 63-bit pair id of corpus row numbers ``rows``: splitmix64 is a bijection, so two
    rows share an id only when their mixes differ in the top bit alone, about as likely as a
    collision of stable_pair_id's (1e-5 at 10M rows)."""
    return (splitmix64(rows) & np.uint64(2**63 - 1)).astype(np.int64)


def shard_name(shard: int) -> str:
    """Like a landed shard's id: the img2dataset name and 12 hex digits of its sha256."""
    return f"{shard:05d}-{int(splitmix64(np.array([shard]))[0]) & (16**12 - 1):012x}"


def template(shard_rows: int, seed: int = 0) -> pa.Table:
    """A shard's columns but its ids: realistic widths and value spreads (keys, members,
    captions of 40-120 characters, sizes, sha256 hex digests, URLs, a JSON meta on some)."""
    rng = np.random.default_rng(seed)
    words = np.array("a photo of the small large red blue green old new dog cat car tree house "
                     "street beach mountain person people with on in at near by sunset "
                     "night city field flower bird boat".split())
    captions = [" ".join(rng.choice(words, size=rng.integers(8, 22))) for _ in range(shard_rows)]
    digest = rng.integers(0, 2**63, size=(shard_rows, 4), dtype=np.int64)
    sha = [f"{a:016x}{b:016x}{c:016x}{d:016x}" for a, b, c, d in digest]
    keys = [f"{i:09d}" for i in range(shard_rows)]
    return pa.table({
        "pair_id": pa.array(np.zeros(shard_rows, np.int64)),
        "shard_id": pa.array([""] * shard_rows),
        "ordinal": pa.array(np.arange(shard_rows, dtype=np.int32)),
        "key": keys,
        "image_member": [f"{k}.jpg" for k in keys],
        "caption": captions,
        "source": ["laion-bench"] * shard_rows,
        "width": pa.array(rng.integers(128, 1024, shard_rows, dtype=np.int32)),
        "height": pa.array(rng.integers(128, 1024, shard_rows, dtype=np.int32)),
        "image_bytes": pa.array(rng.integers(4_000, 400_000, shard_rows, dtype=np.int32)),
        "image_sha256": sha,
        "url": [f"https://images.example.org/{s[:2]}/{s[2:18]}.jpg" for s in sha],
        "meta": [json.dumps({"nsfw": "UNLIKELY", "similarity": round(float(x), 4)})
                 if x > 0.8 else None for x in rng.random(shard_rows)],
    }, schema=PAIR_SCHEMA)


def shard_batch(base: pa.Table, shard: int) -> pa.Table:
    """Shard ``shard``'s rows: the template with that shard's id and pair ids."""
    n = base.num_rows
    ids = pair_ids(np.arange(shard * n, (shard + 1) * n, dtype=np.uint64))
    table = base.set_column(0, "pair_id", pa.array(ids))
    return table.set_column(1, "shard_id", pa.array([shard_name(shard)] * n))


def retrieval_rows(rows: int, n_pairs: int, seed: int = 1) -> pa.Table:
    """A retrieval set of ``n_pairs`` distinct pairs drawn over the whole corpus, 10 classes."""
    rng = np.random.default_rng(seed)
    picked = np.sort(rng.choice(rows, size=n_pairs, replace=False)).astype(np.uint64)
    order = np.arange(n_pairs)
    return pa.table({
        "domain": [DOMAIN] * n_pairs,
        "class_index": pa.array((order % 10).astype(np.int32)),
        "class_name": [f"class {i % 10}" for i in order],
        "pair_id": pa.array(pair_ids(picked)),
        "score": pa.array(np.linspace(0.9, 0.2, n_pairs, dtype=np.float32)),
        "rank": pa.array((order // 10).astype(np.int32)),
        "mode": ["text-to-image"] * n_pairs,
    })
