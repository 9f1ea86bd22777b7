"""One home with a real MLflow registry for the promotion tests of this folder (a new MLflow
store costs seconds); each test module works on domains of its own."""

from __future__ import annotations

import pytest
from registry_world import RegistryHome, registry_home


@pytest.fixture(scope="session")
def registry(tmp_path_factory) -> RegistryHome:
    return registry_home(tmp_path_factory.mktemp("registry") / "react-home")
