"""The node editor canvas with 5,000-block graphs (a Dense/ReLU chain and a branched CNN), and 20,000.

Bars (big-graph issue, point 2), 1280×800 offscreen, each graph laid out by a wrapped layered drawing of
about the window's aspect (big_graphs.py), figures are medians of repeats:
  open + show       < 1 s     cold (inference rule cache cleared): Project.loads → Document (first
                              inference) → CanvasView → show() → first frame (viewport().repaint()).
  fitted frame      < 16 ms   view fitted to the whole graph (every block on screen): scroll 12 px and
                              repaint the whole viewport (pan); and one zoom step in or out + repaint (zoom).
  edit → badges     < 50 ms   Document.do(SetParams) on a block in the middle of the topological order →
                              events processed until its downstream neighbour shows the change → repaint
                              (the blocks off screen follow in slices: untimed, drained before the next
                              edit, and their end reported in the detail column).
                              Chain: a Dense's out_features 64 ↔ 48 (the next Dense's count changes). CNN: the
                              conv before a residual unit's Add, out_channels 16 ↔ 32 (the Add gets an error
                              badge and the ~2,500 blocks downstream turn to waiting, and back).
  select-all + move < 100 ms  Editor.run("select_all") + Editor.do(Move(every block +40 px)) + repaint, at
                              the fitted zoom (then undone, untimed).
  auto-layout       < 2 s     Editor.run("auto_layout") (layered positions, one Move, fit) + repaint.
Info: frames at 100 % and 30 % in the middle of the graph (only the blocks in view are painted), and the
20,000-block graphs: open + show time and the process's peak resident memory (each in a fresh process).

Run: .venv/bin/python benchmarks/bench_canvas_big.py [--check] [--quick] [--only open,frames,edit,move,layout,big]
     [--graphs chain,cnn]    (--only / --graphs: run just those measures / graphs; default all)
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from big_graphs import chain_graph, cnn_graph, project_text
from common import Results, environment_line, parse_args
from PySide6.QtWidgets import QApplication

from layerloom.core.edits import Move, SetParams
from layerloom.core.inference import clear_cache
from layerloom.core.project import Project
from layerloom.gui.canvas import CanvasView
from layerloom.gui.document import Document
from layerloom.gui.editor import Editor

OPEN_BAR_MS = 1000.0
FRAME_BAR_MS = 16.0
EDIT_BAR_MS = 50.0
MOVE_BAR_MS = 100.0
LAYOUT_BAR_MS = 2000.0
SIZE = (1280, 800)
BUILDERS = {"chain": chain_graph, "cnn": cnn_graph}
MEASURES = ("open", "frames", "edit", "move", "layout", "big")


def pop_list(flag: str, allowed: tuple[str, ...]) -> tuple[str, ...]:
    """Take `flag a,b` out of sys.argv (before common.parse_args sees it); every allowed value by default."""
    if flag not in sys.argv:
        return allowed
    i = sys.argv.index(flag)
    values = tuple(v for v in sys.argv[i + 1].split(",") if v) if i + 1 < len(sys.argv) else ()
    del sys.argv[i:i + 2]
    unknown = [v for v in values if v not in allowed]
    if unknown or not values:
        sys.exit(f"{flag} takes a comma-separated list of {', '.join(allowed)} (got {', '.join(unknown) or 'none'})")
    return values


def open_and_show(app: QApplication, text: str) -> tuple[CanvasView, float]:
    clear_cache()
    t0 = time.perf_counter()
    doc = Document(Project.loads(text, "big.llproj"))
    view = CanvasView(Editor(doc))
    view.resize(*SIZE)
    view.show()
    app.processEvents()
    view.viewport().repaint()
    return view, time.perf_counter() - t0


def close(view: CanvasView) -> None:
    view.close()
    view.deleteLater()
    QApplication.processEvents()


def ms(values: list[float]) -> float:
    return statistics.median(values) * 1e3


def spread(values: list[float]) -> str:
    return f"min {min(values) * 1e3:.1f}, max {max(values) * 1e3:.1f}, n {len(values)}"


def pan_frames(view: CanvasView, repeats: int) -> list[float]:
    vp = view.viewport()
    out = []
    for i in range(repeats + 4):
        t0 = time.perf_counter()
        view.scroll_by(12 if i % 2 == 0 else -12, 0)
        vp.repaint()
        if i >= 4:  # the first ones fill caches
            out.append(time.perf_counter() - t0)
    return out


def zoom_frames(view: CanvasView, repeats: int) -> list[float]:
    vp = view.viewport()
    out = []
    for i in range(repeats + 2):
        zoom = view.zoom_level()
        t0 = time.perf_counter()
        view.set_zoom(zoom * 1.1 if i % 2 == 0 else zoom / 1.1)
        vp.repaint()
        if i >= 2:
            out.append(time.perf_counter() - t0)
    return out


def edit_case(kind: str, g) -> tuple[str, str, tuple, str]:
    """(block to edit, block whose footer shows the change, the two values, parameter)."""
    order = g.topological_order()
    middle = len(order) // 2
    if kind == "chain":
        dense = next(nid for nid in order[middle:] if g.node(nid).type == "Dense")
        after = next(nid for nid in order[order.index(dense) + 1:] if g.node(nid).type == "Dense")
        return dense, after, (48, 64), "out_features"
    add = next(nid for nid in order[middle:] if g.node(nid).type == "Add"
               and any(g.node(p).type == "BatchNorm" for p in g.predecessors(nid)))
    bn = next(p for p in g.predecessors(add) if g.node(p).type == "BatchNorm")
    conv = next(iter(g.predecessors(bn)))
    return conv, add, (16, 32), "out_channels"


def measure(kind: str, n: int, quick: bool, results: Results, only: tuple[str, ...] = MEASURES) -> None:
    app = QApplication.instance()
    text = project_text(BUILDERS[kind](n), name=f"{kind}{n}")
    label = f"{kind} {n}"
    if "open" in only:
        opens = []
        for i in range(2 + (3 if quick else 5)):
            view, elapsed = open_and_show(app, text)
            if i >= 2:
                opens.append(elapsed)
            close(view)
    view, _ = open_and_show(app, text)
    g = view.document.graph
    if "open" in only:
        results.add(f"{label}: open + show", ms(opens), OPEN_BAR_MS, "ms",
                    extra=f"{spread(opens)}; {len(g.edges)} wires; opens at {view.zoom_level():.0%}")
    repeats = 15 if quick else 40
    if "frames" in only:
        frame_measures(view, label, repeats, results)
    if "edit" in only:
        edit_measure(view, kind, label, quick, results)
    if "move" in only:
        move_measure(view, label, quick, results)
    if "layout" in only:
        layout_measure(view, label, quick, results)
    close(view)


def frame_measures(view: CanvasView, label: str, repeats: int, results: Results) -> None:
    app, g = QApplication.instance(), view.document.graph
    order = g.topological_order()
    middle = view.node_item(order[len(order) // 2])
    for zoom in (1.0, 0.3):
        view.set_zoom(zoom)
        view.centerOn(middle)
        frames = pan_frames(view, repeats)
        results.add(f"{label}: pan frame at {zoom:.0%} (middle)", ms(frames), None, "ms", extra=spread(frames))

    view.fit_all()
    app.processEvents()
    fitted = view.zoom_level()
    frames = pan_frames(view, repeats)
    results.add(f"{label}: pan frame, fitted ({fitted:.1%}, all on screen)", ms(frames), FRAME_BAR_MS, "ms",
                extra=spread(frames))
    frames = zoom_frames(view, repeats)
    results.add(f"{label}: zoom frame, fitted (all on screen)", ms(frames), FRAME_BAR_MS, "ms", extra=spread(frames))


def edit_measure(view: CanvasView, kind: str, label: str, quick: bool, results: Results) -> None:
    app, doc, g = QApplication.instance(), view.document, view.document.graph
    target, watch, values, param = edit_case(kind, g)
    view.set_zoom(1.0)
    view.centerOn(view.node_item(target))
    app.processEvents()
    watched = view.node_item(watch)
    edits, whole = [], []
    scene = view.canvas_scene
    for i in range(2 + (4 if quick else 10)):
        before = (watched.texts()["left"], watched.texts()["right"], watched.badge.kind)
        t0 = time.perf_counter()
        doc.do(SetParams(target, {param: values[i % 2]}))
        while (watched.texts()["left"], watched.texts()["right"], watched.badge.kind) == before:
            app.processEvents()
        view.viewport().repaint()
        t1 = time.perf_counter()
        while scene.report_pending():  # the blocks off screen, in slices (each turn of the event loop)
            app.processEvents()
        t2 = time.perf_counter()
        if i >= 2:
            edits.append(t1 - t0)
            whole.append(t2 - t0)
        doc.undo_stack.clear()
    results.add(f"{label}: edit in the middle → badges", ms(edits), EDIT_BAR_MS, "ms",
                extra=f"{spread(edits)}; includes the {doc._infer_timer.interval()} ms debounce; "
                      f"{len(g.descendants(target))} blocks downstream; every block off screen shown too after "
                      f"{ms(whole):.0f} ms")


def move_measure(view: CanvasView, label: str, quick: bool, results: Results) -> None:
    app, doc, editor, g = QApplication.instance(), view.document, view.editor, view.document.graph
    order = g.topological_order()
    view.fit_all()
    app.processEvents()
    moves = []
    for i in range(2 + (3 if quick else 7)):
        editor.run("select_all")  # untimed first pass would hide the selection cost: time it all
        editor.select([], reveal=False)
        app.processEvents()
        t0 = time.perf_counter()
        editor.run("select_all")
        start = {nid: g.node(nid).pos for nid in editor.selection}
        editor.do(Move({nid: (x + 40, y) for nid, (x, y) in start.items()}), "Move")
        app.processEvents()
        view.viewport().repaint()
        elapsed = time.perf_counter() - t0
        assert len(start) == len(g) and view.node_item(order[0]).pos().x() == start[order[0]][0] + 40
        doc.undo_stack.undo()
        app.processEvents()
        if i >= 2:
            moves.append(elapsed)
    results.add(f"{label}: select-all + move", ms(moves), MOVE_BAR_MS, "ms", extra=spread(moves))


def layout_measure(view: CanvasView, label: str, quick: bool, results: Results) -> None:
    app, doc, editor = QApplication.instance(), view.document, view.editor
    layouts = []
    for i in range(1 + (2 if quick else 3)):
        t0 = time.perf_counter()
        editor.run("auto_layout")
        app.processEvents()
        view.viewport().repaint()
        elapsed = time.perf_counter() - t0
        doc.undo_stack.undo()
        app.processEvents()
        if i >= 1:
            layouts.append(elapsed)
    results.add(f"{label}: auto-layout", ms(layouts), LAYOUT_BAR_MS, "ms", extra=spread(layouts))


def memory_mb() -> tuple[float, float]:
    """This process's resident memory now and its peak so far (MB; Linux /proc, else getrusage)."""
    try:
        with open("/proc/self/status") as f:
            fields = dict(line.split(":", 1) for line in f if ":" in line)
        return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024
    except OSError:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        return peak, peak


