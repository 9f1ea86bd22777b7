"""The one gate of the tests that start the cluster profile's services: they run in CI
(``CI=true``, as ``.ci/run`` sets) or with ``REACT_CLUSTER_TESTS=1``, on a machine with what the
cluster needs."""

from __future__ import annotations

import os

import pytest

from devtools.cluster import missing_requirements


def skip_unless_cluster_tests(what: str) -> None:
    """Skip the calling test module unless the cluster tests are asked for and can run."""
    if os.environ.get("REACT_CLUSTER_TESTS") != "1" and os.environ.get("CI") != "true":
        pytest.skip(f"{what} runs in CI (CI=true) or with REACT_CLUSTER_TESTS=1",
                    allow_module_level=True)
    missing = missing_requirements()
    if missing:
        pytest.skip(f"cluster profile needs: {', '.join(missing)} (scripts/setup.sh installs them)",
                    allow_module_level=True)
