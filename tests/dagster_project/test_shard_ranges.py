"""A run over a range of shards (what a backfill with SHARDS_PER_RUN launches) ingests and embeds
each of them as one-shard runs do, loads the base model once, records each shard's figures on its
own partition and checks every shard."""

from __future__ import annotations

import dagster as dg
import pytest
from shard_factory import good_samples, png_bytes, write_shard
from tiny_world import TINY_BASE, register_tiny_base

import react_assets.embed.corpus_shard
from dagster_project.definitions import build_definitions
from dagster_project.partitions import SHARDS_PER_RUN, shard_partitions, shards_per_run
from react_assets.files.paths import ReactPaths
from react_assets.metadata import open_store

SHARDS = ["s0", "s1", "s2"]
TINY = TINY_BASE
EMBEDDING = {"ops": {"corpus_embeddings": {"config": {"batch_size": 4, "workers": 0,
                                                      "chunk_rows": 8}}}}
RANGE = {"dagster/asset_partition_range_start": SHARDS[0],
         "dagster/asset_partition_range_end": SHARDS[-1]}


def make_home(root, shard_samples: dict[str, list[dict]]) -> ReactPaths:
    """A home with the shards' tars in place and the react-tiny base model registered."""
    paths = ReactPaths(root).create()
    for shard, samples in shard_samples.items():
        write_shard(paths.shard_tar(shard), samples)
    store = open_store(paths.root)
    register_tiny_base(store)
    return paths


def three_shards() -> dict[str, list[dict]]:
    return {shard: good_samples(5 + 3 * i, start=100 * i) for i, shard in enumerate(SHARDS)}


@pytest.fixture
def model_loads(monkeypatch) -> list[str]:
    """Every base model load of the embedding stage, counted."""
    loads: list[str] = []
    real = react_assets.embed.corpus_shard.load_base_bundle

    def counted(store):
        loads.append("load")
        return real(store)

    monkeypatch.setattr(react_assets.embed.corpus_shard, "load_base_bundle", counted)
    return loads


def execute(paths: ReactPaths, instance, job: str, *, partition: str | None = None,
            tags: dict | None = None, config: dict | None = None) -> dg.ExecuteInProcessResult:
    defs = build_definitions(str(paths.root))
    return defs.resolve_job_def(job).execute_in_process(
        instance=instance, partition_key=partition, tags=tags, run_config=config,
        raise_on_error=False)


def snapshot(paths: ReactPaths) -> dict:
    """The shards' pairs and embedding sets, and the bytes of every embedding file."""
    store = open_store(paths.root)
    with store.connect() as conn:
        pairs = conn.execute("SELECT shard_id, pair_id, ordinal, key, caption, image_sha256 "
                             "FROM pairs ORDER BY shard_id, ordinal").fetchall()
        sets = conn.execute("SELECT shard_id, model_id, n_rows, dim FROM embedding_sets "
                            "ORDER BY shard_id").fetchall()
    files = {p.relative_to(paths.root).as_posix(): p.read_bytes()
             for p in sorted(paths.embeddings.rglob("*.npy"))}
    return {"pairs": pairs, "embedding_sets": sets, "files": files}


def materializations(instance, run_id: str, asset: str) -> dict[str, dict]:
    records = instance.fetch_materializations(dg.AssetKey(asset), limit=100).records
    return {r.partition_key: {k: v.value for k, v in r.asset_materialization.metadata.items()}
            for r in records if r.run_id == run_id}


