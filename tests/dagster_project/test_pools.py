"""Concurrency pools: heavy compute steps are serialized by a pool; metadata writers need none."""

from pathlib import Path

import yaml

from dagster_project.definitions import build_definitions
from dagster_project.partitions import COMPUTE_POOL

EXPECTED = {
    "demo_world": None, "corpus_shards": None, "knn_index": COMPUTE_POOL,
    "retrieved_pairs": COMPUTE_POOL, "zeroshot_eval": COMPUTE_POOL,
    "corpus_embeddings": COMPUTE_POOL, "base_model": COMPUTE_POOL, "react_model": COMPUTE_POOL,
}


def test_each_writer_and_heavy_step_has_its_pool(tmp_path):
    defs = build_definitions(str(tmp_path / "home"))
    pools = {name: defs.resolve_assets_def(name).op.pool for name in EXPECTED}
    assert pools == EXPECTED


def test_the_instance_runs_one_step_per_pool():
    settings = yaml.safe_load(
        (Path(__file__).parents[2] / "dagster_project" / "dagster.yaml").read_text())
    assert settings["concurrency"]["pools"]["default_limit"] == 1
