"""Domain specs: a target domain is a name, class names, prompt templates and evaluation datasets.

A spec file (YAML or JSON) holds ``domains`` (a list) and optionally ``general_datasets`` (the
held-out sets that measure forgetting). Relative dataset paths are resolved against the file's
folder. Example::

    domains:
      - name: fashion
        classes: [t-shirt, trouser]
        templates: ["a photo of a {}."]
        datasets:
          - {name: fashion-test, path: eval/fashion-test, layout: imagefolder, metric: accuracy}
        examples: {t-shirt: [examples/tshirt-0.png]}   # optional, for image-to-image retrieval
    general_datasets:
      - {name: general-test, path: eval/general-test, layout: imagefolder, metric: accuracy}
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
LAYOUTS = ("imagefolder", "vision-datasets", "demo")
METRICS = ("accuracy", "mean-per-class", "11point_mAP", "roc_auc")
MAX_SPEC_BYTES = 4 * 1024 * 1024


class DomainSpecError(ValueError):
    """A domain spec file or entry is invalid; the message names the file and the field."""


@dataclass(frozen=True)
class DatasetSpec:
    """A local evaluation dataset: where it is, how it is laid out, and its official metric."""

    name: str
    path: Path
    layout: str = "imagefolder"
    metric: str = "accuracy"


@dataclass(frozen=True)
class DomainSpec:
    """A target domain: the classes to retrieve for and the datasets to evaluate on."""

    name: str
    classes: tuple[str, ...]
    templates: tuple[str, ...]
    datasets: tuple[DatasetSpec, ...] = ()
    examples: dict[str, tuple[Path, ...]] = field(default_factory=dict)

    def queries(self) -> list[tuple[int, str]]:
        """Every (class index, query text) pair: each class name in each template."""
        return [(c, t.format(name)) for c, name in enumerate(self.classes) for t in self.templates]


@dataclass(frozen=True)
class DomainCatalog:
    """Everything one spec file declares."""

    domains: tuple[DomainSpec, ...]
    general_datasets: tuple[DatasetSpec, ...] = ()

    def get(self, name: str) -> DomainSpec:
        for domain in self.domains:
            if domain.name == name:
                return domain
        known = ", ".join(d.name for d in self.domains)
        raise KeyError(f"unknown domain {name!r}; known: {known}")


def load_domain_catalog(path: Path | str) -> DomainCatalog:
    """Parse and validate a YAML/JSON spec file."""
    path = Path(path)
    if not path.is_file():
        raise DomainSpecError(f"{path}: domain spec file not found")
    if path.stat().st_size > MAX_SPEC_BYTES:
        raise DomainSpecError(f"{path}: spec is larger than {MAX_SPEC_BYTES} bytes")
    try:
        text = path.read_text(encoding="utf-8")
        raw = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (UnicodeDecodeError, json.JSONDecodeError, yaml.YAMLError, RecursionError) as err:
        raise DomainSpecError(f"{path}: not valid {path.suffix or 'YAML'}: {err}") from err
    return parse_domain_catalog(raw, base=path.parent, source=str(path))


def parse_domain_catalog(raw: Any, *, base: Path, source: str = "<spec>") -> DomainCatalog:
    """Validate an already-parsed spec (a dict) into a :class:`DomainCatalog`."""
    if not isinstance(raw, dict) or not isinstance(raw.get("domains"), list):
        raise DomainSpecError(f"{source}: expected a mapping with a 'domains' list")
    domains = tuple(
        _parse_domain(entry, base, f"{source}: domains[{i}]")
        for i, entry in enumerate(raw["domains"])
    )
    names = [d.name for d in domains]
    if len(set(names)) != len(names):
        raise DomainSpecError(f"{source}: duplicate domain names in {names}")
    general = tuple(
        _parse_dataset(entry, base, f"{source}: general_datasets[{i}]")
        for i, entry in enumerate(_list(raw.get("general_datasets", []), source, "general_datasets"))
    )
    return DomainCatalog(domains=domains, general_datasets=general)


def _list(value: Any, where: str, key: str) -> list[Any]:
    if not isinstance(value, list):
        raise DomainSpecError(f"{where}: '{key}' must be a list")
    return value


def _text(value: Any, where: str, key: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 1000:
        raise DomainSpecError(f"{where}: '{key}' must be a non-empty string of <= 1000 chars")
    return value


def _parse_domain(entry: Any, base: Path, where: str) -> DomainSpec:
    if not isinstance(entry, dict):
        raise DomainSpecError(f"{where}: expected a mapping")
    name = _text(entry.get("name"), where, "name")
    if not NAME_PATTERN.match(name):
        raise DomainSpecError(f"{where}: name {name!r} must match {NAME_PATTERN.pattern}")
    classes = tuple(_text(c, where, "classes[]") for c in _list(entry.get("classes"), where, "classes"))
    if not classes or len(set(classes)) != len(classes):
        raise DomainSpecError(f"{where}: 'classes' must be a non-empty list of distinct names")
    templates = tuple(
        _text(t, where, "templates[]") for t in _list(entry.get("templates"), where, "templates")
    )
    if not templates or any(t.count("{}") != 1 for t in templates):
        raise DomainSpecError(f"{where}: every template must contain exactly one '{{}}'")
    datasets = tuple(
        _parse_dataset(d, base, f"{where}.datasets[{i}]")
        for i, d in enumerate(_list(entry.get("datasets", []), where, "datasets"))
    )
    examples_raw = entry.get("examples", {}) or {}
    if not isinstance(examples_raw, dict):
        raise DomainSpecError(f"{where}: 'examples' must map class names to image paths")
    examples: dict[str, tuple[Path, ...]] = {}
    for cls, paths in examples_raw.items():
        if cls not in classes:
            raise DomainSpecError(f"{where}: examples for unknown class {cls!r}")
        examples[cls] = tuple(base / _text(p, where, "examples[]") for p in _list(paths, where, cls))
    return DomainSpec(name, classes, templates, datasets, examples)


def _parse_dataset(entry: Any, base: Path, where: str) -> DatasetSpec:
    if not isinstance(entry, dict):
        raise DomainSpecError(f"{where}: expected a mapping")
    name = _text(entry.get("name"), where, "name")
    layout = entry.get("layout", "imagefolder")
    metric = entry.get("metric", "accuracy")
    if layout not in LAYOUTS:
        raise DomainSpecError(f"{where}: layout {layout!r} is not one of {LAYOUTS}")
    if metric not in METRICS:
        raise DomainSpecError(f"{where}: metric {metric!r} is not one of {METRICS}")
    return DatasetSpec(name, base / _text(entry.get("path"), where, "path"), layout, metric)
