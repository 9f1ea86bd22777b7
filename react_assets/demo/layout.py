"""Writing the held-out side of the world: ImageFolder eval sets, examples, the captioned
retrieval set and the domain spec that points at them."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from react_assets.demo.samples import Sample
from react_assets.demo.shard_writer import OutputTracker

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")

TEMPLATES = {
    "fashion": ("a photo of a {}.", "a black and white photo of a {}.",
                "a product photo of a {}.", "a low resolution photo of a {}.",
                "a photo of a {}, a type of clothing."),
    "digits": ("a photo of the number {}.", "a handwritten digit {}.",
               "a drawing of the number {}.", "a low resolution scan of the digit {}."),
    "emoji": ("an emoji of {}.", "an icon of {}.", "a cartoon of {}.", "a drawing of {}.",
              "a picture of {}."),
}
GENERAL_TEMPLATES = ("a drawing of {}.", "clip art of {}.", "an illustration of {}.")
# How the demo's domains are retrieved. The base model never saw a target-domain image, so its
# image embeddings of those domains are weak: text-to-image queries find little, and its image
# cosines rate most fashion images >= 0.95 alike (the default near-duplicate cut removed half of
# the candidates). Captions (text-to-text, which the REACT paper also evaluates), more pairs per
# query, and near-duplicates only at >= 0.99 (exact copies go by sha256 whatever the cosine).
# Each domain's pairs come from one narrow source (8 px digits, 28 px Fashion-MNIST), unlike
# REACT's diverse web pairs: trained on them alone, the new blocks forget the general set. A
# uniform sample of the corpus twice the retrieved pairs' count keeps what the base model knew
# (bench.experiments.general_sample and bench.experiments.seed_spread measure it).
DEMO_RETRIEVAL = {"mode": "text-to-text", "k_per_query": 200, "near_duplicate_threshold": 0.99,
                  "general_fraction": 2.0}
# The paper's comparison: REACT's gated blocks against the Locked-Text baseline, and REAL's
# cheap baselines (a prompt and a linear head, no tower trained) on the same retrieved pairs.
DEMO_VARIANTS = ("real-prompt", "real-linear", "gated-image", "locked-text")


def file_name(origin: str) -> str:
    """A safe, unique-per-origin PNG file name: ``openclipart:food/apple.png`` ->
    ``openclipart-food-apple.png``."""
    stem = origin.removesuffix(".png")
    return _UNSAFE.sub("-", stem.replace(":", "-").replace("/", "-")).strip("-") + ".png"


def _class_files(
    folder: Path, classes: Sequence[str], samples: Sequence[Sample], tracker: OutputTracker
) -> dict[str, list[Path]]:
    index = {name: i for i, name in enumerate(classes)}
    width = max(3, len(str(len(classes) - 1)))
    paths: dict[str, list[Path]] = {name: [] for name in classes}
    for sample in samples:
        if sample.label not in index:
            raise ValueError(f"{sample.origin}: label {sample.label!r} is not a class of {folder}")
        path = folder / f"{index[sample.label]:0{width}d}" / file_name(sample.origin)
        if path in paths[sample.label]:
            raise ValueError(f"{path}: two samples map to the same file ({sample.origin})")
        tracker.write(path, sample.png)
        paths[sample.label].append(path)
    return paths


def write_imagefolder(
    folder: Path, classes: Sequence[str], samples: Sequence[Sample], tracker: OutputTracker,
    allow_empty: bool = False,
) -> dict[str, Any]:
    """``folder/NNN/<file>.png`` per sample plus ``classes.txt`` (line i <-> folder i).
    A class without images is an error unless ``allow_empty`` (a small class's train split)."""
    paths = _class_files(folder, classes, samples, tracker)
    empty = [name for name, files in paths.items() if not files]
    if empty and not allow_empty:
        raise ValueError(f"{folder}: classes without any image: {empty}")
    tracker.write(folder / "classes.txt", "".join(f"{c}\n" for c in classes).encode("utf-8"))
    return {"classes": len(classes), "images": len(samples),
            "per_class": {name: len(files) for name, files in paths.items()}}


def write_examples(
    folder: Path, classes: Sequence[str], samples: Sequence[Sample], tracker: OutputTracker,
    spec_dir: Path,
) -> dict[str, list[str]]:
    """Example images per class; returns class -> paths relative to ``spec_dir``."""
    paths = _class_files(folder, classes, samples, tracker)
    return {name: [_relative(p, spec_dir) for p in files] for name, files in paths.items() if files}


def write_retrieval_set(folder: Path, samples: Sequence[Sample], tracker: OutputTracker) -> int:
    """``folder/images/<file>.png`` and ``folder/pairs.jsonl`` lines {"image", "caption"}."""
    lines = []
    for sample in samples:
        relative = f"images/{file_name(sample.origin)}"
        tracker.write(folder / relative, sample.png)
        lines.append(json.dumps({"image": relative, "caption": sample.caption,
                                 "source": sample.source}, ensure_ascii=False, sort_keys=True))
    tracker.write(folder / "pairs.jsonl", ("\n".join(lines) + "\n").encode("utf-8"))
    return len(lines)


def _relative(path: Path, base: Path) -> str:
    """``path`` relative to ``base`` (with ``..`` where needed), POSIX separators."""
    return Path(os.path.relpath(path, base)).as_posix()


def spec_document(
    spec_dir: Path, domains: dict[str, dict[str, Any]],
    general: dict[str, Path], retrieval: dict[str, Path],
) -> dict[str, Any]:
    """The domain spec (``load_domain_catalog`` format) for the world's domains.

    ``domains`` maps a domain name to {"classes", "datasets": {name: folder}, "examples"} and
    optionally "train" ({dataset name: train folder}) and "synonyms" ({class: [names]}).
    """
    def dataset(name: str, folder: Path, train: Path | None = None) -> dict[str, str]:
        entry = {"name": name, "path": _relative(folder, spec_dir), "layout": "imagefolder",
                 "metric": "accuracy"}
        return entry | ({"train": _relative(train, spec_dir)} if train is not None else {})

    return {
        "domains": [
            {"name": name, "classes": list(d["classes"]), "templates": list(TEMPLATES[name]),
             "datasets": [dataset(n, f, d.get("train", {}).get(n))
                          for n, f in d["datasets"].items()],
             "examples": d["examples"], "retrieval": dict(DEMO_RETRIEVAL),
             "variants": list(DEMO_VARIANTS),
             "synonyms": {c: list(v) for c, v in d.get("synonyms", {}).items()}}
            for name, d in domains.items()
        ],
        "general_datasets": [dataset(n, f) for n, f in general.items()],
        "general_templates": list(GENERAL_TEMPLATES),
        "retrieval_datasets": [{"name": n, "path": _relative(p, spec_dir), "layout": "pairs-jsonl"}
                               for n, p in retrieval.items()],
    }


def write_spec(path: Path, document: dict[str, Any], tracker: OutputTracker) -> Path:
    """Write the spec as YAML (block style, keys in the given order)."""
    header = "# Demo world domain spec (react_assets.demo); paths are relative to this file.\n"
    body = yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)
    return tracker.write(path, (header + body).encode("utf-8"))
