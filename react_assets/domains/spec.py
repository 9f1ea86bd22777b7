"""Domain specs: a target domain is a name, class names, prompt templates and evaluation datasets.

A spec file (YAML or JSON) holds ``domains`` (a list) and optionally ``general_datasets`` (the
held-out sets that measure forgetting). Relative dataset paths are resolved against the file's
folder. Example::

    domains:
      - name: fashion
        classes: [t-shirt, trouser]
        templates: ["a photo of a {}."]
        datasets:
          - {name: fashion-test, path: eval/fashion-test, layout: imagefolder, metric: accuracy,
             train: eval/fashion-train}   # optional: the labelled train split (linear probes)
        synonyms: {t-shirt: [tee, top]}   # optional: other names of a class (REAL-Prompt)
        examples: {t-shirt: [examples/tshirt-0.png]}   # optional, for image-to-image retrieval
        retrieval: {mode: text-to-text, k_per_query: 200}   # optional; launchpad config wins
        # retrieval keys: mode, k_per_query, max_per_class, near_duplicate_threshold,
        # general_fraction (see react_assets.retrieve.core.RetrievalConfig)
        variants: [gated-image, locked-text]               # optional: models to train
        promotion: {significance: 0.05, max_general_loss: 5.0, versus_champion: not-worse}
        # optional: when a new version of react-<domain> becomes @champion (PromotionPolicy)
        replace: true   # optional: allow other classes/templates than the registered version
    general_datasets:
      - {name: general-test, path: eval/general-test, layout: imagefolder, metric: accuracy}
    general_templates: ["a photo of a {}."]   # for the general sets (classes from the folder)
    retrieval_datasets:                        # captioned sets for image-text retrieval
      - {name: retrieval-test, path: eval/retrieval-test/pairs.jsonl, layout: pairs-jsonl}
"""

from __future__ import annotations

import difflib
import json
import re
import reprlib
import string
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from react_assets.domains.settings import BASELINES, VARIANTS, PromotionPolicy, RetrievalConfig

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
LAYOUTS = ("imagefolder", "vision-datasets", "demo", "pairs-jsonl")
METRICS = ("accuracy", "mean-per-class", "11point_mAP", "roc_auc")
# The retrieval settings a spec may fix for its domain, and their types.


def _retrieval_keys() -> dict[str, type]:
    """RetrievalConfig's fields a spec may set, with the kind of value each takes (from the
    dataclass: ``Literal`` choices are strings, ``int | None`` an integer)."""
    kinds = {}
    for name, hint in typing.get_type_hints(RetrievalConfig).items():
        args = {a for a in typing.get_args(hint) if a is not type(None)}
        if typing.get_origin(hint) is typing.Literal:
            kinds[name] = str
        elif hint in (int, float):
            kinds[name] = hint
        elif args in ({int}, {float}):  # int | None, float | None
            kinds[name] = next(iter(args))
    return kinds


RETRIEVAL_KEYS = _retrieval_keys()  # every numeric and choice field of RetrievalConfig
_KIND_NAMES = {str: "a string", int: "an integer", float: "a number"}
MAX_SPEC_BYTES = 4 * 1024 * 1024
# YAML aliases share nodes; a spec whose alias-expanded size passes this is refused (alias bombs).
MAX_SPEC_EXPANDED_NODES = 1_000_000


CATALOG_KEYS = ("domains", "general_datasets", "general_templates", "retrieval_datasets")
DOMAIN_KEYS = ("name", "classes", "templates", "datasets", "examples", "retrieval", "variants",
               "synonyms", "replace", "promotion")
PROMOTION_KEYS = {"significance": float, "max_general_loss": float, "versus_champion": str}
DATASET_KEYS = ("name", "path", "layout", "metric", "train")


class DomainSpecError(ValueError):
    """A domain spec file or entry is invalid; the message names the file and the field."""


@dataclass(frozen=True)
class DatasetSpec:
    """A local evaluation dataset: where it is, how it is laid out, and its official metric."""

    name: str
    path: Path
    layout: str = "imagefolder"
    metric: str = "accuracy"
    train: Path | None = None  # the labelled train split, same layout (few-shot probes)

    def train_split(self) -> DatasetSpec | None:
        """The train split as a dataset of its own (``<name>:train``), or None."""
        if self.train is None:
            return None
        return DatasetSpec(f"{self.name}:train", self.train, self.layout, self.metric)


