"""Domain spec versions: what a domain means, as one digest, and how two versions differ.

A domain's **spec digest** is the sha256 of its canonical content (:func:`spec_content`): the
name, the classes (in order: a class's index is its label), the templates (in order), the
synonyms, and each evaluation dataset's name, layout, metric and whether it names a train split.
These define what the domain's models and figures mean. Left out: file paths (a copied or moved
home is the same domain), the ``retrieval`` settings (each retrieval set's own digest holds
them), ``variants`` (which models to train), ``examples`` (query images, a retrieval aid) and
``replace`` (a registration instruction).

Registering a spec whose classes or templates differ from the domain's current version is
refused unless the entry says ``replace: true`` (:class:`SpecChange` says what differs); every
version is kept in ``domain_versions``, and every model, retrieval set and evaluation names the
version it was made under.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from react_assets.domains.spec import DomainCatalog, DomainSpec, DomainSpecError


class DomainVersionConflict(DomainSpecError):
    """A spec would give a registered domain other classes or templates without ``replace``."""


def spec_content(domain: DomainSpec) -> dict[str, Any]:
    """The content a domain's digest covers (see the module docstring), as plain JSON values."""
    return {
        "name": domain.name,
        "classes": list(domain.classes),
        "templates": list(domain.templates),
        "synonyms": {cls: list(names) for cls, names in domain.synonyms.items() if names},
        "datasets": [{"name": d.name, "layout": d.layout, "metric": d.metric,
                      "train": d.train is not None} for d in domain.datasets],
    }


def content_digest(content: dict[str, Any]) -> str:
    """sha256 of ``content`` as canonical JSON (sorted keys, no spaces, UTF-8)."""
    text = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def spec_digest(domain: DomainSpec) -> str:
    """The digest of a domain's spec version (:func:`spec_content`)."""
    return content_digest(spec_content(domain))


@dataclass(frozen=True)
class SpecChange:
    """How a domain's classes and templates differ between two versions. A class whose index
    now holds a new name, its old name gone, is ``renamed``; a kept class at another index is
    ``moved`` (its label changes). ``old_templates`` None: the old version's are unknown (a
    domain registered before versions were kept)."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    renamed: tuple[tuple[str, str], ...] = ()
    moved: tuple[tuple[str, int, int], ...] = ()
    templates_added: tuple[str, ...] = ()
    templates_removed: tuple[str, ...] = ()
    templates_reordered: bool = False

    @classmethod
    def between(cls, old_classes: list[str], new_classes: list[str],
                old_templates: list[str] | None, new_templates: list[str]) -> SpecChange:
        gone = [c for c in old_classes if c not in new_classes]
        came = [c for c in new_classes if c not in old_classes]
        renamed = tuple((old, new) for old, new in zip(old_classes, new_classes, strict=False)
                        if old in gone and new in came)
        was = {old for old, _ in renamed} | {new for _, new in renamed}
        moved = tuple((c, old_classes.index(c), new_classes.index(c)) for c in new_classes
                      if c in old_classes and old_classes.index(c) != new_classes.index(c))
        classes = cls(tuple(c for c in came if c not in was),
                      tuple(c for c in gone if c not in was), renamed, moved)
        if old_templates is None:
            return classes
        return dataclasses.replace(
            classes, templates_added=tuple(t for t in new_templates if t not in old_templates),
            templates_removed=tuple(t for t in old_templates if t not in new_templates),
            templates_reordered=(sorted(old_templates) == sorted(new_templates)
                                 and old_templates != new_templates))

    def __bool__(self) -> bool:
        return any((self.added, self.removed, self.renamed, self.moved, self.templates_added,
                    self.templates_removed, self.templates_reordered))

    def describe(self) -> str:
        """The differences, one clause each: ``classes renamed: '0' -> 'apple'; ...``."""
        parts = [("classes added", [repr(c) for c in self.added]),
                 ("classes removed", [repr(c) for c in self.removed]),
                 ("classes renamed", [f"{o!r} -> {n!r}" for o, n in self.renamed]),
                 ("classes moved (a class's index is its label)",
                  [f"{c!r} {i} -> {j}" for c, i, j in self.moved]),
                 ("templates added", [repr(t) for t in self.templates_added]),
                 ("templates removed", [repr(t) for t in self.templates_removed])]
        text = [f"{what}: {_listed(items)}" for what, items in parts if items]
        return "; ".join(text + (["templates reordered"] if self.templates_reordered else []))


def _listed(items: list[str], most: int = 10) -> str:
    """``items`` comma-separated, the first ``most`` of them and how many more."""
    more = f" and {len(items) - most} more" if len(items) > most else ""
    return ", ".join(items[:most]) + more


def change_from(current: dict[str, Any], domain: DomainSpec) -> SpecChange:
    """How ``domain`` differs from the registered ``current`` (a ``select_domain`` row: its
    version's ``spec``, else, for a domain registered before versions, its ``classes``)."""
    if current["spec"] is not None:
        old = json.loads(current["spec"])
        return SpecChange.between(old["classes"], list(domain.classes), old["templates"],
                                  list(domain.templates))
    return SpecChange.between(json.loads(current["classes"]), list(domain.classes), None,
                              list(domain.templates))


def check_replacements(catalog: DomainCatalog, current: dict[str, dict[str, Any] | None],
                       source: str) -> None:
    """Raise :class:`DomainVersionConflict` naming each of the catalog's domains whose classes
    or templates differ from its registered version (``current``: ``select_domain`` rows, None
    when not registered) and that does not say ``replace: true``."""
    refused = []
    for domain in catalog.domains:
        row = current[domain.name]
        if (row is not None and not domain.replace and row["spec_digest"] != spec_digest(domain)
                and (change := change_from(row, domain))):
            refused.append(refusal(source, domain, row, change))
    if refused:
        raise DomainVersionConflict("\n".join(refused) + " Nothing of this file was registered.")


def refusal(source: str, domain: DomainSpec, current: dict[str, Any], change: SpecChange) -> str:
    """Why registering ``domain`` over its ``current`` version is refused, and what to do."""
    digest = current["spec_digest"]
    version = (f"version {current['version_no']}, spec {digest[:12]}, registered "
               f"{current['version_registered_at']:%Y-%m-%d %H:%M:%S}" if current["spec"]
               else "registered before spec versions were kept")
    return (f"{source}: domain {domain.name!r} is registered with other classes or templates "
            f"({version}, from {current['spec_path']}): {change.describe()}. Its models, "
            "retrieval sets and evaluations were made for those; to make this spec the "
            "domain's current version (the old version is kept, and what was made under it "
            "keeps its digest), add `replace: true` to the domain's entry, or give the domain "
            "another name.")
