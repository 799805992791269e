"""The floors of the house, checked statically: every import of every module under core/, gui/, app/ and
resources/ (top level, inside functions and methods, under `if TYPE_CHECKING` or `try`, relative ones resolved,
module names passed to `importlib.import_module` and module-name strings) against the rules:

    core       imports neither layerloom.gui nor layerloom.app, and no Qt (PySide6, shiboken6, pyqtgraph)
    gui        never imports layerloom.app
    resources  imports nothing of layerloom (it is data that every floor reads)

tests/app/test_core_import.py proves the same line at run time (core imports with Qt blocked); this test also
sees the imports that only run inside a function, which that one cannot.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "layerloom"
FLOORS = ("core", "gui", "app", "resources")
QT = ("PySide6", "PySide2", "PyQt5", "PyQt6", "shiboken6", "shiboken2", "pyqtgraph")
MODULE_NAME = re.compile(r"layerloom(\.[A-Za-z_][A-Za-z0-9_]*)+")
IMPORT_FUNCTIONS = ("import_module", "__import__", "find_spec")


@dataclass(frozen=True)
class Import:
    """One module a file imports (or names for importing): the file relative to the root, the line, the module."""

    file: str
    line: int
    module: str


def module_of(root: Path, path: Path) -> str:
    """The dotted name a file under `root` is installed as: core/cli.py → layerloom.core.cli."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([PACKAGE, *parts])


def _resolve(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    package = module.split(".") if is_package else module.split(".")[:-1]
    base = package[: len(package) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the string constants that stand alone as statements (docstrings): prose, not module names."""
    return {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant)}


def imports_of(root: Path, path: Path) -> list[Import]:
    """Every module the file at `path` imports, wherever the import statement stands."""
    module = module_of(root, path)
    is_package = path.name == "__init__.py"
    rel = path.relative_to(root).as_posix()
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=rel)
    prose = _docstrings(tree)
    found: list[Import] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [Import(rel, node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(node, module, is_package)
            found.append(Import(rel, node.lineno, base))
            # `from layerloom import gui` imports the module layerloom.gui
            found += [Import(rel, node.lineno, f"{base}.{alias.name}") for alias in node.names if alias.name != "*"]
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
            arg = node.args[0]
            if name in IMPORT_FUNCTIONS and isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                found.append(Import(rel, node.lineno, arg.value))
        elif (isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in prose
              and MODULE_NAME.fullmatch(node.value)):
            found.append(Import(rel, node.lineno, node.value))  # e.g. a list of modules imported by name later
    return found


def _within(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def broken_rule(floor: str, module: str) -> str | None:
    """Why `floor` may not import `module`, or None when it may."""
    if floor == "core" and _within(module, ("layerloom.gui", "layerloom.app")):
        return "core must not import the gui or app floor"
    if floor == "core" and _within(module, QT):
        return "core must not import Qt"
    if floor == "gui" and _within(module, ("layerloom.app",)):
        return "gui must not import the app floor"
    if floor == "resources" and _within(module, (PACKAGE,)) and not _within(module, ("layerloom.resources",)):
        return "resources is data and imports nothing of layerloom"
    return None


def violations(root: Path) -> list[str]:
    """'FILE:LINE: imports MODULE (the rule)' for each line whose import breaks a floor rule, in file order."""
    out = []
    for floor in FLOORS:
        for path in sorted((root / floor).rglob("*.py")):
            if "__pycache__" in path.parts:
                continue
            reported: set[int] = set()
            for imp in imports_of(root, path):
                why = broken_rule(floor, imp.module)
                if why and imp.line not in reported:
                    reported.add(imp.line)
                    out.append(f"{imp.file}:{imp.line}: imports {imp.module} ({why})")
    return sorted(out, key=lambda m: (m.split(":")[0], int(m.split(":")[1])))


# --- the real tree ----------------------------------------------------------------------------------------


def test_every_floor_keeps_to_its_imports():
    found = violations(ROOT)
    assert found == [], "imports that break the floors:\n" + "\n".join(found)


def test_the_checker_reads_the_real_tree():
    """A check that scanned nothing would pass: it sees the files and the imports inside functions."""
    files = [p for floor in FLOORS for p in (ROOT / floor).rglob("*.py") if "__pycache__" not in p.parts]
    assert len(files) > 100
    seen = {(imp.file, imp.module) for imp in imports_of(ROOT, ROOT / "app" / "cli.py")}
    assert ("app/cli.py", "layerloom.gui.app") in seen  # a lazy import inside open_window
    assert ("app/cli.py", "layerloom.app.doctor") in seen  # a module imported by name (COMMAND_MODULES)
    assert ("app/cli.py", "layerloom.core.cli") in seen


# --- the checker itself ----------------------------------------------------------------------------------


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return tmp_path


def test_the_checker_names_each_violation_by_file_and_line(tmp_path):
    root = _tree(tmp_path, {
        "core/__init__.py": '"""layerloom.gui.app"""\n\nNOTE = "see layerloom.gui.app"\n',  # prose, not imports
        "core/fine.py": "import os\nfrom layerloom.core import graph\nfrom . import edits\nfrom ..resources import x\n",
        "core/lazy_gui.py": "def f():\n    from layerloom.gui.app import main\n    return main\n",
        "core/qt.py": "try:\n    import PySide6.QtCore\nexcept ImportError:\n    pass\n",
        "core/by_name.py": "import importlib\n\n\ndef g():\n    return importlib.import_module('layerloom.app.cli')\n",
        "core/listed.py": "MODULES = ('layerloom.core.cli',\n           'layerloom.gui.theme')\n",
        "core/sub/__init__.py": "from ...gui import canvas\n",
        "core/sub/up.py": "from ... import app\n",
        "gui/__init__.py": "from layerloom.core import cli\nfrom layerloom.gui import theme\n",
        "gui/window.py": "class W:\n    def m(self):\n        from layerloom import app\n",
        "app/cli.py": "from layerloom.gui.app import main\nfrom layerloom.core.cli import subcommand\n",
        "resources/__init__.py": "from importlib.resources import files\nfrom . import templates\n",
        "resources/templates/__init__.py": ("import json\n\n\ndef load():\n"
                                            "    from layerloom.core.project import Project\n"),
    })
    found = violations(root)
    assert found == [
        "core/by_name.py:5: imports layerloom.app.cli (core must not import the gui or app floor)",
        "core/lazy_gui.py:2: imports layerloom.gui.app (core must not import the gui or app floor)",
        "core/listed.py:2: imports layerloom.gui.theme (core must not import the gui or app floor)",
        "core/qt.py:2: imports PySide6.QtCore (core must not import Qt)",
        "core/sub/__init__.py:1: imports layerloom.gui (core must not import the gui or app floor)",
        "core/sub/up.py:1: imports layerloom.app (core must not import the gui or app floor)",
        "gui/window.py:3: imports layerloom.app (gui must not import the app floor)",
        "resources/templates/__init__.py:5: imports layerloom.core.project (resources is data and imports nothing "
        "of layerloom)",
    ]


def test_the_checker_passes_a_tree_that_keeps_the_floors(tmp_path):
    root = _tree(tmp_path, {
        "core/cli.py": "import argparse\nfrom layerloom.core.errors import LayerloomError\n",
        "gui/app.py": "from PySide6.QtWidgets import QApplication\nfrom layerloom.core import cli\n",
        "app/cli.py": "from layerloom.gui import app\nfrom layerloom.core import cli\n",
        "resources/__init__.py": "from importlib.resources import files\n",
    })
    assert violations(root) == []
