"""A home copied, restored or mounted elsewhere reads its own files: the paths in its metadata are
relative to REACT_HOME, and the ``relative_paths`` upgrade makes an older home's absolute ones so."""

from __future__ import annotations

import contextlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from react_assets.metadata.sql import (
    select_domain,
    select_embedding_sets,
    select_index,
    select_latest_base_model,
    select_latest_domain_models,
    select_shard,
    select_shard_pair_ids,
    upsert_domain,
    upsert_embedding_set,
    upsert_index,
    upsert_model,
    upsert_shard,
)
from safetensors.torch import save_file
from shard_factory import good_samples, write_shard

import react_assets.models
from react_assets.corpus.ingest import IngestConfig, ingest_shard
from react_assets.corpus.pairs import read_pairs
from react_assets.customize.base_model import BaseModelPlan, make_base_model
from react_assets.customize.gated import CustomizationConfig, customize_model
from react_assets.customize.official import import_official_checkpoint
from react_assets.customize.saved import load_customized_model
from react_assets.domains.registry import register_domains, registered_domain
from react_assets.embed.checks import embeddings_unit_norm_and_aligned
from react_assets.embed.corpus_shard import embed_corpus_shards
from react_assets.embed.encode import EmbeddingConfig
from react_assets.embed.lookup import EmbeddingLookup, embedding_folders
from react_assets.files.paths import ReactPaths
from react_assets.index.build import IndexConfig
from react_assets.index.checks import recall_meets_target
from react_assets.index.corpus_index import build_corpus_indexes, index_paths
from react_assets.metadata import Store, migrations, open_store
from react_assets.metadata import store as store_module
from react_assets.models.base import (
    current_base,
    load_base_bundle,
    resolved_location,
    stored_location,
)
from react_assets.models.factory import BaseModelConfig, create_base_model
from react_assets.tracking.lineage import ModelRef, RunHandle

INGEST = IngestConfig(workers=1)
EMBEDDING = EmbeddingConfig(batch_size=4, text_batch_size=8, workers=0, chunk_rows=8)
TINY_CONFIG = Path(react_assets.models.__file__).parent / "configs" / "react-tiny.json"
SPEC = ("domains:\n  - name: shapes\n    classes: [circle, square]\n"
        "    templates: ['a photo of a {}.']\n"
        "    datasets: [{name: shapes-test, path: eval/shapes-test}]\n"
        "general_datasets: [{name: general, path: eval/general}]\n")


class OfflineWriter:
    """The lineage calls of the base model stage, answered without MLflow."""

    @contextlib.contextmanager
    def start_run(self, run_name: str, params=None, tags=None) -> Iterator[RunHandle]:
        yield RunHandle("run-0", "0", run_name)

    def log_curve(self, run, key, values, steps) -> None:
        pass

    def log_model(self, run, model_dir: Path, registered_name: str) -> ModelRef:
        return ModelRef(f"models:/{registered_name}/1", registered_name, 1, "m-0", "run-0",
                        str(model_dir))


def tiny_local_dir(folder: Path) -> Path:
    """An open_clip ``local-dir:`` folder of the react-tiny architecture (seed 0)."""
    folder.mkdir(parents=True)
    config = json.loads(TINY_CONFIG.read_text())
    (folder / "open_clip_config.json").write_text(json.dumps({"model_cfg": config}))
    model = create_base_model(BaseModelConfig(arch="react-tiny", init_seed=0)).model
    save_file({k: v.contiguous() for k, v in model.state_dict().items()},
              str(folder / "open_clip_model.safetensors"))
    return folder


def shapes_spec(folder: Path) -> Path:
    """A two-class domain spec with its evaluation images, in ``folder``."""
    for name, color in (("shapes-test/circle", (255, 0, 0)), ("shapes-test/square", (0, 0, 255)),
                        ("general/triangle", (0, 255, 0))):
        (folder / "eval" / name).mkdir(parents=True)
        Image.new("RGB", (8, 8), color).save(folder / "eval" / name / "0.png")
    (folder / "shapes.yaml").write_text(SPEC)
    return folder / "shapes.yaml"


