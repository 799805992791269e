"""The canvas with a big graph (300 blocks here, so that tests stay fast): level of detail, items off screen
not painted, the overview paint far out, the minimap, select-all + move and its undo."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
import pytestqt  # noqa: F401  (a hard test dependency: fail loudly if missing)
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtWidgets import QApplication

from layerloom.core import Graph
from layerloom.core.edits import Move
from layerloom.core.project import Project
from layerloom.gui.canvas import CanvasView
from layerloom.gui.canvas.edge_item import EdgeItem
from layerloom.gui.canvas.node_item import NodeItem
from layerloom.gui.canvas.style import LOW_DETAIL, NODE_W, OVERVIEW_ZOOM, Fonts, detail_for
from layerloom.gui.document import Document
from layerloom.gui.editor import Editor

N = 300
COLUMNS = 20


def chain(n: int = N) -> Graph:
    """Input → Dense/ReLU … → Output in a grid of COLUMNS columns."""
    g = Graph()
    prev = g.add("Input", shape=[16])
    ids = [prev]
    for i in range(n - 2):
        nid = g.add("Dense", out_features=16) if i % 2 == 0 else g.add("ReLU")
        g.connect(prev, nid)
        ids.append(nid)
        prev = nid
    out = g.add("Output", loss="mse")
    g.connect(prev, out)
    ids.append(out)
    for i, nid in enumerate(ids):
        g.move(nid, ((i % COLUMNS) * 260.0, (i // COLUMNS) * 170.0))
    return g


def make_view(qtbot, graph: Graph, size=(800, 500)) -> CanvasView:
    view = CanvasView(Editor(Document(Project(graph))))
    qtbot.addWidget(view)
    view.resize(*size)
    view.show()
    qtbot.waitExposed(view)
    QApplication.processEvents()
    return view


@pytest.fixture
def paints(monkeypatch):
    """Counts NodeItem.paint and EdgeItem.paint calls, per item."""
    counts: dict[str, int] = {}
    node_paint, edge_paint = NodeItem.paint, EdgeItem.paint

    def count_node(self, painter, option, widget=None):
        counts[self.node_id] = counts.get(self.node_id, 0) + 1
        node_paint(self, painter, option, widget)

    def count_edge(self, painter, option, widget=None):
        counts["edge"] = counts.get("edge", 0) + 1
        edge_paint(self, painter, option, widget)

    monkeypatch.setattr(NodeItem, "paint", count_node)
    monkeypatch.setattr(EdgeItem, "paint", count_edge)
    return counts


def render(item: NodeItem, zoom: float, texts: list[str]) -> None:
    """Paint one block into an image at `zoom`, recording every text it draws."""
    image = QImage(400, 300, QImage.Format.Format_ARGB32)
    painter = QPainter(image)
    painter.scale(zoom, zoom)
    drawn = painter.drawText

    class Recorder:
        def __getattr__(self, name):
            return getattr(painter, name)

        def drawText(self, *args):
            texts.append(args[-1])
            drawn(*args)

    item.paint(Recorder(), None)
    painter.end()


# --- level of detail ---------------------------------------------------------------------------------


def test_detail_levels_follow_the_zoom(qtbot):
    assert detail_for(1.0) == "full"
    assert detail_for(LOW_DETAIL) == "full"
    assert detail_for(LOW_DETAIL - 0.01) == "plain"
    assert detail_for(OVERVIEW_ZOOM) == "plain"
    assert detail_for(OVERVIEW_ZOOM - 0.01) == "overview"
    # a block's title (the bold title font) is at least 4 px high where text is drawn
    Fonts.ensure()
    assert Fonts.metrics["title"].height() * LOW_DETAIL >= 4


def test_block_text_is_drawn_only_above_the_threshold(qtbot):
    view = make_view(qtbot, chain(6))
    item = view.node_item(next(n.id for n in view.document.graph if n.type == "Dense"))
    near, far = [], []
    render(item, 1.0, near)
    render(item, LOW_DETAIL * 0.9, far)
    assert item.name in near and "16" in near  # the title and the shape in the footer
    assert far == []


def test_far_out_the_view_paints_boxes_without_asking_the_items(qtbot, paints):
    view = make_view(qtbot, chain())
    view.set_zoom(OVERVIEW_ZOOM * 0.8)
    view.centerOn(view.canvas_scene.nodes_rect().center())
    assert view.overview
    paints.clear()
    view.viewport().repaint()
    assert paints == {}  # no block and no wire painted itself
    image = view.grab().toImage()
    middle = view.canvas_scene.nodes_rect().center()
    first = min(view.canvas_scene.nodes.values(), key=lambda i: (i.pos() - middle).manhattanLength())
    centre = view.mapFromScene(first.pos() + QPointF(NODE_W / 2, first.height / 2))
    header = first.header_color(view.canvas_scene.theme)
    assert QColor(image.pixel(centre)) == header  # the block is a plain box of its header colour
    view.set_zoom(1.0)
    assert not view.overview
    first.update()
    view.centerOn(first)
    view.viewport().repaint()
    assert paints[first.node_id] == 1  # close up, the items paint again


def test_blocks_outside_the_view_are_not_painted(qtbot, paints):
    view = make_view(qtbot, chain())
    view.set_zoom(1.0)
    order = view.document.graph.topological_order()
    view.centerOn(view.node_item(order[0]))
    QApplication.processEvents()
    paints.clear()
    for item in view.canvas_scene.nodes.values():  # every block's picture is out of date (a new report)
        item.update()
    view.viewport().repaint()
    visible = view.mapToScene(view.viewport().rect()).boundingRect()
    on_screen = {nid for nid, item in view.canvas_scene.nodes.items()
                 if item.sceneBoundingRect().intersects(visible)}
    painted = set(paints) - {"edge"}
    assert painted and painted <= on_screen
    assert len(on_screen) < N // 5  # most of the graph is off screen, and none of it was painted


def test_a_big_graph_can_be_fitted_whole(qtbot):
    g = chain(N)
    for i, nid in enumerate(g.topological_order()):  # one long row: wider than MIN_ZOOM can fit
        g.move(nid, (i * 260.0, 0.0))
    view = make_view(qtbot, g)
    view.fit_all()
    visible = view.mapToScene(view.viewport().rect()).boundingRect()
    assert visible.contains(view.canvas_scene.nodes_rect())
    assert view.zoom_level() < 0.1 and view.overview


# --- minimap ---------------------------------------------------------------------------------------


def test_minimap_shows_only_when_the_graph_is_larger_than_the_view(qtbot):
    view = make_view(qtbot, chain(4))
    view.fit_all()
    assert not view.minimap.isVisible()
    view.set_zoom(1.0)  # a small graph a little larger than the view: its corner stays free
    assert not view.minimap.isVisible()
    view = make_view(qtbot, chain())
    view.set_zoom(1.0)
    assert view.minimap.isVisible()
    view.fit_all()
    assert not view.minimap.isVisible()


def test_a_click_on_the_minimap_pans_the_view_there(qtbot):
    view = make_view(qtbot, chain())
    view.set_zoom(1.0)
    last = view.node_item(view.document.graph.topological_order()[-1])
    view.centerOn(view.node_item(view.document.graph.topological_order()[0]))
    minimap = view.minimap
    assert minimap.isVisible()
    target = last.sceneBoundingRect().center()
    on_map = minimap.from_scene(last.sceneBoundingRect()).center().toPoint()
    assert not view.mapToScene(view.viewport().rect()).boundingRect().contains(target)
    qtbot.mouseClick(minimap, Qt.MouseButton.LeftButton, pos=on_map)
    centre = view.mapToScene(view.viewport().rect().center())
    scale = 1 / minimap._scale  # one minimap pixel in scene units
    assert abs(centre.x() - target.x()) <= 2 * scale and abs(centre.y() - target.y()) <= 2 * scale
    assert view.mapToScene(view.viewport().rect()).boundingRect().contains(target)
    qtbot.mouseMove(minimap, QPoint(on_map.x() - 20, on_map.y()))  # no button: no pan
    assert view.mapToScene(view.viewport().rect().center()) == centre


# --- select-all + move -----------------------------------------------------------------------------


def test_select_all_and_move_moves_every_block_and_undoes(qtbot):
    view = make_view(qtbot, chain())
    editor, doc, g = view.editor, view.document, view.document.graph
    view.fit_all()
    before = {n.id: n.pos for n in g}
    editor.run("select_all")
    assert sorted(editor.selection) == sorted(before)
    assert editor.do(Move({nid: (x + 40, y - 10) for nid, (x, y) in before.items()}), "Move")
    QApplication.processEvents()
    assert all(g.node(nid).pos == (x + 40, y - 10) for nid, (x, y) in before.items())
    assert all(item.pos() == QPointF(*g.node(nid).pos) for nid, item in view.canvas_scene.nodes.items())
    for edge in view.canvas_scene.edges.values():  # every wire follows its blocks (updated in one batch)
        assert edge.mapToScene(edge.path().pointAtPercent(0)) == edge.src.output_anchor(edge.edge.src_port)
    doc.undo_stack.undo()
    QApplication.processEvents()
    assert {n.id: n.pos for n in g} == before
    for edge in view.canvas_scene.edges.values():
        assert edge.mapToScene(edge.path().pointAtPercent(0)) == edge.src.output_anchor(edge.edge.src_port)


def test_dragging_every_selected_block_with_the_mouse(qtbot):
    view = make_view(qtbot, chain(), size=(1000, 700))
    g = view.document.graph
    view.fit_all()
    view.set_zoom(OVERVIEW_ZOOM * 1.5)  # "plain" items, still clickable
    first = view.node_item(g.topological_order()[0])
    view.centerOn(first)
    view.editor.run("select_all")
    before = {n.id: n.pos for n in g}
    start = view.mapFromScene(first.pos() + QPointF(NODE_W / 2, 10))
    qtbot.mousePress(view.viewport(), Qt.MouseButton.LeftButton, pos=start)
    for step in range(1, 6):
        qtbot.mouseMove(view.viewport(), start + QPoint(step * 10, 0))
    qtbot.mouseRelease(view.viewport(), Qt.MouseButton.LeftButton, pos=start + QPoint(50, 0))
    QApplication.processEvents()
    dx = g.node(first.node_id).pos[0] - before[first.node_id][0]
    assert dx > 0
    assert all(g.node(nid).pos == (x + dx, y) for nid, (x, y) in before.items())
    assert view.document.undo_stack.count() == 1
    view.document.undo_stack.undo()
    assert {n.id: n.pos for n in g} == before
