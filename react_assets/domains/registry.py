"""Domain registration: a spec file's domains recorded in the metadata, and looked up by name.

Each domain's spec is versioned (:mod:`react_assets.domains.versions`): registration logs a new
version in ``domain_versions`` when the spec's digest differs from the current one, refuses other
classes or templates unless the entry says ``replace: true``, and leaves the metadata untouched
when nothing changed. A lookup re-reads the spec file and checks it is still the current
version, so no stage works from a spec that was never registered.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from react_assets.domains.spec import (
    DatasetSpec,
    DomainCatalog,
    DomainSpec,
    DomainSpecError,
    load_domain_catalog,
)
from react_assets.domains.versions import (
    change_from,
    check_replacements,
    spec_content,
    spec_digest,
)
from react_assets.metadata import Catalog, Store, query_rows
from react_assets.metadata.read import ReadError, open_reader
from react_assets.metadata.sql import insert_domain_version, select_domain, upsert_domain

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RegisteredDomain:
    """A domain and the catalog (spec file) it was registered from."""

    spec: DomainSpec
    catalog: DomainCatalog
    spec_path: Path
    digest: str | None = None  # its current spec version; None: registered before versions

    @property
    def evaluation_datasets(self) -> tuple[DatasetSpec, ...]:
        """Every dataset the domain is evaluated on: its own, then the general sets. No image of
        these may be trained on."""
        return (*self.spec.datasets, *self.catalog.general_datasets)


def register_domains(store: Store, spec_path: Path | str) -> list[str]:
    """Validate a spec file and record each of its domains; returns their names.

    A domain whose spec digest differs from its current version gets a new version; one whose
    classes or templates differ is refused (:class:`DomainVersionConflict`, naming every
    difference) unless its entry says ``replace: true``. The file registers whole or not at all.
    """
    spec_path = Path(spec_path).resolve()
    catalog = load_domain_catalog(spec_path)
    check_datasets_exist(catalog, spec_path)
    stored_path = store.home.relative(spec_path)

    def write(conn) -> None:
        current = _current_versions(conn, catalog)
        check_replacements(catalog, current, str(spec_path))
        for domain in catalog.domains:
            _record(conn, domain, current[domain.name], stored_path)

    store.write(write, what=f"register the domains of {spec_path}")
    return [domain.name for domain in catalog.domains]


def check_spec_versions(metadata: Catalog, catalog: DomainCatalog, spec_path: Path) -> None:
    """Refuse, as :func:`register_domains` would, a spec that changes a registered domain's
    classes or templates without ``replace: true``. Reads the metadata read-only and creates
    nothing (a sensor tick may call it); a home without metadata, or with a schema older than
    domain versions, has nothing to check yet (registration checks again)."""
    try:
        conn = open_reader(metadata)
    except ReadError:
        return
    try:
        current = _current_versions(conn, catalog)
    except (duckdb.CatalogException, duckdb.BinderException):  # no domain_versions, spec_digest
        return
    finally:
        conn.close()
    check_replacements(catalog, current, str(spec_path))


def _current_versions(conn, catalog: DomainCatalog) -> dict[str, dict[str, Any] | None]:
    """Each of the catalog's domains' ``select_domain`` row (None: not registered)."""
    return {d.name: next(iter(query_rows(conn, select_domain, {"domain": d.name})), None)
            for d in catalog.domains}


def _record(conn, domain: DomainSpec, current: dict[str, Any] | None, stored_path: str) -> None:
    """Make ``domain`` the current version (logged as a new one when its digest differs) and
    point its ``domains`` row at it; write nothing when neither the digest nor the file moved."""
    digest = spec_digest(domain)
    if current is not None and (current["spec_digest"], current["spec_path"]) == (digest,
                                                                                stored_path):
        return
    if current is None or current["spec_digest"] != digest:
        content = spec_content(domain)
        conn.execute(insert_domain_version, {
            "domain": domain.name, "spec_digest": digest,
            "spec": json.dumps(content, ensure_ascii=False), "spec_path": stored_path,
            "replaced": bool(current is not None and change_from(current, domain)),
        })
        if current is not None:
            log.info("domain %s: spec %s is now its current version (was %s)", domain.name,
                     digest[:12], (current["spec_digest"] or "unversioned")[:12])
    conn.execute(upsert_domain, {
        "domain": domain.name, "spec_path": stored_path, "n_classes": len(domain.classes),
        "n_templates": len(domain.templates),
        "classes": json.dumps(list(domain.classes), ensure_ascii=False), "spec_digest": digest,
    })


def check_datasets_exist(catalog: DomainCatalog, spec_path: Path) -> None:
    """Every dataset the spec names is on disk, in the form its layout reads (checked at
    registration, so a wrong path fails now rather than at evaluation)."""
    named = [(f"domain {d.name}", ds) for d in catalog.domains for ds in d.datasets]
    named += [("general_datasets", ds) for ds in catalog.general_datasets]
    named += [("retrieval_datasets", ds) for ds in catalog.retrieval_datasets]
    missing = []
    for owner, ds in named:
        wanted = {"pairs-jsonl": "file", "vision-datasets": "file or folder"}.get(ds.layout, "folder")
        ok = {"file": ds.path.is_file(), "folder": ds.path.is_dir()}.get(wanted, ds.path.exists())
        if not ok:
            missing.append(f"{owner}: dataset {ds.name!r} ({ds.layout}) needs a {wanted} at "
                           f"{ds.path}, which does not exist")
    if missing:
        raise DomainSpecError(f"{spec_path}: " + "; ".join(missing) + " (relative paths resolve "
                              "against the spec's folder)")


def registered_spec_path(store: Store, name: str) -> Path:
    """The spec file a domain is registered from (not read: it may have changed since)."""
    rows = store.fetch(select_domain, {"domain": name})
    if not rows:
        raise LookupError(f"domain {name!r} is not registered: register its spec file first")
    return store.home.resolve(rows[0]["spec_path"])


def current_spec_digest(store: Store, name: str) -> str | None:
    """The digest of a domain's current spec version; None when the domain is not registered, or
    was registered before versions were kept."""
    rows = store.fetch(select_domain, {"domain": name})
    return rows[0]["spec_digest"] if rows else None


def registered_domain(store: Store, name: str) -> RegisteredDomain:
    """The spec of a registered domain, re-read from its spec file, with its current version's
    digest. Raises :class:`DomainSpecError` when the file no longer holds that version (edited
    since it was registered, and not registered again)."""
    rows = store.fetch(select_domain, {"domain": name})
    if not rows:
        raise LookupError(f"domain {name!r} is not registered: register its spec file first")
    row = rows[0]
    spec_path = store.home.resolve(row["spec_path"])
    catalog = load_domain_catalog(spec_path)
    spec = catalog.get(name)
    if row["spec_digest"] is not None and spec_digest(spec) != row["spec_digest"]:
        change = change_from(row, spec)
        raise DomainSpecError(
            f"{spec_path}: domain {name!r} in this file is not its registered version (spec "
            f"{row['spec_digest'][:12]}, now {spec_digest(spec)[:12]}"
            + (f": {change.describe()}" if change else "") + "): the file changed since it was "
            "registered; register it again (the domain_specs_sensor does, for a file in "
            "domains/incoming), with `replace: true` if its classes or templates changed")
    return RegisteredDomain(spec, catalog, spec_path, row["spec_digest"])
