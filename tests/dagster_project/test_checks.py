"""Asset checks pass on good DuckDB rows and files and fail on each planted problem.

Each check runs in-process in the same run as a stand-in of its asset (same key, no work), the
way it runs after the real asset in production, against a temporary REACT_HOME.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import dagster as dg
import numpy as np
import pyarrow as pa
import pytest
from PIL import Image
from react_assets.metadata.sql import (
    SCHEMA,
    Statement,
    insert_pairs,
    upsert_embedding_set,
    upsert_evaluations,
    upsert_index,
    upsert_model,
    upsert_shard,
)

from dagster_project import checks
from dagster_project.partitions import domain_partitions, shard_partitions
from dagster_project.resources import ReactHomeResource
from react_assets.domains.registry import register_domains
from react_assets.domains.settings import RetrievalConfig
from react_assets.embed.checks import NORM_TOLERANCE
from react_assets.files.atomic import save_npy
from react_assets.files.paths import ReactPaths
from react_assets.metadata import Store, insert_table, open_store
from react_assets.retrieve.sets import store_retrieval_set

MODEL_ID = "react-tiny@sha256:test"
PARTITIONS = {"corpus_shards": shard_partitions, "corpus_embeddings": shard_partitions,
              "retrieved_pairs": domain_partitions, "zeroshot_eval": domain_partitions}


def stand_in(name: str, partitioned: bool = True) -> dg.AssetsDefinition:
    """An asset with the real asset's key and partitions that does nothing."""
    @dg.asset(name=name, partitions_def=PARTITIONS.get(name) if partitioned else None)
    def _asset() -> None:
        return None
    return _asset


@pytest.fixture(scope="module")
def instance():
    """One in-memory instance for the module (a fresh sqlite one per test costs seconds)."""
    with dg.DagsterInstance.ephemeral() as instance:
        yield instance


@pytest.fixture
def run_check(instance, home):
    def run(check: dg.AssetChecksDefinition, partition: str | None = None,
            config: dict | None = None) -> dg.AssetCheckEvaluation:
        """Materialize the stand-in and the check; return the check's single evaluation."""
        asset_name = next(iter(check.check_keys)).asset_key.path[-1]
        if partition is not None:
            instance.add_dynamic_partitions(PARTITIONS[asset_name].name, [partition])
        run_config = {"ops": {check.node_def.name: {"config": config}}} if config else None
        result = dg.materialize(
            [stand_in(asset_name, partition is not None), check], instance=instance,
            partition_key=partition,
            resources={"react_home": ReactHomeResource(root=str(home.root))},
            run_config=run_config, raise_on_error=False)
        (evaluation,) = result.get_asset_check_evaluations()
        return evaluation
    return run


@pytest.fixture
def home(tmp_path) -> ReactPaths:
    return ReactPaths(tmp_path / "home").create()


@pytest.fixture
def store(home) -> Store:
    store = open_store(home.root)
    store.apply_schema()
    store.execute(upsert_model, {
        "model_id": MODEL_ID, "parent_model_id": None, "kind": "base", "domain": None,
        "arch": "react-tiny", "pretrained": None, "checkpoint": None, "retrieval_digest": None,
        "metadata_snapshot": None,
        "config": json.dumps({"arch": "react-tiny"}), "mlflow_run_id": None,
        "mlflow_model_uri": None, "dagster_run_id": None, "spec_digest": None})
    return store


def insert_batch(store: Store, statement: Statement, rows: list[dict]) -> None:
    store.write(lambda conn: insert_table(conn, statement, pa.Table.from_pylist(rows)))


