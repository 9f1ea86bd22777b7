"""``build_demo_world``: the offline demo world (corpus shards, eval sets, spec, manifest)."""

from __future__ import annotations

import json
import logging
import random
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from react_assets.demo.assemble import WorldParts, assemble_world
from react_assets.demo.config import DemoWorldConfig
from react_assets.demo.layout import (
    spec_document,
    write_examples,
    write_imagefolder,
    write_retrieval_set,
    write_spec,
)
from react_assets.demo.samples import Sample
from react_assets.demo.shard_writer import CorpusRecord, OutputTracker, write_shards
from react_assets.demo.splits import assert_disjoint, count_reasons, decontaminate
from react_assets.files.atomic import write_json

log = logging.getLogger(__name__)
MANIFEST = "world.json"
SPEC = "domains/demo.yaml"
# What this builder owns under out_dir (which may be a shared REACT_HOME): only these are
# cleaned of files an older build left behind.
OWNED = (("shards", "demo-[0-9]*.*"), ("eval/fashion-test", "**/*"), ("eval/digits-test", "**/*"),
         ("eval/emoji-test", "**/*"), ("eval/clipart-test", "**/*"), ("eval/fashion-train", "**/*"),
         ("eval/digits-train", "**/*"), ("eval/emoji-train", "**/*"),
         ("eval/retrieval-test", "**/*"), ("examples", "**/*"))


@dataclass(frozen=True)
class DemoWorld:
    """A built demo world: its root folder and manifest (``world.json``)."""

    root: Path
    manifest: dict[str, Any]
    reused: bool = False

    @property
    def spec_path(self) -> Path:
        return self.root / self.manifest["spec"]

    @property
    def shards(self) -> list[Path]:
        return [self.root / s["tar"] for s in self.manifest["shards"]]

    @property
    def eval_datasets(self) -> dict[str, Path]:
        return {name: self.root / d["path"] for name, d in self.manifest["eval_datasets"].items()}

    @property
    def train_datasets(self) -> dict[str, Path]:
        """The labelled train splits (``<domain>-train``), kept out of the corpus."""
        return {name: self.root / d["path"]
                for name, d in self.manifest.get("train_datasets", {}).items()}

    @property
    def retrieval_pairs(self) -> Path:
        return self.root / self.manifest["retrieval"]["path"]

    @property
    def corpus_counts(self) -> dict[str, int]:
        return dict(self.manifest["corpus"]["by_source"])


def build_demo_world(config: DemoWorldConfig) -> DemoWorld:
    """Build (or reuse) the demo world under ``config.out_dir``; see docs/demo-world.md.

    Returns early when ``world.json`` records the same config. Otherwise every output is
    rebuilt deterministically, written atomically (files whose bytes are unchanged are left
    alone), files an older build left in the folders this builder owns are removed (other
    files under ``out_dir``, e.g. landed shards in a shared REACT_HOME, are never touched) and
    ``world.json`` is written last.
    Raises FileNotFoundError naming the Debian package when a source is not installed, and
    ContaminationError when a held-out image would enter the corpus.
    """
    root = config.out_dir
    manifest_path = root / MANIFEST
    existing = _read_manifest(manifest_path)
    if existing is not None and existing.get("config") == config.fingerprint():
        log.info("demo world at %s is up to date; reusing it", root)
        return DemoWorld(root, existing, reused=True)
    missing = config.sources.missing()
    if missing:
        listed = ", ".join(f"{path} ({pkg})" for path, pkg in missing.items())
        raise FileNotFoundError(f"demo world sources not installed: {listed}")
    manifest_path.unlink(missing_ok=True)  # a crash mid-build must not leave a stale match
    started = time.perf_counter()
    parts = assemble_world(config)
    corpus, dropped = decontaminate(parts.corpus, _all_held_out(parts))
    parts.skipped.extend(dropped)
    assert_disjoint(corpus, parts.held_out())
    for name, split in parts.domains.items():  # a probe's train images are never test images
        assert_disjoint(split.train, {f"{name}-test": split.eval})
    tracker = OutputTracker()
    records = corpus_records(corpus, config.seed)
    shards = write_shards(records, root / "shards", config.samples_per_shard, tracker)
    manifest = _write_held_out(config, parts, tracker)
    for folder, pattern in OWNED:
        for path in tracker.remove_stale(root / folder, pattern):
            log.info("removed stale file %s", path)
    manifest.update(
        config=config.fingerprint(), shards=shards,
        corpus=_corpus_summary(records), skipped=count_reasons(parts.skipped),
        build_seconds=round(time.perf_counter() - started, 2), files_changed=tracker.changed,
    )
    tracker.sync()  # every output is on disk before the manifest says the world is complete
    write_json(manifest_path, manifest)
    log.info("demo world: %d corpus pairs in %d shards, %d files changed, %.1f s",
             len(records), len(shards), tracker.changed, manifest["build_seconds"])
    return DemoWorld(root, manifest)


