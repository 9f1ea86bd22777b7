"""The domain_specs_sensor reports, in its tick, a spec that would change a registered domain's
classes without ``replace: true`` (and asks no run for it); with ``replace: true`` it asks the
run that registers the new version. The tick reads the metadata and writes nothing."""

from __future__ import annotations

import dagster as dg
from react_assets.metadata.sql import select_domain_versions

from dagster_project import sensors
from dagster_project.resources import ReactHomeResource
from react_assets.domains.registry import register_domains
from react_assets.files.paths import ReactPaths
from react_assets.metadata import Catalog, open_store

SPEC = """domains:
  - name: pets
    classes: {classes}
    templates: ['a photo of a {{}}.']
{extra}"""


def tick(instance, home: ReactPaths, cursor: str | None = None) -> dg.SensorResult:
    context = dg.build_sensor_context(
        instance=instance, cursor=cursor,
        resources={"react_home": ReactHomeResource(root=str(home.root))})
    result = sensors.domain_specs_sensor(context)
    assert isinstance(result, dg.SensorResult)
    return result


def test_a_refused_replacement_is_reported_in_the_tick_and_replace_asks_its_run(
        instance, tmp_path):
    home = ReactPaths(tmp_path / "home")
    spec = home.domains / "incoming" / "pets.yaml"
    spec.parent.mkdir(parents=True)
    spec.write_text(SPEC.format(classes="[cat, dog]", extra=""))
    first = tick(instance, home)  # a home without metadata: nothing to check, nothing created
    assert [r.partition_key for r in first.run_requests] == ["pets"]
    assert not Catalog(home.root).sqlite_path.exists()
    store = open_store(home.root)
    register_domains(store, spec)  # what the requested domain_spec run does
    snapshot = store.snapshot_id()

    spec.write_text(SPEC.format(classes="[cat, bird]", extra=""))
    second = tick(instance, home, first.cursor)
    assert not second.run_requests
    message = second.skip_reason.skip_message
    assert message.startswith(f"domain spec rejected: {spec.resolve()}: domain 'pets' is "
                              "registered with other classes or templates (version 1, ")
    assert "classes renamed: 'dog' -> 'bird'" in message and "`replace: true`" in message
    assert tick(instance, home, second.cursor).skip_reason.skip_message == "no new domain spec"

    spec.write_text(SPEC.format(classes="[cat, bird]", extra="    replace: true\n"))
    third = tick(instance, home, second.cursor)
    assert [r.partition_key for r in third.run_requests] == ["pets"]
    assert store.snapshot_id() == snapshot  # the ticks wrote nothing
    register_domains(store, spec)
    assert [(v["version_no"], v["replaced"], v["current"])
            for v in store.fetch(select_domain_versions, {"domain": "pets"})] == [
        (2, True, True), (1, False, False)]
