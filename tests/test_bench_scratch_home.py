"""The experiments' scratch home: a copy of a home's metadata over links to its files, where
re-retrieving and training leave the home as it was."""

from __future__ import annotations

import dataclasses

import pytest
from react_assets.metadata.sql import insert_pairs

from bench.common.scratch_home import BASE_LABEL, ScratchHome, gains
from bench.speed.metadata.workload import shard_batch, template
from react_assets.customize.recipe import CustomizationRecipe
from react_assets.metadata import insert_table, open_store

# the tiny world's retrieval (tests/tiny_world.py): its 1-epoch base maps images close together
TINY_RETRIEVAL = {"k_per_query": 10, "mode": "text-to-image", "near_duplicate_threshold": 0.95}


def count_pairs(store) -> int:
    with store.connect() as conn:
        return conn.execute("SELECT count(*) FROM pairs").fetchone()[0]


def test_the_copy_reads_the_home_and_writes_only_itself(tmp_path):
    home = tmp_path / "home"
    source = open_store(home)
    batch = shard_batch(template(20), 0)
    source.write(lambda conn: insert_table(conn, insert_pairs, batch))
    (home / "shards").mkdir()
    (home / "shards" / "a.tar").write_bytes(b"tar")
    (home / "reports").mkdir()

    with ScratchHome.of(home) as scratch:
        assert count_pairs(scratch.store) == 20
        assert (scratch.paths.shards / "a.tar").read_bytes() == b"tar"  # linked, not copied
        assert scratch.paths.shards.is_symlink() and not scratch.paths.reports.is_symlink()
        scratch.store.write(lambda conn: insert_table(conn, insert_pairs,
                                                      shard_batch(template(20), 1)))
        assert count_pairs(scratch.store) == 40
        root = scratch.paths.root
    assert count_pairs(open_store(home)) == 20  # the home did not see the copy's write
    assert not root.exists()  # the copy is removed


def test_a_home_without_metadata_is_refused_by_name(tmp_path):
    with pytest.raises(SystemExit, match=r"catalog\.sqlite not found.*demo\.sh"):
        with ScratchHome.of(tmp_path / "empty"):
            pass


@pytest.mark.slow
def test_retrieve_train_and_top1_on_the_tiny_world(tiny_world):
    home = open_store(tiny_world.root)
    snapshot = home.snapshot_id()
    recipe = dataclasses.replace(CustomizationRecipe(), epochs=1, batch_size=32, max_steps=4)
    with ScratchHome.of(tiny_world.root) as scratch:
        stats = scratch.retrieve("digits", **TINY_RETRIEVAL, general_fraction=1.0)
        assert stats["general_pairs"] > 0 and sum(stats["count_per_class"]) > 0
        trained = scratch.train("digits", recipe, "gated-image", "gated-1.0", num_workers=0)
        assert 1 <= trained.as_dict()["steps"] <= 4  # one epoch of its pairs, at most 4 steps
        assert trained.made.folder.is_relative_to(scratch.runs)
        top1 = scratch.top1("digits", [trained])
    assert set(top1) == {BASE_LABEL, "gated-1.0"}
    assert "digits-test" in top1[BASE_LABEL] and set(top1["gated-1.0"]) == set(top1[BASE_LABEL])
    assert all(0 <= v <= 100 for scores in top1.values() for v in scores.values())
    assert gains(top1)["gated-1.0"]["digits-test"] == round(
        top1["gated-1.0"]["digits-test"] - top1[BASE_LABEL]["digits-test"], 2)
    assert open_store(tiny_world.root).snapshot_id() == snapshot  # the home was only read