def corpus_records(corpus: list[Sample], seed: int) -> list[CorpusRecord]:
    """Shuffle the corpus across sources (seeded) and key it ``000000000``, ``000000001``..."""
    order = random.Random(f"{seed}:corpus-order").sample(corpus, len(corpus))
    records = []
    for index, sample in enumerate(order):
        key = f"{index:09d}"
        meta = {**sample.extra, "key": key, "caption": sample.caption, "source": sample.source,
                "label": sample.label, "domain": sample.domain,
                "general": sample.domain in (None, "clipart"), "width": sample.width,
                "height": sample.height, "url": sample.origin, "sha256": sample.sha256,
                "status": "success"}
        records.append(CorpusRecord(key, sample.png, sample.caption, meta))
    return records


def _all_held_out(parts: WorldParts) -> list[Sample]:
    return [s for samples in parts.held_out().values() for s in samples]


def _write_held_out(
    config: DemoWorldConfig, parts: WorldParts, tracker: OutputTracker
) -> dict[str, Any]:
    """Eval ImageFolders, examples, the retrieval set and the spec; returns manifest fields."""
    root = config.out_dir
    spec_path = root / SPEC
    eval_datasets: dict[str, Any] = {}
    train_datasets: dict[str, Any] = {}  # labelled train splits (linear probes), out of corpus
    spec_domains: dict[str, dict[str, Any]] = {}
    for name, split in parts.domains.items():
        if not split.classes:
            log.warning("domain %s has no class with enough samples; left out of the spec", name)
            continue
        folder = root / "eval" / f"{name}-test"
        stats = write_imagefolder(folder, split.classes, split.eval, tracker)
        eval_datasets[f"{name}-test"] = {"path": f"eval/{name}-test", "domain": name, **stats}
        examples = write_examples(root / "examples" / name, split.classes, split.examples,
                                  tracker, spec_path.parent)
        # replace: the world rebuilt with other limits may keep other classes; it is still the
        # demo's domain, so its new version replaces the old one (which stays in the lineage).
        spec_domains[name] = {"classes": split.classes, "examples": examples, "replace": True,
                              "datasets": {f"{name}-test": folder},
                              "synonyms": {c: parts.synonyms[c] for c in split.classes
                                           if parts.synonyms.get(c)}}
        if split.train:
            train_folder = root / "eval" / f"{name}-train"
            stats = write_imagefolder(train_folder, split.classes, split.train, tracker,
                                      allow_empty=True)
            train_datasets[f"{name}-train"] = {"path": f"eval/{name}-train", "domain": name,
                                               "for": f"{name}-test", **stats}
            spec_domains[name]["train"] = {f"{name}-test": train_folder}
    general: dict[str, Path] = {}
    if parts.general.classes:
        folder = root / "eval" / "clipart-test"
        stats = write_imagefolder(folder, parts.general.classes, parts.general.eval, tracker)
        eval_datasets["clipart-test"] = {"path": "eval/clipart-test", "domain": None, **stats}
        general["clipart-test"] = folder
    retrieval_dir = root / "eval" / "retrieval-test"
    n_pairs = write_retrieval_set(retrieval_dir, parts.retrieval, tracker)
    document = spec_document(spec_path.parent, spec_domains, general,
                             {"retrieval-test": retrieval_dir / "pairs.jsonl"})
    write_spec(spec_path, document, tracker)
    n_examples = sum(len(s.examples) for s in parts.domains.values())
    return {
        "spec": SPEC, "eval_datasets": eval_datasets, "train_datasets": train_datasets,
        "examples": n_examples,
        "retrieval": {"path": "eval/retrieval-test/pairs.jsonl", "pairs": n_pairs,
                      "by_source": dict(Counter(s.source for s in parts.retrieval))},
    }


def _corpus_summary(records: list[CorpusRecord]) -> dict[str, Any]:
    by_source = Counter(r.meta["source"] for r in records)
    noisy = Counter(r.meta.get("caption_noise") for r in records if "caption_noise" in r.meta)
    return {"pairs": len(records), "by_source": dict(sorted(by_source.items())),
            "general": sum(r.meta["general"] for r in records),
            "caption_noise": {str(k): v for k, v in sorted(noisy.items(), key=str)}}


def _read_manifest(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        log.warning("%s is unreadable (%s); rebuilding the world", path, err)
        return None
    return data if isinstance(data, dict) else None
