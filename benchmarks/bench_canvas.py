"""The node editor canvas with a 500-block project: open and show, pan frames, parameter edit to badge.

Bars (editor issue): open a 500-block project and show it < 1 s; one frame while panning with 500
blocks < 16 ms; parameter change to updated badges < 50 ms.

The project is bench_inference's realistic 500-block CNN (residual, concat, squeeze-excitation,
Residual and Inception units), laid out by the canvas's auto-layout (layered, left to right). Runs on the
offscreen Qt platform (raster painting into an image, as on a desktop without GPU acceleration); the
view is 1280×800.

  open + show     cold: inference rule cache cleared; timed: Project.loads(file text) → Document
                  (first inference) → CanvasView → show() → the first frame painted
                  (viewport().repaint()); at the zoom an opened project gets (≥ 70 %, from the inputs).
  pan frame       the same graph folded into a 25-column grid (dense: 20-100 blocks on screen at 100 %
                  and 50 %, all 500 at the fitting zoom); scroll the view by 12 px, then repaint the
                  whole viewport (viewport().repaint(): a worst case, Qt itself repaints only the
                  exposed strip); median over repeats, after a warm-up pan that fills the node caches.
  edit → badge    Document.do(SetParams(first conv, out_channels ±)) → events processed until that
                  block's footer shows the new shape (the 15 ms debounce, incremental inference of the
                  ~490 blocks downstream, report applied to items) → one repaint. Also until the last
                  block downstream (the Output's neighbour) shows its new shape.

Run: .venv/bin/python benchmarks/bench_canvas.py [--check] [--quick]
"""

from __future__ import annotations

import os
import statistics
import sys
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_inference import build_graph
from common import Results, environment_line, parse_args
from PySide6.QtCore import QPointF
from PySide6.QtWidgets import QApplication

from layerloom.core.edits import SetParams
from layerloom.core.inference import clear_cache
from layerloom.core.layout import layered_positions
from layerloom.core.project import Project
from layerloom.gui.canvas import CanvasView
from layerloom.gui.commands import LAYOUT_COLUMN, LAYOUT_ROW
from layerloom.gui.document import Document
from layerloom.gui.editor import Editor

OPEN_BAR_MS = 1000.0
FRAME_BAR_MS = 16.0
EDIT_BAR_MS = 50.0
SIZE = (1280, 800)