def test_a_ranged_run_does_every_shard_as_one_shard_runs_do_with_one_model_load(
        tmp_path, instance, model_loads):
    ranged = make_home(tmp_path / "ranged", three_shards())
    instance.add_dynamic_partitions(shard_partitions.name, SHARDS)
    corpus = execute(ranged, instance, "corpus_job", tags=RANGE)
    embedding = execute(ranged, instance, "embedding_job", tags=RANGE, config=EMBEDDING)
    assert corpus.success and embedding.success
    assert model_loads == ["load"]

    pairs = materializations(instance, corpus.run_id, "corpus_shards")
    rows = materializations(instance, embedding.run_id, "corpus_embeddings")
    assert {s: m["pairs"] for s, m in pairs.items()} == {"s0": 5, "s1": 8, "s2": 11}
    assert {s: m["dagster/row_count"] for s, m in pairs.items()} == {"s0": 5, "s1": 8, "s2": 11}
    assert {s: m["rows"] for s, m in rows.items()} == {"s0": 5, "s1": 8, "s2": 11}
    for metadata in (*pairs.values(), *rows.values()):
        assert metadata["run_shards"] == 3
        assert [r.data["shard"] for r in metadata["run_by_shard"].records] == SHARDS
    assert pairs["s0"]["run_pairs"] == 24 and rows["s2"]["run_rows"] == 24
    evaluations = {e.check_name: e for e in (*corpus.get_asset_check_evaluations(),
                                             *embedding.get_asset_check_evaluations())}
    for name in ("shard_has_pairs", "embeddings_unit_norm_and_aligned"):
        assert evaluations[name].passed
        assert evaluations[name].metadata["shards"].value == SHARDS
        assert evaluations[name].metadata["failed_shards"].value == []
    assert evaluations["shard_has_pairs"].metadata["by_shard"].value["s1"]["pairs"] == 8

    one_by_one = make_home(tmp_path / "one-by-one", three_shards())
    for shard in SHARDS:
        assert execute(one_by_one, instance, "corpus_job", partition=shard).success
        assert execute(one_by_one, instance, "embedding_job", partition=shard,
                       config=EMBEDDING).success
    assert len(model_loads) == 1 + len(SHARDS)
    assert snapshot(ranged) == snapshot(one_by_one)
    assert len(snapshot(ranged)["files"]) == 3 * len(SHARDS)


def test_a_ranged_run_in_the_whole_implicit_asset_job_checks_its_range(tmp_path, instance,
                                                                      model_loads):
    """A backfill's run is of the implicit asset job, and a Dask worker runs each of its steps in
    that whole job, subset by op only (dagster-dask): a job with no partitions definition of its
    own, since shards and domains are partitioned apart. The checks find the range's shards."""
    paths = make_home(tmp_path / "home", three_shards())
    instance.add_dynamic_partitions(shard_partitions.name, SHARDS)
    defs = build_definitions(str(paths.root))
    job = defs.resolve_implicit_global_asset_job_def()
    assert job.partitions_def is None
    result = job.execute_in_process(
        instance=instance, tags=RANGE, run_config=EMBEDDING, raise_on_error=False,
        op_selection=["corpus_shards", "corpus_shards_shard_has_pairs", "corpus_embeddings",
                      "corpus_embeddings_embeddings_unit_norm_and_aligned"])
    assert result.success and model_loads == ["load"]
    assert len(materializations(instance, result.run_id, "corpus_embeddings")) == 3
    evaluations = result.get_asset_check_evaluations()
    assert sorted(e.check_name for e in evaluations) == ["embeddings_unit_norm_and_aligned",
                                                         "shard_has_pairs"]
    assert all(e.passed and e.metadata["shards"].value == SHARDS for e in evaluations)


def test_a_ranged_run_names_the_shard_its_check_failed_on(tmp_path, instance):
    shards = three_shards()
    shards["s1"] = [*good_samples(1, start=100),
                    *({"key": f"nocap{i}", "image": png_bytes()} for i in range(4))]
    paths = make_home(tmp_path / "home", shards)
    instance.add_dynamic_partitions(shard_partitions.name, SHARDS)
    result = execute(paths, instance, "corpus_job", tags=RANGE)
    (evaluation,) = [e for e in result.get_asset_check_evaluations()
                     if e.check_name == "shard_has_pairs"]
    assert not evaluation.passed
    assert evaluation.metadata["failed_shards"].value == ["s1"]
    assert evaluation.metadata["by_shard"].value["s1"]["skipped_fraction"] == 0.8


def test_the_shards_per_run_come_from_the_environment(tmp_path, monkeypatch):
    defs = build_definitions(str(tmp_path))
    for asset in ("corpus_shards", "corpus_embeddings"):
        assert defs.resolve_assets_def(asset).backfill_policy == dg.BackfillPolicy.multi_run(
            SHARDS_PER_RUN)
    monkeypatch.delenv("REACT_BACKFILL_SHARDS_PER_RUN", raising=False)
    assert shards_per_run() == 8
    monkeypatch.setenv("REACT_BACKFILL_SHARDS_PER_RUN", "3")
    assert shards_per_run() == 3
    for bad in ("0", "-2", "two", "1.5", ""):
        monkeypatch.setenv("REACT_BACKFILL_SHARDS_PER_RUN", bad)
        with pytest.raises(ValueError, match="REACT_BACKFILL_SHARDS_PER_RUN"):
            shards_per_run()
