"""The long fuzz campaign of the domain-spec parser (issue 14).

In CI (``CI=true``) the campaign test runs ``fuzz_support.CAMPAIGN_EXAMPLES`` (10,000)
derandomized cases (5,000 leave a line of the parser unrun), elsewhere
``fuzz_support.DEV_EXAMPLES`` (300); ``REACT_FUZZ_EXAMPLES=n`` sets n. It reuses the generators
of ``test_fuzz_domains``. Property, per case: a catalog or a ``DomainSpecError`` that names the
file, within the time limit; when a catalog loads, no key of the document was ignored (no silent
loss).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from fuzz_support import campaign_settings, time_limit
from hypothesis import event, given
from hypothesis import strategies as st
from test_fuzz_domains import VALID as VALID_SPEC
from test_fuzz_domains import YAML_TOKENS, documents, dump, near_valid

from react_assets.domains.spec import (
    CATALOG_KEYS,
    DATASET_KEYS,
    DOMAIN_KEYS,
    RETRIEVAL_KEYS,
    DomainSpecError,
    load_domain_catalog,
)

CAMPAIGN = campaign_settings()


KNOWN = {
    "catalog": set(CATALOG_KEYS),
    "domain": set(DOMAIN_KEYS),
    "dataset": set(DATASET_KEYS),
    "retrieval": set(RETRIEVAL_KEYS),
}


def _items(value: object) -> list:
    return value if isinstance(value, list) else []


def keys_ignored(doc: object) -> list[str]:
    """Keys of a loaded document that the parser does not know (must be empty on success)."""
    if not isinstance(doc, dict):
        return []
    bad = [f"top: {k!r}" for k in doc if k not in KNOWN["catalog"]]
    datasets = [*_items(doc.get("general_datasets")), *_items(doc.get("retrieval_datasets"))]
    for domain in _items(doc.get("domains")):
        if not isinstance(domain, dict):
            continue
        bad += [f"domain: {k!r}" for k in domain if k not in KNOWN["domain"]]
        if isinstance(domain.get("retrieval"), dict):
            bad += [f"retrieval: {k!r}" for k in domain["retrieval"] if k not in KNOWN["retrieval"]]
        datasets += _items(domain.get("datasets"))
    for dataset in datasets:
        if isinstance(dataset, dict):
            bad += [f"dataset: {k!r}" for k in dataset if k not in KNOWN["dataset"]]
    return bad


def load_accounted(path: Path) -> None:
    with time_limit(20):
        try:
            load_domain_catalog(path)
        except DomainSpecError as err:
            assert str(path) in str(err), f"error does not name the file: {err}"
            event("DomainSpecError")
            return
    event("loaded")
    text = path.read_text(encoding="utf-8")  # what the loader read, parsed the plain way
    doc = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    assert keys_ignored(doc) == [], "a key of the spec was silently ignored"


typo_keys = st.sampled_from(
    [
        "retreival",
        "dataset",
        "variant",
        "clases",
        "template",
        "metrc",
        "pth",
        "general_dataset",
        "domain",
        "k_per_querry",
        "Name",
    ]
)


@st.composite
def specs(draw: st.DrawFn) -> tuple[str, bytes]:
    """A random or near-valid document (maybe with a misspelt key), or mutated YAML text."""
    kind = draw(st.sampled_from(["doc", "typo", "text"]))
    if kind == "text":
        text = yaml.safe_dump(VALID_SPEC)
        for where, token in draw(
            st.lists(
                st.tuples(
                    st.integers(0, 10**6), st.one_of(st.sampled_from(YAML_TOKENS), st.text(max_size=5))
                ),
                min_size=1,
                max_size=5,
            )
        ):
            where %= len(text) + 1
            text = text[:where] + token + text[where:]
        return "yaml", text.encode("utf-8", "surrogatepass")
    doc = draw(st.one_of(near_valid(), documents))
    if kind == "typo" and isinstance(doc, dict):
        target = draw(st.sampled_from(["top", "domain", "dataset", "retrieval"]))
        holder = doc
        if (
            target != "top"
            and isinstance(doc.get("domains"), list)
            and doc["domains"]
            and isinstance(doc["domains"][0], dict)
        ):
            holder = doc["domains"][0]
            if target == "retrieval" and isinstance(holder.get("retrieval"), dict):
                holder = holder["retrieval"]
        holder[draw(typo_keys)] = draw(st.sampled_from([[], {}, "x", 1]))
    fmt = draw(st.sampled_from(["json", "yaml"]))
    return fmt, dump(doc, fmt)


def test_a_scalar_tag_on_a_mapping_is_a_spec_error(tmp_path) -> None:
    """Found by this campaign: PyYAML raised AttributeError for ``!!timestamp`` on a mapping."""
    path = tmp_path / "spec.yaml"
    path.write_bytes(b"!!timestamp domains:\n- name: x\n")
    with pytest.raises(DomainSpecError, match="a YAML tag does not fit its value"):
        load_domain_catalog(path)


@pytest.mark.slow
@CAMPAIGN
@given(spec=specs())
def test_campaign_spec_parser(tmp_path_factory, spec: tuple[str, bytes]) -> None:
    fmt, data = spec
    path = tmp_path_factory.getbasetemp() / f"campaign-spec.{fmt}"
    path.write_bytes(data)
    load_accounted(path)
