"""The main window: start-up to the first shown window, and opening a 500-block project in it.

Bars (editor issue): window shown after start < 2 s, with torch not imported before it shows;
open a 500-block project and show it < 1 s.

  start-up       a fresh `python -c` process runs what `layerloom` runs (layerloom.gui.app.start: the
                 QApplication, Fusion and the palette, the MainWindow on the lenet5 template, show) and
                 prints when the window has been shown and painted, and whether torch was imported by
                 then. Two figures: from the process's own start (interpreter start-up included, as
                 measured by the parent from spawn to the line) and from the child's first line of Python.
                 Settings and recovery live in a temporary home, so no earlier state is restored.
  open 500       in one running window: File → Open of the 500-block project of bench_inference
                 (layered positions) through MainWindow.open_path (read, validate, infer, mirror into
                 the canvas, fit, problems list and totals) until the window has repainted.

Run: .venv/bin/python benchmarks/bench_window.py [--check] [--quick]
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import Results, environment_line, parse_args

START_BAR_S = 2.0
OPEN_BAR_S = 1.0

CHILD = r"""
import time
t0 = time.perf_counter()
import json, sys
from PySide6.QtCore import QStandardPaths
QStandardPaths.setTestModeEnabled(True)
from layerloom.gui.app import start
app, window = start(["layerloom"])
app.processEvents()
window.repaint()
shown = time.perf_counter() - t0
torch = sorted(m for m in sys.modules if m == "torch" or m.startswith("torch."))
print(json.dumps({"shown_s": shown, "torch": len(torch), "blocks": len(window.document.graph),
                  "platform": app.platformName()}), flush=True)
window.document.undo_stack.setClean()
window.recovery.clean_exit()
"""


def child_env(home: str) -> dict[str, str]:
    env = dict(os.environ, LAYERLOOM_NO_PRELOAD="1", HOME=home, XDG_CONFIG_HOME=os.path.join(home, "config"),
               XDG_DATA_HOME=os.path.join(home, "data"), XDG_CACHE_HOME=os.path.join(home, "cache"),
               PYTHONDONTWRITEBYTECODE="1")
    if not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY"):
        env["QT_QPA_PLATFORM"] = "offscreen"
    return env


def start_once(home: str) -> tuple[float, dict]:
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=child_env(home))
    line = proc.stdout.readline()
    wall = time.perf_counter() - t0
    _, err = proc.communicate(timeout=60)
    if not line.strip():
        raise RuntimeError(f"the window did not start:\n{err}")
    return wall, json.loads(line)


def project_file(folder: str) -> str:
    from bench_inference import build_graph

    from layerloom.core.layout import layered_positions
    from layerloom.core.project import Project, save_project

    g, _, _ = build_graph()
    for nid, pos in layered_positions(g, column_width=260.0, row_height=170.0).items():
        g.move(nid, pos)
    path = os.path.join(folder, "bench500.json")
    save_project(Project(g, meta={"name": "bench500"}), path)
    return path


def main() -> int:
    args = parse_args(__doc__.splitlines()[0])
    start_repeats, open_repeats = (2, 3) if args.quick else (5, 7)
    home = tempfile.mkdtemp(prefix="layerloom-bench-")

    # --- start-up, in fresh processes ----------------------------------------------------------------
    start_once(home)  # warm the OS file cache (and bytecode caches of the install)
    walls, inside, torch_counts = [], [], []
    info = {}
    for _ in range(start_repeats):
        wall, info = start_once(home)
        walls.append(wall)
        inside.append(info["shown_s"])
        torch_counts.append(info["torch"])

    # --- open a 500-block project in a running window ---------------------------------------------------
    os.environ.setdefault("LAYERLOOM_NO_PRELOAD", "1")
    if not os.environ.get("DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from layerloom.core.inference import clear_cache
    from layerloom.core.templates import load_template
    from layerloom.gui.app import create_app
    from layerloom.gui.main_window import MainWindow
    from layerloom.gui.recovery import Recovery

    app = create_app(["bench"])
    path = project_file(home)
    settings = QSettings(os.path.join(home, "bench.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings=settings, recovery=Recovery(os.path.join(home, "recovery")))
    window.resize(1440, 880)
    window.set_project(load_template("lenet5"), None)
    window.show()
    app.processEvents()
    opens = []
    for i in range(open_repeats + 2):
        window.set_project(load_template("lenet5"), None)
        app.processEvents()
        clear_cache()  # cold: no shape rule comes from an earlier open
        t0 = time.perf_counter()
        assert window.open_path(path)
        app.processEvents()
        window.repaint()
        elapsed = time.perf_counter() - t0
        if i >= 2:
            opens.append(elapsed)
    blocks = len(window.document.graph)
    visible = sum(1 for item in window.canvas.canvas_scene.nodes.values()
                  if window.canvas.mapToScene(window.canvas.viewport().rect()).boundingRect().intersects(
                      item.sceneBoundingRect()))
    zoom = window.canvas.zoom_level()
    window.document.undo_stack.setClean()
    window.close()

    print(f"Window benchmark: Qt platform {info.get('platform', QApplication.platformName())}; "
          f"start-up opens the lenet5 template ({info.get('blocks')} blocks)")
    print(f"  {environment_line()}")
    results = Results("Main window (seconds: median over runs; min/max in detail)")
    results.add("window shown after start (process spawn → shown)", statistics.median(walls), START_BAR_S, "s",
                extra=f"min {min(walls):.2f}, max {max(walls):.2f}; {len(walls)} fresh processes")
    results.add("  of which after the interpreter is up", statistics.median(inside), None, "s",
                extra=f"min {min(inside):.2f}, max {max(inside):.2f}")
    results.add("torch modules imported when the window shows", max(torch_counts), 1, "",
                extra="must be 0: torch loads in the background after the window is up")
    results.add(f"open a {blocks}-block project and show it", statistics.median(opens), OPEN_BAR_S, "s",
                extra=f"min {min(opens):.3f}, max {max(opens):.3f}; {len(opens)} cold opens; "
                      f"{visible} blocks on screen at {zoom:.0%}")
    results.print_table()
    return results.exit_code(args.check)


if __name__ == "__main__":
    sys.exit(main())
