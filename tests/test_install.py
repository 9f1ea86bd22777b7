"""A non-editable install is complete: its SQL, configs and data ship with it, and the tiny world
runs end to end from it, outside the source tree."""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
from pathlib import Path

import pytest
from tiny_world import TINY_RUN_CONFIG

from react_assets.demo.config import DemoSourcePaths

REPO = Path(__file__).resolve().parents[1]
SKIP = shutil.ignore_patterns(".git", ".venv", "var", "build", "*.egg-info", "__pycache__",
                              ".pytest_cache", ".ruff_cache", "bench", "docs")

RUN = """
import json, sys
from pathlib import Path
import dagster as dg
import react_assets, react_assets.metadata.sql, dagster_project
from dagster_project.definitions import build_definitions
from dagster_project.demo import STAGES, run_pipeline

venv, root, config = Path(sys.argv[1]), sys.argv[2], json.loads(Path(sys.argv[3]).read_text())
for module in (react_assets, react_assets.metadata.sql, dagster_project):
    assert Path(module.__file__).resolve().is_relative_to(venv.resolve()), module.__file__
defs = build_definitions(root)
with dg.instance_for_test() as instance:
    def execute(job, partition, run_config):
        result = defs.resolve_job_def(job).execute_in_process(
            instance=instance, partition_key=partition, run_config=run_config)
        assert result.success, f"{job}[{partition}] failed"
    timings = run_pipeline(instance, execute, config, STAGES)
print(json.dumps({"stages": list(timings), "statements": len(react_assets.metadata.sql.QUERIES)}))
"""


@pytest.mark.slow
def test_a_non_editable_install_runs_the_tiny_world(tmp_path):
    missing = DemoSourcePaths().missing()
    if missing:
        pytest.skip(f"demo world sources not installed: {missing}")
    source = tmp_path / "source"
    shutil.copytree(REPO, source, ignore=SKIP)
    venv = tmp_path / "venv"
    subprocess.run([sys._base_executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=300)
    python = venv / "bin" / "python"
    venv_site = Path(subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True).stdout.strip())
    # The project's dependencies (pip and setuptools too) come from this environment; the
    # project itself does not: its editable-install hook is in a .pth file that is not run.
    (venv_site / "project-dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    install = subprocess.run(
        [python, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index",
         "--disable-pip-version-check", str(source)],
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
        capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, install.stdout[-2000:] + install.stderr[-3000:]
    shutil.rmtree(source)  # nothing may be read from the source tree any more
    config = tmp_path / "run_config.json"
    config.write_text(json.dumps(TINY_RUN_CONFIG))
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run(
        [python, "-c", RUN, str(venv), str(tmp_path / "react-home"), str(config)],
        cwd=work, env=env, capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, result.stderr[-4000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["stages"][-1] == "leaderboard"
    assert report["statements"] == len(list((REPO / "sql" / "queries").glob("*.sql")))
    assert (tmp_path / "react-home" / "reports" / "leaderboard.json").is_file()
