"""One reader of shard members: a key the tar holds twice is skipped by ingestion and refused by
every later reader, so each stored pair's sha256 is that of the image embedding reads."""

from __future__ import annotations

import hashlib
import io

import numpy as np
import pytest
import torch
from PIL import Image
from react_assets.metadata.sql import select_shard_pairs
from shard_factory import write_shard

from react_assets.corpus.ingest import IngestConfig, ingest_shard
from react_assets.corpus.members import member_offsets
from react_assets.corpus.pairs import read_pairs, shard_rows
from react_assets.embed.encode import EmbeddingConfig, embed_shard
from react_assets.models.device import model_autocast

EMBED = EmbeddingConfig(batch_size=4, text_batch_size=8, workers=0, chunk_rows=8)


@pytest.fixture(scope="module")
def tiny(tiny_base, one_torch_thread):
    """The session's tiny base model (read only), encoding with one torch thread."""
    return tiny_base


def noise_png(seed: int) -> bytes:
    """A 16x16 RGB PNG of seeded noise: each seed a visibly different image."""
    pixels = np.random.default_rng(seed).integers(0, 256, size=(16, 16, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def sample(key: str, seed: int) -> dict:
    return {"key": key, "image": noise_png(seed), "caption": f"{key} number {seed}"}


# "dup" twice with other keys between (copy 1 first), "adj" twice in a row.
SAMPLES = [sample("a", 1), sample("dup", 2), sample("b", 3), sample("dup", 4),
           sample("adj", 5), sample("adj", 6), sample("c", 7)]


def encode_alone(bundle, png: bytes) -> np.ndarray:
    """The image's embedding on its own, at the embedder's precision."""
    with torch.no_grad(), model_autocast(bundle.model, EMBED.bf16):
        image = bundle.preprocess_val(Image.open(io.BytesIO(png)).convert("RGB")).unsqueeze(0)
        features = bundle.model.encode_image(image).float()
    return torch.nn.functional.normalize(features, dim=-1)[0].numpy()


def test_duplicated_keys_are_skipped_and_each_pair_embeds_its_own_image(tmp_path, store, tiny):
    shard = write_shard(tmp_path / "d.tar", SAMPLES)
    report = ingest_shard(shard, "d", store, IngestConfig(workers=2, chunk_size=2))
    stored = {r["key"]: r for r in store.fetch(select_shard_pairs, {"shard_id": "d"})}
    by_sha = {hashlib.sha256(s["image"]).hexdigest(): s["image"] for s in SAMPLES}
    rows = shard_rows(store, "d", shard)
    result = embed_shard(rows, tiny.model, tiny.preprocess_val, tiny.tokenizer, tmp_path / "emb",
                         EMBED, tiny.model_id)
    embeddings = np.load(result.folder / "img_emb.npy").astype(np.float32)
    # the two copies of "dup" are different images to the model: reading the wrong one shows
    assert np.abs(encode_alone(tiny, SAMPLES[1]["image"])
                  - encode_alone(tiny, SAMPLES[3]["image"])).max() > 0.05
    for row, key in enumerate(stored):  # the image whose sha256 ingestion stored, encoded alone
        expected = encode_alone(tiny, by_sha[stored[key]["image_sha256"]])
        np.testing.assert_allclose(embeddings[row], expected, atol=3e-3, err_msg=key)
    assert list(stored) == ["a", "b", "c"]
    # "dup" is two samples to the reader (two runs of members), "adj" one (one run)
    assert report.skipped == {"duplicate_key": 3} and report.n_pairs == 3
    with store.connect() as conn:
        skipped = conn.execute("SELECT key, reason, detail FROM skipped_samples "
                               "WHERE shard_id = 'd' ORDER BY key").fetchall()
    assert [(key, reason) for key, reason, _ in skipped] == [
        ("adj", "duplicate_key"), ("dup", "duplicate_key"), ("dup", "duplicate_key")]
    assert "'adj.png' appears twice in a row" in skipped[0][2]
    assert "appear again at 'dup.png', after another key's members" in skipped[1][2]
    ids, images, _ = read_pairs(store, rows.pair_ids.tolist())
    sha_of = {r["pair_id"]: r["image_sha256"] for r in stored.values()}
    assert [hashlib.sha256(data).hexdigest() for data in images] == [sha_of[i] for i in ids]


@pytest.mark.parametrize("name", ["dup.png", "dup.txt", "adj.png"])
def test_later_readers_refuse_every_copy_of_a_duplicated_key(tmp_path, name):
    shard = write_shard(tmp_path / "d.tar", SAMPLES)
    with pytest.raises(ValueError, match=r"is in the shard more than once.*re-ingest the shard"):
        member_offsets(shard, ["a.png", name])
    (offset, size), = member_offsets(shard, ["c.png"])
    with open(shard, "rb") as handle:
        handle.seek(offset)
        assert handle.read(size) == SAMPLES[-1]["image"]
