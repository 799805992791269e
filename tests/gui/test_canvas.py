"""The node editor canvas (gui/canvas): mirroring the graph, gestures driven by real mouse and key
events, badges from inference, clipboard between two views, zoom, pan, auto-layout, undo."""

from __future__ import annotations

import json
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
import pytestqt  # noqa: F401  (a hard test dependency: fail loudly if missing)
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt
from PySide6.QtGui import QContextMenuEvent, QDragEnterEvent, QDragMoveEvent, QDropEvent, QWheelEvent
from PySide6.QtWidgets import QApplication

from layerloom.core import Graph
from layerloom.core.edits import SetParams
from layerloom.core.layout import layered_positions
from layerloom.core.project import Project
from layerloom.gui.canvas import BLOCK_MIME, CLIPBOARD_MIME, CanvasView
from layerloom.gui.canvas.clipboard import copy_payload, from_mime, paste_edit, to_mime
from layerloom.gui.canvas.edge_item import EdgeItem
from layerloom.gui.canvas.node_item import NodeItem
from layerloom.gui.canvas.quick_search import search_blocks
from layerloom.gui.canvas.style import HEADER_H, NODE_W, fmt_count, fmt_value
from layerloom.gui.document import Document
from layerloom.gui.editor import Editor

# --- helpers ----------------------------------------------------------------------------------------


def lenet() -> Graph:
    g = Graph()
    prev = g.add("Input", name="image", shape=[1, 28, 28])
    for type_id, params in [
        ("Conv2d", {"out_channels": 6, "kernel_size": 5, "padding": 2}), ("ReLU", {}),
        ("MaxPool2d", {"kernel_size": 2}),
        ("Conv2d", {"out_channels": 16, "kernel_size": 5}), ("ReLU", {}), ("MaxPool2d", {"kernel_size": 2}),
        ("Flatten", {}), ("Dense", {"out_features": 120}), ("ReLU", {}), ("Dense", {"out_features": 84}),
        ("ReLU", {}), ("Dense", {"out_features": 10}), ("Output", {"loss": "cross_entropy"}),
    ]:
        nid = g.add(type_id, **params)
        g.connect(prev, nid)
        prev = nid
    for nid, pos in layered_positions(g).items():
        g.move(nid, pos)
    return g


def make_view(qtbot, graph: Graph | None = None, size=(1100, 700)) -> CanvasView:
    doc = Document(Project(graph if graph is not None else Graph()))
    view = CanvasView(Editor(doc))
    qtbot.addWidget(view)
    view.resize(*size)
    view.show()
    qtbot.waitExposed(view)
    view.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is view, timeout=2000)
    view.set_zoom(1.0)
    view.centerOn(0, 0)
    return view


def vp_pos(view: CanvasView, scene_pos: QPointF) -> QPoint:
    return view.mapFromScene(scene_pos)


def drag(qtbot, view: CanvasView, a: QPointF, b: QPointF, button=Qt.MouseButton.LeftButton,
         modifier=Qt.KeyboardModifier.NoModifier) -> None:
    """Press at scene point a, move in steps, release at scene point b (real mouse events)."""
    vp = view.viewport()
    pa, pb = vp_pos(view, a), vp_pos(view, b)
    qtbot.mousePress(vp, button, modifier, pa)
    for t in (0.25, 0.5, 0.75, 1.0):
        qtbot.mouseMove(vp, QPoint(round(pa.x() + (pb.x() - pa.x()) * t), round(pa.y() + (pb.y() - pa.y()) * t)))
    qtbot.mouseRelease(vp, button, modifier, pb)


def assert_mirrors(view: CanvasView) -> None:
    """The scene holds exactly one item per block and per wire, in the graph's state."""
    g = view.document.graph
    scene = view.canvas_scene
    assert set(scene.nodes) == {n.id for n in g}
    assert set(scene.edges) == set(g.edges)
    for n in g:
        item = scene.nodes[n.id]
        assert (item.pos().x(), item.pos().y()) == n.pos
        assert item.name == n.name
        assert item.params == n.params
    node_items = [i for i in scene.items() if isinstance(i, NodeItem)]
    edge_items = [i for i in scene.items() if isinstance(i, EdgeItem)]
    assert len(node_items) == len(g)
    assert len(edge_items) == len(g.edges)


def settle(view: CanvasView) -> None:
    view.document.infer_now()


# --- mirroring and painting -------------------------------------------------------------------------


def test_scene_mirrors_graph_with_shapes_counts_and_key_params(qtbot):
    view = make_view(qtbot, lenet())
    g = view.document.graph
    assert_mirrors(view)
    conv = view.node_item(g.find("conv2d_1"))
    assert conv.report.status == "ok"
    assert conv.texts()["left"] == "6×28×28"
    assert conv.texts()["right"] == "156 params"
    assert ("out channels", "6") in conv.texts()["rows"]
    assert ("padding", "2") in conv.texts()["rows"]
    dense = view.node_item(g.find("dense_1"))
    assert dense.texts()["right"] == "48,120 params"  # thousands separators
    # wires are labelled with the shape they carry
    edge = next(e for e in g.edges if e.src == g.find("max_pool2d_1"))
    assert view.canvas_scene.edges[edge].label == "6×14×14"
    # category colours: the header of a conv block is the Convolution colour
    from layerloom.gui.colors import category_color

    assert conv.color == category_color("Convolution")
    assert view.node_item(g.find("image")).color == category_color("Inputs")


