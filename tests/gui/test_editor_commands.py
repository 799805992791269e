"""The editor's table of commands in the window: a real key press runs the table's command, the canvas
context menu holds the Edit menu's own actions, a command added to the table is one entry that shows in
its menu and the toolbar and runs, a command's enabled state follows the selection and the training lock,
and a refused edit says its reason where it came from (the name field on the canvas, the inspector) and
in the status bar — the training lock's reason when the lock refused it."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("LAYERLOOM_NO_PRELOAD", "1")

import pytest
import pytestqt  # noqa: F401  (a hard test dependency: fail loudly if missing)
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QContextMenuEvent
from PySide6.QtWidgets import QApplication
from windows import Windows

from layerloom.core.templates import load_template
from layerloom.gui import commands
from layerloom.gui.canvas.style import HEADER_H, NODE_W

LOCK = "The network is training: stop training to change its structure (moving blocks is fine)."


def active(qtbot, w):
    """The window, made the active one (shortcuts go to the active window only)."""
    w.activateWindow()
    qtbot.waitUntil(w.isActiveWindow, timeout=2000)
    return w


@pytest.fixture
def window(qtbot, tmp_path):
    with Windows(qtbot, tmp_path) as windows:
        yield active(qtbot, windows.make(load_template("lenet5")))


def right_click_block(window, node_id: str) -> list:
    """A real context-menu event on a block; returns the actions of the menu it shows."""
    view = window.canvas
    shown = []
    view._exec_menu = lambda menu, _pos: shown.extend(menu.actions())
    at = view.mapFromScene(view.node_item(node_id).mapToScene(QPointF(NODE_W / 2, HEADER_H + 8)))
    QApplication.sendEvent(view.viewport(), QContextMenuEvent(QContextMenuEvent.Reason.Mouse, at,
                                                             view.viewport().mapToGlobal(at)))
    return shown


def test_the_delete_key_runs_the_tables_delete(window, qtbot):
    g = window.document.graph
    conv = g.find("conv1")
    ran = []
    window.commands["delete"].triggered.connect(lambda *_: ran.append("delete"))
    window.editor.select([conv])
    window.canvas.setFocus()
    qtbot.keyClick(window.canvas, Qt.Key.Key_Delete)
    assert ran == ["delete"]
    assert conv not in g
    assert window.document.undo_stack.undoText() == "Delete conv1"
    assert window.commands["undo"].text() == "&Undo Delete conv1"  # the table's text follows the stack
    qtbot.keyClick(window.canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert conv in g
    assert window.commands["undo"].text() == "&Undo" and window.commands["redo"].text() == "&Redo Delete conv1"


def test_the_context_menu_holds_the_edit_menus_own_actions(window):
    conv = window.document.graph.find("conv1")
    shown = [a for a in right_click_block(window, conv) if not a.isSeparator()]
    edit_menu = window.menus["edit"].actions()
    assert [a.text() for a in shown] == ["Re&name", "D&uplicate", "&Delete"]
    assert all(any(a is b for b in edit_menu) for a in shown)  # the very QActions of the Edit menu
    # (Replace With, a submenu of choices, shows only on blocks that have some: not on a Conv2d)
    assert shown == [window.editor.actions[c.key] for c in window.editor.commands_at("block") if not c.submenu]
    assert window.editor.selection == [conv]  # the right-click selected the block


def test_a_command_added_to_the_table_is_one_entry(qtbot, tmp_path, monkeypatch):
    ran = []
    extra = commands.Command("say_hello", "Say &Hello", lambda ed: ran.append(ed.selection), ("Ctrl+Shift+H",),
                             "info", "Say hello to the selected blocks", enabled=commands.has_selection,
                             places={"edit": (3, 0), "toolbar": (6, 0), "block": (2, 0)})
    monkeypatch.setattr(commands, "COMMANDS", [*commands.COMMANDS, extra])
    monkeypatch.setattr("layerloom.gui.editor.COMMANDS", commands.COMMANDS)
    with Windows(qtbot, tmp_path) as windows:
        w = active(qtbot, windows.make(load_template("lenet5")))
        action = w.commands["say_hello"]
        assert w.menus["edit"].actions()[-1] is action and w.toolbar.actions()[-1] is action
        assert w.menus["edit"].actions()[-2].isSeparator()  # a group of its own
        assert action.toolTip() == "Say hello to the selected blocks (Ctrl+Shift+H)"
        assert not action.isEnabled()
        conv = w.document.graph.find("conv1")
        assert action in right_click_block(w, conv)
        assert action.isEnabled()
        w.canvas.setFocus()
        qtbot.keyClick(w.canvas, Qt.Key.Key_H, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
        assert ran == [[conv]]


def test_commands_follow_the_selection_and_the_training_lock(window):
    A = window.commands
    assert not A["delete"].isEnabled() and not A["rename"].isEnabled() and A["paste"].isEnabled()
    g = window.document.graph
    window.editor.select([g.find("conv1")])
    assert A["delete"].isEnabled() and A["rename"].isEnabled() and A["copy"].isEnabled()
    window.editor.select([g.find("conv1"), g.find("fc1")])
    assert A["delete"].isEnabled() and not A["rename"].isEnabled()
    window.document.set_locked(LOCK)
    assert window.statusBar().currentMessage() == LOCK
    for key in ("cut", "paste", "duplicate", "delete", "rename", "add_block", "undo", "redo", "new", "open"):
        assert not A[key].isEnabled(), key
    assert A["copy"].isEnabled() and A["select_all"].isEnabled() and A["auto_layout"].isEnabled()
    window.document.set_locked(None)
    assert A["delete"].isEnabled() and A["paste"].isEnabled() and not A["undo"].isEnabled()


def test_a_rename_refused_while_training_says_the_locks_reason(window, qtbot):
    g = window.document.graph
    conv = g.find("conv1")
    window.editor.select([conv])
    window.canvas.setFocus()
    qtbot.keyClick(window.canvas, Qt.Key.Key_F2)
    field = window.canvas.rename_field()
    assert field is not None
    window.document.set_locked(LOCK)
    field.selectAll()
    qtbot.keyClicks(field, "features")  # a good name: only the lock refuses it
    qtbot.keyClick(field, Qt.Key.Key_Return)
    assert g.node(conv).name == "conv1"
    assert window.canvas.hint_text() == LOCK  # not "the name … cannot be used"
    assert window.statusBar().currentMessage() == LOCK
    assert window.canvas.rename_field() is field  # still open, to try again
    qtbot.keyClick(field, Qt.Key.Key_Escape)
    # the inspector's name field and a parameter say it next to themselves
    inspector = window.inspector
    assert not inspector.rename("features")
    assert inspector.name_error.text() == LOCK and inspector.name_error.isVisibleTo(inspector)
    assert not inspector.commit("out_channels", 8)
    assert inspector.field_error("out_channels") == LOCK
    assert g.node(conv).params["out_channels"] == 6
    window.document.set_locked(None)
    assert inspector.rename("features") and not inspector.name_error.isVisibleTo(inspector)
    assert window.document.undo_stack.undoText() == "Rename to features"


def test_a_bad_value_in_the_inspector_shows_the_documents_reason_and_the_status_bar_too(window):
    g = window.document.graph
    window.editor.select([g.find("conv1")])
    inspector = window.inspector
    assert not inspector.commit("kernel_size", 0)
    reason = inspector.field_error("kernel_size")
    assert "kernel_size" in reason and "at least 1" in reason
    assert reason in window.statusBar().currentMessage()
    assert window.document.undo_stack.count() == 0


def test_the_palette_and_the_wire_menu_run_table_commands(window, qtbot):
    g = window.document.graph
    n = len(g)
    window.palette_panel.block_activated.emit("Dropout")  # a double-click in the palette
    assert len(g) == n + 1 and g.nodes[-1].type == "Dropout"
    assert window.editor.selection == [g.nodes[-1].id]
    assert window.document.undo_stack.undoText() == "Add Dropout"
    window.palette_panel.block_activated.emit("NoSuchBlock")
    assert window.statusBar().currentMessage() == "there is no block type 'NoSuchBlock'"
    edge = g.edges[0]
    view = window.canvas
    shown = []
    view._exec_menu = lambda menu, _pos: shown.append(menu.actions())
    at = view.mapFromScene(view.canvas_scene.edges[edge]._wire.pointAtPercent(0.5))
    QApplication.sendEvent(view.viewport(), QContextMenuEvent(QContextMenuEvent.Reason.Mouse, at,
                                                             view.viewport().mapToGlobal(at)))
    assert [a.text() for a in shown[-1]] == ["Remove connection"]
    shown[-1][0].trigger()
    assert edge not in g.edges and window.document.undo_stack.undoText() == "Remove connection"
