"""End to end: the real asset graph materialized in-process on a tiny demo world (the session's
``tiny_world``, tests/conftest.py); a test that materializes again works on a copy of it."""

from __future__ import annotations

import json

import dagster as dg
import pytest
from react_assets.metadata.sql import (
    count_domain_retrievals_by_class,
    count_pair_integrity,
    select_latest_domain_models,
    select_retrieval_sets,
)
from tiny_world import TINY_RUN_CONFIG, TinyWorld

from dagster_project.definitions import build_definitions
from dagster_project.demo import STAGES
from react_assets.customize.domain import RetrievalSet
from react_assets.customize.model_lineage import model_lineage
from react_assets.customize.recipe import CustomizationRecipe
from react_assets.demo.layout import DEMO_RETRIEVAL
from react_assets.domains.registry import registered_domain
from react_assets.domains.settings import RetrievalConfig
from react_assets.files.paths import ReactPaths
from react_assets.metadata import open_store
from react_assets.models.base import current_base, load_base_bundle
from react_assets.models.caption_features import CAPTION_FEATURES_FILE, CaptionFeatures
from react_assets.models.factory import create_base_model, local_model_dir
from react_assets.retrieve.domain import retrieve_for_domain
from react_assets.retrieve.sets import latest_retrieval_set
from react_assets.tracking.lineage import TAG_DAGSTER_RUN_ID, TAG_PARTITION

# Every test reads the tiny world, which takes minutes to build: none is in the fast tier.
pytestmark = pytest.mark.slow


def test_every_stage_ran_and_the_leaderboard_compares_models(tiny_world: TinyWorld):
    paths = ReactPaths(tiny_world.root)
    assert list(tiny_world.timings) == list(STAGES)
    board = json.loads((paths.reports / "leaderboard.json").read_text())
    kinds = {m["model_kind"] for m in board["models"]}
    assert kinds == {"base", "real-prompt", "real-linear", "gated-image"}
    for chart in ("leaderboard.png", "leaderboard_methods.png"):
        assert (paths.reports / chart).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    markdown = (paths.reports / "leaderboard.md").read_text()
    for dataset in ("fashion-test", "digits-test", "emoji-test", "clipart-test"):
        assert dataset in markdown
    for label in ("base zero-shot + linear probe", "REAL-Prompt",
                  "REAL-Linear + linear probe (text init)", "REACT gated-image"):
        assert label in markdown


def test_the_methods_leaderboard_has_every_row_and_column(tiny_world: TinyWorld):
    paths = ReactPaths(tiny_world.root)
    methods = json.loads((paths.reports / "leaderboard.json").read_text())["methods"]
    assert [t["domain"] for t in methods] == ["digits", "emoji", "fashion"]
    for table in methods:
        assert table["settings"] == ["5-shot", "20-shot", "50-shot", "full"]
        assert table["general_datasets"] == ["clipart-test"]
        rows = {(r["method"], r["probe"]): r for r in table["rows"]}
        for method in ("base", "real-prompt", "real-linear", "gated-image"):
            plain = rows[(method, None)]
            assert 0.0 <= plain["zeroshot"] <= 1.0 and 0.0 <= plain["general"] <= 1.0
            assert plain["trainable_parameters"] >= 0 and plain["seconds"] >= 0
            for probe in ("logistic", "text-init"):
                shots = rows[(method, probe)]["shots"]
                assert set(shots) == set(table["settings"])
                assert shots["5-shot"]["n_seeds"] == 3 and shots["full"]["n_seeds"] == 1
        # REAL's baselines keep the base's image tower: the same from-scratch probe figures
        assert rows[("real-prompt", "logistic")]["shots"] == rows[("base", "logistic")]["shots"]
        assert rows[("base", None)]["trainable_parameters"] == 0
        assert rows[("real-prompt", None)]["trainable_parameters"] == 0
        assert rows[("real-linear", None)]["trainable_parameters"] > 0
        assert rows[("gated-image", None)]["trainable_parameters"] > 0


def test_duckdb_holds_the_lineage_of_every_model(tiny_world: TinyWorld):
    paths = ReactPaths(tiny_world.root)
    store = open_store(paths.root)
    with store.connect() as conn:
        count = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # noqa: S608
                 for t in ("pairs", "embedding_sets", "indexes", "retrievals", "models",
                           "evaluations")}
        domains = [r[0] for r in conn.execute(
            "SELECT DISTINCT domain FROM retrievals ORDER BY 1").fetchall()]
        custom = conn.execute("SELECT model_id FROM models WHERE kind = 'gated-image'").fetchall()
        real = conn.execute("SELECT model_id, retrieval_digest, mlflow_model_uri FROM models "
                            "WHERE kind IN ('real-prompt', 'real-linear')").fetchall()
        # what each stage made names its domain's (only) spec version
        versions = conn.execute(
            "SELECT t, count(*), count(*) FILTER (x.spec_digest = d.spec_digest) FROM ("
            " SELECT 'models' AS t, domain, spec_digest FROM models WHERE domain IS NOT NULL"
            " UNION ALL SELECT 'retrieval_sets', domain, spec_digest FROM retrieval_sets"
            " UNION ALL SELECT 'evaluations', domain, spec_digest FROM evaluations) x"
            " JOIN domains d USING (domain) GROUP BY t ORDER BY t").fetchall()
    assert all(n > 0 for n in count.values()), count
    assert domains == ["digits", "emoji", "fashion"]
    assert len(custom) == 3
    assert len(real) == 6 and all(digest and uri for _, digest, uri in real)
    assert [t for t, n, versioned in versions if n > 0 and versioned == n] == [
        "evaluations", "models", "retrieval_sets"], versions
    lineage = model_lineage(store, custom[0][0])
    assert lineage.parent_model_id and lineage.retrieval_digest and lineage.shards
    assert lineage.spec_digest and lineage.spec_classes
    assert lineage.pair_ids and not lineage.imported
    assert store.fetch(count_pair_integrity) == [{"duplicate_pair_ids": 0, "orphan_pairs": 0}]


