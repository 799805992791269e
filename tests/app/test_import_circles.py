"""No module of Layerloom imports itself round a circle, counting every import that runs: at the top of a
module and inside functions (a function-level import hides a circle from Python, not from a reader); imports
under `if TYPE_CHECKING` (annotations only) do not count, and `from package import module` imports the module.
The export formats' shared vocabulary (`core/export/base.py`) imports no other export module, so every one of
them may import it."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FLOORS = ("core", "gui", "app", "resources")
PACKAGE = "layerloom.core.export"


def _modules() -> dict[str, str]:
    """Module name → file, for every module under the floors (layerloom.core.export.base → core/export/base.py)."""
    found = {}
    for floor in FLOORS:
        for path in sorted((ROOT / floor).rglob("*.py")):
            if "__pycache__" in path.parts:
                continue
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(["layerloom", *parts])] = str(path)
    return found


def _annotations_only(tree: ast.AST) -> set[int]:
    """ids of the nodes under `if TYPE_CHECKING:` (imports for annotations, never run)."""
    return {id(n) for block in ast.walk(tree)
            if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
            for stmt in block.body for n in ast.walk(stmt)}


def _imported(module: str, path: str, known: set[str]) -> set[str]:
    """The package's modules that `module` imports anywhere in its text."""
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    package = module if path.endswith("__init__.py") else module.rpartition(".")[0]
    skip = _annotations_only(tree)
    out = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{base}.{node.module}" if node.module else base
            else:
                base = node.module or ""
            subs = [f"{base}.{alias.name}" for alias in node.names]
            names = [s for s in subs if s in known] or [base]  # `from pkg import mod` imports mod
        else:
            continue
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name != module:
                out.add(name)
    return out


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {m: _imported(m, p, known) for m, p in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle as [a, b, …, a], or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_the_graph_sees_every_floor_and_the_function_level_imports():
    graph = import_graph()
    assert len(graph) > 150 and "layerloom.app.cli" in graph and "layerloom.gui.editor" in graph
    assert f"{PACKAGE}.base" in graph and f"{PACKAGE}.bundle" in graph and f"{PACKAGE}.importer" in graph
    # exporter imports the bundle format inside a function: the graph must count it
    assert f"{PACKAGE}.bundle" in graph[f"{PACKAGE}.exporter"]
    # the commands' table names the editor for annotations only: that is not an import that runs
    assert "layerloom.gui.editor" not in graph["layerloom.gui.commands"]
    assert "layerloom.gui.commands" in graph["layerloom.gui.editor"]


def test_no_import_circle_anywhere():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import circle: " + " → ".join(cycle or [])


def test_the_vocabulary_imports_no_other_export_module():
    imported = import_graph()[f"{PACKAGE}.base"]
    assert "layerloom.core.errors" in imported  # it does import what lies below the export package
    assert {m for m in imported if m == PACKAGE or m.startswith(PACKAGE + ".")} == set()


def test_the_check_finds_a_circle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
