"""The block palette: categories, icons and tooltips, search, double-click to add, and a real drag from
the palette dropped on the window's canvas (the block lands where it was dropped)."""

from __future__ import annotations

import html
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("LAYERLOOM_NO_PRELOAD", "1")

import pytest
import pytestqt  # noqa: F401  (a hard test dependency: fail loudly if missing)
from PySide6.QtCore import QPoint, QPointF, QSettings, Qt
from PySide6.QtGui import QDrag, QDragEnterEvent, QDragMoveEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from layerloom.core.blocks import CATEGORIES, all_specs
from layerloom.core.project import Project
from layerloom.gui.canvas import BLOCK_MIME as CANVAS_BLOCK_MIME
from layerloom.gui.canvas.style import HEADER_H, NODE_W
from layerloom.gui.main_window import MainWindow
from layerloom.gui.palette import BLOCK_MIME, BlockPalette, block_mime
from layerloom.gui.recovery import Recovery


@pytest.fixture
def window(qtbot, tmp_path):
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    w = MainWindow(settings=settings, recovery=Recovery(tmp_path / "recovery"))
    w.set_project(Project(meta={"name": "Palette test"}))
    w.show()
    qtbot.waitExposed(w)
    yield w
    w.document.undo_stack.setClean()
    w.close()
    w.deleteLater()


def test_categories_icons_and_tooltips(qtbot):
    palette = BlockPalette()
    qtbot.addWidget(palette)
    tops = [palette.tree.topLevelItem(i).text(0) for i in range(palette.tree.topLevelItemCount())]
    assert tops == list(CATEGORIES)
    for spec in all_specs():
        item = palette.item_for(spec.type_id)
        assert item.parent().text(0) == spec.category
        assert not item.icon(0).isNull()
        tip = item.toolTip(0)
        assert spec.type_id in tip and html.escape(" ".join(spec.help.split(" ")[:4])) in tip
    assert BLOCK_MIME == CANVAS_BLOCK_MIME == "application/x-layerloom-block"


def test_search_filters_and_enter_activates_the_best_match(qtbot):
    palette = BlockPalette()
    qtbot.addWidget(palette)
    palette.show()
    got = []
    palette.block_activated.connect(got.append)
    qtbot.keyClicks(palette.search, "lstm")
    assert palette.visible_blocks()[0] == "LSTM"
    assert "Conv2d" not in palette.visible_blocks()
    # empty categories are hidden
    hidden = {palette.tree.topLevelItem(i).text(0) for i in range(palette.tree.topLevelItemCount())
              if palette.tree.topLevelItem(i).isHidden()}
    assert "Convolution" in hidden and "Recurrent" not in hidden
    qtbot.keyClick(palette.search, Qt.Key.Key_Return)
    assert got == ["LSTM"]
    # words of the help text find blocks too ("receptive" is only in the convolutions' help)
    palette.search.setText("receptive")
    assert set(palette.visible_blocks()) >= {"Conv2d"}
    palette.search.clear()
    assert len(palette.visible_blocks()) == len(all_specs())


def test_double_click_adds_the_block_at_the_canvas_centre(window, qtbot):
    tree = window.palette_panel.tree
    item = window.palette_panel.item_for("Conv2d")
    tree.scrollToItem(item)
    rect = tree.visualItemRect(item)
    # a real double-click: press, release, then the double-click press
    qtbot.mouseClick(tree.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, rect.center())
    qtbot.mouseDClick(tree.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, rect.center())
    graph = window.document.graph
    assert [n.type for n in graph] == ["Conv2d"]
    node = graph.nodes[0]
    centre = window.canvas.mapToScene(window.canvas.viewport().rect().center())
    # placed at the view centre (or the nearest free spot)
    assert abs(node.pos[0] + NODE_W / 2 - centre.x()) < NODE_W
    assert abs(node.pos[1] + HEADER_H / 2 - centre.y()) < 200
    assert window.canvas.selected_node_ids() == [node.id]
    window.document.undo_stack.undo()
    assert len(graph) == 0


def _deliver(view, mime, pos: QPoint) -> QDropEvent:
    """Deliver a drag as Qt does: enter and move over the viewport, then drop."""
    vp = view.viewport()
    actions = Qt.DropAction.CopyAction
    enter = QDragEnterEvent(pos, actions, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(vp, enter)
    assert enter.isAccepted()
    move = QDragMoveEvent(pos, actions, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(vp, move)
    assert move.isAccepted()
    drop = QDropEvent(QPointF(pos), actions, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(vp, drop)
    return drop


def test_palette_drag_dropped_on_the_canvas_creates_the_block_at_the_drop_point(window, qtbot, monkeypatch):
    """The real path: a mouse press and move on a palette entry start the palette's QDrag (its exec is
    intercepted, as offscreen has no drag-and-drop session), and its MIME data is dropped on the canvas."""
    started: list[QDrag] = []

    def fake_exec(drag, *args, **kwargs):
        started.append(drag)
        return Qt.DropAction.CopyAction

    monkeypatch.setattr(QDrag, "exec", fake_exec)
    tree = window.palette_panel.tree
    item = window.palette_panel.item_for("MaxPool2d")
    tree.scrollToItem(item)
    start = tree.visualItemRect(item).center()
    vp = tree.viewport()
    qtbot.mousePress(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
    for dx in (4, 10, 20, 40):
        qtbot.mouseMove(vp, start + QPoint(dx, 2))
    qtbot.mouseRelease(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start + QPoint(40, 2))
    assert len(started) == 1, "a press and move on a palette entry must start one QDrag"
    drag = started[-1]
    mime = drag.mimeData()
    assert bytes(mime.data(BLOCK_MIME).data()).decode() == "MaxPool2d"
    assert not drag.pixmap().isNull()

    view = window.canvas
    drop_at = QPoint(300, 220)
    drop = _deliver(view, mime, drop_at)
    assert drop.isAccepted()
    graph = window.document.graph
    assert [n.type for n in graph] == ["MaxPool2d"]
    node = graph.nodes[0]
    scene = view.mapToScene(drop_at)
    # the block's title sits under the drop point
    assert node.pos == (round(scene.x() - NODE_W / 2), round(scene.y() - HEADER_H / 2))
    assert window.document.undo_stack.count() == 1


def test_drop_of_unknown_payload_is_refused(window):
    view = window.canvas
    mime = block_mime("NoSuchBlock")
    enter = QDragEnterEvent(QPoint(100, 100), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(view.viewport(), enter)
    assert not enter.isAccepted()
    assert len(window.document.graph) == 0
