"""The durations plugin (tests/durations.py): a pytest run writes each test's phase times, outcome
and markers, and the run's total, to $REACT_TEST_DURATIONS, else to var/test-durations.json."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import durations

HERE = Path(__file__).resolve().parent

TESTS = textwrap.dedent("""
    import time

    import pytest


    @pytest.fixture
    def slow_setup():
        time.sleep(0.2)


    @pytest.mark.slow
    def test_passes(slow_setup):
        time.sleep(0.1)


    @pytest.mark.parametrize("n", [1])
    def test_fails(n):
        assert n == 2


    @pytest.mark.skip(reason="not today")
    def test_skipped():
        pass
""")


def test_a_run_writes_each_tests_phases_outcome_and_markers(tmp_path):
    (tmp_path / "test_sample.py").write_text(TESTS)
    out = tmp_path / "out" / "durations.json"
    env = {**os.environ, "PYTHONPATH": str(HERE), durations.ENV_VAR: str(out)}
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "durations",
            "-p",
            "no:cacheprovider",
            "-m",
            "not nothing",
            "test_sample.py",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 1, run.stdout[-2000:]  # one test fails
    report = json.loads(out.read_text())
    tests = {t["nodeid"]: t for t in report["tests"]}
    assert list(tests) == [
        "test_sample.py::test_passes",
        "test_sample.py::test_fails[1]",
        "test_sample.py::test_skipped",
    ]
    passed, failed, skipped = tests.values()
    assert (passed["outcome"], failed["outcome"], skipped["outcome"]) == ("passed", "failed", "skipped")
    assert set(passed["phases"]) == {"setup", "call", "teardown"}
    assert passed["phases"]["setup"] >= 0.2 and passed["phases"]["call"] >= 0.1
    assert passed["total_s"] == round(sum(passed["phases"].values()), 4)
    assert set(skipped["phases"]) == {"setup", "teardown"}  # skipped in setup: no call
    assert passed["markers"] == ["slow"] and failed["markers"] == ["parametrize"]
    assert skipped["markers"] == ["skip"]
    assert report["counts"] == {"passed": 1, "failed": 1, "skipped": 1}
    assert report["exitstatus"] == 1 and report["markexpr"] == "not nothing"
    assert report["total_s"] >= passed["total_s"]
    assert not list(out.parent.glob("*.tmp"))  # written whole, then renamed


def test_the_file_is_var_test_durations_unless_the_variable_names_one(monkeypatch, tmp_path):
    monkeypatch.delenv(durations.ENV_VAR, raising=False)
    assert durations.durations_path() == HERE.parent / "var" / "test-durations.json"
    monkeypatch.setenv(durations.ENV_VAR, str(tmp_path / "d.json"))
    assert durations.durations_path() == tmp_path / "d.json"
