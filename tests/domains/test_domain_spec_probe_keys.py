"""The spec keys the probes and REAL's baselines read: a dataset's train split, class synonyms,
and the baseline variants."""

from __future__ import annotations

from pathlib import Path

import pytest

from react_assets.domains.spec import DomainSpecError, parse_domain_catalog


def catalog(**domain_keys):
    entry = {"name": "fashion", "classes": ["trouser", "bag"], "templates": ["a {}."],
             "datasets": [{"name": "fashion-test", "path": "eval/test", "train": "eval/train"}]}
    return parse_domain_catalog({"domains": [entry | domain_keys]}, base=Path("/w"))


def test_a_dataset_names_its_train_split_resolved_against_the_spec():
    dataset = catalog().get("fashion").datasets[0]
    assert dataset.train == Path("/w/eval/train")
    train = dataset.train_split()
    assert (train.name, train.path, train.metric) == ("fashion-test:train", Path("/w/eval/train"),
                                                      "accuracy")
    assert train.train_split() is None


def test_synonyms_and_baseline_variants():
    domain = catalog(synonyms={"trouser": ["pants", "trouser", "slacks"]},
                     variants=["real-prompt", "real-linear", "gated-image"]).get("fashion")
    assert domain.names_of("trouser") == ("trouser", "pants", "slacks")
    assert domain.names_of("bag") == ("bag",)
    assert domain.variants == ("real-prompt", "real-linear", "gated-image")


@pytest.mark.parametrize("synonyms", [{"shoe": ["boot"]}, {"bag": "purse"}, {"bag": [""]}])
def test_bad_synonyms_are_refused(synonyms):
    with pytest.raises(DomainSpecError):
        catalog(synonyms=synonyms)
