"""The ELEVATER image-classification suite (20 datasets + ImageNet-1K) as domain specs.

Class names, prompt templates, official metric and test size ship with the package in
``react_assets/data/elevater_suite.json``. A class given as a list of synonyms (fer-2013) is
named by its first synonym, as the ELEVATER toolkit does (``classname = classname[0]``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from react_assets.domains.spec import DatasetSpec, DomainSpec

SUITE_RESOURCE = "elevater_suite.json"
SUITE_LAYOUT = "vision-datasets"


@dataclass(frozen=True)
class SuiteEntry:
    """One suite dataset as the JSON describes it."""

    name: str
    classes: tuple[str, ...]
    templates: tuple[str, ...]
    metric: str
    test_images: int
    in_elevater20: bool


@lru_cache(maxsize=1)
def _raw_suite() -> dict[str, Any]:
    text = resources.files("react_assets.data").joinpath(SUITE_RESOURCE).read_text(encoding="utf-8")
    raw = json.loads(text)
    if not isinstance(raw, dict) or not isinstance(raw.get("datasets"), dict):
        raise ValueError(f"react_assets/data/{SUITE_RESOURCE}: expected a 'datasets' mapping")
    return raw


def _class_name(value: Any, dataset: str, index: int) -> str:
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return value[0]
    if isinstance(value, str) and value:
        return value
    raise ValueError(f"react_assets/data/{SUITE_RESOURCE}: {dataset} class {index} is {value!r}, "
                     "expected a name or a list of synonyms")


def suite_entry(name: str) -> SuiteEntry:
    """The suite's description of dataset ``name`` (KeyError listing the known names)."""
    datasets = _raw_suite()["datasets"]
    if name not in datasets:
        raise KeyError(f"{name!r} is not an ELEVATER suite dataset; known: {', '.join(datasets)}")
    raw = datasets[name]
    return SuiteEntry(
        name=name,
        classes=tuple(_class_name(c, name, i) for i, c in enumerate(raw["classes"])),
        templates=tuple(raw["templates"]),
        metric=raw["metric"],
        test_images=int(raw["test_images"]),
        in_elevater20=bool(raw["in_elevater20"]),
    )


def list_suite(elevater20_only: bool = False) -> list[str]:
    """Suite dataset names in file order (the 20 ELEVATER sets, then ImageNet-1K)."""
    datasets = _raw_suite()["datasets"]
    return [n for n, d in datasets.items() if d["in_elevater20"] or not elevater20_only]


def domain_name(dataset: str) -> str:
    """A domain name valid for :mod:`react_assets.domains.spec` (lower case, at most 64 chars)."""
    return dataset.lower().replace(".", "-")[:64]


def elevater_domain(name: str, data_root: Path | str) -> DomainSpec:
    """The domain of suite dataset ``name``, its data in ``<data_root>/<name>``."""
    entry = suite_entry(name)
    dataset = DatasetSpec(name=name, path=Path(data_root) / name, layout=SUITE_LAYOUT,
                          metric=entry.metric)
    return DomainSpec(name=domain_name(name), classes=entry.classes, templates=entry.templates,
                      datasets=(dataset,))
