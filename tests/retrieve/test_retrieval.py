"""Per-domain retrieval: planted relevant pairs, de-duplication, decontamination, determinism."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import faiss
import numpy as np
import pytest
from PIL import Image

from react_assets.domains.settings import RetrievalConfig
from react_assets.retrieve.core import (
    GENERAL_CLASS,
    retrieve_domain,
    search_queries,
)
from react_assets.retrieve.grid import retrieval_grid

D, N_CLASSES, N_TEMPLATES, N_PLANTED, FIRST_ID = 32, 4, 3, 10, 100


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def toward(direction: np.ndarray, cosine: float, rng: np.random.Generator) -> np.ndarray:
    """A unit vector with exactly ``cosine`` to the unit ``direction``."""
    noise = rng.standard_normal(direction.shape).astype(np.float32)
    noise = unit(noise - noise @ direction * direction)
    return unit(cosine * direction + np.sqrt(1 - cosine**2) * noise)


class World:
    """Background pairs, planted pairs per class, and the special cases each test looks for."""

    def __init__(self) -> None:
        rng = np.random.default_rng(3)
        self.directions = unit(rng.standard_normal((N_CLASSES, D)))
        vectors = list(unit(rng.standard_normal((2000, D))))  # background, cosine ~ +-0.2
        self.planted = {}
        for c in range(N_CLASSES):
            start = len(vectors)
            vectors += [toward(self.directions[c], 0.9 - 0.005 * i, rng) for i in range(N_PLANTED)]
            self.planted[c] = set(range(FIRST_ID + start, FIRST_ID + len(vectors)))
        self.hashes = [f"sha-{i}" for i in range(len(vectors))]
        # a pair between classes 0 and 1, closer to class 1
        self.between = FIRST_ID + len(vectors)
        vectors.append(unit(0.55 * self.directions[1] + 0.45 * self.directions[0]))
        self.hashes.append("sha-between")
        # one image, two pairs (two captions): near class 2 (better) and near class 3
        self.copy_best, self.copy_other = FIRST_ID + len(vectors), FIRST_ID + len(vectors) + 1
        vectors += [toward(self.directions[2], 0.97, rng), toward(self.directions[3], 0.96, rng)]
        self.hashes += ["sha-twin", "sha-twin"]
        # an eval image copied into the corpus (same bytes) and a re-encoded near copy
        self.eval_vectors = unit(rng.standard_normal((5, D)))
        self.exact_copy, self.near_copy = FIRST_ID + len(vectors), FIRST_ID + len(vectors) + 1
        vectors.append(toward(self.directions[0], 0.98, rng))
        self.hashes.append("sha-eval-0")
        near = toward(self.directions[1], 0.98, rng)
        self.eval_vectors[1] = toward(near, 0.99, rng)
        vectors.append(near)
        self.hashes.append("sha-reencoded")
        self.eval_sha256 = {"sha-eval-0", "sha-eval-1", "sha-eval-2"}
        self.vectors = np.stack(vectors)
        self.ids = np.arange(FIRST_ID, FIRST_ID + len(vectors), dtype=np.int64)
        self.index = faiss.IndexIDMap(faiss.IndexFlatIP(D))
        self.index.add_with_ids(self.vectors, self.ids)
        self.query_class = np.repeat(np.arange(N_CLASSES), N_TEMPLATES)
        self.queries = np.stack([toward(self.directions[c], 0.95, rng) for c in self.query_class])

    def pair_vectors(self, ids: np.ndarray) -> np.ndarray:
        return self.vectors[ids - FIRST_ID]

    def run(self, config: RetrievalConfig, hashes_as_callable: bool = False):
        table = dict(zip(self.ids.tolist(), self.hashes, strict=True))
        source = (lambda ids: [table[int(i)] for i in ids]) if hashes_as_callable else table
        return retrieve_domain(self.query_class, self.queries, self.index, config,
                               pair_sha256=source, pair_vectors=self.pair_vectors,
                               eval_vectors=self.eval_vectors, eval_sha256=self.eval_sha256,
                               corpus_ids=self.ids)


@pytest.fixture(scope="module")
def world() -> World:
    return World()


def by_class(result) -> dict[int, list[int]]:
    return {c: result.pair_id[result.class_index == c].tolist() for c in range(N_CLASSES)}


def test_search_queries_returns_pair_ids(world: World) -> None:
    scores, ids = search_queries(world.index, world.queries, 5)
    assert scores.shape == ids.shape == (N_CLASSES * N_TEMPLATES, 5)
    assert np.all(np.diff(scores, axis=1) <= 1e-6) and ids.min() >= FIRST_ID
    with pytest.raises(ValueError, match=r"must be \(Q, 32\), got shape \(2, 16\)"):
        search_queries(world.index, np.zeros((2, 16), np.float32), 5)


def test_planted_pairs_are_retrieved_per_class(world: World) -> None:
    result = world.run(RetrievalConfig(k_per_query=20))
    classes = by_class(result)
    for c in range(N_CLASSES):
        assert world.planted[c] <= set(classes[c]), f"class {c} lost planted pairs"
        ranks = result.rank[result.class_index == c]
        np.testing.assert_array_equal(ranks, np.arange(len(ranks)))
        assert np.all(np.diff(result.score[result.class_index == c]) <= 0)
    assert result.stats.n_queries == N_CLASSES * N_TEMPLATES
    assert result.stats.n_hits == N_CLASSES * N_TEMPLATES * 20
    assert list(result.stats.count_per_class) == [len(classes[c]) for c in range(N_CLASSES)]
    assert len(set(result.pair_id.tolist())) == len(result.pair_id)  # every pair once
    assert result.rows()[0] == (0, int(result.pair_id[0]), pytest.approx(float(result.score[0])),
                                0, "text-to-image")


def test_cross_class_and_image_hash_dedup(world: World) -> None:
    result = world.run(RetrievalConfig(k_per_query=20))
    classes = by_class(result)
    assert world.between in classes[1] and world.between not in classes[0]
    assert world.copy_best in classes[2]
    assert world.copy_other not in result.pair_id  # same image, lower score in class 3
    assert result.stats.removed_duplicates >= 2
    keep_twins = world.run(RetrievalConfig(k_per_query=20, dedupe_by_image_hash=False))
    assert world.copy_other in by_class(keep_twins)[3]
    assert keep_twins.stats.removed_duplicates == result.stats.removed_duplicates - 1


def test_eval_copies_are_removed_and_counted(world: World) -> None:
    result = world.run(RetrievalConfig(k_per_query=20))
    assert world.exact_copy not in result.pair_id and world.near_copy not in result.pair_id
    assert result.stats.removed_exact_contamination == 1
    assert result.stats.removed_near_contamination == 1
    # both would be retrieved without decontamination: they sit close to their class queries
    _, ids = search_queries(world.index, world.queries, 20)
    assert {world.exact_copy, world.near_copy} <= set(ids.ravel().tolist())
    lenient = world.run(RetrievalConfig(k_per_query=20, near_duplicate_threshold=0.995))
    assert world.near_copy in lenient.pair_id and lenient.stats.removed_near_contamination == 0


def test_deterministic_and_capped(world: World) -> None:
    config = RetrievalConfig(k_per_query=20, mode="text-to-text")
    a, b = world.run(config), world.run(config, hashes_as_callable=True)
    for field in ("class_index", "pair_id", "score", "rank"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert a.stats == b.stats and a.mode == "text-to-text"
    capped = world.run(replace(config, max_per_class=3))
    assert list(capped.stats.count_per_class) == [3] * N_CLASSES
    assert capped.stats.removed_over_class_cap == len(a.pair_id) - 3 * N_CLASSES
    for c in range(N_CLASSES):  # the cap keeps each class's best pairs
        assert by_class(capped)[c] == by_class(a)[c][:3]
    assert capped.stats.as_dict()["count_per_class"] == [3] * N_CLASSES


def test_general_sample_is_uniform_clean_and_after_the_classes(world: World) -> None:
    plain = world.run(RetrievalConfig(k_per_query=20))
    mixed = world.run(RetrievalConfig(k_per_query=20, general_fraction=0.5))
    classes = mixed.class_index != GENERAL_CLASS
    for field in ("class_index", "pair_id", "score", "rank"):  # the class rows are unchanged
        np.testing.assert_array_equal(getattr(mixed, field)[classes], getattr(plain, field))
    general = mixed.pair_id[~classes]
    assert len(general) == round(0.5 * len(plain.pair_id)) == mixed.stats.general_pairs
    assert not set(general.tolist()) & set(plain.pair_id.tolist())
    assert np.all(~classes[len(plain.pair_id):])  # general rows come last, in draw order
    np.testing.assert_array_equal(mixed.rank[~classes], np.arange(len(general)))
    assert mixed.stats.count_per_class == plain.stats.count_per_class
    background = set(range(FIRST_ID, FIRST_ID + 2000))  # drawn from the whole corpus, not near
    assert len(set(general.tolist()) & background) >= 0.8 * len(general)  # the class queries
    again = world.run(RetrievalConfig(k_per_query=20, general_fraction=0.5))
    np.testing.assert_array_equal(again.pair_id, mixed.pair_id)  # seeded


def test_general_sample_skips_evaluation_images_and_kept_images(world: World) -> None:
    everything = world.run(RetrievalConfig(k_per_query=20, general_fraction=1000.0))
    general = set(everything.pair_id[everything.class_index == GENERAL_CLASS].tolist())
    taken = set(everything.pair_id[everything.class_index != GENERAL_CLASS].tolist())
    skipped = {world.exact_copy, world.near_copy, world.copy_other}  # eval copies, twin image
    assert general == set(world.ids.tolist()) - taken - skipped
    assert everything.stats.removed_from_general == len(skipped)


def test_bad_inputs_are_named(world: World) -> None:
    for bad in (-0.5, float("inf"), float("nan")):
        with pytest.raises(ValueError, match=f"general_fraction must be finite and >= 0, got {bad}"):
            RetrievalConfig(general_fraction=bad)
    with pytest.raises(ValueError, match="general_fraction > 0 needs corpus_ids"):
        retrieve_domain(world.query_class, world.queries, world.index,
                        RetrievalConfig(general_fraction=0.5), pair_sha256={},
                        pair_vectors=world.pair_vectors, eval_vectors=world.eval_vectors,
                        eval_sha256=set())
    with pytest.raises(ValueError, match="mode must be one of"):
        RetrievalConfig(mode="image-to-text")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"near_duplicate_threshold must be in \(0, 1\], got 0"):
        RetrievalConfig(near_duplicate_threshold=0.0)
    with pytest.raises(KeyError, match="have no image sha256"):
        retrieve_domain(world.query_class, world.queries, world.index, RetrievalConfig(),
                        pair_sha256={}, pair_vectors=world.pair_vectors,
                        eval_vectors=world.eval_vectors, eval_sha256=set())


def test_retrieval_grid_png(tmp_path: Path) -> None:
    images = {"red": [Image.new("RGB", (90, 40), "red")] * 3,
              "blue": [Image.new("RGBA", (20, 20), (0, 0, 255, 255))]}
    path = retrieval_grid(images, tmp_path / "grid.png", thumb=32)
    grid = Image.open(path)
    assert grid.format == "PNG" and grid.size == (8 * 4 + 8 + 3 * 34, 2 * 34)
    assert grid.getpixel((8 * 4 + 8 + 34 + 5, 5)) == (255, 0, 0)  # second red thumbnail
    assert grid.getpixel((8 * 4 + 8 + 5, 34 + 5)) == (0, 0, 255)
    assert [p.name for p in tmp_path.iterdir()] == ["grid.png"]
