"""A domain spec may fix how its domain is retrieved and which models are trained for it."""

from __future__ import annotations

from pathlib import Path

import pytest

from react_assets.domains.settings import RetrievalConfig
from react_assets.domains.spec import DomainSpecError, parse_domain_catalog
from react_assets.retrieve.domain import domain_retrieval_config

BASE = {"name": "pets", "classes": ["cat", "dog"], "templates": ["a photo of a {}."]}


def parse(**fields):
    return parse_domain_catalog({"domains": [BASE | fields]}, base=Path("."), source="s.yaml"
                                ).domains[0]


def test_a_spec_without_settings_leaves_them_to_the_asset_config():
    domain = parse()
    assert domain.retrieval == {} and domain.variants == ()
    assert domain_retrieval_config(domain) == RetrievalConfig()
    assert domain_retrieval_config(domain, mode="text-to-text", k_per_query=None) == (
        RetrievalConfig(mode="text-to-text"))


def test_spec_settings_apply_and_explicit_config_wins():
    domain = parse(retrieval={"mode": "text-to-text", "k_per_query": 200,
                              "near_duplicate_threshold": 0.99},
                   variants=["gated-image", "locked-text"])
    assert domain.variants == ("gated-image", "locked-text")
    assert domain_retrieval_config(domain) == RetrievalConfig(
        mode="text-to-text", k_per_query=200, near_duplicate_threshold=0.99)
    assert domain_retrieval_config(domain, k_per_query=10, mode=None) == RetrievalConfig(
        mode="text-to-text", k_per_query=10, near_duplicate_threshold=0.99)


def test_an_integer_threshold_is_a_float():
    assert parse(retrieval={"near_duplicate_threshold": 1}).retrieval == {
        "near_duplicate_threshold": 1.0}


@pytest.mark.parametrize(("fields", "message"), [
    ({"retrieval": {"mode": "by-magic"}}, "retrieval: RetrievalConfig.mode must be one of"),
    ({"retrieval": {"k": 5}}, "unknown retrieval setting 'k'"),
    ({"retrieval": {"k_per_query": "5"}}, "retrieval.k_per_query must be an integer"),
    ({"retrieval": {"k_per_query": True}}, "retrieval.k_per_query must be an integer"),
    ({"retrieval": {"max_per_class": 0}}, "max_per_class must be >= 1"),
    ({"retrieval": {"k_per_query": 0}}, "k_per_query must be >= 1"),
    ({"retrieval": {"near_duplicate_threshold": 1.5}}, "near_duplicate_threshold must be in (0, 1], got 1.5"),
    ({"retrieval": ["text-to-text"]}, "'retrieval' must be a mapping"),
    ({"variants": ["gated-image", "gated-image"]}, "'variants' must be distinct names"),
    ({"variants": ["lora"]}, "'variants' must be distinct names"),
    ({"variants": "gated-image"}, "'variants' must be a list"),
])
def test_bad_settings_are_refused_with_the_file_and_field(fields, message):
    with pytest.raises(DomainSpecError) as err:
        parse(**fields)
    assert str(err.value).startswith("s.yaml: domains[0]: ") and message in str(err.value)


def test_the_spec_takes_every_numeric_and_choice_field_of_retrieval_config():
    import dataclasses

    from react_assets.domains.spec import RETRIEVAL_KEYS

    settable = {f.name for f in dataclasses.fields(RetrievalConfig)} - {"dedupe_by_image_hash"}
    assert set(RETRIEVAL_KEYS) == settable
    assert RETRIEVAL_KEYS["mode"] is str and RETRIEVAL_KEYS["max_per_class"] is int