def test_wire_labels_are_drawn_whole_between_blocks_close_together(qtbot):
    from PySide6.QtGui import QFontMetricsF

    from layerloom.gui.canvas.edge_item import PORT_CLEARANCE
    from layerloom.gui.canvas.style import Fonts

    view = make_view(qtbot, lenet())
    g = view.document.graph
    conv, relu = g.find("conv2d_2"), g.find("relu_2")
    edge = view.canvas_scene.edges[next(e for e in g.edges if e.src == conv)]
    fm = QFontMetricsF(Fonts.label)

    def text_width(item):
        return max(fm.horizontalAdvance(item.label), fm.boundingRect(item.label).width()) * item.label_scale

    def assert_whole(item):
        rect = item.label_rect()
        assert rect.width() > text_width(item)  # the pill holds the whole text
        assert item.boundingRect().contains(rect)  # and Qt repaints all of it
        centre = rect.center().x()
        left = item.src.x() + NODE_W + PORT_CLEARANCE - 0.01
        right = item.dst.x() - PORT_CLEARANCE + 0.01
        assert left <= centre - text_width(item) / 2 and centre + text_width(item) / 2 <= right  # not under the ports

    assert edge.label == "16×10×10"
    for item in view.canvas_scene.edges.values():
        if item.label and item.src.y() == item.dst.y() and item.dst.x() > item.src.x():
            assert_whole(item)  # side by side in the template's layout
    assert edge.label_scale == 1.0
    # the user drags relu_2 close to conv2d_2 (50 px between the cards): the label shrinks to fit
    grip = view.node_item(relu).mapToScene(QPointF(NODE_W / 2, HEADER_H / 2))
    gap = view.node_item(relu).x() - view.node_item(conv).x() - NODE_W
    drag(qtbot, view, grip, grip - QPointF(gap - 50, 0))
    assert view.node_item(relu).x() - view.node_item(conv).x() - NODE_W == pytest.approx(50)
    assert_whole(edge)
    assert edge.label_scale < 1.0
    view.document.undo_stack.undo()
    assert edge.label_scale == 1.0


def test_items_update_from_reports_without_rebuilding(qtbot):
    view = make_view(qtbot, lenet())
    g = view.document.graph
    conv_id = g.find("conv2d_1")
    item = view.node_item(conv_id)
    before = list(view.canvas_scene.items())
    assert view.document.do(SetParams(conv_id, {"out_channels": 8}))
    assert ("out channels", "8") in item.texts()["rows"]  # at once, from the graph event
    qtbot.waitUntil(lambda: item.texts()["left"] == "8×28×28", timeout=2000)  # after the debounced inference
    assert view.node_item(conv_id) is item
    assert set(view.canvas_scene.items()) == set(before)
    out_edge = next(e for e in g.edges if e.src == conv_id)
    assert view.canvas_scene.edges[out_edge].label == "8×28×28"


def test_project_replaced_rebuilds_the_scene(qtbot):
    view = make_view(qtbot, lenet())
    g2 = Graph()
    a = g2.add("Input", shape=[8])
    b = g2.add("Dense", out_features=2)
    g2.connect(a, b)
    view.document.set_project(Project(g2), None)
    assert_mirrors(view)
    assert len(view.canvas_scene.nodes) == 2


def test_formatting_helpers():
    assert fmt_count(61706) == "61,706 params"
    assert fmt_count(1) == "1 param"
    assert fmt_value([3, 3], "size") == "3×3"
    assert fmt_value([0, 2, 1], "dims") == "(0, 2, 1)"
    assert fmt_value(True) == "yes"
    assert fmt_value(None) == "auto"
    assert fmt_value(0.5) == "0.5"


# --- badges ------------------------------------------------------------------------------------------


def test_error_badge_appears_on_bad_connection_and_goes_when_fixed(qtbot):
    g = Graph()
    x = g.add("Input", shape=[1, 28, 28], pos=(0, 0))
    d = g.add("Dense", out_features=10, pos=(400, 0))
    o = g.add("Output", pos=(800, 0))
    g.connect(d, o)
    view = make_view(qtbot, g)
    settle(view)
    dense, out = view.node_item(d), view.node_item(o)
    assert dense.badge.visible and "has no input" in dense.badge.message

    # connect Input → Dense with the mouse: a 1×28×28 map into a Dense is an error
    drag(qtbot, view, view.port_scene_pos(x, "out", True), view.port_scene_pos(d, "in", False))
    assert len(g.in_edges(d)) == 1
    qtbot.waitUntil(lambda: "flatten" in dense.badge.message.lower(), timeout=2000)
    assert dense.badge.visible and dense.badge.kind == "error"
    report = view.document.report[d]
    assert dense.badge.message.startswith(report.error)
    # hovering the badge shows the message; hovering the card shows what the block is
    badge_at = dense.mapToScene(dense.badge.rect().center())
    assert view.canvas_scene.tooltip_at(badge_at, view.transform()) == dense.badge.message
    card_at = dense.mapToScene(QPointF(NODE_W / 2, HEADER_H + 12))
    assert "Dense" in view.canvas_scene.tooltip_at(card_at, view.transform())
    # the Output downstream waits: grey, no red badge
    assert out.status == "waiting"
    assert not (out.badge.visible and out.badge.kind == "error")
    assert "waiting on" in out.texts()["left"]

    # fix it: a flat input
    view.document.do(SetParams(x, {"shape": [784]}))
    qtbot.waitUntil(lambda: not dense.badge.visible, timeout=2000)
    assert dense.status == "ok" and out.status == "ok"


