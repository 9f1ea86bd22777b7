"""The tests mirror the packages: each package of the library (``react_assets/<pkg>/``) and the
orchestration (``dagster_project/``) has its folder of tests, ``tests/<pkg>/``, holding at least one
test of the fast tier (``pytest -m "not slow"``)."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TESTS = REPO / "tests"


def packages() -> list[str]:
    library = sorted(p.parent.name for p in (REPO / "react_assets").glob("*/__init__.py"))
    return [*library, "dagster_project"]


def _marks_slow(decorators: list[ast.expr]) -> bool:
    return any("mark.slow" in ast.unparse(d) for d in decorators)


def fast_tests(module: Path) -> list[str]:
    """The test functions of a module that are not marked slow (by ``pytestmark`` or decorator)."""
    tree = ast.parse(module.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "pytestmark" for t in node.targets
        ):
            if "mark.slow" in ast.unparse(node.value):
                return []
    return [
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.name.startswith("test_")
        and not _marks_slow(node.decorator_list)
    ]


def test_every_package_has_a_tests_folder_with_a_fast_test():
    missing = {}
    for package in packages():
        folder = TESTS / package
        fast = [name for module in sorted(folder.glob("test_*.py")) for name in fast_tests(module)]
        if not fast:
            missing[package] = "no folder" if not folder.is_dir() else "no fast test"
    assert not missing, f"packages without a fast test in tests/<package>/: {missing}"


def test_a_module_marked_slow_has_no_fast_test(tmp_path):
    slow = tmp_path / "test_slow.py"
    slow.write_text("import pytest\npytestmark = pytest.mark.slow\ndef test_a(): pass\n")
    mixed = tmp_path / "test_mixed.py"
    mixed.write_text(
        "import pytest\n@pytest.mark.slow\ndef test_a(): pass\ndef test_b(): pass\ndef helper(): pass\n"
    )
    assert fast_tests(slow) == [] and fast_tests(mixed) == ["test_b"]
