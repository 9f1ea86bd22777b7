"""A backfill launched through `dagster dev` (the UI's GraphQL), run by the daemon.

What only the daemon shows: a copy of the session's tiny world (tests/conftest.py) goes to the
webserver and one backfill of every shard partition of the shard assets is launched, as the UI's
Materialize dialog does. With ``REACT_BACKFILL_SHARDS_PER_RUN=2`` the daemon launches one run per
range of 2 shards, each in a process of its own, several at once. Their steps run in the run's
process (``in_process``): the multiprocess executor would start an interpreter for every step and
asset check, which is Dagster's own and costs minutes here. Re-materializing changes nothing. The
same shard materialized twice at once: tests/reliability/test_concurrency.py.
"""

from __future__ import annotations

import itertools
import json
import math

import pytest
from tiny_world import TinyWorld, shard_state

from dagster_project.partitions import shard_partitions
from devtools.dagster_server import DagsterServer, DagsterServerConfig
from devtools.ui_client import launch_asset_backfill, wait_for_backfill

pytestmark = pytest.mark.slow

SHARDS_PER_RUN = 2  # the tiny world's shards make 2 or more ranges
SHARD_ASSETS = ["corpus_shards", "corpus_embeddings"]
SHARD_CONFIG = {"execution": {"config": {"in_process": {}}},
                "ops": {"corpus_embeddings": {"config": {"batch_size": 64, "workers": 0}}}}
RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


def _overlapping(runs: list[dict]) -> bool:
    spans = [(r["startTime"], r["endTime"]) for r in runs if r["startTime"] and r["endTime"]]
    return any(a0 < b1 and b0 < a1 for (a0, a1), (b0, b1) in itertools.combinations(spans, 2))


def test_a_backfill_of_every_shard_runs_ranges_of_shards_at_once(tiny_world_copy: TinyWorld,
                                                                  monkeypatch):
    world = tiny_world_copy.root
    with tiny_world_copy.instance() as instance:
        shards = instance.get_dynamic_partitions(shard_partitions.name)
    before = shard_state(world)
    assert len(shards) > SHARDS_PER_RUN and [s for s, _, _ in before["pairs"]] == sorted(shards)
    assert before["integrity"] == [{"duplicate_pair_ids": 0, "orphan_pairs": 0}]
    monkeypatch.setenv("REACT_BACKFILL_SHARDS_PER_RUN", str(SHARDS_PER_RUN))  # the server's
    # nothing is read from the server once its runs ended: no need to wait for a graceful stop
    with DagsterServer(DagsterServerConfig(react_home=world, stop_timeout_s=10)) as server:
        backfill = launch_asset_backfill(server.url, SHARD_ASSETS, SHARD_CONFIG,
                                         title="every shard")
        outcome = wait_for_backfill(server.url, backfill, timeout_s=900)
        log_tail = server.log_tail()
    statuses = (outcome.status, sorted(set(outcome.run_statuses.values())))
    assert statuses == ("COMPLETED_SUCCESS", ["SUCCESS"]), f"{statuses}\n{log_tail}"
    # one run per range of SHARDS_PER_RUN shards (in the partitions' order), both assets in it
    ranges = sorted((tags[RANGE_START], tags[RANGE_END]) for tags in (
        {t["key"]: t["value"] for t in run["tags"]} for run in outcome.runs))
    chunks = [shards[i:i + SHARDS_PER_RUN] for i in range(0, len(shards), SHARDS_PER_RUN)]
    assert len(outcome.runs) == math.ceil(len(shards) / SHARDS_PER_RUN)
    assert ranges == sorted((chunk[0], chunk[-1]) for chunk in chunks)
    assert _overlapping(outcome.runs), "the daemon ran the backfill's runs one after another"

    after = shard_state(world)
    # Re-materializing changes nothing: same rows per shard, byte-identical embeddings.
    assert after["pairs"] == before["pairs"]
    assert after["embeddings"] == before["embeddings"]
    assert after["embedding_sets"] == [(shard, 1) for shard in sorted(shards)]
    assert after["integrity"] == before["integrity"]
    print(json.dumps({"status": outcome.status, "runs": len(outcome.runs),
                      "wall_s": round(outcome.wall_s, 1)}))