@dataclass(frozen=True)
class DomainSpec:
    """A target domain: the classes to retrieve for and the datasets to evaluate on."""

    name: str
    classes: tuple[str, ...]
    templates: tuple[str, ...]
    datasets: tuple[DatasetSpec, ...] = ()
    examples: dict[str, tuple[Path, ...]] = field(default_factory=dict)
    retrieval: dict[str, Any] = field(default_factory=dict)  # overrides of RetrievalConfig
    variants: tuple[str, ...] = ()  # empty: the react_model asset's config decides
    synonyms: dict[str, tuple[str, ...]] = field(default_factory=dict)  # REAL-Prompt candidates
    # Registration may replace a registered version with other classes or templates
    # (react_assets.domains.versions); not part of the domain's content or digest.
    replace: bool = False
    # When a new model version becomes the domain's champion; not part of its digest either.
    promotion: PromotionPolicy = field(default_factory=PromotionPolicy)

    def names_of(self, cls: str) -> tuple[str, ...]:
        """The class name then its synonyms, without repeats."""
        return tuple(dict.fromkeys((cls, *self.synonyms.get(cls, ()))))

    def queries(self) -> list[tuple[int, str]]:
        """Every (class index, query text) pair: each class name in each template."""
        return [(c, t.format(name)) for c, name in enumerate(self.classes) for t in self.templates]


@dataclass(frozen=True)
class DomainCatalog:
    """Everything one spec file declares."""

    domains: tuple[DomainSpec, ...]
    general_datasets: tuple[DatasetSpec, ...] = ()
    general_templates: tuple[str, ...] = ("a photo of a {}.",)
    retrieval_datasets: tuple[DatasetSpec, ...] = ()

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
        raw = json.loads(text) if path.suffix.lower() == ".json" else _load_yaml(text)
    # ValueError: ints over 4300 digits, impossible YAML timestamps (2020-13-45), alias bombs
    except (UnicodeDecodeError, ValueError, yaml.YAMLError, RecursionError) as err:
        raise DomainSpecError(f"{path}: not valid {path.suffix or 'YAML'}: {err}") from err
    return parse_domain_catalog(raw, base=path.parent, source=str(path))