def add_shard(store: Store, shard_id: str, pair_ids: list[int], hashes: list[str] | None = None,
              register: bool = True) -> None:
    if register:
        store.execute(upsert_shard, {
            "shard_id": shard_id, "path": f"/x/{shard_id}.tar", "tar_sha256": "0" * 64,
            "n_members": 3 * len(pair_ids), "n_pairs": len(pair_ids), "n_skipped": 0,
            "skipped": "{}"})
    insert_batch(store, insert_pairs, [{
        "pair_id": pid, "shard_id": shard_id, "ordinal": i, "key": f"{i:05d}",
        "image_member": f"{i:05d}.png", "caption": f"caption {pid}", "source": "test",
        "width": 8, "height": 8, "image_bytes": 100,
        "image_sha256": (hashes or [])[i] if hashes else f"{pid:064x}", "url": None,
        "meta": None} for i, pid in enumerate(pair_ids)])


# corpus_shards: unique pair ids, no orphans ------------------------------------------------------

def test_corpus_integrity_passes_on_registered_unique_pairs(run_check, store):
    add_shard(store, "shard-0", [1, 2, 3])
    add_shard(store, "shard-1", [4, 5])
    evaluation = run_check(checks.pair_ids_unique_and_attached)
    assert evaluation.passed
    assert evaluation.metadata["orphan_pairs"].value == 0


def test_corpus_integrity_fails_on_orphan_pairs(run_check, store):
    add_shard(store, "shard-0", [1, 2, 3])
    add_shard(store, "ghost", [7, 8], register=False)
    evaluation = run_check(checks.pair_ids_unique_and_attached)
    assert not evaluation.passed
    assert evaluation.metadata["orphan_pairs"].value == 2
    assert evaluation.metadata["orphan_shards"].value == {"ghost": 2}


def record_shard(store: Store, shard_id: str, n_pairs: int, skipped: dict[str, int]) -> None:
    store.execute(upsert_shard, {
        "shard_id": shard_id, "path": f"/x/{shard_id}.tar", "tar_sha256": "0" * 64,
        "n_members": 0, "n_pairs": n_pairs, "n_skipped": sum(skipped.values()),
        "skipped": json.dumps(skipped)})


@pytest.mark.parametrize(("n_pairs", "skipped", "passed", "problem"), [
    (0, {}, False, "0 pairs"),  # an empty tar
    (0, {"missing_caption": 4}, False, "100% of 4 samples skipped"),  # images, no captions
    (3, {"undecodable_image": 5, "truncated_archive": 1}, False, "62% of 8 samples skipped"),
    (7, {"truncated_sample": 1, "missing_from_tar": 2, "truncated_archive": 1}, True, "none"),
])
def test_a_shard_without_pairs_or_mostly_skipped_fails_its_blocking_check(
        run_check, store, n_pairs, skipped, passed, problem):
    record_shard(store, "s", n_pairs, skipped)
    evaluation = run_check(checks.shard_has_pairs, partition="s")
    assert evaluation.passed is passed and evaluation.blocking
    assert problem in evaluation.metadata["problems"].value


def test_the_shard_check_honours_its_config(run_check, store):
    record_shard(store, "s", 3, {"undecodable_image": 5})
    assert run_check(checks.shard_has_pairs, partition="s",
                     config={"max_skipped_fraction": 0.7}).passed


def test_corpus_integrity_fails_on_duplicate_pair_ids(run_check, home):
    # A store made before pair_id became the primary key: the schema cannot forbid duplicates.
    with open_store(home.root).connect() as conn:
        ddl = next(s for s in SCHEMA if s.name == "create_pairs")
        conn.execute(ddl.replace("BIGINT PRIMARY KEY", "BIGINT"))
    store = open_store(home.root)
    store.apply_schema()
    add_shard(store, "shard-0", [1, 2, 3])
    add_shard(store, "shard-1", [3, 4])
    evaluation = run_check(checks.pair_ids_unique_and_attached)
    assert not evaluation.passed
    assert evaluation.metadata["duplicate_pair_ids"].value == 1
    assert evaluation.metadata["duplicate_examples"].value == [
        {"pair_id": 3, "rows": 2, "shards": ["shard-0", "shard-1"]}]


# corpus_embeddings: unit norm, aligned with the shard's pairs ------------------------------------

