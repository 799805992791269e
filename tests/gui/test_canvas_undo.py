"""A long random sequence of edits made through the canvas (its API and real mouse drags), undone to the
start, must give back the original graph exactly (JSON, node and edge order included); redone, the end
state. The scene mirrors the graph at every checkpoint."""

from __future__ import annotations

import os
import random

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
import pytestqt  # noqa: F401  (a hard test dependency: fail loudly if missing)
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtWidgets import QApplication
from test_canvas import assert_mirrors, lenet

from layerloom.core.blocks import all_specs
from layerloom.core.edits import Connect, SetParams
from layerloom.core.project import Project
from layerloom.gui.canvas import CanvasView
from layerloom.gui.canvas.style import HEADER_H, NODE_W
from layerloom.gui.document import Document
from layerloom.gui.editor import Editor

TYPES = [s.type_id for s in all_specs()]


def _mouse_move_block(qtbot, view: CanvasView, node_id: str, dx: int, dy: int) -> None:
    item = view.node_item(node_id)
    view.ensureVisible(item, 10, 10)
    grip = view.mapFromScene(item.mapToScene(QPointF(NODE_W / 2, HEADER_H / 2)))
    vp = view.viewport()
    qtbot.mousePress(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, grip)
    qtbot.mouseMove(vp, grip + QPoint(dx // 2, dy // 2))
    qtbot.mouseMove(vp, grip + QPoint(dx, dy))
    qtbot.mouseRelease(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, grip + QPoint(dx, dy))


def _random_step(rng: random.Random, qtbot, view: CanvasView) -> None:
    doc = view.document
    g = doc.graph
    ids = [n.id for n in g]
    op = rng.choice(["add", "add", "connect", "connect", "delete", "duplicate", "copy_paste", "cut", "layout",
                     "rename", "params", "move", "mouse_move", "undo", "redo", "disconnect"])
    if op == "add" or not ids:
        view.editor.run("place_block", type_id=rng.choice(TYPES),
                        at=QPointF(rng.uniform(-600, 600), rng.uniform(-400, 400)))
    elif op == "connect":
        src = rng.choice([i for i in ids if g.node(i).spec.outputs] or ids)
        dst = rng.choice([i for i in ids if g.node(i).spec.inputs] or ids)
        sn, dn = g.node(src), g.node(dst)
        if sn.spec.outputs and dn.spec.inputs:
            view.editor.do(Connect((src, sn.spec.outputs[0].name), (dst, dn.spec.inputs[0].name)))  # a wire drag
    elif op == "disconnect" and g.edges:
        view.canvas_scene.clearSelection()
        view.canvas_scene.edges[rng.choice(g.edges)].setSelected(True)
        view.editor.run("delete")
    elif op == "delete":
        view.editor.select(rng.sample(ids, k=min(len(ids), rng.randint(1, 3))))
        view.editor.run("delete")
    elif op == "duplicate":
        view.editor.select(rng.sample(ids, k=min(len(ids), rng.randint(1, 4))))
        view.editor.run("duplicate")
    elif op == "copy_paste":
        view.editor.select(rng.sample(ids, k=min(len(ids), rng.randint(1, 4))))
        view.editor.run("copy")
        view.editor.run("paste")
    elif op == "cut":
        view.editor.select(rng.sample(ids, k=min(len(ids), rng.randint(1, 2))))
        view.editor.run("cut")
        if rng.random() < 0.5:
            view.editor.run("paste")
    elif op == "layout":
        view.editor.run("auto_layout")
    elif op == "rename":
        nid = rng.choice(ids)
        view.editor.select([nid])
        field = view.editor.run("rename")
        field.setText(rng.choice(["block", "x", "conv_a", "relu_1", "1bad", "for", f"b{rng.randint(0, 99)}"]))
        if not field.commit():
            field.cancel()
    elif op == "params":
        nid = rng.choice(ids)
        node = g.node(nid)
        ints = [p for p in node.spec.params if p.kind == "int" and p.min is not None]
        if ints:
            p = rng.choice(ints)
            doc.do(SetParams(nid, {p.name: int(p.min) + rng.randint(0, 20)}))
    elif op == "move":
        view.editor.select(rng.sample(ids, k=min(len(ids), 2)))
        from layerloom.core.edits import Move

        doc.do(Move({i: (rng.uniform(-500, 500), rng.uniform(-500, 500)) for i in view.selected_node_ids()}))
    elif op == "mouse_move":
        nid = rng.choice(ids)
        view.editor.select([nid])
        _mouse_move_block(qtbot, view, nid, rng.randint(-80, 80), rng.randint(-80, 80))
    elif op == "undo":
        for _ in range(rng.randint(1, 3)):
            doc.undo_stack.undo()
    elif op == "redo":
        for _ in range(rng.randint(1, 2)):
            doc.undo_stack.redo()
    if rng.random() < 0.1:
        doc.infer_now()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_edits_undo_to_start_and_redo_to_end(qtbot, seed):
    doc = Document(Project(lenet()))
    view = CanvasView(Editor(doc))
    qtbot.addWidget(view)
    view.resize(1000, 700)
    view.show()
    qtbot.waitExposed(view)
    rng = random.Random(seed)
    start = doc.graph.to_json()
    for step in range(160):
        _random_step(rng, qtbot, view)
        if step % 20 == 0:
            assert_mirrors(view)
    QApplication.processEvents()
    end = doc.graph.to_json()
    stack = doc.undo_stack
    top = stack.index()
    assert top > 30  # the sequence really did many undoable steps
    stack.setIndex(0)
    assert doc.graph.to_json() == start
    assert_mirrors(view)
    stack.setIndex(top)
    assert doc.graph.to_json() == end
    assert_mirrors(view)
    doc.infer_now()
    for nid, item in view.canvas_scene.nodes.items():
        assert item.report == doc.report[nid]