def one_open(path: str) -> dict:
    """In a fresh process: open and show the project in `path`; the time, memory before and after (now and
    peak: the peak includes the first inference and every item), and a fitted frame."""
    app = QApplication.instance() or QApplication([])
    with open(path, encoding="utf-8") as f:
        text = f.read()
    before, _ = memory_mb()
    view, elapsed = open_and_show(app, text)
    view.fit_all()
    app.processEvents()
    t0 = time.perf_counter()
    view.viewport().repaint()
    frame = time.perf_counter() - t0
    after, peak = memory_mb()
    return {"open_s": elapsed, "fitted_frame_ms": frame * 1e3, "before_mb": before, "after_mb": after,
            "peak_mb": peak}


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--one":
        print(json.dumps(one_open(sys.argv[2])))
        return 0
    only = pop_list("--only", MEASURES)
    graphs = pop_list("--graphs", tuple(BUILDERS))
    args = parse_args(__doc__.splitlines()[0])
    app = QApplication.instance() or QApplication([])
    try:
        from layerloom.gui.theme import apply_theme

        apply_theme(app, "dark")
    except ImportError:
        app.setStyle("Fusion")
    print(f"Big-graph canvas benchmark, view {SIZE[0]}×{SIZE[1]}, Qt platform {QApplication.platformName()}")
    print(f"  {environment_line()}")
    if hasattr(os, "getloadavg"):
        print(f"  load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    results = Results("Canvas with 5,000-block graphs (ms, medians)")
    add = results.add

    def add_and_print(name, figure, *rest, **kw):  # progress as it goes (the whole run takes minutes)
        print(f"  {name}: {figure:.1f}", flush=True)
        return add(name, figure, *rest, **kw)

    results.add = add_and_print
    for kind in graphs:
        if set(only) - {"big"}:
            measure(kind, 5000, args.quick, results, only)
    for kind in graphs if "big" in only else ():  # the project is made here; a fresh process opens it
        with tempfile.NamedTemporaryFile("w", suffix=".llproj", delete=False, encoding="utf-8") as f:
            f.write(project_text(BUILDERS[kind](20000), name=f"{kind}20000"))
        try:
            out = subprocess.run([sys.executable, os.path.abspath(__file__), "--one", f.name],
                                 capture_output=True, text=True, check=True)
        finally:
            os.unlink(f.name)
        fig = json.loads(out.stdout.strip().splitlines()[-1])
        results.add(f"{kind} 20000: open + show", fig["open_s"] * 1e3, None, "ms",
                    extra=f"resident memory {fig['before_mb']:.0f} MB → {fig['after_mb']:.0f} MB, peak "
                          f"{fig['peak_mb']:.0f} MB; fitted frame {fig['fitted_frame_ms']:.1f} ms")
    results.print_table()
    return results.exit_code(args.check)


if __name__ == "__main__":
    sys.exit(main())
