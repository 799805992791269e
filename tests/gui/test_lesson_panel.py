"""The lesson of a template: shown in the gallery, then in the window's Lesson dock (closable, back from View →
Show Lesson, hidden for a project without one); and the LSTM's forget_bias field in the inspector."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
import pytestqt  # noqa: F401  (a hard test dependency: fail loudly if missing)
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractButton
from windows import Windows

from layerloom.core.project import Project
from layerloom.core.templates import load_template
from layerloom.gui.document import Document
from layerloom.gui.editor import Editor
from layerloom.gui.inspector import Inspector
from layerloom.gui.param_editors import OptionalFloatEditor
from layerloom.gui.template_gallery import TemplateGallery


@pytest.fixture
def make_window(qtbot, tmp_path):
    with Windows(qtbot, tmp_path) as windows:
        yield windows.make


def _click_template(qtbot, gallery: TemplateGallery, name: str) -> None:
    row = gallery.names().index(name)
    item = gallery.list.item(row)
    gallery.list.scrollToItem(item)
    qtbot.mouseClick(gallery.list.viewport(), Qt.MouseButton.LeftButton,
                     pos=gallery.list.visualItemRect(item).center())
    assert gallery.selected_name() == name


def _choose_in_gallery(monkeypatch, qtbot, name: str, seen: dict) -> None:
    """File → New's gallery, driven by clicks: the template's row, then Create."""

    def exec_(self):
        self.show()
        qtbot.waitExposed(self)
        _click_template(qtbot, self, name)
        seen["lesson_visible"] = self.lesson.isVisible()
        seen["lesson_text"] = self.lesson.text()
        qtbot.mouseClick(self.create_button, Qt.MouseButton.LeftButton)
        return self.result()

    monkeypatch.setattr(TemplateGallery, "exec", exec_)


def _view_action(window, text: str):
    return next(a for a in window.menus["view"].actions() if a.text().replace("&", "") == text)


def test_the_lesson_template_shows_its_lesson_in_the_gallery_and_the_window(make_window, qtbot, monkeypatch):
    window = make_window(load_template("lenet5"))
    assert not window.lesson_dock.isVisible()  # LeNet-5 has no lesson
    assert not _view_action(window, "Show Lesson").isEnabled()
    seen: dict = {}
    _choose_in_gallery(monkeypatch, qtbot, "rnn_long_memory", seen)
    window.commands["new"].trigger()
    assert [n.type for n in window.document.graph] == ["Input", "Embedding", "RNN", "Dense", "Output"]
    lesson = load_template("rnn_long_memory").meta["lesson"]
    assert seen["lesson_visible"]
    assert "Inside RNN tab" in seen["lesson_text"] and "forget_bias to 5" in seen["lesson_text"]
    # the window: the Lesson dock shows every step of it
    assert window.lesson_dock.isVisible()
    assert window.lesson_panel.text() == lesson
    shown = window.lesson_panel.label.text()
    assert shown.count("<p>") == len([line for line in lesson.splitlines() if line.strip()]) == 6
    assert "Gradients tab" in shown
    # closed with its close button, back from View → Show Lesson
    close = window.lesson_dock.findChild(QAbstractButton, "qt_dockwidget_closebutton")
    qtbot.mouseClick(close, Qt.MouseButton.LeftButton)
    assert not window.lesson_dock.isVisible()
    action = _view_action(window, "Show Lesson")
    assert action.isEnabled()
    action.trigger()
    assert window.lesson_dock.isVisible() and window.lesson_panel.text() == lesson


def test_a_project_without_a_lesson_hides_the_panel(make_window, qtbot, monkeypatch):
    window = make_window(load_template("rnn_long_memory"))
    assert window.lesson_dock.isVisible()
    seen: dict = {}
    _choose_in_gallery(monkeypatch, qtbot, "lstm_text", seen)
    window.commands["new"].trigger()
    assert any(n.type == "LSTM" for n in window.document.graph)
    assert not seen["lesson_visible"] and seen["lesson_text"] == ""
    assert not window.lesson_dock.isVisible() and window.lesson_panel.text() == ""
    action = _view_action(window, "Show Lesson")
    assert not action.isEnabled()
    window.show_lesson()  # asked anyway (a shortcut, a script): nothing to show, the dock stays away
    assert not window.lesson_dock.isVisible()


def test_a_lesson_that_is_not_text_is_no_lesson(make_window):
    project = load_template("rnn_long_memory")
    project.meta["lesson"] = {"not": "text"}
    window = make_window(project)
    assert not window.lesson_dock.isVisible()


def test_the_forget_bias_field_switches_between_a_number_and_pytorchs_start(qtbot):
    project = load_template("lstm_text")
    doc = Document(Project(project.graph))
    inspector = Inspector(Editor(doc))
    qtbot.addWidget(inspector)
    inspector.resize(340, 800)
    inspector.show()
    nid = doc.graph.find("lstm")
    inspector.set_selection([nid])
    field = inspector.editors["forget_bias"]
    assert isinstance(field, OptionalFloatEditor)
    assert not field.auto.isChecked() and field.inner.spin.value() == 1.0
    qtbot.mouseClick(field.auto, Qt.MouseButton.LeftButton)
    assert doc.graph.node(nid).params["forget_bias"] is None
    assert not field.inner.isEnabled()
    qtbot.mouseClick(field.auto, Qt.MouseButton.LeftButton)
    assert doc.graph.node(nid).params["forget_bias"] == 1.0
    spin = field.inner.spin
    spin.setFocus()
    qtbot.keyClick(spin, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClicks(spin, "2.5")
    qtbot.keyClick(spin, Qt.Key.Key_Return)
    assert doc.graph.node(nid).params["forget_bias"] == 2.5
    doc.undo_stack.undo()
    assert doc.graph.node(nid).params["forget_bias"] == 1.0
    assert field.inner.spin.value() == 1.0


def test_the_gallery_shows_no_lesson_for_the_empty_canvas(qtbot):
    gallery = TemplateGallery(selected="rnn_long_memory")
    qtbot.addWidget(gallery)
    gallery.show()
    qtbot.waitExposed(gallery)
    assert gallery.lesson.isVisible()
    gallery.select("")
    assert not gallery.lesson.isVisible()