def test_each_domain_trains_on_its_pairs_and_a_clean_general_sample(tiny_world: TinyWorld):
    paths = ReactPaths(tiny_world.root)
    store = open_store(paths.root)
    with store.connect() as conn:
        rows = conn.execute(
            "SELECT domain, count(*) FILTER (class_index >= 0), count(*) FILTER (class_index = -1),"
            " count(DISTINCT pair_id) FROM retrievals GROUP BY domain ORDER BY domain").fetchall()
        corpus_pairs = conn.execute("SELECT count(*) FROM pairs").fetchone()[0]
    assert [r[0] for r in rows] == ["digits", "emoji", "fashion"]
    for domain, n_class, n_general, n_distinct in rows:
        # the demo spec's general_fraction: that many general pairs per class pair, or every
        # pair of the rest of the corpus the sample did not skip when the tiny corpus runs short
        wanted = round(DEMO_RETRIEVAL["general_fraction"] * n_class)
        skipped = json.loads(latest_retrieval_set(store, domain)["stats"])["removed_from_general"]
        assert n_class > 0 and 0 < n_general <= wanted, domain
        assert n_general == wanted or n_class + n_general + skipped == corpus_pairs, domain
        assert n_distinct == n_class + n_general, domain
        assert store.fetch(count_domain_retrievals_by_class, {"domain": domain})[0][
            "class_index"] >= 0
        trained_on = RetrievalSet.of_domain(store, domain).pair_ids
        assert len(trained_on) == n_distinct


def test_each_retrieval_set_records_the_index_recall_on_its_queries(tiny_world: TinyWorld):
    store = open_store(tiny_world.root)
    for domain in ("digits", "emoji", "fashion"):
        recall = json.loads(latest_retrieval_set(store, domain)["stats"])["ann_recall"]
        # the tiny corpus gets a Flat index: exact, so recall 1 without an exact pass
        assert (recall["check"], recall["recall"], recall["raised"]) == ("flat-index", 1.0, False)
    with tiny_world.instance() as instance:
        event = instance.get_latest_materialization_event(dg.AssetKey("retrieved_pairs"))
    metadata = event.asset_materialization.metadata
    assert metadata["ann_recall"].value == 1.0
    assert metadata["ann_recall_check"].value["check"] == "flat-index"


def test_captions_are_encoded_once_and_their_features_reused_downstream(tiny_world: TinyWorld):
    paths = ReactPaths(tiny_world.root)
    store = open_store(paths.root)
    base = current_base(store)
    kept = CaptionFeatures.load(local_model_dir(base.config) / CAPTION_FEATURES_FILE)
    bundle = create_base_model(base.config)
    assert kept is not None and kept.made_by(bundle.model, bundle.tokenizer)  # pre-training's
    # domain training read its captions' features from the embedding stage: none was encoded
    # (an encoded set would be cached as text_features_*.npy beside the decoded pixels)
    assert list(paths.root.rglob("input-cache/pixels_*.npy"))
    assert not list(paths.root.rglob("input-cache/text_features_*.npy"))


def test_the_react_model_run_in_mlflow_has_params_tags_inputs_and_a_registered_model(
        tiny_world: TinyWorld):
    paths, run_ids = ReactPaths(tiny_world.root), tiny_world.run_ids
    from dagster_project.resources import MlflowResource

    writer = MlflowResource(root=str(paths.root)).writer()
    row = open_store(paths.root).fetch(select_latest_domain_models, {"domain": "fashion"})[0]
    run = writer.get_run(row["mlflow_run_id"])
    assert run.data.params["customization.variant"] == "gated-image"
    assert run.data.params["train.lr"] == str(CustomizationRecipe().lr)  # the demo preset's
    assert run.data.tags[TAG_PARTITION] == "fashion"
    assert run.data.tags[TAG_DAGSTER_RUN_ID] in run_ids["domain_job"]
    assert [d.dataset.name for d in run.inputs.dataset_inputs] == ["retrieved_pairs/fashion"]
    assert writer.metric_history(run.info.run_id, "train_loss")
    version = writer.client.get_model_version("react-fashion", "1")
    assert version.run_id == run.info.run_id
    assert row["mlflow_model_uri"] == "models:/react-fashion/1"


