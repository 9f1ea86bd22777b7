"""The Dagster CLI loads the workspace and materializes the corpus assets."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from react_assets.metadata.sql import count_pairs_by_source
from shard_factory import good_samples, write_shard  # noqa: E402

from react_assets.metadata import open_store

REPO = Path(__file__).resolve().parents[2]
DAGSTER = Path(sys.executable).with_name("dagster")


@pytest.fixture
def cli_env(tmp_path) -> dict[str, str]:
    home = tmp_path / "react-home"
    (home / "dagster_home").mkdir(parents=True)
    shutil.copy(REPO / "dagster_project" / "dagster.yaml", home / "dagster_home" / "dagster.yaml")
    return {**os.environ, "REACT_HOME": str(home), "DAGSTER_HOME": str(home / "dagster_home")}


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    result = subprocess.run([str(DAGSTER), *args], cwd=REPO, env=env, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    return result


@pytest.mark.slow
def test_definitions_validate_with_the_workspace(cli_env):
    result = _run(["definitions", "validate", "-w", "workspace.yaml"], cli_env)
    assert "passed validation" in (result.stdout + result.stderr)


@pytest.mark.slow
def test_corpus_shards_materialize_from_the_cli(cli_env, monkeypatch):
    home = Path(cli_env["REACT_HOME"])
    write_shard(home / "shards" / "cli-00000.tar", good_samples(12))
    monkeypatch.setenv("DAGSTER_HOME", cli_env["DAGSTER_HOME"])
    with dg.DagsterInstance.get() as instance:
        instance.add_dynamic_partitions("shards", ["cli-00000"])
    _run(["asset", "materialize", "-m", "dagster_project.definitions", "--select",
          "corpus_shards", "--partition", "cli-00000"], cli_env)
    rows = open_store(home).fetch(count_pairs_by_source)
    assert rows == [{"source": "test", "n_pairs": 12}]
