"""Domain specs are versioned: a changed spec under a registered name is refused unless it says
``replace: true``; every version is kept, and what was made under one keeps its digest."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest
import torch
from PIL import Image
from react_assets.metadata.sql import (
    select_domain,
    select_domain_versions,
    select_domain_zeroshot_figures,
    select_latest_domain_models,
    select_retrieval_sets,
)
from tiny_world import TINY_BASE, register_tiny_base

from react_assets.customize.domain import CustomizedModel, RetrievalSet, record_customization
from react_assets.customize.gated import CustomizationConfig, customize_model
from react_assets.customize.model_lineage import model_lineage
from react_assets.customize.official import import_official_checkpoint
from react_assets.customize.train import TrainResult
from react_assets.domains.registry import register_domains, registered_domain
from react_assets.domains.settings import RetrievalConfig
from react_assets.domains.spec import DomainSpecError, parse_domain_catalog
from react_assets.domains.versions import DomainVersionConflict, SpecChange, spec_digest
from react_assets.evaluate.domain import EvaluatedModel, evaluate_domain, store_domain_evaluation
from react_assets.files.paths import ReactPaths
from react_assets.metadata import Store, open_store
from react_assets.models.base import current_base
from react_assets.models.factory import create_base_model
from react_assets.retrieve.sets import store_retrieval_set
from react_assets.tracking.lineage import ModelRef, RunHandle

TINY = TINY_BASE
DIGITS = {"name": "digits", "classes": ["0", "1"], "templates": ["a photo of the number {}."],
          "datasets": [{"name": "digits-test", "path": "eval/digits-test"}]}
FRUIT = {"name": "digits", "classes": ["apple", "banana"], "templates": ["a photo of a {}, a fruit."],
         "datasets": [{"name": "fruit-test", "path": "eval/fruit-test"}]}


def write_spec(folder: Path, domain: dict, name: str = "digits.yaml") -> Path:
    """A spec file of one domain, with a red and a blue image per class of each dataset."""
    for dataset in domain.get("datasets", []):
        for cls, color in zip(domain["classes"], ((255, 0, 0), (0, 0, 255)), strict=False):
            (folder / dataset["path"] / cls).mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (8, 8), color).save(folder / dataset["path"] / cls / "0.png")
    spec = folder / name
    spec.write_text(json.dumps({"domains": [domain]}) if name.endswith(".json")
                    else f"domains:\n  - {json.dumps(domain)}\n")
    return spec


def sql(store: Store, text: str, params: list | None = None) -> list[tuple]:
    """The test's own look at the tables (store-internal SQL)."""
    return store.read(lambda conn: conn.execute(text, params or []).fetchall())


def versions(store: Store, domain: str = "digits") -> list[dict]:
    return store.fetch(select_domain_versions, {"domain": domain})


@pytest.fixture
def home(tmp_path) -> tuple[Store, ReactPaths]:
    paths = ReactPaths(tmp_path / "home").create()
    store = open_store(paths.root)
    register_tiny_base(store)
    return store, paths


# --- the digest and the difference ---------------------------------------------------------------

def parsed(**fields):
    return parse_domain_catalog({"domains": [DIGITS | fields]}, base=Path("/a"), source="s"
                                ).domains[0]


def test_the_digest_covers_what_the_domain_means_and_nothing_else():
    digest = spec_digest(parsed())
    assert len(digest) == 64
    for same in ({"retrieval": {"k_per_query": 7}}, {"variants": ["locked-text"]},
                 {"replace": True}, {"examples": {"0": ["zero.png"]}}):
        assert spec_digest(parsed(**same)) == digest, same
    assert spec_digest(parse_domain_catalog({"domains": [DIGITS]}, base=Path("/moved"))
                       .domains[0]) == digest  # a home copied elsewhere: the same domain
    for other in ({"classes": ["1", "0"]}, {"templates": ["a {}."]}, {"synonyms": {"0": ["zero"]}},
                  {"datasets": [{"name": "digits-test", "path": "x", "metric": "mean-per-class"}]},
                  {"name": "numbers"}):
        assert spec_digest(parsed(**other)) != digest, other


@pytest.mark.parametrize(("old", "new", "templates", "described"), [
    (["0", "1"], ["apple", "banana"], (["t {}"], ["t {}"]),
     "classes renamed: '0' -> 'apple', '1' -> 'banana'"),
    (["0", "1"], ["0", "1", "2"], (["t {}"], ["t {}", "u {}"]),
     "classes added: '2'; templates added: 'u {}'"),
    (["0", "1", "2"], ["1", "2"], (["t {}", "u {}"], ["t {}"]),
     "classes removed: '0'; classes moved (a class's index is its label): '1' 1 -> 0, '2' 2 -> 1; "
     "templates removed: 'u {}'"),
    (["0", "1"], ["1", "0"], (["t {}", "u {}"], ["u {}", "t {}"]),
     "classes moved (a class's index is its label): '1' 1 -> 0, '0' 0 -> 1; templates reordered"),
    (["0", "1"], ["0", "1"], (None, ["t {}"]), ""),  # a domain from before versions: no templates
])
def test_a_change_names_every_class_and_template_difference(old, new, templates, described):
    change = SpecChange.between(old, new, *templates)
    assert change.describe() == described and bool(change) == bool(described)