def test_rematerializing_a_domain_with_the_same_settings_adds_no_set(tiny_world_copy: TinyWorld):
    paths = ReactPaths(tiny_world_copy.root)
    store = open_store(paths.root)

    def counts() -> tuple[int, int]:
        with store.connect() as conn:
            mine = conn.execute("SELECT count(*) FROM retrievals WHERE domain = 'digits'")
            n_digits = mine.fetchone()[0]
            n_all = conn.execute("SELECT count(*) FROM retrievals").fetchone()[0]
        return n_digits, n_all

    before = counts()
    defs = build_definitions(str(paths.root))
    with tiny_world_copy.instance() as instance:
        result = dg.materialize(
            [defs.resolve_assets_def("retrieved_pairs")], partition_key="digits",
            instance=instance, selection=["retrieved_pairs"], run_config={"ops": {
                "retrieved_pairs": TINY_RUN_CONFIG["domain_job"]["ops"]["retrieved_pairs"]}})
    assert result.success
    assert before[0] > 0 and counts() == before


def test_a_retrieval_that_keeps_no_pair_fails_saying_why_and_stores_no_set(
        tiny_world_copy: TinyWorld):
    paths = ReactPaths(tiny_world_copy.root)
    store = open_store(paths.root)
    sets_before = store.fetch(select_retrieval_sets, {"domain": "emoji"})
    defs = build_definitions(str(paths.root))
    # every hit is "a near copy" of an evaluation image at a cosine threshold this low
    config = {**TINY_RUN_CONFIG["domain_job"]["ops"]["retrieved_pairs"]["config"],
              "near_duplicate_threshold": 0.001}
    with tiny_world_copy.instance() as instance:
        result = dg.materialize(
            [defs.resolve_assets_def("retrieved_pairs")], partition_key="emoji",
            instance=instance, run_config={"ops": {"retrieved_pairs": {"config": config}}},
            selection=["retrieved_pairs"], raise_on_error=False)
    assert not result.success
    message = str(result.get_step_failure_events()[0].step_failure_data.error)
    assert "kept no pair for any of its classes" in message
    assert "near_duplicate_threshold=0.001" in message
    assert store.fetch(select_retrieval_sets, {"domain": "emoji"}) == sets_before


def test_retrieving_before_the_base_model_is_indexed_says_what_to_materialize(tiny_world: TinyWorld):
    paths = ReactPaths(tiny_world.root)
    store = open_store(paths.root)
    with pytest.raises(ValueError, match="materialize corpus_embeddings and knn_index"):
        retrieve_for_domain(store, load_base_bundle(store), registered_domain(store, "emoji"),
                            index_paths={}, embedding_folders=[],
                            config=RetrievalConfig(mode="text-to-text"))


def _materialize(paths: ReactPaths, instance, asset: str, domain: str, config: dict) -> None:
    defs = build_definitions(str(paths.root))
    result = dg.materialize([defs.resolve_assets_def(asset)], partition_key=domain,
                            instance=instance, run_config={"ops": {asset: config}},
                            selection=[asset])
    assert result.success, f"{asset}[{domain}] failed"


def test_a_re_retrieval_with_other_settings_keeps_each_models_own_pairs_and_shards(
        tiny_world_copy: TinyWorld):
    paths = ReactPaths(tiny_world_copy.root)
    store = open_store(paths.root)
    ops = TINY_RUN_CONFIG["domain_job"]["ops"]
    # digits: the tiny world's domain with the most pairs, so fewer per query changes the set
    # (a set with the same pairs trains the same weights, hence the same model id)
    first_id = store.fetch(select_latest_domain_models, {"domain": "digits"})[0]["model_id"]
    first = model_lineage(store, first_id)
    other = {"config": {**ops["retrieved_pairs"]["config"], "k_per_query": 3}}
    with tiny_world_copy.instance() as instance:
        _materialize(paths, instance, "retrieved_pairs", "digits", other)
        _materialize(paths, instance, "react_model", "digits", ops["react_model"])
    second_id = store.fetch(select_latest_domain_models, {"domain": "digits"})[0]["model_id"]
    second = model_lineage(store, second_id)
    assert second_id != first_id and second.retrieval_digest != first.retrieval_digest
    assert (first.settings["k_per_query"], second.settings["k_per_query"]) == (10, 3)
    assert model_lineage(store, first_id) == first  # the older model's set was not replaced
    assert second.pair_ids == RetrievalSet.of_domain(store, "digits").pair_ids
    assert len(second.pair_ids) < len(first.pair_ids) and set(second.pair_ids) != set(
        first.pair_ids)
    assert first.shards and second.shards
    with store.connect() as conn:
        shards_of = {pid: shard for pid, shard in conn.execute(
            "SELECT pair_id, shard_id FROM pairs").fetchall()}
    for lineage in (first, second):
        assert lineage.shards == tuple(sorted({shards_of[p] for p in lineage.pair_ids}))
