"""The library's layers: no Dagster, stages in the data's order, no import circle."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

LIBRARY = Path(__file__).resolve().parents[1] / "react_assets"
# The stages in the order the data flows through them: each may import the ones before it.
STAGES = ("corpus", "embed", "index", "domains", "retrieve", "customize", "evaluate")
# Shared infrastructure: imported by any stage, imports no stage.
INFRASTRUCTURE = ("files", "metadata", "tracking", "models")
DEMO = "demo"  # builds the offline world from infrastructure alone

SCRIPT = """
import importlib, pkgutil, sys
import react_assets
for module in pkgutil.walk_packages(react_assets.__path__, "react_assets."):
    importlib.import_module(module.name)
loaded = sorted(m for m in sys.modules if m == "dagster" or m.startswith("dagster."))
print(len([m for m in sys.modules if m.startswith("react_assets")]), loaded)
assert not loaded, loaded
"""


def library_modules() -> dict[str, Path]:
    """Dotted name -> file of every module of the library."""
    out = {}
    for path in sorted(LIBRARY.rglob("*.py")):
        parts = path.relative_to(LIBRARY.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    out["react_assets.metadata.sql"] = LIBRARY.parent / "sql" / "__init__.py"  # shipped there
    return out


def imported_modules(path: Path, *, top_level_only: bool = False) -> list[tuple[int, str]]:
    """(line, dotted name) of every react_assets module a file imports."""
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    modules = library_modules()
    found = []
    for node in nodes:
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("react_assets")]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("react_assets"):
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                found.append((node.lineno, candidate if candidate in modules else node.module))
    return found


def component(dotted: str) -> str:
    parts = dotted.split(".")
    return parts[1] if len(parts) > 1 else ""


def allowed(importer: str, imported: str) -> bool:
    if imported in ("", importer) or imported in INFRASTRUCTURE:
        return True
    if importer in INFRASTRUCTURE or importer == DEMO:
        return False
    if importer in STAGES and imported in STAGES:
        return STAGES.index(imported) < STAGES.index(importer)
    return False


def test_every_library_package_has_a_place_in_the_layers():
    packages = {component(name) for name in library_modules()} - {""}
    assert packages <= set(STAGES) | set(INFRASTRUCTURE) | {DEMO}, (
        packages - set(STAGES) - set(INFRASTRUCTURE) - {DEMO})


def test_a_stage_imports_only_earlier_stages_and_infrastructure():
    wrong = []
    for name, path in library_modules().items():
        for line, imported in imported_modules(path):
            if not allowed(component(name), component(imported)):
                wrong.append(f"{path.relative_to(LIBRARY.parent)}:{line} imports {imported}")
    assert not wrong, "\n".join(wrong)


def test_the_layering_rule_rejects_a_later_stage_and_a_stage_in_infrastructure():
    assert allowed("evaluate", "retrieve") and allowed("retrieve", "metadata")
    assert not allowed("retrieve", "customize")
    assert not allowed("corpus", "embed")
    assert not allowed("models", "customize")
    assert not allowed("demo", "retrieve")


def test_the_library_top_level_holds_only_packages():
    loose = sorted(p.name for p in LIBRARY.glob("*.py") if p.name != "__init__.py")
    assert not loose, f"modules outside a package: {loose}"


def test_no_import_circle_between_library_modules():
    modules = library_modules()
    graph = {name: {m for _, m in imported_modules(path, top_level_only=True) if m in modules}
             for name, path in modules.items()}
    # A package's __init__ is imported with each of its modules; they import nothing from it.
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in graph[node]:
            if state.get(nxt) == 1:
                pytest.fail("import circle: " + " -> ".join(stack[stack.index(nxt):] + [nxt]))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in graph:
        if node not in state:
            visit(node)


def test_library_never_imports_dagster():
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    n_modules = int(result.stdout.split()[0])
    assert n_modules >= 5


def test_parsing_a_domain_spec_imports_neither_torch_nor_faiss():
    script = ("import sys, react_assets.domains.spec, react_assets.domains.registry; "
              "print(sorted(m for m in ('torch', 'faiss', 'open_clip') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("folder", ["bench"])
def test_bench_imports_only_the_library(folder):
    root = LIBRARY.parent / folder
    wrong = [f"{path.relative_to(root)}:{node.lineno}" for path in root.rglob("*.py")
             for node in ast.walk(ast.parse(path.read_text()))
             if isinstance(node, (ast.Import, ast.ImportFrom))
             and any((getattr(node, "module", None) or a.name).split(".")[0]
                     in ("dagster_project", "tests", "dagster") for a in node.names)]
    assert not wrong, wrong


def test_pyproject_ships_every_package():
    import tomllib

    pyproject = tomllib.loads((LIBRARY.parent / "pyproject.toml").read_text())
    listed = set(pyproject["tool"]["setuptools"]["packages"])
    on_disk = {".".join(p.parent.relative_to(LIBRARY.parent).parts)
               for root in ("react_assets", "dagster_project")
               for p in (LIBRARY.parent / root).rglob("__init__.py")}
    assert on_disk | {"react_assets.metadata.sql"} == listed
