"""bench/ is a package of runnable benches: each ``python -m bench.<kind>.<name>`` imports
through the package (no edits of ``sys.path``) and answers ``--help``."""

from __future__ import annotations

import ast
import contextlib
import importlib
import io
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
KINDS = ("speed", "experiments", "load")


def bench_modules() -> list[str]:
    """Every runnable bench: a module of a kind's folder, or a package of it with __main__."""
    found = []
    for kind in KINDS:
        for path in sorted((REPO / "bench" / kind).iterdir()):
            if path.suffix == ".py" and path.stem != "__init__":
                found.append(f"bench.{kind}.{path.stem}")
            elif (path / "__main__.py").is_file():
                found.append(f"bench.{kind}.{path.name}.__main__")
    return found


def test_every_kind_has_its_benches():
    modules = bench_modules()
    for kind in KINDS:
        assert any(m.startswith(f"bench.{kind}.") for m in modules), kind
    assert "bench.speed.metadata.__main__" in modules and "bench.load.demo" in modules


@pytest.mark.parametrize("module", bench_modules())
def test_a_bench_imports_and_answers_help(module, monkeypatch):
    bench = importlib.import_module(module)
    monkeypatch.setattr(sys, "argv", [module, "--help"])
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as done:
        bench.main()
    assert done.value.code == 0
    assert out.getvalue().startswith("usage:")


def test_nothing_in_bench_edits_sys_path():
    files = [*(REPO / "bench").rglob("*.py"), *(REPO / "tests").glob("test_bench_*.py")]
    edits = [f"{path.relative_to(REPO)}:{node.lineno}" for path in files
             for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
             if isinstance(node, ast.Attribute) and node.attr == "path"
             and isinstance(node.value, ast.Name) and node.value.id == "sys"]
    assert not edits, edits
