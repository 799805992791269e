"""Select-all + move in the window: Ctrl+A, a mouse drag of one block moves every block, and one Ctrl+Z puts
every block and wire back (the move is one edit, one graph event). Also: the editor's cached selection stays
right after blocks are added, removed and selected, and the overview picture follows moves in place."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
import pytestqt  # noqa: F401  (a hard test dependency: fail loudly if missing)
from PySide6.QtCore import QPoint, QPointF, QRectF, Qt
from PySide6.QtWidgets import QApplication, QMessageBox
from windows import Windows

from layerloom.core import Graph
from layerloom.core.edits import AddNode, Move, RemoveNode
from layerloom.core.project import Project
from layerloom.gui.canvas.style import NODE_W, PORT_Y

N = 40
COLUMNS = 8
CTRL = Qt.KeyboardModifier.ControlModifier


def grid_chain(n: int = N) -> Graph:
    g = Graph()
    ids = [g.add("Input", shape=[8])]
    for i in range(n - 2):
        ids.append(g.add("Dense", out_features=8) if i % 2 == 0 else g.add("ReLU"))
        g.connect(ids[-2], ids[-1])
    ids.append(g.add("Output", loss="mse"))
    g.connect(ids[-2], ids[-1])
    for i, nid in enumerate(ids):
        g.move(nid, ((i % COLUMNS) * 260.0, (i // COLUMNS) * 170.0))
    return g


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    def unexpected(box):
        raise AssertionError(f"unexpected dialog: {box.text()!r}")

    monkeypatch.setattr(QMessageBox, "exec", unexpected)
    with Windows(qtbot, tmp_path) as windows:
        w = windows.make(Project(grid_chain()), size=(1200, 800))
        w.canvas.set_zoom(0.5)
        w.canvas.centerOn(QPointF(900, 500))
        w.canvas.setFocus()
        QApplication.processEvents()
        yield w


def positions(g: Graph) -> dict[str, tuple[float, float]]:
    return {n.id: n.pos for n in g}


def assert_wires_follow(view) -> None:
    """Every wire starts at its source's output port and ends at its target's input port (scene coordinates),
    and the items sit where the graph says."""
    scene, g = view.canvas_scene, view.document.graph
    for nid, item in scene.nodes.items():
        assert item.pos() == QPointF(*g.node(nid).pos)
    for edge in scene.edges.values():
        path = edge.path()
        assert edge.mapToScene(path.pointAtPercent(0)) == edge.src.output_anchor(edge.edge.src_port)
        assert edge.mapToScene(edge._wire.pointAtPercent(1)) == edge.dst.input_anchor(edge.edge.dst_port)


def test_ctrl_a_then_drag_moves_every_block_and_ctrl_z_restores_all_in_one_step(qtbot, window):
    view, doc = window.canvas, window.document
    g = doc.graph
    before = positions(g)
    qtbot.keyClick(view.viewport(), Qt.Key.Key_A, CTRL)
    assert sorted(view.editor.selection) == sorted(before)
    depth = doc.undo_stack.count()

    item = view.canvas_scene.nodes[next(iter(before))]
    start = view.mapFromScene(item.mapToScene(QPointF(NODE_W / 2, 20)))
    end = start + QPoint(60, 40)
    vp = view.viewport()
    qtbot.mousePress(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
    for t in (0.25, 0.5, 0.75, 1.0):
        qtbot.mouseMove(vp, QPoint(round(start.x() + 60 * t), round(start.y() + 40 * t)))
    qtbot.mouseRelease(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, end)
    QApplication.processEvents()

    assert doc.undo_stack.count() == depth + 1  # the whole drag: one step
    after = positions(g)
    dx, dy = after[item.node_id][0] - before[item.node_id][0], after[item.node_id][1] - before[item.node_id][1]
    assert (dx, dy) != (0.0, 0.0)
    assert after == {nid: (x + dx, y + dy) for nid, (x, y) in before.items()}
    assert_wires_follow(view)

    qtbot.keyClick(vp, Qt.Key.Key_Z, CTRL)
    QApplication.processEvents()
    assert positions(g) == before
    assert doc.undo_stack.index() == depth
    assert_wires_follow(view)

    qtbot.keyClick(vp, Qt.Key.Key_Z, CTRL | Qt.KeyboardModifier.ShiftModifier)  # redo: all again
    QApplication.processEvents()
    assert positions(g) == after
    assert_wires_follow(view)


def test_a_move_of_some_blocks_then_of_one_keeps_every_wire_on_its_ports(qtbot, window):
    view, editor, g = window.canvas, window.canvas.editor, window.document.graph
    ids = [n.id for n in g]
    some = ids[: N // 2]
    editor.select(some, reveal=False)
    assert editor.do(Move({nid: (g.node(nid).pos[0] + 30, g.node(nid).pos[1] + 15) for nid in some}))
    assert_wires_follow(view)  # wires inside the group shifted whole, the one leaving it made afresh
    assert editor.do(Move({ids[3]: (5.0, 7.0)}))  # one block of the group: its two wires made afresh
    assert_wires_follow(view)
    assert editor.do(Move({nid: (i * 10.0, -50.0) for i, nid in enumerate(ids)}))  # everything, not alike
    assert_wires_follow(view)
    window.document.undo_stack.undo()
    window.document.undo_stack.undo()
    window.document.undo_stack.undo()
    assert_wires_follow(view)


def test_the_cached_selection_follows_adds_removes_and_selections(qtbot, window):
    view, editor, doc = window.canvas, window.canvas.editor, window.document
    g = doc.graph
    ids = [n.id for n in g]
    qtbot.keyClick(view.viewport(), Qt.Key.Key_A, CTRL)
    assert sorted(editor.selection) == sorted(ids)
    assert editor.do(RemoveNode(ids[5]))
    assert ids[5] not in editor.selection and len(editor.selection) == N - 1
    doc.undo_stack.undo()  # the block is back; the selection had dropped it
    assert ids[5] in g and ids[5] not in editor.selection
    add = AddNode("ReLU", pos=(-400.0, -400.0))
    assert editor.do(add)
    assert add.node_id not in editor.selection
    editor.select([add.node_id, ids[0]], reveal=False)
    assert sorted(editor.selection) == sorted([add.node_id, ids[0]])
    doc.undo_stack.undo()  # the added block goes: the selection drops it at once
    assert editor.selection == [ids[0]]
    editor.select([], reveal=False)
    assert editor.selection == []


def test_the_overview_picture_follows_a_select_all_move_and_its_undo(qtbot, window):
    view, editor, doc = window.canvas, window.canvas.editor, window.document
    scene, g = view.canvas_scene, doc.graph
    picture = scene.picture
    picture.refresh()
    qtbot.keyClick(view.viewport(), Qt.Key.Key_A, CTRL)
    assert len(picture.selected) == N and picture.current()  # updated in place, not rebuilt

    def drawn() -> tuple[set, set]:
        boxes = {(r.x() + picture.dx, r.y() + picture.dy) for _c, rects in picture.boxes.values() for r in rects}
        lines = {(round(ln.x1() + picture.dx), round(ln.y1() + picture.dy), round(ln.x2() + picture.dx),
                  round(ln.y2() + picture.dy)) for ln in picture.lines}
        return boxes, lines

    def expected() -> tuple[set, set]:
        boxes = {n.pos for n in g}
        lines = {(round(g.node(e.src).pos[0] + NODE_W), round(g.node(e.src).pos[1] + PORT_Y),
                  round(g.node(e.dst).pos[0]), round(g.node(e.dst).pos[1] + PORT_Y)) for e in g.edges}
        return boxes, lines

    before = positions(g)
    assert editor.do(Move({nid: (x + 40.0, y - 20.0) for nid, (x, y) in before.items()}))
    assert picture.current() and drawn() == expected()
    left, top = min(x for x, _ in before.values()), min(y for _, y in before.values())
    assert picture.bounds.topLeft() == QPointF(left + 40.0, top - 20.0)
    doc.undo_stack.undo()
    assert picture.current() and drawn() == expected()
    some = list(before)[:7]
    assert editor.do(Move({nid: (before[nid][0] - 500.0, before[nid][1]) for nid in some}))
    assert picture.current() and drawn() == expected()
    assert picture.bounds == QRectF(left - 500.0, top, picture.bounds.width(), picture.bounds.height())
    picture.refresh()
    rebuilt = drawn()
    scene.touch()
    picture.refresh()  # a full rebuild draws the same
    assert drawn() == rebuilt == expected()