def official_checkpoint(store: Store, path: Path) -> Path:
    """A gated-image model of the current base, saved as the official code saves one."""
    config = CustomizationConfig(variant="gated-image", num_gated_blocks=1)
    model = customize_model(create_base_model(current_base(store).config).model, config)
    torch.save({"state_dict": model.state_dict()}, path)
    return path


def build_home(paths: ReactPaths, checkpoint: Path) -> str:
    """A small home made by the pipeline's stages: a shard, a domain, a local-dir base model,
    its embeddings and indexes, an imported customization. Returns the base model's id."""
    store = open_store(paths.root)
    ingest_shard(write_shard(paths.shard_tar("s0"), good_samples(12)), "s0", store, INGEST)
    register_domains(store, shapes_spec(paths.domains / "incoming"))
    folder = tiny_local_dir(paths.checkpoints / "base" / "tiny-model")
    base = make_base_model(store, paths, OfflineWriter(), BaseModelPlan(arch=f"local-dir:{folder}"),
                           dagster_run_id="run-0", code_version="test")
    embed_corpus_shards(store, paths, ["s0"], EMBEDDING)
    build_corpus_indexes(store, paths, IndexConfig(k=4, n_tune_queries=8))
    import_official_checkpoint(store, paths, current_base(store),
                               official_checkpoint(store, checkpoint), domain="shapes")
    close_connections(store)
    return base.model_id


def close_connections(store: Store) -> None:
    """Close this process's DuckDB instances of ``store``'s catalog (as a finished run would)."""
    with store_module._instances_lock:
        for key in [k for k in store_module._instances if k[1] == store.catalog]:
            store_module._instances.pop(key).close()


def test_a_copied_home_reads_its_own_files(tmp_path):
    original = ReactPaths(tmp_path / "home").create()
    model_id = build_home(original, tmp_path / "official.pt")
    copy = ReactPaths(tmp_path / "copy")
    shutil.copytree(original.root, copy.root)
    original.root.rename(tmp_path / "gone")  # nothing may still read the original
    store = open_store(copy.root)

    shard = store.fetch(select_shard, {"shard_id": "s0"})[0]
    base = store.fetch(select_latest_base_model)[0]
    imported = store.fetch(select_latest_domain_models, {"domain": "shapes"})[0]
    stored = [shard["path"], store.fetch(select_domain, {"domain": "shapes"})[0]["spec_path"],
              *(r["folder"] for r in store.fetch(select_embedding_sets, {"model_id": model_id})),
              store.fetch(select_index, {"model_id": model_id, "modality": "image"})[0]["path"],
              base["pretrained"], json.loads(base["config"])["arch"], imported["checkpoint"]]
    assert stored[:3] == ["shards/s0.tar", "domains/incoming/shapes.yaml",
                          copy.shard_embeddings(model_id, "s0").relative_to(copy.root).as_posix()]
    assert base["pretrained"] == "local-dir:checkpoints/base/tiny-model"
    assert not any(str(tmp_path) in value for value in stored), stored

    ids = [r["pair_id"] for r in store.fetch(select_shard_pair_ids, {"shard_id": "s0"})]
    _, images, captions = read_pairs(store, ids)
    assert len(images) == 12 and captions[0] == "a red square 0"
    domain = registered_domain(store, "shapes")
    assert domain.spec_path == copy.root / "domains/incoming/shapes.yaml"
    assert domain.spec.datasets[0].path == copy.root / "domains/incoming/eval/shapes-test"
    folders = embedding_folders(store, model_id)
    assert folders == [copy.shard_embeddings(model_id, "s0")]
    assert EmbeddingLookup(folders, "text")(np.asarray(ids[:3])).shape == (3, 32)
    assert all(p.is_relative_to(copy.root) and p.is_file()
               for p in index_paths(store, model_id).values())
    assert current_base(store).config.arch == f"local-dir:{copy.checkpoints}/base/tiny-model"
    assert load_base_bundle(store).model_id == model_id
    customization = store.home.resolve(imported["checkpoint"])
    assert (customization / "customization.safetensors").is_file()
    assert load_customized_model(customization).model_id == imported["model_id"]  # its base too
    assert recall_meets_target(store).passed
    assert embeddings_unit_norm_and_aligned(store, "s0").passed
    assert embed_corpus_shards(store, copy, ["s0"], EMBEDDING)[0].skipped_complete


