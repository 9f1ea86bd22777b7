"""Corpus embedding: shapes, norms, alignment with pair ids, resume after a kill."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from shard_factory import good_samples, write_shard

from react_assets.corpus.ingest import IngestConfig, ingest_shard
from react_assets.corpus.pairs import shard_rows
from react_assets.embed.encode import EmbeddingConfig, embed_shard
from react_assets.models.caption_features import CaptionFeatures, encode_caption_features
from react_assets.models.device import model_autocast
from react_assets.models.hardware import bf16_enabled

CONFIG = EmbeddingConfig(batch_size=4, text_batch_size=8, workers=0, chunk_rows=8)


@pytest.fixture(scope="module")
def tiny(tiny_base, one_torch_thread):
    """The session's tiny base model (read only), encoding with one torch thread."""
    return tiny_base


@pytest.fixture
def rows(tmp_path, store):
    shard = write_shard(tmp_path / "e.tar", good_samples(21))
    ingest_shard(shard, "e", store, IngestConfig(workers=1))
    return shard_rows(store, "e", shard)


def test_embeddings_are_unit_norm_float16_and_aligned(tmp_path, tiny, rows):
    result = embed_shard(rows, tiny.model, tiny.preprocess_val, tiny.tokenizer, tmp_path / "out",
                         CONFIG, tiny.model_id)
    ids, img, txt = load_shard_embeddings(result.folder)
    assert img.shape == txt.shape == (21, tiny.embed_dim)
    assert img.dtype == txt.dtype == np.float16
    np.testing.assert_allclose(np.linalg.norm(img.astype(np.float32), axis=1), 1.0, atol=2e-3)
    np.testing.assert_array_equal(ids, rows.pair_ids)
    # row i is pair i: re-encode one caption directly, at the embedder's precision
    with torch.no_grad(), model_autocast(tiny.model, CONFIG.bf16):
        text = tiny.model.encode_text(tiny.tokenizer([rows.captions[5]]), normalize=True).float()
    np.testing.assert_allclose(txt[5].astype(np.float32), text[0].numpy(), atol=2e-3)
    again = embed_shard(rows, tiny.model, tiny.preprocess_val, tiny.tokenizer, tmp_path / "out",
                        CONFIG, tiny.model_id)
    assert again.skipped_complete


def test_known_caption_features_are_taken_and_only_the_rest_encoded(tmp_path, tiny, rows):
    plain = embed_shard(rows, tiny.model, tiny.preprocess_val, tiny.tokenizer, tmp_path / "plain",
                        CONFIG, tiny.model_id)
    half = sorted(set(rows.captions))[::2]
    known = encode_caption_features(tiny.model, tiny.tokenizer, half, 8)
    # negated, so that a row taken from it cannot be mistaken for an encoded one
    marked = CaptionFeatures(known.captions, -known.features.astype(np.float32))
    reused = embed_shard(rows, tiny.model, tiny.preprocess_val, tiny.tokenizer,
                         tmp_path / "reused", CONFIG, tiny.model_id, known_captions=marked)
    _, _, txt = load_shard_embeddings(plain.folder)
    _, img_reused, txt_reused = load_shard_embeddings(reused.folder)
    taken = np.isin(np.array(rows.captions, dtype=object), half)
    assert taken.any() and not taken.all()
    # the rest encoded as in the plain run, in smaller batches: equal to float16 rounding (on
    # AVX-512 a matmul's result can move by an ulp with the batch's row count)
    np.testing.assert_allclose(txt_reused[~taken].astype(np.float32),
                               txt[~taken].astype(np.float32), atol=1e-3)
    # the known features are float32 encodings; the plain run's rows are bf16 ones where the
    # embedder's "auto" precision runs bf16 autocast on this CPU
    atol = 1e-2 if bf16_enabled(CONFIG.bf16, "cpu") else 2e-3
    np.testing.assert_allclose(txt_reused[taken].astype(np.float32),
                               -txt[taken].astype(np.float32), atol=atol)
    np.testing.assert_array_equal(img_reused, load_shard_embeddings(plain.folder)[1])


