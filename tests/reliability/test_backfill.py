"""Backfills launched through `dagster dev` (the UI's GraphQL), run by the daemon's multiprocess runs.

A tiny demo world is built in-process up to the index; then, at once, three backfills go to the
webserver: two of the same shard partition (the same partition materialized twice concurrently)
and one of every shard and domain partition. The daemon launches each run in its own process with
the multiprocess executor, four runs at a time (the shard backfill in runs of up to
``SHARDS_PER_RUN`` shards); the ``compute`` pool serializes the heavy steps.
"""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import pytest
from react_assets.metadata.sql import count_pair_integrity
from tiny_world import TINY_RUN_CONFIG

from dagster_project.partitions import SHARDS_PER_RUN
from devtools.dagster_server import DagsterServer, DagsterServerConfig, prepare_dagster_home
from devtools.ui_client import launch_asset_backfill, wait_for_backfill
from react_assets.demo.config import DemoSourcePaths
from react_assets.files.hashing import file_sha256
from react_assets.metadata import open_store

pytestmark = pytest.mark.slow

SETUP_CONFIG = {job: TINY_RUN_CONFIG[job] for job in ("base_model_job", "embedding_job",
                                                       "index_job")}
# The tiny world in smaller shards: more shard partitions for the backfill.
SETUP_CONFIG["demo_world_job"] = {"ops": {"demo_world": {"config": {
    **TINY_RUN_CONFIG["demo_world_job"]["ops"]["demo_world"]["config"], "samples_per_shard": 300}}}}
SHARD_ASSETS = ["corpus_shards", "corpus_embeddings"]
SHARD_CONFIG = {"ops": {"corpus_embeddings": {"config": {"batch_size": 64, "workers": 0}}}}
DOMAIN_CONFIG = {"ops": {name: TINY_RUN_CONFIG["domain_job"]["ops"][name] for name in (
    "retrieved_pairs", "retrieved_pairs_min_pairs_per_class")}}


def _snapshot(react_home: Path) -> dict:
    store = open_store(react_home)
    with store.connect() as conn:
        pairs = conn.execute("SELECT shard_id, count(*), count(DISTINCT pair_id) FROM pairs "
                             "GROUP BY 1 ORDER BY 1").fetchall()
        sets = conn.execute("SELECT shard_id, count(*) FROM embedding_sets GROUP BY 1 ORDER BY 1"
                            ).fetchall()
        retrieved = conn.execute("SELECT domain, count(*), count(DISTINCT pair_id) FROM retrievals "
                                 "GROUP BY 1 ORDER BY 1").fetchall()
    embeddings = {p.parent.name: file_sha256(p)
                  for p in sorted((react_home / "embeddings").rglob("img_emb.npy"))}
    return {"pairs": pairs, "embedding_sets": sets, "retrievals": retrieved,
            "embeddings": embeddings, "integrity": store.fetch(count_pair_integrity)}


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    """REACT_HOME with the tiny world built up to knn_index, and a persistent Dagster instance."""
    import dagster as dg

    from dagster_project.definitions import build_definitions
    from dagster_project.demo import run_pipeline

    missing = DemoSourcePaths().missing()
    if missing:
        pytest.skip(f"demo world sources not installed: {missing}")
    react_home = tmp_path_factory.mktemp("backfill") / "react-home"
    dagster_home = prepare_dagster_home(react_home)
    defs = build_definitions(str(react_home))
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        def execute(job: str, partition: str | None, config: dict) -> None:
            assert defs.resolve_job_def(job).execute_in_process(
                instance=instance, partition_key=partition, run_config=config).success

        run_pipeline(instance, execute, SETUP_CONFIG, ("world", "corpus", "base", "embed", "index"))
    return react_home


def _overlapping(runs: list[dict]) -> bool:
    spans = [(r["startTime"], r["endTime"]) for r in runs if r["startTime"] and r["endTime"]]
    return any(a0 < b1 and b0 < a1 for (a0, a1), (b0, b1) in itertools.combinations(spans, 2))


def test_a_backfill_of_every_shard_and_domain_with_the_same_partition_twice(world):
    before = _snapshot(world)
    shards = [shard for shard, _, _ in before["pairs"]]
    assert len(shards) >= 3 and before["integrity"] == [{"duplicate_pair_ids": 0,
                                                          "orphan_pairs": 0}]
    with DagsterServer(DagsterServerConfig(react_home=world)) as server:
        twice = [launch_asset_backfill(server.url, SHARD_ASSETS, SHARD_CONFIG, [shards[0]],
                                       title=f"same partition #{i}") for i in (1, 2)]
        every_shard = launch_asset_backfill(server.url, SHARD_ASSETS, SHARD_CONFIG,
                                            title="every shard")
        every_domain = launch_asset_backfill(server.url, ["retrieved_pairs"], DOMAIN_CONFIG,
                                             title="every domain")
        outcomes = {b: wait_for_backfill(server.url, b, timeout_s=900)
                    for b in [*twice, every_shard, every_domain]}
        log_tail = server.log_tail()
    statuses = {b: (o.status, sorted(set(o.run_statuses.values()))) for b, o in outcomes.items()}
    assert all(s == ("COMPLETED_SUCCESS", ["SUCCESS"]) for s in statuses.values()), (
        f"{statuses}\n{log_tail}")
    # one run per SHARDS_PER_RUN shards, both shard assets in it
    assert len(outcomes[every_shard].runs) == math.ceil(len(shards) / SHARDS_PER_RUN)
    assert len(outcomes[every_domain].runs) == 3
    same_partition_runs = [r for b in twice for r in outcomes[b].runs]
    assert len(same_partition_runs) == 2
    all_runs = [r for o in outcomes.values() for r in o.runs]
    assert _overlapping(all_runs), "the daemon ran the backfill's runs one after another"

    after = _snapshot(world)
    # Re-materializing changes nothing: same rows per shard, byte-identical embeddings.
    assert after["pairs"] == before["pairs"]
    assert after["embeddings"] == before["embeddings"]
    assert after["embedding_sets"] == [(shard, 1) for shard in shards]
    assert after["integrity"] == before["integrity"]
    assert [d for d, _, _ in after["retrievals"]] == ["digits", "emoji", "fashion"]
    assert all(n == distinct and n > 0 for _, n, distinct in after["retrievals"])
    print(json.dumps({"statuses": statuses, "runs": len(all_runs)}))
