"""The library never imports Dagster."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import importlib, pkgutil, sys
import react_assets
for module in pkgutil.walk_packages(react_assets.__path__, "react_assets."):
    importlib.import_module(module.name)
loaded = sorted(m for m in sys.modules if m == "dagster" or m.startswith("dagster."))
print(len([m for m in sys.modules if m.startswith("react_assets")]), loaded)
assert not loaded, loaded
"""


def test_library_never_imports_dagster():
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    n_modules = int(result.stdout.split()[0])
    assert n_modules >= 5