def test_theme_follows_the_palette(qtbot):
    from PySide6.QtGui import QColor, QPalette

    from layerloom.gui.canvas import style

    view = make_view(qtbot, lenet())
    app = QApplication.instance()
    old = app.palette()
    try:
        dark = QPalette(old)
        dark.setColor(QPalette.ColorRole.Window, QColor("#202020"))
        app.setPalette(dark)
        QApplication.processEvents()
        assert view.canvas_scene.theme is style.DARK
        light = QPalette(old)
        light.setColor(QPalette.ColorRole.Window, QColor("#f0f0f0"))
        app.setPalette(light)
        QApplication.processEvents()
        assert view.canvas_scene.theme is style.LIGHT
    finally:
        app.setPalette(old)


def test_warning_badge_is_distinct(qtbot):
    g = Graph()
    x = g.add("Input", shape=[16])
    d = g.add("Dense", out_features=4)
    s = g.add("Softmax")
    o = g.add("Output", loss="cross_entropy")
    g.connect(x, d)
    g.connect(d, s)
    g.connect(s, o)
    view = make_view(qtbot, g)
    settle(view)
    badge = view.node_item(s).badge
    assert badge.visible and badge.kind == "warning"
    assert "softmax" in badge.message.lower()
    assert view.node_item(s).status == "ok"


# --- drop -------------------------------------------------------------------------------------------


