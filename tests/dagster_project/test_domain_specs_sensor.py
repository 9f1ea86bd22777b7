"""domain_specs_sensor evaluated in-process: a tick reads spec files and asks for the runs that
register them; it writes nothing (each tick is checked to leave REACT_HOME as it was)."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
from sensor_ticks import apply_partitions, record, run, tick

from dagster_project import sensors
from dagster_project.partitions import domain_partitions
from react_assets.domains.registry import registered_domain
from react_assets.files.paths import ReactPaths
from react_assets.metadata import open_store

GOOD_SPEC = """domains:
  - name: {name}
    classes: [cat, dog]
    templates: ['a photo of a {{}}.']
"""


def write_spec(home: ReactPaths, filename: str, text: str) -> Path:
    spec = home.incoming_specs / filename
    spec.write_text(text)
    return spec


def test_a_new_spec_asks_for_its_registration_and_writes_nothing(instance, home, defs):
    write_spec(home, "pets.yaml", GOOD_SPEC.format(name="pets"))
    result = tick(sensors.domain_specs_sensor, instance, home)  # REACT_HOME unchanged: no row
    [request] = result.run_requests
    assert request.partition_key == "pets"
    assert request.asset_selection == [dg.AssetKey("domain_spec")]  # no index yet
    assert [list(r.partition_keys) for r in result.dynamic_partitions_requests] == [["pets"]]
    apply_partitions(instance, result)
    assert run(defs, instance, request).success
    domain = registered_domain(open_store(home.root), "pets")
    assert domain.spec.classes == ("cat", "dog")
    again = tick(sensors.domain_specs_sensor, instance, home, result.cursor)
    assert again.skip_reason.skip_message == "no new domain spec"


def test_once_a_base_model_and_an_index_exist_a_new_spec_is_also_customized(instance, home):
    record(instance, "base_model")
    record(instance, "knn_index")
    write_spec(home, "pets.json", json.dumps({"domains": [{
        "name": "pets", "classes": ["cat"], "templates": ["a {}."]}]}))
    [request] = tick(sensors.domain_specs_sensor, instance, home).run_requests
    assert request.asset_selection is None  # domain_spec_job: registration, then the domain
    assert request.run_config["ops"]["domain_spec"]["config"] == {
        "spec_file": "domains/incoming/pets.json"}


def test_a_bad_spec_is_reported_once_and_does_not_stop_a_good_one(instance, home):
    write_spec(home, "broken.yaml", "domains:\n  - name: Bad Name\n    classes: [a]\n"
                                    "    templates: ['{}']\n")
    first = tick(sensors.domain_specs_sensor, instance, home)
    assert not first.run_requests and not first.dynamic_partitions_requests
    assert "broken.yaml: domains[0]: name 'Bad Name' must match" in first.skip_reason.skip_message
    write_spec(home, "pets.yaml", GOOD_SPEC.format(name="pets"))
    second = tick(sensors.domain_specs_sensor, instance, home, first.cursor)
    assert [r.partition_key for r in second.run_requests] == ["pets"]  # broken one not re-read
    write_spec(home, "broken.yaml", GOOD_SPEC.format(name="birds"))  # fixed: digest changed
    third = tick(sensors.domain_specs_sensor, instance, home, second.cursor)
    assert [r.partition_key for r in third.run_requests] == ["birds"]


def test_a_spec_with_an_upper_case_suffix_is_read(instance, home):
    write_spec(home, "pets.YAML", GOOD_SPEC.format(name="pets"))
    result = tick(sensors.domain_specs_sensor, instance, home)
    assert [r.partition_key for r in result.run_requests] == ["pets"]
    assert instance.get_dynamic_partitions(domain_partitions.name) == []  # the daemon adds it


def test_a_new_home_has_the_spec_folder_and_a_tick_never_makes_it(instance, home):
    assert home.incoming_specs == home.root / "domains" / "incoming" and home.incoming_specs.is_dir()
    assert tick(sensors.domain_specs_sensor, instance, home).skip_reason.skip_message == (
        "no new domain spec")
    home.incoming_specs.rmdir()  # removed by hand: named in the tick, not made again by it
    message = tick(sensors.domain_specs_sensor, instance, home).skip_reason.skip_message
    assert message.startswith("no folder ") and message.endswith(
        "domains/incoming: spec files go there")
    assert not home.incoming_specs.exists()


def test_a_linked_spec_is_refused_unread(instance, home, tmp_path):
    (home.incoming_specs / "pets.yaml").symlink_to(tmp_path / "elsewhere.yaml")
    result = tick(sensors.domain_specs_sensor, instance, home)
    assert not result.run_requests
    assert "pets.yaml is a symbolic link, not read" in result.skip_reason.skip_message
