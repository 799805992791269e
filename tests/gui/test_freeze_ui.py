"""Freezing blocks from the window: the inspector's "Frozen" box (only for blocks with weights, undoable,
following undo/redo and a multi-selection), and the canvas, which repaints a frozen block with a greyed
header, a snowflake and a tooltip line."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
import pytestqt  # noqa: F401  (a hard test dependency: fail loudly if missing)
from PySide6.QtCore import QPoint, QRectF, Qt
from PySide6.QtGui import QColor, QImage, QPainter

from layerloom.core import Graph
from layerloom.core.edits import SetFrozen
from layerloom.core.project import Project
from layerloom.gui.canvas import CanvasView
from layerloom.gui.document import Document
from layerloom.gui.editor import Editor
from layerloom.gui.inspector import FROZEN_TEXT, Inspector


def small_net() -> Graph:
    g = Graph()
    x = g.add("Input", name="image", shape=[1, 28, 28], pos=(0, 0))
    c = g.add("Conv2d", name="conv1", out_channels=6, kernel_size=5, pos=(220, 0))
    r = g.add("ReLU", name="act", pos=(440, 0))
    f = g.add("Flatten", name="flat", pos=(660, 0))
    fc = g.add("Dense", name="fc", out_features=10, pos=(880, 0))
    o = g.add("Output", name="out", loss="cross_entropy", pos=(1100, 0))
    for a, b in [(x, c), (c, r), (r, f), (f, fc), (fc, o)]:
        g.connect(a, b)
    return g


@pytest.fixture
def setup(qtbot):
    doc = Document(Project(small_net()))
    doc.infer_now()
    editor = Editor(doc)
    view = CanvasView(editor)
    inspector = Inspector(editor)
    for w in (view, inspector):
        qtbot.addWidget(w)
    view.resize(900, 500)
    inspector.resize(340, 700)
    view.show()
    inspector.show()
    qtbot.waitExposed(view)
    return doc, view, inspector


def render_item(item) -> QImage:
    """The block as the scene paints it, at 100 %."""
    rect = item.sceneBoundingRect()
    image = QImage(int(rect.width()), int(rect.height()), QImage.Format.Format_ARGB32)
    image.fill(QColor("#000000"))
    painter = QPainter(image)
    item.scene().render(painter, QRectF(0, 0, rect.width(), rect.height()), rect)
    painter.end()
    return image


def click_box(qtbot, check) -> None:
    """A real click on the check box's indicator."""
    qtbot.mouseClick(check, Qt.MouseButton.LeftButton, pos=QPoint(8, check.height() // 2))


def test_the_box_freezes_the_block_undoably_and_the_canvas_follows(setup, qtbot):
    doc, view, inspector = setup
    conv = doc.graph.find("conv1")
    item = view.scene().nodes[conv]
    inspector.set_selection([conv])
    check = inspector.frozen_check
    assert check is not None and check.text() == FROZEN_TEXT
    assert check.isVisibleTo(inspector) and not check.isChecked()
    assert not item.frozen
    before = render_item(item)
    header_before = item.header_color(view.scene().theme)

    click_box(qtbot, check)
    assert doc.graph.node(conv).frozen is True
    assert doc.undo_stack.count() == 1
    assert doc.undo_stack.undoText() == "Freeze conv1"
    assert item.frozen
    assert "frozen" in item.tooltip_at(item.card_rect().center())
    assert item.header_color(view.scene().theme) != header_before
    assert item.texts()["type"] == "Conv2d"  # the type still fits beside the "frozen" mark
    after = render_item(item)
    assert after != before  # the cached picture was dropped and repainted

    doc.undo_stack.undo()
    assert doc.graph.node(conv).frozen is False
    assert not check.isChecked()  # the inspector follows undo
    assert not item.frozen
    assert "frozen" not in item.tooltip_at(item.card_rect().center())
    assert render_item(item) == before

    doc.undo_stack.redo()
    assert doc.graph.node(conv).frozen is True
    assert check.isChecked() and item.frozen

    check.setChecked(False)  # toggled from code commits too, like the other fields
    assert doc.graph.node(conv).frozen is False
    assert doc.undo_stack.count() == 2
    assert doc.undo_stack.undoText() == "Unfreeze conv1"


def test_the_view_shows_a_frozen_block_differently(setup, qtbot):
    doc, view, _inspector = setup
    conv = doc.graph.find("conv1")
    item = view.scene().nodes[conv]
    view.set_zoom(1.0)
    view.centerOn(item)
    qtbot.wait(20)
    rect = view.mapFromScene(item.sceneBoundingRect()).boundingRect()
    plain = view.viewport().grab(rect).toImage()
    doc.do(SetFrozen(conv, True))
    qtbot.waitUntil(lambda: view.viewport().grab(rect).toImage() != plain, timeout=2000)


def test_only_blocks_with_weights_offer_the_box(setup):
    doc, _view, inspector = setup
    for name in ("act", "flat", "image", "out"):
        inspector.set_selection([doc.graph.find(name)])
        assert inspector.frozen_check is not None
        assert not inspector.frozen_check.isVisibleTo(inspector), name
    inspector.set_selection([doc.graph.find("fc")])
    assert inspector.frozen_check.isVisibleTo(inspector)


def test_a_frozen_block_that_lost_its_weights_can_still_be_unfrozen(setup):
    doc, _view, inspector = setup
    fc = doc.graph.find("fc")
    doc.do(SetFrozen(fc, True))
    doc.graph.disconnect(doc.graph.find("flat"), fc)  # Dense on 6×24×24: an error, so no param count
    doc.graph.connect(doc.graph.find("act"), fc)
    doc.infer_now()
    assert doc.report[fc].status == "error"
    inspector.set_selection([fc])
    assert inspector.frozen_check.isVisibleTo(inspector) and inspector.frozen_check.isChecked()
    inspector.frozen_check.setChecked(False)
    assert doc.graph.node(fc).frozen is False


def test_several_selected_blocks_freeze_together(setup, qtbot):
    doc, view, inspector = setup
    conv, fc, act = (doc.graph.find(n) for n in ("conv1", "fc", "act"))
    doc.do(SetFrozen(conv, True))
    inspector.set_selection([conv, fc, act])
    check = inspector.frozen_check
    assert check.isVisibleTo(inspector)
    assert check.checkState() == Qt.CheckState.PartiallyChecked
    count = doc.undo_stack.count()
    click_box(qtbot, check)
    assert doc.graph.node(conv).frozen and doc.graph.node(fc).frozen
    assert not doc.graph.node(act).frozen  # nothing to freeze in a ReLU
    assert doc.undo_stack.count() == count + 1  # only fc changed: one step
    assert check.checkState() == Qt.CheckState.Checked
    assert view.scene().nodes[fc].frozen
    click_box(qtbot, check)
    assert not doc.graph.node(conv).frozen and not doc.graph.node(fc).frozen
    assert doc.undo_stack.undoText() == "Unfreeze 2 blocks"
    doc.undo_stack.undo()
    assert check.checkState() == Qt.CheckState.Checked
    inspector.set_selection([act, doc.graph.find("flat")])
    assert not inspector.frozen_check.isVisibleTo(inspector)


def test_a_refused_freeze_shows_why_and_changes_nothing(setup, qtbot):
    doc, _view, inspector = setup
    conv = doc.graph.find("conv1")
    inspector.set_selection([conv])
    doc.set_locked("Training is running: stop it to change the network")
    click_box(qtbot, inspector.frozen_check)
    assert doc.graph.node(conv).frozen is False
    assert not inspector.frozen_check.isChecked()
    assert inspector.frozen_error.isVisibleTo(inspector)
    assert "Training is running" in inspector.frozen_error.text()
    doc.set_locked(None)
    click_box(qtbot, inspector.frozen_check)
    assert doc.graph.node(conv).frozen is True
    assert not inspector.frozen_error.isVisibleTo(inspector)


def test_an_opened_project_shows_its_frozen_blocks(qtbot):
    g = small_net()
    g.set_frozen(g.find("conv1"), True)
    doc = Document(Project(Graph.from_json(g.to_json())))
    view = CanvasView(Editor(doc))
    qtbot.addWidget(view)
    assert view.scene().nodes[doc.graph.find("conv1")].frozen
    assert not view.scene().nodes[doc.graph.find("fc")].frozen
