"""Domains stage: a domain's spec file registered, the first input of its retrieval."""

import dagster as dg
from pydantic import Field

from dagster_project.partitions import domain_partitions
from dagster_project.profile import executed_by
from dagster_project.resources import ReactHomeResource
from react_assets.domains.registry import register_domains, registered_spec_path
from react_assets.domains.spec import load_domain_catalog
from react_assets.files.hashing import file_sha256


class DomainSpecConfig(dg.Config):
    """Which spec file declares the domain."""

    spec_file: str | None = Field(
        default=None, description="the spec file, relative to REACT_HOME or absolute (default: "
        "the file the domain is registered from)")


@dg.asset(
    partitions_def=domain_partitions,
    group_name="retrieval",
    kinds={"yaml", "duckdb"},
    code_version="1",
)
def domain_spec(
    context: dg.AssetExecutionContext, config: DomainSpecConfig, react_home: ReactHomeResource
) -> dg.MaterializeResult:
    """One domain's classes, templates and datasets, registered from its spec file."""
    store, paths, domain = react_home.store(), react_home.paths(), context.partition_key
    spec = (paths.resolve(config.spec_file) if config.spec_file
            else registered_spec_path(store, domain))
    declared = load_domain_catalog(spec).domains
    if domain not in [d.name for d in declared]:
        raise dg.Failure(f"{spec} does not declare domain {domain!r} (it declares "
                         f"{', '.join(d.name for d in declared) or 'none'})")
    names = register_domains(store, spec)  # the file registers whole: its other domains too
    spec_domain = next(d for d in declared if d.name == domain)
    return dg.MaterializeResult(metadata=executed_by() | {
        "spec_file": dg.MetadataValue.path(paths.relative(spec)),
        "spec_sha256": file_sha256(spec)[:16],
        "classes": len(spec_domain.classes),
        "templates": len(spec_domain.templates),
        "datasets": ", ".join(d.name for d in spec_domain.datasets),
        "declared_with": ", ".join(n for n in names if n != domain),
    })
