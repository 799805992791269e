"""The modules of core/export import each other without a circle, counting every import: at the top of a
module and inside functions (a function-level import hides a circle from Python, not from a reader). The
shared vocabulary (`base`) imports no other export module, so every one of them may import it."""

from __future__ import annotations

import ast
import os

import layerloom.core.export as export_package

PACKAGE = "layerloom.core.export"


def _modules() -> dict[str, str]:
    """Module name → file, for every module of the package."""
    folder = os.path.dirname(export_package.__file__)
    found = {}
    for name in sorted(os.listdir(folder)):
        if name.endswith(".py"):
            stem = name[:-3]
            found[PACKAGE if stem == "__init__" else f"{PACKAGE}.{stem}"] = os.path.join(folder, name)
    return found


def _imported(module: str, path: str, known: set[str]) -> set[str]:
    """The package's modules that `module` imports anywhere in its text."""
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    package = module if path.endswith("__init__.py") else module.rpartition(".")[0]
    out = set()
    for node in ast.walk(tree):
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


def test_the_graph_sees_the_package_and_its_function_level_imports():
    graph = import_graph()
    assert f"{PACKAGE}.base" in graph and f"{PACKAGE}.bundle" in graph and f"{PACKAGE}.importer" in graph
    # exporter imports the bundle format inside a function: the graph must count it
    assert f"{PACKAGE}.bundle" in graph[f"{PACKAGE}.exporter"]


def test_no_import_circle_in_core_export():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import circle in core/export: " + " → ".join(cycle or [])


def test_the_vocabulary_imports_no_other_export_module():
    assert import_graph()[f"{PACKAGE}.base"] == set()


def test_the_check_finds_a_circle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