class _DiesAfter(torch.nn.Module):
    """Wraps a model and raises on the n-th image batch, like a run killed mid-shard."""

    def __init__(self, model, batches: int) -> None:
        super().__init__()
        self.model, self.left = model, batches

    def encode_image(self, x):
        self.left -= 1
        if self.left < 0:
            raise KeyboardInterrupt("killed")
        return self.model.encode_image(x)

    def encode_text(self, tokens):
        return self.model.encode_text(tokens)


def test_a_killed_run_resumes_and_gives_identical_files(tmp_path, tiny, rows):
    args = (tiny.preprocess_val, tiny.tokenizer)
    whole = embed_shard(rows, tiny.model, *args, tmp_path / "whole", CONFIG, tiny.model_id)
    with pytest.raises(KeyboardInterrupt):
        embed_shard(rows, _DiesAfter(tiny.model, 3), *args, tmp_path / "killed", CONFIG,
                    tiny.model_id)
    assert not (tmp_path / "killed" / "img_emb.npy").exists()
    resumed = embed_shard(rows, tiny.model, *args, tmp_path / "killed", CONFIG, tiny.model_id)
    assert resumed.resumed_chunks == 1
    for name in ("img_emb.npy", "text_emb.npy", "pair_ids.npy"):
        assert (whole.folder / name).read_bytes() == (resumed.folder / name).read_bytes()


def test_worker_processes_give_the_same_embeddings(tmp_path, tiny, rows):
    args = (tiny.preprocess_val, tiny.tokenizer)
    serial = embed_shard(rows, tiny.model, *args, tmp_path / "a", CONFIG, tiny.model_id)
    workers = EmbeddingConfig(batch_size=4, workers=2, chunk_rows=8, bf16=CONFIG.bf16)
    parallel = embed_shard(rows, tiny.model, *args, tmp_path / "b", workers, tiny.model_id)
    assert (serial.folder / "img_emb.npy").read_bytes() == (parallel.folder / "img_emb.npy").read_bytes()


def test_clip_retrieval_output_is_reused_in_our_layout(tmp_path, rows):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from react_assets.embed.clip_retrieval import import_clip_retrieval

    folder = tmp_path / "clip-retrieval"
    for sub in ("img_emb", "text_emb", "metadata"):
        (folder / sub).mkdir(parents=True)
    keys = [m.split(".")[0] for m in rows.image_members][::-1]  # another order than ours
    rng = np.random.default_rng(0)
    img, txt = rng.normal(size=(len(keys), 8)), rng.normal(size=(len(keys), 8))
    half = len(keys) // 2
    for part, sl in enumerate((slice(0, half), slice(half, None))):
        np.save(folder / "img_emb" / f"img_emb_{part}.npy", img[sl].astype(np.float16))
        np.save(folder / "text_emb" / f"text_emb_{part}.npy", txt[sl].astype(np.float16))
        pq.write_table(pa.table({"image_path": [f"{k}.png" for k in keys[sl]]}),
                       folder / "metadata" / f"metadata_{part}.parquet")
    result = import_clip_retrieval(folder, rows, tmp_path / "ours", "clip@test")
    ids, ours, _ = load_shard_embeddings(result.folder)
    np.testing.assert_array_equal(ids, rows.pair_ids)
    expected = img[::-1] / np.linalg.norm(img[::-1], axis=1, keepdims=True)
    np.testing.assert_allclose(ours.astype(np.float32), expected, atol=3e-3)
    with pytest.raises(KeyError, match="no embedding"):
        short = dataclasses.replace(rows, image_members=[*rows.image_members[:-1], "zzz.png"])
        import_clip_retrieval(folder, short, tmp_path / "bad", "clip@test")


def load_shard_embeddings(folder: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(pair_ids, image embeddings, text embeddings) of a completed shard folder."""
    if not (folder / "meta.json").exists():
        raise FileNotFoundError(f"{folder}: no completed embeddings (meta.json missing)")
    return (np.load(folder / "pair_ids.npy"), np.load(folder / "img_emb.npy", mmap_mode="r"),
            np.load(folder / "text_emb.npy", mmap_mode="r"))