def test_model_locations_keep_names_and_tags_and_relate_paths_into_the_home(tmp_path):
    home = ReactPaths(tmp_path / "home")
    weights = f"local-dir:{home.root}/checkpoints/base/m"
    assert stored_location(weights, home) == "local-dir:checkpoints/base/m"
    assert resolved_location("local-dir:checkpoints/base/m", home) == weights
    assert stored_location(str(home.root / "w.pt"), home, file=True) == "w.pt"
    assert resolved_location("w.pt", home, file=True) == str(home.root / "w.pt")
    for value in ("ViT-B/32", "react-tiny", "local-dir:/models/m", None):
        assert stored_location(value, home) == value == resolved_location(value, home)
    for value in ("openai", "laion2b_s34b_b79k", "/models/user.pt"):
        assert stored_location(value, home, file=True) == value
        assert resolved_location(value, home, file=True) == value
    (tmp_path / "link").symlink_to(tmp_path / "home")
    assert home.relative(tmp_path / "link" / "shards" / "a.tar") == "shards/a.tar"
    assert ReactPaths(tmp_path / "link").relative(home.root / "x") == "x"
    assert home.relative(tmp_path / "other.yaml") == str(tmp_path / "other.yaml")
    assert home.resolve("/abs/file") == Path("/abs/file")


def write_as_an_older_release(store: Store, old_root: Path, outside: Path) -> Path:
    """Rows naming their files by absolute path, as releases before relative paths wrote them:
    some into this home, some into the home it was made in (``old_root``), one outside it.
    Returns the base model's folder."""
    home = store.home
    for shard_id, path in (("here", home.shard_tar("here")), ("moved", old_root / "shards/moved.tar"),
                           ("lost", old_root / "shards/lost.tar")):
        row = store.fetch(select_shard, {"shard_id": shard_id}) or [
            {"tar_sha256": "0" * 64, "n_members": 0, "n_pairs": 0, "n_skipped": 0, "skipped": "{}"}]
        store.execute(upsert_shard, {**row[0], "shard_id": shard_id, "path": str(path)})
    store.execute(upsert_domain, {"domain": "shapes", "n_classes": 2, "n_templates": 1,
                                  "spec_path": str(home.domains / "incoming/shapes.yaml"),
                                  "classes": json.dumps(["circle", "square"]),
                                  "spec_digest": None})
    for shard_id, folder in (("here", home.shard_embeddings("tiny", "here")),
                             ("moved", old_root / "embeddings/tiny/moved")):
        store.execute(upsert_embedding_set, {"shard_id": shard_id, "model_id": "tiny",
                                             "folder": str(folder), "n_rows": 3, "dim": 32,
                                             "pairs_per_second": 1.0})
    store.execute(upsert_index, {
        "model_id": "tiny", "modality": "image", "path": str(home.model_indexes("tiny") / "i.faiss"),
        "factory": "Flat", "params": "{}", "recall": 1.0, "recall_target": 0.9, "n_vectors": 6,
        "build_seconds": 0.1, "bytes_on_disk": None, "memory_bytes": None})
    folder = tiny_local_dir(home.checkpoints / "base/tiny-model")
    model = {"parent_model_id": None, "retrieval_digest": None, "metadata_snapshot": None,
             "mlflow_run_id": None, "mlflow_model_uri": None, "dagster_run_id": None,
             "spec_digest": None}
    store.execute(upsert_model, {
        **model, "model_id": "tiny", "kind": "base", "domain": None, "arch": f"local-dir:{folder}",
        "pretrained": f"local-dir:{folder}", "checkpoint": str(folder),
        "config": json.dumps({"arch": f"local-dir:{folder}", "pretrained": None})})
    store.execute(upsert_model, {
        **model, "model_id": "shapes-gated", "kind": "gated-image", "domain": "shapes",
        "arch": "ViT-B/32", "pretrained": str(outside),
        "checkpoint": str(home.customization("tiny", "shapes", "gated-image") / "model"),
        "config": "{}"})
    return folder


