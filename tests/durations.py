"""A pytest plugin that writes every run's per-test durations to a JSON file.

The file is ``$REACT_TEST_DURATIONS`` when set, else ``<repo>/var/test-durations.json``; it is
replaced at the end of each run (written whole, then renamed). It holds the run's arguments and
marker expression, its total wall time and exit status, and for each test that ran: its node id,
the seconds of each phase (setup, call, teardown), its outcome and its markers::

    {"total_s": 171.2, "exitstatus": 0, "args": [...], "markexpr": "not slow",
     "counts": {"passed": 480, "skipped": 2},
     "tests": [{"nodeid": "tests/index/test_index.py::test_save_and_load", "total_s": 0.41,
                "phases": {"setup": 0.01, "call": 0.39, "teardown": 0.01},
                "outcome": "passed", "markers": ["parametrize"]}, ...]}
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

ENV_VAR = "REACT_TEST_DURATIONS"
DEFAULT_PATH = Path(__file__).resolve().parents[1] / "var" / "test-durations.json"
# the worst outcome of a test's phases is its outcome
SEVERITY = {"passed": 0, "skipped": 1, "failed": 2}


def durations_path() -> Path:
    """Where this run's durations go: ``$REACT_TEST_DURATIONS``, else var/test-durations.json."""
    return Path(os.environ[ENV_VAR]) if os.environ.get(ENV_VAR) else DEFAULT_PATH


class DurationsRecorder:
    """Collects each test's phase durations, outcome and markers; writes them when the run ends."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.started = time.monotonic()
        self.markers: dict[str, list[str]] = {}
        self.tests: dict[str, dict[str, Any]] = {}

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        for item in items:
            self.markers[item.nodeid] = sorted({mark.name for mark in item.iter_markers()})

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        test = self.tests.setdefault(
            report.nodeid,
            {
                "nodeid": report.nodeid,
                "total_s": 0.0,
                "phases": {},
                "outcome": "passed",
                "markers": self.markers.get(report.nodeid, []),
            },
        )
        test["phases"][report.when] = round(report.duration, 4)
        test["total_s"] = round(sum(test["phases"].values()), 4)
        if SEVERITY[report.outcome] > SEVERITY[test["outcome"]]:
            test["outcome"] = report.outcome

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        tests = list(self.tests.values())
        document = {
            "total_s": round(time.monotonic() - self.started, 2),
            "exitstatus": int(exitstatus),
            "args": [str(arg) for arg in session.config.args],
            "markexpr": session.config.option.markexpr,
            "counts": dict(Counter(t["outcome"] for t in tests)),
            "tests": tests,
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        partial.write_text(json.dumps(document, indent=1) + "\n")
        partial.replace(self.path)


def pytest_configure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):  # a pytest-xdist worker leaves it to the controller
        config.pluginmanager.register(DurationsRecorder(durations_path()), "react-durations")
