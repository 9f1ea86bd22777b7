"""REAL's baselines: the most frequent synonym in the corpus captions, and a linear head on the
retrieved pairs that beats the zero-shot head where the pairs carry signal."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from react_assets.metadata.sql import insert_pairs

from react_assets.customize.linear_head import LinearHead
from react_assets.customize.real import (
    load_head,
    most_frequent_names,
    real_linear_head,
    save_head,
    synonym_counts,
)
from react_assets.domains.spec import DomainSpec
from react_assets.metadata import insert_table

CAPTIONS = [
    "Women's PANTS for sale", "black pants, size M", "slim-fit pants", "trousers",
    "a tee shirt", "crew neck tee", "vintage tee!", "t-shirt", "tshirt", "tshirt sale",
    "sneakers", "sneakerhead blog",  # 'sneaker' only inside a longer word: not a match
]


def add_captions(store, captions: list[str]) -> None:
    rows = [{"pair_id": i, "shard_id": "s", "ordinal": i, "key": f"{i:05d}",
             "image_member": f"{i:05d}.png", "caption": c, "source": "test", "width": 8,
             "height": 8, "image_bytes": 1, "image_sha256": f"{i:064x}", "url": None,
             "meta": None} for i, c in enumerate(captions)]
    store.write(lambda conn: insert_table(conn, insert_pairs, pa.Table.from_pylist(rows)))


def toy_spec() -> DomainSpec:
    return DomainSpec("fashion", ("trouser", "t-shirt", "sneaker"), ("a photo of {}.",),
                      synonyms={"trouser": ("trousers", "pants", "slacks"),
                                "t-shirt": ("tee", "tshirt")})


def test_real_prompt_picks_the_most_frequent_synonym_of_each_class(store):
    add_captions(store, CAPTIONS)
    counts = synonym_counts(store, toy_spec())
    assert counts["trouser"] == {"trouser": 0, "trousers": 1, "pants": 3, "slacks": 0}
    assert counts["t-shirt"] == {"t-shirt": 1, "tee": 3, "tshirt": 2}
    assert counts["sneaker"] == {"sneaker": 0}
    assert most_frequent_names(counts) == ("pants", "tee", "sneaker")


def test_ties_and_unseen_classes_keep_the_class_name():
    assert most_frequent_names({"a": {"a": 2, "b": 2}, "c": {"c": 0, "d": 0}}) == ("a", "c")


def test_real_linear_beats_the_zero_shot_head_on_planted_signal():
    rng = np.random.default_rng(0)
    dim, n_classes = 32, 5
    centres = rng.normal(size=(n_classes, dim))
    # the text classifier points half-way to the wrong class: zero-shot is poor
    wrong = centres[np.roll(np.arange(n_classes), 1)]
    text = (0.45 * centres + 0.55 * wrong)
    text = (text / np.linalg.norm(text, axis=1, keepdims=True)).T
    retrieved_y = rng.integers(0, n_classes, 600)
    retrieved_x = centres[retrieved_y] + 0.8 * rng.normal(size=(600, dim))
    test_y = rng.integers(0, n_classes, 400)
    test_x = centres[test_y] + 0.8 * rng.normal(size=(400, dim))
    zeroshot = LinearHead.from_classifier(text)
    real = real_linear_head(retrieved_x, retrieved_y, text)
    zs_acc = (zeroshot.logits(test_x).argmax(1) == test_y).mean()
    real_acc = (real.logits(test_x).argmax(1) == test_y).mean()
    assert real_acc > zs_acc + 0.15, (zs_acc, real_acc)


def test_real_linear_without_signal_stays_near_the_zero_shot_head():
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(4, 16))
    text = (centres / np.linalg.norm(centres, axis=1, keepdims=True)).T
    noise_x, noise_y = rng.normal(size=(400, 16)), rng.integers(0, 4, 400)
    test_y = rng.integers(0, 4, 200)
    test_x = centres[test_y] + 0.3 * rng.normal(size=(200, 16))
    real = real_linear_head(noise_x, noise_y, text)
    assert (real.logits(test_x).argmax(1) == test_y).mean() > 0.9  # the ensemble keeps it


def test_a_saved_head_loads_back_with_its_id(tmp_path: Path):
    head = LinearHead(np.eye(3, 2, dtype=np.float32), np.array([0.5, -0.5], dtype=np.float32))
    model_id = save_head(tmp_path, head, "fashion", "real-linear", {"num_parameters": 8})
    assert model_id.startswith("real-fashion-linear@sha256:")
    loaded = load_head(tmp_path)
    assert np.array_equal(loaded.weight, head.weight) and np.array_equal(loaded.bias, head.bias)
    (tmp_path / "real.json").write_text('{"format": "other"}')
    with pytest.raises(ValueError, match="format"):
        load_head(tmp_path)
