"""Config bounds are part of the config schema: a bad value is refused at launch, before a run
exists (so before any step starts), from Python, the CLI and the UI's GraphQL launch."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from dagster_project import checks
from dagster_project.configs import BoundedNumber
from dagster_project.definitions import ASSET_MODULES, defs
from dagster_project.private_api import ConfigTypeKind

REPO = Path(__file__).resolve().parents[2]
DAGSTER = Path(sys.executable).with_name("dagster")
BAD_CAPTION = {"ops": {"corpus_shards": {"config": {"max_caption_chars": -1}}}}
BAD_K = {"ops": {"retrieved_pairs": {"config": {"k_per_query": -5}}}}


def config_fields() -> list[tuple[str, str, object]]:
    """(node, field, config type without Noneable) of every asset's and check's config."""
    owners = [*dg.load_assets_from_modules(ASSET_MODULES), *checks.ALL_CHECKS]
    nodes = {d.node_def.name: d.node_def for d in owners}
    out = []
    for name, node in nodes.items():
        schema = node.config_schema
        if schema is None or schema.config_type is None or not schema.config_type.kind.has_fields(
                schema.config_type.kind):
            continue
        for field_name, field in schema.config_type.fields.items():
            kind = field.config_type
            while kind.kind == ConfigTypeKind.NONEABLE:
                kind = kind.inner_type
            out.append((name, field_name, kind))
    return out


def test_every_number_field_carries_its_bounds_in_the_schema():
    fields = config_fields()
    numbers = [(n, f, t) for n, f, t in fields
               if t.kind == ConfigTypeKind.SCALAR and t.given_name in ("Int", "Float")
               or isinstance(t, BoundedNumber)]
    assert len(numbers) >= 30  # every asset's and check's numeric settings
    unbounded = [(n, f) for n, f, t in numbers if not isinstance(t, BoundedNumber)]
    assert unbounded == []
    kinds = {(n, f): t for n, f, t in fields}
    assert kinds[("corpus_shards", "max_caption_chars")].given_name == "Int_ge_1"
    assert kinds[("retrieved_pairs", "mode")].kind == ConfigTypeKind.ENUM


@pytest.mark.parametrize(("job", "run_config", "message"), [
    ("corpus_job", BAD_CAPTION, "-1 must be >= 1"),
    ("domain_job", BAD_K, "-5 must be >= 1"),
    ("corpus_job", {"ops": {"corpus_shards": {"config": {"workers": 0}}}}, "0 must be >= 1"),
    ("domain_job", {"ops": {"retrieved_pairs": {"config": {"mode": "text-to-txt"}}}},
     "text-to-txt"),
])
def test_a_bad_value_is_refused_before_a_run_exists(instance, job, run_config, message):
    partitions = "shards" if job == "corpus_job" else "domains"
    instance.add_dynamic_partitions(partitions, ["p"])
    with pytest.raises(dg.DagsterInvalidConfigError) as refused:
        defs.resolve_job_def(job).execute_in_process(run_config=run_config, instance=instance,
                                                     partition_key="p")
    assert message in str(refused.value)
    assert instance.get_runs() == []  # no run, so no step ever started


def test_a_good_value_still_reaches_the_step_as_the_pydantic_object():
    from dagster_project.assets.corpus import CorpusShardsConfig
    from dagster_project.configs import launch_config

    class Context:
        op_config = {"max_caption_chars": 10, "workers": None, "max_image_pixels": None,
                     "max_member_bytes": None, "allow_replace": None}

    config = launch_config(Context(), CorpusShardsConfig)
    assert config.max_caption_chars == 10 and config.workers is None


@pytest.fixture
def cli_env(tmp_path) -> dict[str, str]:
    home = tmp_path / "react-home"
    (home / "dagster_home").mkdir(parents=True)
    shutil.copy(REPO / "dagster_project" / "dagster.yaml", home / "dagster_home" / "dagster.yaml")
    return {**os.environ, "REACT_HOME": str(home), "DAGSTER_HOME": str(home / "dagster_home")}


@pytest.mark.slow
def test_the_cli_refuses_a_bad_value_before_a_run_exists(cli_env, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", cli_env["DAGSTER_HOME"])
    with dg.DagsterInstance.get() as instance:
        instance.add_dynamic_partitions("shards", ["p"])
    done = subprocess.run(
        [str(DAGSTER), "asset", "materialize", "-m", "dagster_project.definitions", "--select",
         "corpus_shards", "--partition", "p", "--config-json",
         '{"ops": {"corpus_shards": {"config": {"max_caption_chars": -1}}}}'],
        cwd=REPO, env=cli_env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode != 0
    assert "-1 must be >= 1" in done.stderr and "max_caption_chars" in done.stderr
    with dg.DagsterInstance.get() as instance:
        assert instance.get_runs() == []


LAUNCH = """
mutation($executionParams: ExecutionParams!) {
  launchPipelineExecution(executionParams: $executionParams) {
    __typename
    ... on RunConfigValidationInvalid { errors { message } }
    ... on PythonError { message }
    ... on LaunchRunSuccess { run { runId } }
  }
}
"""


@pytest.mark.slow
def test_the_ui_launch_refuses_a_bad_value_before_a_run_exists(instance):
    """The launchpad's GraphQL mutation against a code server, as the webserver sends it."""
    from dagster_graphql.test.utils import (
        define_out_of_process_context,
        execute_dagster_graphql,
        infer_job_selector,
    )

    instance.add_dynamic_partitions("shards", ["p"])
    with define_out_of_process_context(str(REPO / "dagster_project" / "definitions.py"), "defs",
                                       instance) as context:
        result = execute_dagster_graphql(context, LAUNCH, {"executionParams": {
            "selector": infer_job_selector(context, "corpus_job"),
            "runConfigData": BAD_CAPTION,
            "executionMetadata": {"tags": [{"key": "dagster/partition", "value": "p"}]},
        }})
    launched = result.data["launchPipelineExecution"]
    assert launched["__typename"] != "LaunchRunSuccess", launched
    assert "-1 must be >= 1" in str(launched)
    assert instance.get_runs() == []
