"""End-to-end: a tiny demo world from the installed Debian sources (skipped when absent)."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import tarfile
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from PIL import Image

from react_assets.demo import DemoSourcePaths, DemoWorld, DemoWorldConfig, build_demo_world
from react_assets.domains.spec import load_domain_catalog

MISSING = DemoSourcePaths().missing()
pytestmark = pytest.mark.skipif(
    bool(MISSING), reason=f"demo sources not installed: {sorted(set(MISSING.values()))}")


def tiny_config(out_dir: Path, workers: int = 1) -> DemoWorldConfig:
    return DemoWorldConfig(
        out_dir=out_dir, samples_per_shard=250, fashion_train_limit=400, fashion_test_limit=50,
        clipart_limit=100, emoji_limit=450, digits_limit=600, clipart_min_per_class=3,
        examples_per_class=2, retrieval_size=30, caption_noise=0.15, workers=workers,
        train_per_class=10,
    )


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> DemoWorld:
    return build_demo_world(tiny_config(tmp_path_factory.mktemp("world-a")))


def read_shard(path: Path) -> dict[str, dict[str, bytes]]:
    samples: dict[str, dict[str, bytes]] = {}
    with tarfile.open(path) as archive:
        for member in archive.getmembers():
            key, ext = member.name.split(".", 1)
            samples.setdefault(key, {})[ext] = archive.extractfile(member).read()
    return samples


def corpus(world: DemoWorld) -> dict[str, dict[str, bytes]]:
    merged: dict[str, dict[str, bytes]] = {}
    for shard in world.shards:
        samples = read_shard(shard)
        assert not set(samples) & set(merged), f"{shard}: keys repeat across shards"
        merged.update(samples)
    return merged


def test_shards_are_img2dataset_tars_with_parquet(world: DemoWorld) -> None:
    total = 0
    for shard in world.shards:
        assert shard.name.startswith("demo-") and shard.suffix == ".tar"
        samples = read_shard(shard)
        table = pq.read_table(shard.with_suffix(".parquet")).to_pylist()
        assert [row["key"] for row in table] == list(samples)
        for row, (key, members) in zip(table, samples.items(), strict=True):
            assert set(members) == {"png", "txt", "json"} and len(key) == 9 and key.isdigit()
            meta = json.loads(members["json"])
            caption = members["txt"].decode("utf-8")
            assert meta["key"] == key and meta["caption"] == caption == row["caption"]
            image = Image.open(io.BytesIO(members["png"]))
            assert image.mode == "RGB" and image.size == (meta["width"], meta["height"])
            assert max(image.size) <= 128 and row["status"] == "success"
            assert isinstance(meta["general"], bool) and "label" in meta and meta["source"]
        total += len(samples)
    assert total == world.manifest["corpus"]["pairs"] == sum(world.corpus_counts.values())
    assert set(world.corpus_counts) == {"fashion-mnist", "sklearn-digits", "noto-emoji",
                                        "openclipart"}
    assert len(world.shards) == -(-total // 250)


def test_general_flag_marks_clipart_and_non_target_emoji(world: DemoWorld) -> None:
    metas = [json.loads(m["json"]) for m in corpus(world).values()]
    by_source: dict[str, Counter[bool]] = {}
    for meta in metas:
        by_source.setdefault(meta["source"], Counter())[meta["general"]] += 1
    assert by_source["fashion-mnist"][True] == 0 and by_source["sklearn-digits"][True] == 0
    assert by_source["openclipart"][False] == 0
    emoji = [m for m in metas if m["source"] == "noto-emoji"]
    assert all(m["general"] == (m["domain"] is None) for m in emoji)
    assert any(m["general"] for m in emoji) and any(not m["general"] for m in emoji)
    targets = ("Food & Drink", "Animals & Nature")
    assert all(m["group"] in targets for m in emoji if not m["general"])
    assert world.manifest["corpus"]["general"] == sum(m["general"] for m in metas)


def _held_out_files(root: Path) -> list[Path]:
    return [p for folder in ("eval", "examples") for p in (root / folder).rglob("*.png")]


def test_no_heldout_image_enters_the_corpus(world: DemoWorld) -> None:
    corpus_hashes = {hashlib.sha256(m["png"]).hexdigest() for m in corpus(world).values()}
    held = _held_out_files(world.root)
    assert len(held) > 100
    overlap = [p for p in held if hashlib.sha256(p.read_bytes()).hexdigest() in corpus_hashes]
    assert overlap == []


def test_eval_sets_are_imagefolders_matching_classes_txt(world: DemoWorld) -> None:
    assert set(world.eval_datasets) == {"fashion-test", "digits-test", "emoji-test",
                                        "clipart-test"}
    for name, folder in world.eval_datasets.items():
        classes = (folder / "classes.txt").read_text(encoding="utf-8").splitlines()
        folders = sorted(p.name for p in folder.iterdir() if p.is_dir())
        assert folders == [f"{i:03d}" for i in range(len(classes))], name
        counts = [len(list((folder / f).glob("*.png"))) for f in folders]
        assert all(counts) and sum(counts) == world.manifest["eval_datasets"][name]["images"]
    fashion = world.eval_datasets["fashion-test"]
    assert sum(1 for _ in fashion.rglob("*.png")) == 50
    digits = sum(1 for _ in world.eval_datasets["digits-test"].rglob("*.png"))
    assert 100 <= digits <= 140  # heldout_fraction 0.2 of 600 (after duplicates)


def test_spec_loads_with_load_domain_catalog(world: DemoWorld) -> None:
    catalog = load_domain_catalog(world.spec_path)
    assert [d.name for d in catalog.domains] == ["fashion", "digits", "emoji"]
    fashion = catalog.get("fashion")
    assert "ankle boot" in fashion.classes and len(fashion.classes) == 10
    for domain in catalog.domains:
        assert len(domain.templates) >= 4
        dataset = domain.datasets[0]
        classes = (dataset.path / "classes.txt").read_text(encoding="utf-8").splitlines()
        assert tuple(classes) == domain.classes
        assert domain.examples and all(p.is_file() for ps in domain.examples.values() for p in ps)
    assert [d.name for d in catalog.general_datasets] == ["clipart-test"]
    assert catalog.general_datasets[0].path.resolve() == world.eval_datasets["clipart-test"]


def test_retrieval_pairs_are_held_out_and_distinct(world: DemoWorld) -> None:
    lines = world.retrieval_pairs.read_text(encoding="utf-8").splitlines()
    pairs = [json.loads(line) for line in lines]
    assert len(pairs) == world.manifest["retrieval"]["pairs"] == 30
    assert len({p["caption"] for p in pairs}) == len(pairs)
    assert all((world.retrieval_pairs.parent / p["image"]).is_file() for p in pairs)
    assert {p["source"] for p in pairs} == {"noto-emoji", "openclipart"}


def test_caption_noise_rate_is_roughly_as_configured(world: DemoWorld) -> None:
    labelled = [json.loads(m["json"]) for m in corpus(world).values()]
    labelled = [m for m in labelled if m["source"] in ("fashion-mnist", "sklearn-digits")]
    assert len(labelled) > 700
    rate = sum(m["caption_noise"] is not None for m in labelled) / len(labelled)
    assert 0.10 < rate < 0.20, rate


def test_rebuild_is_deterministic_reused_and_cleans_stale_files(
    world: DemoWorld, tmp_path: Path
) -> None:
    other = build_demo_world(tiny_config(tmp_path / "world-b", workers=2))
    assert not other.reused and len(other.shards) == len(world.shards)
    for mine, theirs in zip(world.shards, other.shards, strict=True):
        assert mine.read_bytes() == theirs.read_bytes(), mine.name
        parquet = mine.with_suffix(".parquet")
        assert parquet.read_bytes() == theirs.with_suffix(".parquet").read_bytes()
    mtimes = {p: p.stat().st_mtime_ns for p in other.shards}
    again = build_demo_world(tiny_config(tmp_path / "world-b", workers=1))  # same content
    assert again.reused and {p: p.stat().st_mtime_ns for p in again.shards} == mtimes
    foreign = tmp_path / "world-b" / "shards" / "landed-00001.tar"  # another writer's shard
    foreign.write_bytes(b"not ours")
    bigger = dataclasses.replace(tiny_config(tmp_path / "world-b"), samples_per_shard=10_000)
    rebuilt = build_demo_world(bigger)
    assert len(rebuilt.shards) == 1
    assert sorted(p.name for p in (tmp_path / "world-b" / "shards").iterdir()) == [
        "demo-00000.parquet", "demo-00000.tar", "landed-00001.tar"]
    assert rebuilt.manifest["files_changed"] == 2  # eval sets unchanged, only the shard


def test_each_target_dataset_has_a_train_split_out_of_the_corpus_and_the_test_set(
        world: DemoWorld) -> None:
    catalog = load_domain_catalog(world.spec_path)
    corpus_hashes = {hashlib.sha256(m["png"]).hexdigest() for m in corpus(world).values()}
    assert set(world.train_datasets) == {"fashion-train", "digits-train", "emoji-train"}
    for domain in catalog.domains:
        dataset = domain.datasets[0]
        train = dataset.train_split()
        assert train is not None and train.path.resolve() == world.train_datasets[
            f"{domain.name}-train"]
        classes = (train.path / "classes.txt").read_text(encoding="utf-8").splitlines()
        assert tuple(classes) == domain.classes
        train_hashes = {hashlib.sha256(p.read_bytes()).hexdigest()
                        for p in train.path.rglob("*.png")}
        test_hashes = {hashlib.sha256(p.read_bytes()).hexdigest()
                       for p in dataset.path.rglob("*.png")}
        assert train_hashes and not train_hashes & test_hashes, domain.name
        assert not train_hashes & corpus_hashes, domain.name
    per_class = world.manifest["train_datasets"]["fashion-train"]["per_class"]
    assert set(per_class.values()) == {10}  # train_per_class of each Fashion-MNIST class
    digits = world.manifest["train_datasets"]["digits-train"]["per_class"]
    assert set(digits.values()) == {10}, digits
    emoji = world.manifest["train_datasets"]["emoji-train"]["per_class"]
    assert all(n <= 10 for n in emoji.values()) and sum(emoji.values()) > 0


def test_the_spec_names_each_class_s_synonyms(world: DemoWorld) -> None:
    catalog = load_domain_catalog(world.spec_path)
    fashion, digits = catalog.get("fashion"), catalog.get("digits")
    assert fashion.names_of("trouser")[:2] == ("trouser", "trousers")
    assert "pants" in fashion.synonyms["trouser"]
    assert digits.names_of("one") == ("one", "1")
    emoji = catalog.get("emoji")
    assert all(emoji.synonyms.get(c) for c in emoji.classes)
    assert [d.name for d in catalog.domains] and all(
        "real-prompt" in d.variants and "real-linear" in d.variants for d in catalog.domains)