def test_replace_must_be_a_boolean():
    with pytest.raises(DomainSpecError, match=r"^s: domains\[0\]: 'replace' must be true or "
                                              "false, got 'yes'"):
        parsed(replace="yes")
    assert parsed(replace=True).replace and not parsed().replace


# --- registration --------------------------------------------------------------------------------

def test_a_changed_spec_without_replace_is_refused_with_the_difference_and_nothing_changes(
        home, tmp_path):
    store, _ = home
    spec = write_spec(tmp_path, DIGITS)
    assert register_domains(store, spec) == ["digits"]
    before = (store.snapshot_id(), store.fetch(select_domain, {"domain": "digits"}),
              sql(store, "SELECT * FROM domain_versions"))
    write_spec(tmp_path, FRUIT)

    with pytest.raises(DomainVersionConflict) as refused:
        register_domains(store, spec)
    message = str(refused.value)
    assert message.startswith(f"{spec}: domain 'digits' is registered with other classes or "
                              f"templates (version 1, spec {spec_digest(parsed())[:12]}, registered ")
    assert ("classes renamed: '0' -> 'apple', '1' -> 'banana'; templates added: 'a photo of a {}, "
            "a fruit.'; templates removed: 'a photo of the number {}.'") in message
    assert "add `replace: true` to the domain's entry" in message
    assert message.endswith("Nothing of this file was registered.")
    assert (store.snapshot_id(), store.fetch(select_domain, {"domain": "digits"}),
            sql(store, "SELECT * FROM domain_versions")) == before  # not one commit

    # the file now differs from the registered version: no stage works from it
    with pytest.raises(DomainSpecError, match=r"domain 'digits' in this file is not its registered "
                                              r"version .*classes renamed: '0' -> 'apple'.*"
                                              "register it again"):
        registered_domain(store, "digits")


def test_re_registering_the_identical_spec_writes_nothing(home, tmp_path):
    store, _ = home
    spec = write_spec(tmp_path, DIGITS)
    register_domains(store, spec)
    snapshot, first = store.snapshot_id(), versions(store)
    write_spec(tmp_path, DIGITS | {"retrieval": {"k_per_query": 5}, "replace": True})
    assert register_domains(store, spec) == ["digits"]
    assert store.snapshot_id() == snapshot and versions(store) == first
    assert [(v["version_no"], v["current"]) for v in first] == [(1, True)]
    assert registered_domain(store, "digits").spec.retrieval == {"k_per_query": 5}


def test_a_change_outside_classes_and_templates_is_a_new_version_without_replace(home, tmp_path):
    store, _ = home
    spec = write_spec(tmp_path, DIGITS)
    register_domains(store, spec)
    write_spec(tmp_path, DIGITS | {"synonyms": {"0": ["zero"]}})
    register_domains(store, spec)
    assert [(v["version_no"], v["replaced"], v["current"]) for v in versions(store)] == [
        (2, False, True), (1, False, False)]
    assert registered_domain(store, "digits").digest == spec_digest(parsed(synonyms={"0": ["zero"]}))


def test_a_file_registers_whole_or_not_at_all(home, tmp_path):
    store, _ = home
    register_domains(store, write_spec(tmp_path, DIGITS))
    both = tmp_path / "both.json"
    both.write_text(json.dumps({"domains": [{**FRUIT, "datasets": []},
                                            {**DIGITS, "name": "letters", "datasets": []}]}))
    with pytest.raises(DomainVersionConflict):
        register_domains(store, both)
    assert store.fetch(select_domain, {"domain": "letters"}) == []


# --- replace: true -------------------------------------------------------------------------------

class OfflineWriter:
    """The lineage calls of record_customization, answered without MLflow."""

    def log_retrieval_input(self, run, **kwargs) -> None:
        pass

    def log_parent_model(self, run, parent: str) -> None:
        pass

    def log_curve(self, run, key, values, steps) -> None:
        pass

    def log_metrics(self, run, metrics) -> None:
        pass

    def log_model(self, run, model_dir: Path, registered_name: str) -> ModelRef:
        return ModelRef(f"models:/{registered_name}/1", registered_name, 1, "m-0", run.run_id,
                        str(model_dir))