def _load_yaml(text: str) -> Any:
    """``yaml.safe_load``, refusing documents whose aliases expand past the node budget."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_expanded_size(node)
        try:
            return loader.construct_document(node)
        except (AttributeError, TypeError) as err:  # a scalar tag on a collection: !!timestamp {}
            raise ValueError(f"a YAML tag does not fit its value: {err}") from err
    finally:
        loader.dispose()


def _check_expanded_size(root: yaml.Node) -> None:
    """Walk the node graph as if every alias were expanded; stop at the budget (never recurses)."""
    budget = MAX_SPEC_EXPANDED_NODES
    stack = [root]
    while stack:
        node = stack.pop()
        budget -= 1 + (len(node.value) // 64 if isinstance(node, yaml.ScalarNode) else 0)
        if budget < 0:
            raise ValueError(f"aliases expand to more than {MAX_SPEC_EXPANDED_NODES} nodes")
        if isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
        elif isinstance(node, yaml.MappingNode):
            stack.extend(item for pair in node.value for item in pair)


def _valid_template(template: str) -> bool:
    """Exactly one bare ``{}`` field and no other (so ``str.format(name)`` fills it)."""
    try:
        fields = [(f, spec, conv) for _, f, spec, conv in string.Formatter().parse(template)
                  if f is not None]
    except ValueError:  # unbalanced braces
        return False
    return fields == [("", "", None)]


def parse_domain_catalog(raw: Any, *, base: Path, source: str = "<spec>") -> DomainCatalog:
    """Validate an already-parsed spec (a dict) into a :class:`DomainCatalog`."""
    if isinstance(raw, dict):
        check_keys(raw, CATALOG_KEYS, source)
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
    retrieval = tuple(
        _parse_dataset(entry, base, f"{source}: retrieval_datasets[{i}]")
        for i, entry in enumerate(
            _list(raw.get("retrieval_datasets", []), source, "retrieval_datasets"))
    )
    templates = _templates(raw.get("general_templates", ["a photo of a {}."]), source)
    return DomainCatalog(domains=domains, general_datasets=general, general_templates=templates,
                         retrieval_datasets=retrieval)


def check_keys(mapping: dict, known: tuple[str, ...], where: str, what: str = "key") -> None:
    """Refuse a key that is not in ``known``, suggesting the nearest known one (a typo such as
    ``retreival:`` must not silently fall back to the defaults)."""
    for key in mapping:
        if key in known:
            continue
        text = key if isinstance(key, str) else str(key)
        close = difflib.get_close_matches(text, known, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise DomainSpecError(f"{where}: unknown {what} {reprlib.repr(key)}; {hint}"
                              f"known: {', '.join(known)}")


def _templates(value: Any, where: str) -> tuple[str, ...]:
    templates = tuple(_text(t, where, "templates[]") for t in _list(value, where, "templates"))
    if not templates or not all(_valid_template(t) for t in templates):
        raise DomainSpecError(f"{where}: every template must contain exactly one '{{}}' and no "
                              "other braces")
    return templates


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
    check_keys(entry, DOMAIN_KEYS, where)
    name = _text(entry.get("name"), where, "name")
    if not NAME_PATTERN.fullmatch(name):  # match() would accept a trailing newline
        raise DomainSpecError(f"{where}: name {name!r} must match {NAME_PATTERN.pattern}")
    classes = tuple(_text(c, where, "classes[]") for c in _list(entry.get("classes"), where, "classes"))
    if not classes or len(set(classes)) != len(classes):
        raise DomainSpecError(f"{where}: 'classes' must be a non-empty list of distinct names")
    templates = _templates(entry.get("templates"), where)
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
            raise DomainSpecError(f"{where}: examples for unknown class {reprlib.repr(cls)}")
        examples[cls] = tuple(base / _text(p, where, "examples[]") for p in _list(paths, where, cls))
    replace = entry.get("replace", False)
    if not isinstance(replace, bool):
        raise DomainSpecError(f"{where}: 'replace' must be true or false, got "
                              f"{reprlib.repr(replace)}")
    return DomainSpec(name, classes, templates, datasets, examples,
                      _retrieval(entry.get("retrieval", {}), where),
                      _variants(entry.get("variants", []), where),
                      _synonyms(entry.get("synonyms", {}) or {}, classes, where), replace,
                      _promotion(entry.get("promotion", {}), where))


def _promotion(value: Any, where: str) -> PromotionPolicy:
    """The spec's overrides of the project's :class:`PromotionPolicy`."""
    if not isinstance(value, dict):
        raise DomainSpecError(f"{where}: 'promotion' must be a mapping")
    check_keys(value, tuple(PROMOTION_KEYS), where, "promotion setting")
    for key, item in value.items():
        kind = PROMOTION_KEYS[key]
        valid = isinstance(item, str) if kind is str else (
            isinstance(item, int | float) and not isinstance(item, bool))
        if not valid:
            raise DomainSpecError(f"{where}: promotion.{key} must be {_KIND_NAMES[kind]}")
    try:
        return PromotionPolicy(**value)
    except ValueError as err:
        raise DomainSpecError(f"{where}: promotion: {err}") from None


def _synonyms(value: Any, classes: tuple[str, ...], where: str) -> dict[str, tuple[str, ...]]:
    if not isinstance(value, dict) or any(cls not in classes for cls in value):
        raise DomainSpecError(f"{where}: 'synonyms' must map class names to lists of names")
    return {cls: tuple(_text(n, where, "synonyms[]") for n in _list(names, where, cls))
            for cls, names in value.items()}


def _retrieval(value: Any, where: str) -> dict[str, Any]:
    """The spec's overrides of RetrievalConfig: types checked here, values by RetrievalConfig."""
    if not isinstance(value, dict):
        raise DomainSpecError(f"{where}: 'retrieval' must be a mapping")
    out: dict[str, Any] = {}
    for key, item in value.items():
        kind = RETRIEVAL_KEYS.get(key)
        if kind is None:
            check_keys({key: item}, tuple(RETRIEVAL_KEYS), where, "retrieval setting")
        if kind is str:
            valid = isinstance(item, str)
        else:  # bool is an int subclass, never a count or a threshold
            valid = isinstance(item, int if kind is int else int | float) and not isinstance(
                item, bool)
        if not valid:
            raise DomainSpecError(f"{where}: retrieval.{key} must be {_KIND_NAMES[kind]}")
        out[key] = kind(item)
    try:
        RetrievalConfig(**out)
    except ValueError as err:
        raise DomainSpecError(f"{where}: retrieval: {err}") from None
    return out


def _variants(value: Any, where: str) -> tuple[str, ...]:
    variants = tuple(_text(v, where, "variants[]") for v in _list(value, where, "variants"))
    unknown = [v for v in variants if v not in VARIANTS + BASELINES]
    if unknown or len(set(variants)) != len(variants):
        raise DomainSpecError(f"{where}: 'variants' must be distinct names from "
                              f"{VARIANTS + BASELINES}")
    return variants


def _parse_dataset(entry: Any, base: Path, where: str) -> DatasetSpec:
    if not isinstance(entry, dict):
        raise DomainSpecError(f"{where}: expected a mapping")
    check_keys(entry, DATASET_KEYS, where)
    name = _text(entry.get("name"), where, "name")
    layout = entry.get("layout", "imagefolder")
    metric = entry.get("metric", "accuracy")
    if layout not in LAYOUTS:
        raise DomainSpecError(f"{where}: layout {reprlib.repr(layout)} is not one of {LAYOUTS}")
    if metric not in METRICS:
        raise DomainSpecError(f"{where}: metric {reprlib.repr(metric)} is not one of {METRICS}")
    train = entry.get("train")
    return DatasetSpec(name, base / _text(entry.get("path"), where, "path"), layout, metric,
                       None if train is None else base / _text(train, where, "train"))