def project_text(grid_columns: int | None = None) -> str:
    g, _, _ = build_graph()
    positions = layered_positions(g, column_width=LAYOUT_COLUMN, row_height=LAYOUT_ROW)
    if grid_columns:  # fold into a grid so that every block fits on one screen
        order = g.topological_order()
        positions = {nid: ((i % grid_columns) * LAYOUT_COLUMN, (i // grid_columns) * LAYOUT_ROW)
                     for i, nid in enumerate(order)}
    for nid, pos in positions.items():
        g.move(nid, pos)
    return Project(g, meta={"name": "bench500"}).to_json()


def open_and_show(app: QApplication, text: str) -> tuple[CanvasView, float]:
    clear_cache()
    t0 = time.perf_counter()
    project = Project.loads(text, "bench500.llproj")
    doc = Document(project)
    view = CanvasView(Editor(doc))
    view.resize(*SIZE)
    view.show()
    app.processEvents()
    view.viewport().repaint()
    elapsed = time.perf_counter() - t0
    return view, elapsed


def close(view: CanvasView) -> None:
    view.close()
    view.deleteLater()
    QApplication.processEvents()


def pan_frames(app: QApplication, view: CanvasView, repeats: int) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU (this thread) seconds of each frame."""
    vp = view.viewport()
    for _ in range(6):  # warm-up: fill node caches at this zoom
        view.scroll_by(12, 0)
        vp.repaint()
        view.scroll_by(-12, 0)
        vp.repaint()
    wall, cpu = [], []
    for i in range(repeats):
        step = 12 if i % 2 == 0 else -12
        t0, c0 = time.perf_counter(), time.thread_time()
        view.scroll_by(step, 0)
        vp.repaint()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.thread_time() - c0)
    app.processEvents()
    return wall, cpu


def _frame_detail(wall: list[float], cpu: list[float], view: CanvasView) -> str:
    return (f"CPU {statistics.median(cpu) * 1e3:.1f}, wall max {max(wall) * 1e3:.1f}; "
            f"{visible_blocks(view)} blocks on screen")


def visible_blocks(view: CanvasView) -> int:
    area = view.mapToScene(view.viewport().rect()).boundingRect()
    return sum(1 for item in view.canvas_scene.nodes.values() if area.intersects(item.sceneBoundingRect()))


def main() -> int:
    args = parse_args(__doc__.splitlines()[0])
    open_repeats, frame_repeats, edit_repeats = (3, 20, 8) if args.quick else (7, 60, 25)
    app = QApplication.instance() or QApplication([])
    try:
        from layerloom.gui.theme import apply_theme

        apply_theme(app, "dark")
    except ImportError:  # the window helper's theme may not exist yet
        app.setStyle("Fusion")

    text = project_text()
    grid_text = project_text(grid_columns=25)

    # --- open and show -------------------------------------------------------------------------
    for _ in range(2):  # warm-up (imports, font caches)
        view, _ = open_and_show(app, text)
        close(view)
    opens = []
    for _ in range(open_repeats):
        view, elapsed = open_and_show(app, text)
        opens.append(elapsed)
        close(view)

    view, _ = open_and_show(app, text)
    doc = view.document
    g = doc.graph
    n_blocks, n_edges = len(g), len(g.edges)
    print(f"Canvas benchmark: {n_blocks} blocks, {n_edges} connections, view {SIZE[0]}×{SIZE[1]}, "
          f"Qt platform {QApplication.platformName()}")
    print(f"  {environment_line()}")
    if hasattr(os, "getloadavg"):
        print(f"  load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (wall times include waiting for a "
              "CPU; the detail column gives this thread's CPU time per frame)")
    results = Results("Canvas with a 500-block project (times in ms: median; min/max in detail)")
    results.add("open 500-block project and show it", statistics.median(opens) * 1e3, OPEN_BAR_MS, "ms",
                extra=f"min {min(opens) * 1e3:.0f}, max {max(opens) * 1e3:.0f}; {len(opens)} cold opens, "
                      f"{visible_blocks(view)} blocks on screen at {view.zoom_level():.0%}")

    # --- edit → badge ----------------------------------------------------------------------------
    _, pool_id, _ = build_graph()  # ids are stable: the same builder made the project
    pool = view.node_item(pool_id)
    flatten = view.node_item(next(n.id for n in g if n.type == "Flatten"))
    view.set_zoom(1.0)
    view.centerOn(pool)
    app.processEvents()
    edits = []
    for i in range(edit_repeats + 2):
        kernel = 3 if i % 2 == 0 else 2
        before, before_far = pool.texts()["left"], flatten.texts()["left"]
        t0 = time.perf_counter()
        doc.do(SetParams(pool_id, {"kernel_size": kernel}))
        while pool.texts()["left"] == before:
            app.processEvents()
        view.viewport().repaint()
        t1 = time.perf_counter()
        assert flatten.texts()["left"] != before_far  # the whole downstream half updated in the same pass
        if i >= 2:
            edits.append(t1 - t0)
        doc.undo_stack.clear()
    results.add("parameter change → badges and shapes updated", statistics.median(edits) * 1e3, EDIT_BAR_MS,
                "ms", extra=f"min {min(edits) * 1e3:.1f}, max {max(edits) * 1e3:.1f}; includes the "
                            f"{doc._infer_timer.interval()} ms debounce; {len(g.descendants(pool_id))} blocks "
                            "downstream change shape")
    close(view)

    # --- pan frames: the same graph folded into a 25-column grid (dense: many blocks on screen) ------
    view, _ = open_and_show(app, grid_text)
    g = view.document.graph
    order = g.topological_order()
    middle = view.node_item(order[len(order) // 2])
    for zoom in (1.0, 0.5):
        view.set_zoom(zoom)
        view.centerOn(middle)
        frames, cpu = pan_frames(app, view, frame_repeats)
        results.add(f"pan frame at {zoom:.0%} (full viewport repaint)", statistics.median(frames) * 1e3,
                    FRAME_BAR_MS, "ms", extra=_frame_detail(frames, cpu, view))
    view.fit_all()
    app.processEvents()
    view.centerOn(QPointF(view.canvas_scene.nodes_rect().center()))
    frames, cpu = pan_frames(app, view, frame_repeats)
    results.add(f"pan frame, all blocks on screen ({view.zoom_level():.0%})", statistics.median(frames) * 1e3,
                FRAME_BAR_MS, "ms", extra=_frame_detail(frames, cpu, view))
    t0 = time.perf_counter()
    view.zoom_in()
    view.viewport().repaint()
    results.add("zoom step, all blocks on screen (caches redrawn)", (time.perf_counter() - t0) * 1e3, None, "ms",
                extra="one frame that re-renders every visible block")
    close(view)

    results.print_table()
    return results.exit_code(args.check)


if __name__ == "__main__":
    sys.exit(main())