def _send_drop(view: CanvasView, at: QPoint, payload: bytes, mime_type: str = BLOCK_MIME) -> QDropEvent:
    mime = QMimeData()
    mime.setData(mime_type, payload)
    vp = view.viewport()
    copy, left, plain = Qt.DropAction.CopyAction, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    enter = QDragEnterEvent(at, copy, mime, left, plain)
    QApplication.sendEvent(vp, enter)
    move = QDragMoveEvent(at, copy, mime, left, plain)
    QApplication.sendEvent(vp, move)
    drop = QDropEvent(QPointF(at), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(vp, drop)
    return enter, drop


def test_palette_drop_creates_block_at_drop_point(qtbot):
    view = make_view(qtbot)
    at = QPoint(420, 260)
    enter, _ = _send_drop(view, at, b"Conv2d")
    assert enter.isAccepted()
    g = view.document.graph
    assert len(g) == 1
    node = g.nodes[0]
    assert node.type == "Conv2d"
    scene_at = view.mapToScene(at)
    item = view.node_item(node.id)
    assert item.sceneBoundingRect().contains(scene_at)
    assert node.pos == (round(scene_at.x() - NODE_W / 2), round(scene_at.y() - HEADER_H / 2))
    assert view.selected_node_ids() == [node.id]
    assert view.document.undo_stack.count() == 1


def test_drop_of_other_data_is_left_to_the_window(qtbot):
    view = make_view(qtbot)
    enter, _ = _send_drop(view, QPoint(100, 100), b"file:///tmp/x.json", "text/uri-list")
    assert not enter.isAccepted()
    _send_drop(view, QPoint(100, 100), b"NoSuchBlock")
    assert len(view.document.graph) == 0


# --- wires ------------------------------------------------------------------------------------------


def test_connect_two_ports_with_mouse_events(qtbot):
    g = Graph()
    x = g.add("Input", shape=[1, 28, 28], pos=(0, 0))
    c = g.add("Conv2d", out_channels=6, kernel_size=5, pos=(320, 60))
    view = make_view(qtbot, g)
    drag(qtbot, view, view.port_scene_pos(x, "out", True), view.port_scene_pos(c, "in", False))
    assert [(e.src, e.dst) for e in g.edges] == [(x, c)]
    assert view.document.undo_stack.count() == 1
    assert_mirrors(view)
    assert view.node_item(c).inputs["in"].connections == 1
    view.document.undo_stack.undo()
    assert g.edges == []
    assert_mirrors(view)


def test_dropping_a_wire_on_a_block_body_connects_to_its_input(qtbot):
    g = Graph()
    x = g.add("Input", shape=[8], pos=(0, 0))
    d = g.add("Dense", pos=(320, 0))
    view = make_view(qtbot, g)
    body = view.node_item(d).sceneBoundingRect().center()
    drag(qtbot, view, view.port_scene_pos(x, "out", True), body)
    assert [(e.src, e.dst) for e in g.edges] == [(x, d)]


def test_refused_connection_says_why(qtbot):
    g = Graph()
    a = g.add("Input", shape=[8], pos=(0, 0))
    b = g.add("Input", shape=[8], pos=(0, 200))
    d = g.add("Dense", pos=(320, 0))
    g.connect(a, d)
    view = make_view(qtbot, g)
    messages = []
    view.editor.message.connect(messages.append)
    # drag to the already-taken input of Dense and hover: the reason shows near the cursor
    vp = view.viewport()
    pa = vp_pos(view, view.port_scene_pos(b, "out", True))
    pb = vp_pos(view, view.port_scene_pos(d, "in", False))
    qtbot.mousePress(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, pa)
    qtbot.mouseMove(vp, (pa + pb) / 2)
    qtbot.mouseMove(vp, pb)
    assert "already has an input" in view.hint_text()
    assert view.node_item(d).inputs["in"].highlight == "refused"
    qtbot.mouseRelease(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, pb)
    assert len(g.edges) == 1
    assert messages and "already has an input" in messages[-1]
    assert "already has an input" in view.hint_text()  # stays a moment after the release
    assert view.document.undo_stack.count() == 0


def test_cycle_is_refused(qtbot):
    g = Graph()
    x = g.add("Input", shape=[8], pos=(0, 0))
    add = g.add("Add", pos=(300, 0))
    r = g.add("ReLU", pos=(600, 0))
    g.connect(x, add)
    g.connect(add, r)
    view = make_view(qtbot, g)
    messages = []
    view.editor.message.connect(messages.append)
    drag(qtbot, view, view.port_scene_pos(r, "out", True), view.port_scene_pos(add, "in", False))
    assert len(g.edges) == 2
    assert messages and "cycle" in messages[-1]


def test_multi_input_port_takes_several_wires(qtbot):
    g = Graph()
    a = g.add("Input", shape=[8], pos=(0, 0))
    b = g.add("Input", shape=[8], pos=(0, 200))
    add = g.add("Add", pos=(350, 100))
    view = make_view(qtbot, g)
    drag(qtbot, view, view.port_scene_pos(a, "out", True), view.port_scene_pos(add, "in", False))
    drag(qtbot, view, view.port_scene_pos(b, "out", True), view.port_scene_pos(add, "in", False))
    assert len(g.in_edges(add)) == 2
    port = view.node_item(add).inputs["in"]
    assert port.multi and port.connections == 2
    ends = sorted(view.canvas_scene.edges[e].slot for e in g.edges)
    assert ends == [0, 1]  # the two wires arrive at separate slots of the port


def test_dragging_a_wire_off_an_input_removes_or_moves_it(qtbot):
    g = Graph()
    x = g.add("Input", shape=[8], pos=(0, 0))
    d1 = g.add("Dense", pos=(320, 0))
    d2 = g.add("Dense", pos=(320, 220))
    g.connect(x, d1)
    view = make_view(qtbot, g)
    # pick the wire up at Dense 1's input and drop it on Dense 2's input: one "Reconnect" step
    drag(qtbot, view, view.port_scene_pos(d1, "in", False), view.port_scene_pos(d2, "in", False))
    assert [(e.src, e.dst) for e in g.edges] == [(x, d2)]
    assert view.document.undo_stack.count() == 1
    # pick it up again and drop it on empty canvas: removed
    drag(qtbot, view, view.port_scene_pos(d2, "in", False), QPointF(150, 500))
    assert g.edges == []
    view.document.undo_stack.undo()
    view.document.undo_stack.undo()
    assert [(e.src, e.dst) for e in g.edges] == [(x, d1)]
    assert_mirrors(view)


def test_wire_released_on_empty_canvas_opens_quick_search_and_connects(qtbot):
    g = Graph()
    x = g.add("Input", shape=[1, 28, 28], pos=(0, 0))
    view = make_view(qtbot, g)
    end = QPointF(400, 40)
    drag(qtbot, view, view.port_scene_pos(x, "out", True), end)
    qs = view.quick_search()
    assert qs is not None and qs.isVisible()
    assert "Input" not in qs.matches()  # only blocks with an input can follow
    qtbot.keyClicks(qs.line_edit, "flatten")
    qtbot.keyClick(qs.line_edit, Qt.Key.Key_Return)
    assert view.quick_search() is None
    flat = next(n for n in g if n.type == "Flatten")
    assert [(e.src, e.dst) for e in g.edges] == [(x, flat.id)]
    # its input port sits where the wire was released
    port = view.port_scene_pos(flat.id, "in", False)
    assert abs(port.x() - end.x()) <= 1 and abs(port.y() - end.y()) <= 1
    assert view.document.undo_stack.count() == 1
    view.document.undo_stack.undo()
    assert len(g) == 1 and g.edges == []


# --- selection and moving ---------------------------------------------------------------------------


def test_drag_moves_selected_blocks_in_one_step(qtbot):
    view = make_view(qtbot, lenet())
    g = view.document.graph
    a, b = g.find("conv2d_1"), g.find("relu_1")
    old = {a: g.node(a).pos, b: g.node(b).pos}
    view.editor.select([a, b])
    grip = view.node_item(a).mapToScene(QPointF(NODE_W / 2, HEADER_H / 2))
    drag(qtbot, view, grip, grip + QPointF(60, 100))
    assert g.node(a).pos == (old[a][0] + 60, old[a][1] + 100)
    assert g.node(b).pos == (old[b][0] + 60, old[b][1] + 100)
    assert view.document.undo_stack.count() == 1
    edge = next(e for e in g.edges if e.dst == a)
    path_end = view.canvas_scene.edges[edge]._wire.currentPosition()
    assert (path_end - view.port_scene_pos(a, "in", False)).manhattanLength() < 0.01  # the wire followed
    view.document.undo_stack.undo()
    assert g.node(a).pos == old[a] and g.node(b).pos == old[b]
    assert_mirrors(view)


def test_rubber_band_and_ctrl_click_selection(qtbot):
    view = make_view(qtbot, lenet())
    g = view.document.graph
    seen = []
    view.editor.selection_changed.connect(seen.append)
    first_three = [g.nodes[i].id for i in range(3)]
    rect = view.canvas_scene.nodes_rect(first_three)
    drag(qtbot, view, rect.topLeft() - QPointF(20, 20), rect.bottomRight() + QPointF(10, 10))
    assert sorted(view.selected_node_ids()) == sorted(first_three)
    assert seen and sorted(seen[-1]) == sorted(first_three)
    # Ctrl-click adds another block; Ctrl-click again removes it
    fourth = g.nodes[3].id
    at = vp_pos(view, view.node_item(fourth).mapToScene(QPointF(NODE_W / 2, HEADER_H + 10)))
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ControlModifier, at)
    assert sorted(view.selected_node_ids()) == sorted([*first_three, fourth])
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ControlModifier, at)
    assert sorted(view.selected_node_ids()) == sorted(first_three)
    view.editor.run("select_all")
    assert len(view.selected_node_ids()) == len(g)
    assert len(seen[-1]) == len(g)