def write_embeddings(home: ReactPaths, store: Store, shard_id: str, pair_ids: np.ndarray,
                     n_rows: int | None = None) -> Path:
    folder = home.embeddings / shard_id
    rng = np.random.default_rng(0)
    for name in ("img_emb.npy", "text_emb.npy"):
        vectors = rng.normal(size=(len(pair_ids), 16)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        save_npy(folder / name, vectors.astype(np.float16))
    save_npy(folder / "pair_ids.npy", pair_ids.astype(np.int64))
    store.execute(upsert_embedding_set, {
        "shard_id": shard_id, "model_id": MODEL_ID, "folder": str(folder),
        "n_rows": len(pair_ids) if n_rows is None else n_rows, "dim": 16, "pairs_per_second": 1.0})
    return folder


@pytest.fixture
def embedded(home, store) -> Path:
    add_shard(store, "shard-0", [10, 11, 12, 13])
    return write_embeddings(home, store, "shard-0", np.array([10, 11, 12, 13]))


def test_embeddings_pass_when_unit_norm_and_aligned(run_check, embedded):
    evaluation = run_check(checks.embeddings_unit_norm_and_aligned, "shard-0")
    assert evaluation.passed, evaluation.metadata["problems"].value
    assert evaluation.metadata["pairs_in_duckdb"].value == 4
    assert evaluation.metadata["image_max_norm_error"].value <= NORM_TOLERANCE


def test_embeddings_fail_when_a_row_is_not_unit_norm(run_check, embedded):
    vectors = np.load(embedded / "text_emb.npy")
    vectors[2] *= np.float16(1.05)
    save_npy(embedded / "text_emb.npy", vectors)
    evaluation = run_check(checks.embeddings_unit_norm_and_aligned, "shard-0")
    assert not evaluation.passed
    assert evaluation.metadata["text_max_norm_error"].value == pytest.approx(0.05, abs=2e-3)
    assert evaluation.metadata["image_max_norm_error"].value <= NORM_TOLERANCE


def test_embeddings_fail_when_a_row_is_nan(run_check, embedded):
    vectors = np.load(embedded / "img_emb.npy")
    vectors[0, 3] = np.nan
    save_npy(embedded / "img_emb.npy", vectors)
    assert not run_check(checks.embeddings_unit_norm_and_aligned, "shard-0").passed


def test_embeddings_fail_when_pair_ids_are_out_of_order(run_check, embedded):
    save_npy(embedded / "pair_ids.npy", np.array([10, 12, 11, 13], dtype=np.int64))
    evaluation = run_check(checks.embeddings_unit_norm_and_aligned, "shard-0")
    assert not evaluation.passed
    assert "first difference at row 1" in evaluation.metadata["problems"].value[0]


def test_embeddings_fail_when_the_shard_gained_pairs(run_check, store, embedded):
    insert_batch(store, insert_pairs, [{
        "pair_id": 14, "shard_id": "shard-0", "ordinal": 4, "key": "x", "image_member": "x.png",
        "caption": "c", "source": "test", "width": 8, "height": 8, "image_bytes": 1,
        "image_sha256": "f" * 64, "url": None, "meta": None}])
    evaluation = run_check(checks.embeddings_unit_norm_and_aligned, "shard-0")
    assert not evaluation.passed
    problems = evaluation.metadata["problems"].value
    assert any("4 rows, expected 5" in p for p in problems)


def test_embeddings_fail_without_an_embedding_set(run_check, store):
    add_shard(store, "shard-1", [1, 2])
    evaluation = run_check(checks.embeddings_unit_norm_and_aligned, "shard-1")
    assert not evaluation.passed
    assert "no embedding_sets row" in evaluation.metadata["problems"].value[0]


# knn_index: recall meets target ------------------------------------------------------------------

def record_index(home: ReactPaths, store: Store, modality: str, recall: float,
                 target: float = 0.95) -> None:
    path = home.indexes / f"{modality}.faiss"
    path.write_bytes(b"index")
    store.execute(upsert_index, {
        "model_id": MODEL_ID, "modality": modality, "path": str(path), "factory": "IVF4,Flat",
        "params": "{}", "recall": recall, "recall_target": target, "n_vectors": 100,
        "build_seconds": 0.1, "bytes_on_disk": 5, "memory_bytes": 5})


def test_index_recall_passes_when_every_modality_meets_its_target(run_check, home, store):
    record_index(home, store, "image", 0.97)
    record_index(home, store, "text", 0.95)
    evaluation = run_check(checks.recall_meets_target)
    assert evaluation.passed
    assert evaluation.metadata["image_recall"].value == 0.97


def test_index_recall_fails_below_target(run_check, home, store):
    record_index(home, store, "image", 0.97)
    record_index(home, store, "text", 0.91)
    evaluation = run_check(checks.recall_meets_target)
    assert not evaluation.passed
    assert evaluation.metadata["problems"].value == ["text: recall 0.9100 < target 0.9500 "
                                                     "(IVF4,Flat)"]


def test_index_recall_fails_when_a_modality_is_missing(run_check, home, store):
    record_index(home, store, "image", 1.0)
    assert not run_check(checks.recall_meets_target).passed


# retrieved_pairs: enough per class, no evaluation image ------------------------------------------

@pytest.fixture
def domain(home, store) -> list[str]:
    """A registered two-class domain with a 2-image evaluation set and a 1-image general set;
    returns the three images' sha256 (the domain's two, then the general one)."""
    eval_dir = home.domains / "incoming" / "eval"
    hashes = []
    for folder, color in (("shapes-test/circle", (255, 0, 0)), ("shapes-test/square", (0, 0, 255)),
                          ("general/triangle", (0, 255, 0))):
        (eval_dir / folder).mkdir(parents=True)
        image = eval_dir / folder / "0.png"
        Image.new("RGB", (8, 8), color).save(image)
        hashes.append(hashlib.sha256(image.read_bytes()).hexdigest())
    spec = home.domains / "incoming" / "shapes.yaml"
    spec.write_text("domains:\n  - name: shapes\n    classes: [circle, square]\n"
                    "    templates: ['a photo of a {}.']\n"
                    "    datasets: [{name: shapes-test, path: eval/shapes-test}]\n"
                    "general_datasets: [{name: general, path: eval/general}]\n")
    register_domains(store, spec)
    return hashes


def retrieve(store: Store, per_class: dict[int, list[int]]) -> None:
    """Retrieval rows per class index; -1 is the general sample."""
    names = {0: "circle", 1: "square", -1: "(general)"}
    rows = pa.Table.from_pylist([
        {"domain": "shapes", "class_index": c, "class_name": names[c], "pair_id": pid,
         "score": 0.5, "rank": rank, "mode": "text-to-image"}
        for c, pids in per_class.items() for rank, pid in enumerate(pids)])
    store_retrieval_set(store, domain="shapes", rows=rows, config=RetrievalConfig(),
                        base_model_id="base", n_queries=2, stats={})


def test_min_pairs_per_class_passes_and_honours_its_config(run_check, store, domain):
    add_shard(store, "shard-0", list(range(20)))
    retrieve(store, {0: [0, 1, 2, 3, 4, 5], 1: [6, 7, 8, 9, 10]})
    assert run_check(checks.min_pairs_per_class, "shapes").passed
    stricter = run_check(checks.min_pairs_per_class, "shapes",
                         {"min_pairs_per_class": 6})
    assert not stricter.passed
    assert stricter.metadata["classes_below_minimum"].value == {"square": 5}


def test_min_pairs_per_class_counts_a_class_without_pairs_as_zero(run_check, store, domain):
    add_shard(store, "shard-0", list(range(20)))
    retrieve(store, {0: list(range(10))})
    evaluation = run_check(checks.min_pairs_per_class, "shapes")
    assert not evaluation.passed
    assert evaluation.metadata["per_class"].value == {"circle": 10, "square": 0}


def test_decontamination_passes_without_evaluation_images(run_check, store, domain):
    add_shard(store, "shard-0", [0, 1, 2])
    retrieve(store, {0: [0, 1], 1: [2]})
    evaluation = run_check(checks.no_evaluation_images, "shapes")
    assert evaluation.passed
    assert evaluation.metadata["evaluation_images"].value == 3  # the general set's too


def test_decontamination_fails_on_a_retrieved_evaluation_image(run_check, store, domain):
    add_shard(store, "shard-0", [0, 1, 2], hashes=["a" * 64, domain[1], "b" * 64])
    retrieve(store, {0: [0], 1: [1, 2]})
    evaluation = run_check(checks.no_evaluation_images, "shapes")
    assert not evaluation.passed
    assert evaluation.metadata["contaminated_examples"].value == [
        {"pair_id": 1, "class": "square", "shard": "shard-0", "key": "00001"}]


def test_decontamination_fails_on_a_general_sample_pair_that_is_a_general_set_image(
        run_check, store, domain):
    add_shard(store, "shard-0", [0, 1, 2], hashes=["a" * 64, "b" * 64, domain[2]])
    retrieve(store, {0: [0], 1: [1], -1: [2]})
    evaluation = run_check(checks.no_evaluation_images, "shapes")
    assert not evaluation.passed
    assert evaluation.metadata["contaminated_examples"].value == [
        {"pair_id": 2, "class": "(general)", "shard": "shard-0", "key": "00002"}]


def test_min_pairs_per_class_does_not_count_the_general_sample(run_check, store, domain):
    add_shard(store, "shard-0", list(range(20)))
    retrieve(store, {0: list(range(5)), -1: list(range(5, 20))})
    evaluation = run_check(checks.min_pairs_per_class, "shapes")
    assert evaluation.metadata["per_class"].value == {"circle": 5, "square": 0}
    assert not evaluation.passed


def test_decontamination_fails_on_a_pair_missing_from_the_corpus(run_check, store, domain):
    add_shard(store, "shard-0", [0, 1])
    retrieve(store, {0: [0, 1], 1: [99]})
    evaluation = run_check(checks.no_evaluation_images, "shapes")
    assert not evaluation.passed
    assert evaluation.metadata["pairs_missing_from_corpus"].value == [99]


# zeroshot_eval: customized not worse than base ---------------------------------------------------

def record_accuracy(store: Store, values: dict[str, float]) -> None:
    insert_batch(store, upsert_evaluations, [
        {"model_id": f"{kind}-model", "model_kind": kind, "domain": "shapes",
         "dataset": "shapes-test", "task": "zeroshot_classification", "metric": "accuracy",
         "value": value, "n_samples": 2, "details": None, "spec_digest": None,
         "ci_low": None, "ci_high": None}
        for kind, value in values.items()])


@pytest.mark.parametrize(("custom", "passed"), [(0.70, True), (0.685, True), (0.67, False)])
def test_zeroshot_regression_tolerance(run_check, store, domain, custom, passed):
    record_accuracy(store, {"base": 0.70, "gated-image": custom})
    evaluation = run_check(checks.customized_not_worse_than_base, "shapes")
    assert evaluation.passed is passed
    assert evaluation.severity == dg.AssetCheckSeverity.WARN
    assert evaluation.metadata["gain_by_dataset"].value == {
        "shapes-test": pytest.approx(custom - 0.70, abs=1e-4)}


def test_zeroshot_regression_fails_without_the_customized_figure(run_check, store, domain):
    record_accuracy(store, {"base": 0.70, "locked-text": 0.9})
    evaluation = run_check(checks.customized_not_worse_than_base, "shapes")
    assert not evaluation.passed
    assert evaluation.metadata["problems"].value == ["shapes-test: no figure for gated-image"]
    assert run_check(checks.customized_not_worse_than_base, "shapes",
                     {"model_kind": "locked-text"}).passed