def applied_detail(store: Store, name: str) -> str | None:
    with store.connect() as conn:
        return conn.execute("SELECT detail FROM schema_migrations WHERE name = ?", [name]).fetchone()[0]


def test_the_upgrade_makes_an_older_homes_paths_into_it_relative(store, tmp_path):
    home, old_root = store.home, Path("/old/react-home")
    ingest_shard(write_shard(home.shard_tar("here"), good_samples(3)), "here", store, INGEST)
    ingest_shard(write_shard(home.shard_tar("moved"), good_samples(3, start=10)), "moved", store,
                 INGEST)
    outside = write_shard(tmp_path / "elsewhere" / "out.tar", good_samples(2, start=20))
    ingest_shard(outside, "out", store, INGEST)
    register_domains(store, shapes_spec(home.domains / "incoming"))
    home.shard_embeddings("tiny", "moved").mkdir(parents=True)  # the moved set exists here
    folder = write_as_an_older_release(store, old_root, tmp_path / "user-weights.pt")
    store.write(lambda conn: conn.execute("DELETE FROM schema_migrations "
                                          "WHERE name = 'relative_paths'"))

    assert migrations.migrate(store) == ["relative_paths"]
    detail = applied_detail(store, "relative_paths")
    assert detail.startswith("9 stored path(s) made relative to the home (2 found by their home "
                             "folder under a former root); 3 absolute path(s) not in this home")
    for left in (outside, tmp_path / "user-weights.pt", old_root / "shards/lost.tar"):
        assert str(left) in detail
    shards = {s: store.fetch(select_shard, {"shard_id": s})[0]["path"]
              for s in ("here", "moved", "out", "lost")}
    assert shards == {"here": "shards/here.tar", "moved": "shards/moved.tar", "out": str(outside),
                      "lost": str(old_root / "shards/lost.tar")}
    ids = [r["pair_id"] for s in ("here", "moved", "out")
           for r in store.fetch(select_shard_pair_ids, {"shard_id": s})]
    assert len(read_pairs(store, ids)[1]) == 8
    assert registered_domain(store, "shapes").spec_path == home.root / "domains/incoming/shapes.yaml"
    assert embedding_folders(store, "tiny") == [home.shard_embeddings("tiny", s)
                                                for s in ("here", "moved")]
    assert index_paths(store, "tiny") == {"image": home.model_indexes("tiny") / "i.faiss"}
    base = store.fetch(select_latest_base_model)[0]
    assert (base["arch"], base["pretrained"], json.loads(base["config"])["arch"]) == (
        "local-dir:checkpoints/base/tiny-model",) * 3
    assert current_base(store).config.arch == f"local-dir:{folder}"
    assert load_base_bundle(store).model_id == create_base_model(
        BaseModelConfig(arch=f"local-dir:{folder}")).model_id
    gated = store.fetch(select_latest_domain_models, {"domain": "shapes"})[0]
    assert gated["checkpoint"] == "checkpoints/tiny/shapes/gated-image/model"
    again = store.write(lambda conn: migrations.upgrades()["relative_paths"](conn, store))
    assert again.startswith("0 stored path(s) made relative to the home; 3 absolute path(s)")
