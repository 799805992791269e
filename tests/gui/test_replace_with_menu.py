"""Replace With on a block's context menu: right-clicking the lesson's RNN offers LSTM and GRU, LSTM turns
the card into an LSTM with the same wires in one undo step, the inspector then takes forget_bias 5 (the
lesson's next step), Ctrl+Z brings the RNN back; a block with no
replacements shows no submenu, and while the network trains the submenu is off and the command is refused
with the lock's reason on the status bar."""

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
from layerloom.gui.canvas.style import HEADER_H, NODE_W

LOCK = "The network is training: stop training to change its structure (moving blocks is fine)."


@pytest.fixture
def window(qtbot, tmp_path):
    with Windows(qtbot, tmp_path) as windows:
        w = windows.make(load_template("rnn_long_memory"))
        w.activateWindow()
        qtbot.waitUntil(w.isActiveWindow, timeout=2000)
        yield w


def right_click(window, node_id: str, pick=None) -> list:
    """A real context-menu event on a block's card; `pick(menu)` runs while the menu is open (as a click in
    it would). Returns the menu's actions."""
    view = window.canvas
    shown = []

    def exec_menu(menu, _pos):
        shown.extend(menu.actions())
        if pick is not None:
            pick(menu)

    view._exec_menu = exec_menu
    at = view.mapFromScene(view.node_item(node_id).mapToScene(QPointF(NODE_W / 2, HEADER_H + 8)))
    QApplication.sendEvent(view.viewport(), QContextMenuEvent(QContextMenuEvent.Reason.Mouse, at,
                                                             view.viewport().mapToGlobal(at)))
    return shown


def replace_with(menu):
    """The Replace With submenu of a context menu."""
    found = [a.menu() for a in menu.actions() if a.menu() is not None and a.text() == "Replace &With"]
    assert len(found) == 1, [a.text() for a in menu.actions()]
    return found[0]


def test_replace_with_lstm_from_the_context_menu_and_undo(window, qtbot):
    g = window.document.graph
    rnn = g.find("rnn")
    wires = list(g.edges)
    pos = g.node(rnn).pos
    seen = {}

    def pick(menu):
        sub = replace_with(menu)
        seen["enabled"] = sub.isEnabled()
        seen["entries"] = [a.text() for a in sub.actions()]
        next(a for a in sub.actions() if a.text() == "LSTM").trigger()

    shown = right_click(window, rnn, pick)
    assert [a.text() for a in shown if not a.isSeparator()] == ["Re&name", "D&uplicate", "Replace &With", "&Delete"]
    assert seen == {"enabled": True, "entries": ["LSTM", "GRU"]}
    node = g.node(rnn)
    assert (node.type, node.name, node.pos, node.params["hidden_size"]) == ("LSTM", "lstm", pos, 32)
    assert g.edges == wires
    item = window.canvas.node_item(rnn)  # the canvas shows the new card, wired as before
    assert item.type_id == "LSTM" and item.name == "lstm"
    assert set(window.canvas.canvas_scene.edges) == set(wires)
    assert window.editor.selection == [rnn]
    assert window.document.undo_stack.undoText() == "Replace rnn with LSTM"
    assert window.document.infer_now().ok
    # the lesson's next step: the inspector shows the LSTM's forget_bias, and 5 goes in
    assert window.inspector.node_id == rnn
    spin = window.inspector.editors["forget_bias"].inner.spin
    spin.setFocus()
    qtbot.keyClick(spin, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClicks(spin, "5")
    qtbot.keyClick(spin, Qt.Key.Key_Return)
    assert g.node(rnn).params["forget_bias"] == 5.0

    window.canvas.setFocus()
    qtbot.keyClick(window.canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert g.node(rnn).type == "LSTM" and g.node(rnn).params["forget_bias"] == 1.0
    qtbot.keyClick(window.canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    node = g.node(rnn)
    assert (node.type, node.name) == ("RNN", "rnn") and "forget_bias" not in node.params
    assert window.canvas.node_item(rnn).type_id == "RNN"
    assert g.edges == wires and set(window.canvas.canvas_scene.edges) == set(wires)


def test_a_block_without_replacements_has_no_submenu(window):
    dense = window.document.graph.find("logits")
    shown = right_click(window, dense)
    assert [a.text() for a in shown if not a.isSeparator()] == ["Re&name", "D&uplicate", "&Delete"]


def test_while_training_the_submenu_is_off_and_the_command_says_why(window):
    g = window.document.graph
    rnn = g.find("rnn")
    seen = {}
    right_click(window, rnn, lambda menu: seen.update(enabled=replace_with(menu).isEnabled()))
    assert seen == {"enabled": True}
    window.document.set_locked(LOCK)
    right_click(window, rnn, lambda menu: seen.update(enabled=replace_with(menu).isEnabled()))
    assert seen == {"enabled": False}
    outcome = window.editor.run("replace_block", node_id=rnn, type_id="LSTM")
    assert not outcome and outcome.reason == LOCK
    assert window.statusBar().currentMessage() == LOCK
    assert g.node(rnn).type == "RNN"
    window.document.set_locked(None)