def test_rubber_band_may_start_right_next_to_a_block(qtbot):
    view = make_view(qtbot, lenet())
    g = view.document.graph
    item = view.node_item(g.find("relu_1"))
    card = item.sceneBoundingRect()
    near = item.mapToScene(QPointF(NODE_W / 2, -6))  # just above the card: canvas, not the block
    assert not item.shape().contains(item.mapFromScene(near))
    drag(qtbot, view, near, near + QPointF(-30, card.height() + 20))
    assert item.pos() == QPointF(*g.node(item.node_id).pos)  # not moved
    assert view.document.undo_stack.count() == 0
    assert view.selected_node_ids() == [item.node_id]  # the band touched it


def test_delete_is_one_macro_and_undo_restores_exactly(qtbot):
    view = make_view(qtbot, lenet())
    g = view.document.graph
    original = g.to_json()
    ids = [g.find("conv2d_2"), g.find("relu_2"), g.find("dense_1")]
    view.editor.select(ids)
    view.editor.run("delete")
    assert all(i not in g for i in ids)
    assert view.document.undo_stack.count() == 1
    assert_mirrors(view)
    view.document.undo_stack.undo()
    assert g.to_json() == original
    assert_mirrors(view)


def test_delete_a_selected_wire(qtbot):
    view = make_view(qtbot, lenet())
    g = view.document.graph
    edge = g.edges[0]
    view.canvas_scene.edges[edge].setSelected(True)
    view.editor.run("delete")
    assert edge not in g.edges and len(g) == 14


def test_duplicate_copies_blocks_and_their_wires(qtbot):
    view = make_view(qtbot, lenet())
    g = view.document.graph
    ids = [g.find("conv2d_1"), g.find("relu_1")]
    new = view.editor.run("duplicate")
    assert new == []
    view.editor.select(ids)
    new = view.editor.run("duplicate")
    assert len(new) == 2 and sorted(view.selected_node_ids()) == sorted(new)
    types = sorted(g.node(n).type for n in new)
    assert types == ["Conv2d", "ReLU"]
    assert any(e.src in new and e.dst in new for e in g.edges)
    names = {g.node(n).name for n in new}
    assert not names & {"conv2d_1", "relu_1"}
    assert g.node(new[0]).pos == (g.node(ids[0]).pos[0] + 40, g.node(ids[0]).pos[1] + 40)
    assert view.document.undo_stack.count() == 1
    view.document.undo_stack.undo()
    assert all(n not in g for n in new)