def retrieve(store: Store, pair_ids: list[int]) -> str:
    """A retrieval set of the domain's current version, written as retrieve_for_domain does."""
    registered = registered_domain(store, "digits")
    rows = pa.Table.from_pylist([
        {"domain": "digits", "class_index": i % 2, "class_name": registered.spec.classes[i % 2],
         "pair_id": pid, "score": 1.0, "rank": i // 2, "mode": "text-to-image"}
        for i, pid in enumerate(pair_ids)])
    return store_retrieval_set(store, domain="digits", rows=rows, config=RetrievalConfig(),
                               base_model_id=current_base(store).model_id, n_queries=2,
                               stats={}, spec_digest=registered.digest)


def customize(store: Store, paths: ReactPaths, variant: str) -> str:
    """A customization of the domain's current version, recorded by record_customization."""
    registered = registered_domain(store, "digits")
    base = current_base(store)
    folder = paths.customization(base.model_id, "digits", variant) / "model"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "customization.json").write_text(json.dumps({"num_parameters": 3}))
    made = CustomizedModel(
        f"react-digits-{variant}@{registered.digest[:8]}", base.model_id, "digits", variant,
        folder, TrainResult([0.5], [1e-3], 1, 0, 1.0, 1.0, 0.0),
        RetrievalSet.of_domain(store, "digits", spec_digest=registered.digest), registered.digest)
    record_customization(store, OfflineWriter(), RunHandle(f"run-{variant}", "0", variant), base,
                         made, {}, "dagster-run")
    return made.model_id


def evaluate(store: Store) -> int:
    """The base model on the domain's datasets, evaluated and stored as the zeroshot_eval asset
    does."""
    base = current_base(store)
    models = [EvaluatedModel(base.model_id, "base", create_base_model(base.config))]
    return store_domain_evaluation(
        store, evaluate_domain(registered_domain(store, "digits"), models, batch_size=4), models)


def import_official(store: Store, paths: ReactPaths, tmp_path: Path) -> str:
    model = customize_model(create_base_model(TINY).model,
                            CustomizationConfig(variant="gated-image", num_gated_blocks=1))
    torch.save({"state_dict": model.state_dict()}, tmp_path / "official.pt")
    return import_official_checkpoint(store, paths, current_base(store), tmp_path / "official.pt",
                                      domain="digits").model_id


def spec_digests(store: Store, table: str, key: str) -> dict[str, str | None]:
    return dict(sql(store, f"SELECT {key}, spec_digest FROM {table} ORDER BY {key}"))


def test_replace_makes_a_new_current_version_and_what_was_made_keeps_its_own(home, tmp_path):
    store, paths = home
    spec = write_spec(tmp_path, DIGITS)
    register_domains(store, spec)
    old = registered_domain(store, "digits").digest
    old_set = retrieve(store, [0, 1, 2, 3])
    old_model = customize(store, paths, "locked-text")
    imported = import_official(store, paths, tmp_path)
    assert evaluate(store) == 1

    write_spec(tmp_path, FRUIT | {"replace": True})
    assert register_domains(store, spec) == ["digits"]
    new = registered_domain(store, "digits").digest
    assert new == spec_digest(parsed(**FRUIT)) != old
    assert [(v["version_no"], v["spec_digest"], v["replaced"], v["current"],
             json.loads(v["spec"])["classes"]) for v in versions(store)] == [
        (2, new, True, True, ["apple", "banana"]), (1, old, False, False, ["0", "1"])]
    assert store.fetch(select_domain, {"domain": "digits"})[0]["spec_digest"] == new

    # the newest set answers the old classes: no model of the new version is made from it
    with pytest.raises(ValueError, match=rf"retrieved for spec version {old[:12]}, not the "
                                         rf"current {new[:12]} .*materialize retrieved_pairs"):
        customize(store, paths, "gated-image")
    new_set = retrieve(store, [0, 1, 2, 3])  # the same pairs under other classes: another set
    new_model = customize(store, paths, "gated-image")
    assert evaluate(store) == 1

    assert new_set != old_set
    assert {r["set_digest"]: r["spec_digest"] for r in
            store.fetch(select_retrieval_sets, {"domain": "digits"})} == {old_set: old, new_set: new}
    assert spec_digests(store, "models", "model_id") == {
        current_base(store).model_id: None, old_model: old, imported: old, new_model: new}
    assert sql(store, "SELECT dataset, spec_digest FROM evaluations ORDER BY dataset") == [
        ("digits-test", old), ("fruit-test", new)]  # the base's figures under each version

    # what reads "the domain" reads its current version
    assert [r["model_id"] for r in store.fetch(select_latest_domain_models,
                                               {"domain": "digits"})] == [new_model]
    assert [r["dataset"] for r in store.fetch(select_domain_zeroshot_figures,
                                              {"domain": "digits"})] == ["fruit-test"]
    # and a model's lineage names the version it answers
    before, after = model_lineage(store, old_model), model_lineage(store, new_model)
    assert (before.spec_digest, before.spec_classes, before.spec_templates) == (
        old, ("0", "1"), ("a photo of the number {}.",))
    assert (after.spec_digest, after.spec_classes) == (new, ("apple", "banana"))
    assert (before.retrieval_digest, after.retrieval_digest) == (old_set, new_set)
    assert model_lineage(store, imported).spec_classes == ("0", "1")
