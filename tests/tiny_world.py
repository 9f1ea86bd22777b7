"""The tiny demo world and run config the end-to-end and backfill tests materialize, and the tiny
base model that tests register without pre-training.

``build_tiny_world`` materializes the world once (the session fixture ``tiny_world`` of
tests/conftest.py); ``copy_tiny_world`` gives a test that writes a home of its own."""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from react_assets.models.factory import BaseModelConfig

TINY_BASE = BaseModelConfig(arch="react-tiny", init_seed=0)

TINY_WORLD = {
    # 300 samples a shard: 3 shards, so that a backfill in ranges of 2 shards runs 2 runs
    "samples_per_shard": 300, "fashion_train_limit": 300, "fashion_test_limit": 60,
    "clipart_limit": 300, "emoji_limit": 150, "digits_limit": 300,
}
TINY_RUN_CONFIG = {
    "demo_world_job": {"ops": {"demo_world": {"config": TINY_WORLD}}},
    "base_model_job": {"ops": {"base_model": {"config": {
        "pretrain_epochs": 1, "pretrain_batch_size": 32, "pretrain_max_pairs": 128}}}},
    "embedding_job": {"ops": {"corpus_embeddings": {"config": {"batch_size": 64, "workers": 0}}}},
    "index_job": {"ops": {"knn_index": {"config": {"n_tune_queries": 50}}}},
    "domain_job": {"ops": {
        # The 1-epoch base model maps most images close together: the demo spec's near-duplicate
        # cut (0.99, for the fully trained base) would leave a domain almost no pairs.
        "retrieved_pairs": {"config": {"k_per_query": 10, "mode": "text-to-image",
                                       "near_duplicate_threshold": 0.95}},
        # the tiny world's 1-epoch base model leaves some classes without pairs
        "retrieved_pairs_min_pairs_per_class": {"config": {"min_pairs_per_class": 0}},
        "react_model": {"config": {"variants": ["real-prompt", "real-linear", "gated-image"],
                                   "epochs": 1, "batch_size": 32}},
        "zeroshot_eval": {"config": {"batch_size": 64}},
    }},
}


def register_tiny_base(store) -> str:
    """Record the randomly initialised ``react-tiny`` model (``TINY_BASE``) as the store's current
    base model, as pre-training would; returns its model id."""
    import json
    from dataclasses import asdict

    from react_assets.metadata.sql import upsert_model

    from react_assets.models.factory import create_base_model

    model_id = create_base_model(TINY_BASE).model_id
    store.execute(upsert_model, {
        "model_id": model_id, "parent_model_id": None, "kind": "base", "domain": None,
        "arch": TINY_BASE.arch, "pretrained": None, "checkpoint": None, "retrieval_digest": None,
        "metadata_snapshot": None, "config": json.dumps(asdict(TINY_BASE)),
        "mlflow_run_id": None, "mlflow_model_uri": None, "dagster_run_id": None,
        "spec_digest": None})
    return model_id


@dataclass(frozen=True)
class TinyWorld:
    """A REACT_HOME where the tiny world's stages ran, its Dagster instance in
    ``root/dagster_home`` (the project's dagster.yaml), and what the runs returned."""

    root: Path
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage, in order
    run_ids: dict[str, list[str]] = field(default_factory=dict)  # Dagster run ids per job

    @property
    def dagster_home(self) -> Path:
        return self.root / "dagster_home"

    @contextlib.contextmanager
    def instance(self) -> Iterator[object]:
        """The world's persistent Dagster instance (runs, events, dynamic partitions)."""
        import dagster as dg

        with dg.DagsterInstance.from_config(str(self.dagster_home)) as instance:
            yield instance


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """torch and faiss on one thread in this process, as ``OMP_NUM_THREADS=1`` runs them: the
    tiny world's models then come out bit-identical to a run in a one-thread worker process."""
    import faiss
    import torch

    torch_threads, faiss_threads = torch.get_num_threads(), faiss.omp_get_max_threads()
    torch.set_num_threads(1)
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(torch_threads)
        faiss.omp_set_num_threads(faiss_threads)


def build_tiny_world(root: Path) -> TinyWorld:
    """Materialize every stage of the tiny world (TINY_RUN_CONFIG) under ``root`` in-process on
    one thread, one job run per partition, as the demo does. Its metadata equals that of
    tests/cluster/run_tiny_world.py's runs, in either profile."""
    from dagster_project.definitions import build_definitions
    from dagster_project.demo import STAGES, run_pipeline
    from devtools.dagster_server import prepare_dagster_home

    world = TinyWorld(root)
    prepare_dagster_home(root)
    defs = build_definitions(str(root))
    with world.instance() as instance, one_thread():
        def execute(job: str, partition: str | None, config: dict) -> None:
            result = defs.resolve_job_def(job).execute_in_process(
                instance=instance, partition_key=partition, run_config=config)
            assert result.success, f"{job}[{partition}] failed"
            world.run_ids.setdefault(job, []).append(result.run_id)

        world.timings.update(run_pipeline(instance, execute, TINY_RUN_CONFIG, STAGES))
    return world


def copy_tiny_world(world: TinyWorld, root: Path) -> TinyWorld:
    """A copy of ``world`` at ``root`` that a test may write to. The metadata's paths are
    relative to REACT_HOME already; the paths in MLflow's store (experiment, runs, models) are
    moved to the copy, so MLflow never writes into the original."""
    shutil.copytree(world.root, root, symlinks=True)
    mlflow_db = root / "mlflow.db"
    if mlflow_db.is_file():
        old, new = f"{world.root.resolve()}/", f"{root.resolve()}/"
        with contextlib.closing(sqlite3.connect(mlflow_db)) as db, db:
            tables = [t for (t,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            for table in tables:
                for column in (c[1] for c in db.execute(f"PRAGMA table_info({table})")
                               if c[2].upper().startswith(("VARCHAR", "TEXT"))):
                    db.execute(f"UPDATE {table} SET {column} = replace({column}, ?, ?) "  # noqa: S608
                               f"WHERE instr({column}, ?) > 0", (old, new, old))
    return TinyWorld(root, dict(world.timings), {k: list(v) for k, v in world.run_ids.items()})


def shard_state(root: Path) -> dict:
    """What materializing shard partitions again may not change: pairs per shard (rows, distinct
    ids), embedding sets per shard, each shard's image embeddings (sha256), the pairs' integrity."""
    from react_assets.metadata.sql import count_pair_integrity

    from react_assets.files.hashing import file_sha256
    from react_assets.metadata import open_store

    store = open_store(root)
    with store.connect() as conn:
        pairs = conn.execute("SELECT shard_id, count(*), count(DISTINCT pair_id) FROM pairs "
                             "GROUP BY 1 ORDER BY 1").fetchall()
        sets = conn.execute("SELECT shard_id, count(*) FROM embedding_sets GROUP BY 1 ORDER BY 1"
                            ).fetchall()
    embeddings = {p.parent.name: file_sha256(p)
                  for p in sorted((root / "embeddings").rglob("img_emb.npy"))}
    return {"pairs": pairs, "embedding_sets": sets, "embeddings": embeddings,
            "integrity": store.fetch(count_pair_integrity)}