def test_copy_paste_between_two_views_through_the_system_clipboard(qtbot):
    a = make_view(qtbot, lenet())
    b = make_view(qtbot)
    ga, gb = a.document.graph, b.document.graph
    ids = [ga.find("conv2d_1"), ga.find("relu_1"), ga.find("max_pool2d_1")]
    a.editor.select(ids)
    assert a.editor.run("copy")
    mime = QApplication.clipboard().mimeData()
    assert mime.hasFormat(CLIPBOARD_MIME)
    assert json.loads(mime.text())["format"] == "layerloom-clipboard"
    pasted = b.editor.run("paste")
    assert len(pasted) == 3
    assert sorted(n.name for n in gb) == ["conv2d_1", "max_pool2d_1", "relu_1"]  # free names are kept
    assert len(gb.edges) == 2
    assert gb.node(gb.find("conv2d_1")).params == ga.node(ids[0]).params
    assert sorted(b.selected_node_ids()) == sorted(pasted)
    assert_mirrors(b)
    # pasting again offsets further and renames
    again = b.editor.run("paste")
    assert len(gb) == 6 and "conv2d_2" in {gb.node(n).name for n in again}
    assert gb.node(again[0]).pos[0] == gb.node(pasted[0]).pos[0] + 40
    b.document.undo_stack.undo()
    b.document.undo_stack.undo()
    assert len(gb) == 0


def test_cut_then_paste(qtbot):
    view = make_view(qtbot, lenet())
    g = view.document.graph
    ids = [g.find("dense_3"), g.find("output_1")]
    view.editor.select(ids)
    assert view.editor.run("cut")
    assert all(i not in g for i in ids) and view.document.undo_stack.count() == 1
    pasted = view.editor.run("paste")
    assert sorted(g.node(n).name for n in pasted) == ["dense_3", "output_1"]
    assert g.node(g.find("dense_3")).pos == view.document.graph.node(g.find("dense_3")).pos


def test_exit_after_copy_does_not_crash():
    """Qt deletes what is left on the clipboard after Python has shut down; a QMimeData made in Python
    then crashed the process (offscreen platform). The canvas hands the clipboard a Qt-owned copy."""
    import subprocess
    import sys

    script = (
        "from PySide6.QtWidgets import QApplication\n"
        "app = QApplication([])\n"
        "from layerloom.core import Graph\n"
        "from layerloom.core.project import Project\n"
        "from layerloom.gui.document import Document\n"
        "from layerloom.gui.canvas import CanvasView\n"
        "from layerloom.gui.editor import Editor\n"
        "g = Graph(); n = g.add('ReLU')\n"
        "view = CanvasView(Editor(Document(Project(g))))\n"
        "view.editor.select([n]); assert view.editor.run('copy')\n"
    )
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    result = subprocess.run([sys.executable, "-c", script], env=env, timeout=120, capture_output=True)
    assert result.returncode == 0, result.stderr.decode()[-2000:]


def test_paste_without_blocks_on_the_clipboard_is_refused_politely(qtbot):
    view = make_view(qtbot)
    QApplication.clipboard().setText("hello")
    with qtbot.waitSignal(view.editor.message, timeout=1000):
        assert view.editor.run("paste") == []


def test_clipboard_payload_round_trip_without_a_view():
    g = lenet()
    ids = [g.find("dense_1"), g.find("relu_3")]
    payload = copy_payload(g, ids)
    assert from_mime(to_mime(payload)) == payload
    edit, new = paste_edit(g, payload, (10, 10))
    before = g.to_json()
    edit.apply(g)
    assert len(new) == 2 and all(n in g for n in new)
    edit.revert(g)
    assert g.to_json() == before


def test_a_pasted_frozen_block_stays_frozen_and_undo_removes_it():
    g = lenet()
    dense = g.find("dense_1")
    g.set_frozen(dense, True)
    payload = copy_payload(g, [dense, g.find("relu_3")])
    edit, (new_dense, new_relu) = paste_edit(g, payload, (10, 10))
    before = g.to_json()
    edit.apply(g)
    assert g.node(new_dense).frozen and not g.node(new_relu).frozen
    edit.revert(g)
    assert g.to_json() == before


# --- rename ------------------------------------------------------------------------------------------


def test_rename_in_place_with_f2(qtbot):
    view = make_view(qtbot, lenet())
    g = view.document.graph
    conv = g.find("conv2d_1")
    view.editor.select([conv])
    view.setFocus()
    qtbot.keyClick(view, Qt.Key.Key_F2)
    field = view.rename_field()
    assert field is not None and field.isVisible() and field.text() == "conv2d_1"
    field.selectAll()
    qtbot.keyClicks(field, "features")
    qtbot.keyClick(field, Qt.Key.Key_Return)
    assert g.node(conv).name == "features"
    assert view.node_item(conv).name == "features"
    assert view.rename_field() is None
    assert view.document.undo_stack.count() == 1


def test_invalid_name_is_refused_with_the_reason(qtbot):
    view = make_view(qtbot, lenet())
    g = view.document.graph
    conv = g.find("conv2d_1")
    view.editor.select([conv])
    field = view.editor.run("rename")
    messages = []
    view.editor.message.connect(messages.append)
    field.selectAll()
    qtbot.keyClicks(field, "relu_1")  # taken
    qtbot.keyClick(field, Qt.Key.Key_Return)
    assert g.node(conv).name == "conv2d_1"
    assert view.rename_field() is field and field.isVisible()
    assert "already used" in view.hint_text()
    assert messages and "already used" in messages[-1]
    field.selectAll()
    qtbot.keyClicks(field, "2fast")
    qtbot.keyClick(field, Qt.Key.Key_Return)
    assert "must start with a letter" in view.hint_text()
    qtbot.keyClick(field, Qt.Key.Key_Escape)
    assert view.rename_field() is None
    assert g.node(conv).name == "conv2d_1"
    assert view.document.undo_stack.count() == 0


