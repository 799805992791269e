"""The line between core and GUI: `layerloom.core` imports with PySide6 and pyqtgraph blocked, and the
parts the GUI loads at start-up (graph, blocks, inference, edits, layout, project) do not import torch;
compiling does. Each check runs in a fresh interpreter so that nothing imported by other tests counts."""

from __future__ import annotations

import subprocess
import sys
import textwrap

BLOCK_QT = """
import importlib.abc
import sys

BLOCKED = ("PySide6", "pyqtgraph", "shiboken6", "PyQt5", "PyQt6")


class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} is blocked: layerloom.core must not import Qt")
        return None


sys.meta_path.insert(0, Blocker())
"""


def run_python(code: str) -> str:
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_blocker_really_blocks():
    out = run_python(BLOCK_QT + """
try:
    import PySide6  # noqa: F401
except ImportError as err:
    print("blocked:", err)
""")
    assert out.startswith("blocked: PySide6 is blocked")


def test_core_works_with_qt_blocked():
    out = run_python(BLOCK_QT + """
from layerloom.core import Graph, build_model, infer
from layerloom.core.compiler import example_inputs

g = Graph()
prev = g.add("Input", shape=[1, 28, 28])
for t, p in [("Conv2d", {"out_channels": 6, "kernel_size": 5, "padding": 2}), ("ReLU", {}),
             ("MaxPool2d", {}), ("Flatten", {}), ("Dense", {}), ("Output", {})]:
    n = g.add(t, **p)
    g.connect(prev, n)
    prev = n
report = infer(g)
model = build_model(g)
print(report.ok, tuple(model(*example_inputs(g)).shape))
print(sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED))
""")
    assert out.splitlines() == ["True (2, 10)", "[]"]


def test_core_works_with_qt_set_to_none():
    out = run_python("""
import sys
sys.modules["PySide6"] = None
sys.modules["pyqtgraph"] = None
import layerloom.core
import layerloom.core.edits
import layerloom.core.layout
print("ok")
""")
    assert out.strip() == "ok"


def test_every_core_module_imports_with_qt_blocked():
    out = run_python(BLOCK_QT + """
import pkgutil
import layerloom.core

failures = []
names = [m.name for m in pkgutil.walk_packages(layerloom.core.__path__, "layerloom.core.")]
for name in names:
    try:
        __import__(name)
    except Exception as err:  # report every module, not just the first
        failures.append(f"{name}: {type(err).__name__}: {err}")
print(len(names))
print("\\n".join(failures))
""")
    count, *failures = out.splitlines()
    assert int(count) >= 15
    assert [f for f in failures if f] == []


def test_startup_imports_do_not_load_torch_but_compiling_does():
    out = run_python("""
import sys
import layerloom.core
from layerloom.core import Graph, infer
from layerloom.core.blocks import all_specs
import layerloom.core.edits
import layerloom.core.layout
import layerloom.core.project

g = Graph()
prev = g.add("Input", shape=[3, 32, 32])
for t in ["Conv2d", "BatchNorm", "ReLU", "Residual", "Inception", "GlobalAvgPool", "Dense", "Output"]:
    n = g.add(t)
    g.connect(prev, n)
    prev = n
report = infer(g)
Graph.from_json(g.to_json())
help_texts = [s.help for s in all_specs()]
print(report.ok, "torch" in sys.modules)

from layerloom.core import build_model
print("torch" in sys.modules)
build_model(g)
print("torch" in sys.modules)
""")
    assert out.splitlines() == ["True False", "False", "True"]
