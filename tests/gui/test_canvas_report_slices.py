"""In a big graph a new inference report reaches the blocks in view at once and the blocks off screen in
slices (one per turn of the event loop); in the end every block shows it. REPORT_NOW is lowered here so
that a 300-block chain counts as big."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
import pytestqt  # noqa: F401  (a hard test dependency: fail loudly if missing)
from PySide6.QtWidgets import QApplication

from layerloom.core import Graph
from layerloom.core.edits import RemoveNode
from layerloom.core.project import Project
from layerloom.gui.canvas import CanvasView
from layerloom.gui.canvas import scene as scene_module
from layerloom.gui.document import Document
from layerloom.gui.editor import Editor

N = 300


def chain() -> Graph:
    g = Graph()
    ids = [g.add("Input", shape=[16], pos=(0.0, 0.0))]
    for i in range(1, N - 1):
        ids.append(g.add("Dense", out_features=16, pos=((i % 20) * 260.0, (i // 20) * 170.0)))
        g.connect(ids[-2], ids[-1])
    ids.append(g.add("Output", loss="mse", pos=(0.0, (N // 20 + 1) * 170.0)))
    g.connect(ids[-2], ids[-1])
    return g


@pytest.fixture
def view(qtbot, monkeypatch):
    monkeypatch.setattr(scene_module, "REPORT_NOW", 50)
    monkeypatch.setattr(scene_module, "REPORT_SLICE", 40)
    v = CanvasView(Editor(Document(Project(chain()))))
    qtbot.addWidget(v)
    v.resize(800, 500)
    v.show()
    qtbot.waitExposed(v)
    QApplication.processEvents()
    v.set_zoom(1.0)
    v.centerOn(v.node_item("n2"))
    QApplication.processEvents()
    return v


def statuses(view) -> dict[str, str | None]:
    return {nid: item.status for nid, item in view.canvas_scene.nodes.items()}


def test_blocks_in_view_show_a_report_at_once_and_the_rest_follow(qtbot, view):
    doc, scene = view.document, view.canvas_scene
    assert set(statuses(view).values()) == {"ok"}
    g = doc.graph
    doc.do(RemoveNode("n2"))  # the chain is cut in view: every block after the cut waits
    report = doc.infer_now()
    waiting = [nid for nid in g.topological_order() if report[nid].status == "waiting"]
    assert len(waiting) > 200
    shown = view.mapToScene(view.viewport().rect()).boundingRect()
    in_view = [nid for nid in waiting if shown.intersects(view.node_item(nid).sceneBoundingRect())]
    assert in_view and all(view.node_item(nid).status == "waiting" for nid in in_view)
    assert scene.report_pending()
    assert any(view.node_item(nid).status == "ok" for nid in waiting)  # far ones: not yet
    qtbot.waitUntil(lambda: not scene.report_pending(), timeout=5000)
    assert all(view.node_item(nid).status == report[nid].status for nid in g.topological_order())

    doc.undo_stack.undo()  # the block is back: everything ok again, in the end
    report = doc.infer_now()
    qtbot.waitUntil(lambda: not scene.report_pending(), timeout=5000)
    assert set(statuses(view).values()) == {"ok"} and report.ok


def test_a_new_report_or_a_removal_while_slices_wait_leaves_every_block_right(qtbot, view):
    doc, scene = view.document, view.canvas_scene
    g = doc.graph
    doc.do(RemoveNode("n2"))
    doc.infer_now()
    assert scene.report_pending()
    far = g.topological_order()[-5]
    doc.do(RemoveNode(far))  # a block still waiting for its slice goes
    doc.undo_stack.undo()
    doc.undo_stack.undo()  # and the first removal is undone: a new report restarts the slices
    report = doc.infer_now()
    qtbot.waitUntil(lambda: not scene.report_pending(), timeout=5000)
    assert report.ok
    assert all(item.status == "ok" for item in scene.nodes.values())
    assert set(scene.nodes) == {n.id for n in g}