def test_double_click_on_title_opens_the_name_field(qtbot):
    view = make_view(qtbot, lenet())
    g = view.document.graph
    d = g.find("dense_2")
    at = vp_pos(view, view.node_item(d).mapToScene(QPointF(30, HEADER_H / 2)))
    qtbot.mouseDClick(view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, at)
    field = view.rename_field()
    assert field is not None and field.node_id == d


# --- quick search --------------------------------------------------------------------------------------


def test_search_ranking():
    assert search_blocks("lstm")[0].type_id == "LSTM"
    assert search_blocks("LSTM")[0].type_id == "LSTM"
    assert search_blocks("linear")[0].type_id == "Dense"
    assert search_blocks("maxp")[0].type_id.startswith("MaxPool")
    assert [s.type_id for s in search_blocks("conv")[:2]] == ["Conv1d", "Conv2d"]
    assert search_blocks("relu")[0].type_id == "ReLU"
    assert len(search_blocks("")) == len(search_blocks("", None))
    assert search_blocks("zzzz") == []


def test_tab_opens_quick_search_and_typing_adds_a_block(qtbot):
    view = make_view(qtbot, lenet())
    g = view.document.graph
    n = len(g)
    view.setFocus()
    qtbot.keyClick(view, Qt.Key.Key_Tab)
    qs = view.quick_search()
    assert qs is not None and qs.isVisible() and qs.line_edit.hasFocus()
    qtbot.keyClicks(qs.line_edit, "lstm")
    assert qs.current_type() == "LSTM"
    qtbot.keyClick(qs.line_edit, Qt.Key.Key_Return)
    assert len(g) == n + 1
    lstm = g.nodes[-1]
    assert lstm.type == "LSTM"
    assert view.selected_node_ids() == [lstm.id]
    assert view.quick_search() is None


def test_arrow_keys_choose_and_escape_closes(qtbot):
    view = make_view(qtbot)
    qs = view.open_quick_search(QPointF(0, 0))
    qtbot.keyClicks(qs.line_edit, "pool")
    first = qs.current_type()
    qtbot.keyClick(qs.line_edit, Qt.Key.Key_Down)
    second = qs.current_type()
    assert second != first
    qtbot.keyClick(qs.line_edit, Qt.Key.Key_Return)
    assert [n.type for n in view.document.graph] == [second]
    qs = view.open_quick_search()
    qtbot.keyClick(qs.line_edit, Qt.Key.Key_Escape)
    assert view.quick_search() is None and len(view.document.graph) == 1


def test_right_click_on_empty_canvas_opens_quick_search(qtbot):
    view = make_view(qtbot)
    at = QPoint(300, 200)
    event = QContextMenuEvent(QContextMenuEvent.Reason.Mouse, at, view.viewport().mapToGlobal(at))
    QApplication.sendEvent(view.viewport(), event)
    qs = view.quick_search()
    assert qs is not None and qs.isVisible()
    qtbot.keyClicks(qs.line_edit, "dense")
    qtbot.keyClick(qs.line_edit, Qt.Key.Key_Enter)
    node = view.document.graph.nodes[0]
    assert node.type == "Dense"
    assert view.node_item(node.id).sceneBoundingRect().contains(view.mapToScene(at))


def test_context_menu_on_a_block_and_on_a_wire(qtbot, monkeypatch):
    view = make_view(qtbot, lenet())
    g = view.document.graph
    shown = []

    def fake_exec(menu, global_pos):  # instead of the modal menu: pick Delete / Remove connection
        shown.append([a.text() for a in menu.actions() if a.text()])
        chosen = next(a for a in menu.actions() if a.text() in ("&Delete", "Remove connection"))
        chosen.trigger()

    monkeypatch.setattr(view, "_exec_menu", fake_exec)
    relu = g.find("relu_1")
    at = vp_pos(view, view.node_item(relu).mapToScene(QPointF(NODE_W / 2, HEADER_H + 8)))
    QApplication.sendEvent(view.viewport(), QContextMenuEvent(QContextMenuEvent.Reason.Mouse, at,
                                                             view.viewport().mapToGlobal(at)))
    # the editor's commands, as in the Edit menu (and Replace With: a ReLU may become another activation)
    assert shown[-1] == ["Re&name", "D&uplicate", "Replace &With", "&Delete"]
    assert relu not in g
    edge = g.edges[0]
    mid = view.canvas_scene.edges[edge]._wire.pointAtPercent(0.3)
    at = vp_pos(view, mid)
    QApplication.sendEvent(view.viewport(), QContextMenuEvent(QContextMenuEvent.Reason.Mouse, at,
                                                             view.viewport().mapToGlobal(at)))
    assert shown[-1] == ["Remove connection"]
    assert edge not in g.edges
    assert view.document.undo_stack.count() == 2


# --- zoom, pan, fit, layout ---------------------------------------------------------------------------


