"""Domain registration: a spec file's domains recorded in DuckDB, and looked up by name."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from react_assets.domains.spec import (
    DatasetSpec,
    DomainCatalog,
    DomainSpec,
    DomainSpecError,
    load_domain_catalog,
)
from react_assets.metadata import Store
from react_assets.metadata.sql import select_domain, upsert_domain


@dataclass(frozen=True)
class RegisteredDomain:
    """A domain and the catalog (spec file) it was registered from."""

    spec: DomainSpec
    catalog: DomainCatalog
    spec_path: Path

    @property
    def evaluation_datasets(self) -> tuple[DatasetSpec, ...]:
        """Every dataset the domain is evaluated on: its own, then the general sets. No image of
        these may be trained on."""
        return (*self.spec.datasets, *self.catalog.general_datasets)


def register_domains(store: Store, spec_path: Path | str) -> list[str]:
    """Validate a spec file and record each of its domains; returns their names."""
    spec_path = Path(spec_path).resolve()
    catalog = load_domain_catalog(spec_path)
    check_datasets_exist(catalog, spec_path)
    def write(conn) -> None:
        for domain in catalog.domains:
            conn.execute(upsert_domain, {
                "domain": domain.name, "spec_path": store.home.relative(spec_path),
                "n_classes": len(domain.classes), "n_templates": len(domain.templates),
                "classes": json.dumps(list(domain.classes), ensure_ascii=False),
            })

    store.write(write, what=f"register the domains of {spec_path}")
    return [domain.name for domain in catalog.domains]


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


def registered_domain(store: Store, name: str) -> RegisteredDomain:
    """The spec of a registered domain, re-read from its spec file."""
    rows = store.fetch(select_domain, {"domain": name})
    if not rows:
        raise LookupError(f"domain {name!r} is not registered: register its spec file first")
    spec_path = store.home.resolve(rows[0]["spec_path"])
    catalog = load_domain_catalog(spec_path)
    return RegisteredDomain(catalog.get(name), catalog, spec_path)