def _wheel(view: CanvasView, at: QPoint, steps: int) -> None:
    vp = view.viewport()
    event = QWheelEvent(QPointF(at), QPointF(vp.mapToGlobal(at)), QPoint(0, 0), QPoint(0, 120 * steps),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(vp, event)


def test_wheel_zooms_around_the_cursor(qtbot):
    view = make_view(qtbot, lenet())
    at = QPoint(700, 250)
    under = view.mapToScene(at)
    _wheel(view, at, 2)
    assert view.zoom_level() == pytest.approx(1.44, rel=1e-3)
    after = view.mapToScene(at)
    assert abs(after.x() - under.x()) < 2 and abs(after.y() - under.y()) < 2
    _wheel(view, at, -4)
    assert view.zoom_level() == pytest.approx(1 / 1.44, rel=1e-3)
    after = view.mapToScene(at)
    assert abs(after.x() - under.x()) < 3 and abs(after.y() - under.y()) < 3
    for _ in range(40):
        _wheel(view, at, -1)
    assert view.zoom_level() == pytest.approx(0.1)
    view.zoom_in()
    assert view.zoom_level() == pytest.approx(0.12)


def test_fit_shows_every_block(qtbot):
    view = make_view(qtbot, lenet(), size=(900, 500))
    view.fit_all()
    visible = view.mapToScene(view.viewport().rect()).boundingRect()
    assert visible.contains(view.canvas_scene.nodes_rect())
    assert view.zoom_level() < 1.0
    view.zoom_out()
    view.fit_all(min_zoom=0.7)  # what opening a project does: readable, from the inputs
    assert view.zoom_level() == pytest.approx(0.7)
    visible = view.mapToScene(view.viewport().rect()).boundingRect()
    assert visible.contains(view.node_item(view.document.graph.nodes[0].id).sceneBoundingRect())


def test_pan_with_middle_button_and_with_space_drag(qtbot):
    view = make_view(qtbot, lenet())
    centre = view.viewport().rect().center()
    before = view.mapToScene(centre)
    drag(qtbot, view, view.mapToScene(QPoint(500, 300)), view.mapToScene(QPoint(400, 250)),
         button=Qt.MouseButton.MiddleButton)
    after = view.mapToScene(centre)
    assert after.x() - before.x() == pytest.approx(100, abs=1)
    assert after.y() - before.y() == pytest.approx(50, abs=1)
    assert view.document.undo_stack.count() == 0
    # Space + left drag pans too (and does not start a rubber band or move a block)
    view.setFocus()
    qtbot.keyPress(view, Qt.Key.Key_Space)
    assert view.space_held
    before = view.mapToScene(centre)
    vp = view.viewport()
    qtbot.mousePress(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(300, 300))
    qtbot.mouseMove(vp, QPoint(330, 300))
    qtbot.mouseMove(vp, QPoint(360, 320))
    qtbot.mouseRelease(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(360, 320))
    qtbot.keyRelease(view, Qt.Key.Key_Space)
    assert not view.space_held
    after = view.mapToScene(centre)
    assert before.x() - after.x() == pytest.approx(60, abs=1)
    assert before.y() - after.y() == pytest.approx(20, abs=1)
    assert view.selected_node_ids() == []


def test_auto_layout_is_one_undo_step(qtbot):
    g = lenet()
    for i, n in enumerate(g.nodes):
        g.move(n.id, ((i * 7919) % 600, (i * 104729) % 900))
    view = make_view(qtbot, g)
    scrambled = g.to_json()
    assert view.editor.run("auto_layout")
    assert view.document.undo_stack.count() == 1
    spots = [(g.node(nid).pos[1], g.node(nid).pos[0]) for nid in g.topological_order()]
    # a chain of 14 wraps into two bands of 7, read like text: left to right, then the next band below
    assert spots == sorted(spots) and len(set(spots)) == len(g)
    assert len({y for y, _ in spots}) == 2
    assert_mirrors(view)
    view.document.undo_stack.undo()
    assert g.to_json() == scrambled
    assert_mirrors(view)
    view.document.undo_stack.redo()
    assert g.to_json() != scrambled
    assert_mirrors(view)


def test_escape_cancels_a_wire(qtbot):
    g = Graph()
    x = g.add("Input", shape=[8], pos=(0, 0))
    view = make_view(qtbot, g)
    vp = view.viewport()
    p = vp_pos(view, view.port_scene_pos(x, "out", True))
    qtbot.mousePress(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, p)
    qtbot.mouseMove(vp, p + QPoint(80, 40))
    assert view.canvas_scene.wire.isVisible()
    view.setFocus()
    qtbot.keyClick(view, Qt.Key.Key_Escape)
    assert not view.canvas_scene.wire.isVisible()
    qtbot.mouseRelease(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, p + QPoint(80, 40))
    assert view.quick_search() is None and g.edges == []


def test_add_block_at_centre_steps_aside(qtbot):
    view = make_view(qtbot)
    a = view.editor.run("place_block", type_id="ReLU")
    b = view.editor.run("place_block", type_id="ReLU")
    g = view.document.graph
    assert g.node(a).pos != g.node(b).pos
    assert view.editor.run("place_block", type_id="NoSuchBlock") is None
