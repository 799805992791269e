"""The editor: the one object that edits a Document. It holds the document, the selection and the table of
commands (gui/commands.py), makes one QAction per command and keeps its enabled state, text and check mark
up to date. Menus, the toolbar, the canvas context menu, the palette and the inspector all run commands
from that table; every edit they make goes through `Editor.do`, so a refusal reaches the user one way.

    editor = Editor(document)                  # window=MainWindow for the file, training and help commands
    editor.run("delete")                       # what Edit → Delete, the Delete key and the context menu do
    editor.run("set_params", node_id=nid, values={"kernel_size": 3})   # an Outcome: applied, or why not
    editor.actions["delete"]                   # its QAction, for menus and shortcuts
"""

from __future__ import annotations

from typing import Any

import shiboken6
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QApplication, QMenu, QToolBar

from layerloom.core.edits import Edit
from layerloom.core.graph import Edge
from layerloom.gui.commands import COMMANDS, Command
from layerloom.gui.document import Document, Outcome


class Editor(QObject):
    """Edits one Document: its selection, its commands and their QActions."""

    selection_changed = Signal(list)  # the selected block ids, after every change of the selection
    message = Signal(str)  # for the status bar: why an edit was refused

    def __init__(self, document: Document, window=None, parent: QObject | None = None):
        super().__init__(parent)
        self.document = document
        self.window = window  # the main window, for the commands that need one (files, training, help)
        self.view = None  # the canvas showing the document, once it attaches itself (`attach_view`)
        self.paste_count: dict[str, int] = {}  # pastes of each clipboard payload, to step them aside
        self._selection: list[str] = []
        # the selection as last filtered against the graph, and what it was filtered against (the graph
        # and its revision): the actions' enabled states ask for it dozens of times per change
        self._alive: tuple[object, int, list[str]] | None = None
        self._edges: list[Edge] = []
        self.table: dict[str, Command] = {c.key: c for c in COMMANDS if window is not None or not c.window}
        self.actions: dict[str, QAction] = {}
        self._groups: dict[str, QActionGroup] = {}
        for command in self.table.values():
            if not command.takes_args:
                self.actions[command.key] = self._make_action(command)

        document.project_replaced.connect(self._project_replaced)
        document.locked_changed.connect(self.refresh)
        stack = document.undo_stack
        for signal in (stack.canUndoChanged, stack.canRedoChanged, stack.undoTextChanged, stack.redoTextChanged):
            signal.connect(self._stack_changed)
        self.refresh()

    # --- running commands ---------------------------------------------------------------------------

    def run(self, key: str, **args: Any) -> Any:
        """Run the command `key` with its arguments (whether or not its action is enabled: an edit the
        document refuses says why); returns what the command returns."""
        result = self.table[key].run(self, **args)
        self.refresh()
        return result

    def do(self, edit: Edit, text: str | None = None) -> Outcome:
        """Apply an edit through the document; a refusal goes to the status bar, and to the caller."""
        outcome = self.document.do(edit, text)
        if not outcome:
            self.message.emit(outcome.reason)
        return outcome

    def refuse(self, reason: str) -> Outcome:
        """A command that cannot run says why, the way a refused edit does."""
        self.message.emit(reason)
        return Outcome(False, reason)

    # --- the selection ------------------------------------------------------------------------------

    @property
    def selection(self) -> list[str]:
        """The selected blocks' ids (those still in the graph)."""
        graph = self.document.graph
        alive = self._alive
        if alive is None or alive[0] is not graph or alive[1] != graph.revision:
            alive = self._alive = (graph, graph.revision, [nid for nid in self._selection if nid in graph])
        return list(alive[2])

    @property
    def selected_edges(self) -> list[Edge]:
        """The selected connections."""
        return list(self._edges)

    def select(self, ids: list[str], reveal: bool = True) -> None:
        """Select exactly these blocks; with `reveal` the canvas brings the first into view."""
        if self.view is not None:
            self.view.show_selection(ids, reveal)  # the view reports back through `note_selection`
        else:
            self.note_selection(ids, [])

    def note_selection(self, ids: list[str], edges: list[Edge]) -> None:
        """What is selected now (the canvas reports every change: clicks, the rubber band, `select`)."""
        self._selection, self._edges = list(ids), list(edges)
        self._alive = None
        self.selection_changed.emit(list(ids))
        self.refresh()

    def attach_view(self, view) -> None:
        """The canvas that shows this editor's document (where blocks are placed, popups open, zoom applies)."""
        self.view = view

    def _project_replaced(self) -> None:
        self.paste_count.clear()
        if self.view is None:
            self.note_selection([], [])

    # --- actions ------------------------------------------------------------------------------------

    def _make_action(self, command: Command) -> QAction:
        action = QAction(self._text(command), self)
        keys: list[QKeySequence] = []
        for s in command.shortcut:
            keys += QKeySequence.keyBindings(s) if isinstance(s, QKeySequence.StandardKey) else [QKeySequence(s)]
        action.setShortcuts([k for k in keys if not k.isEmpty()])
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        if command.tip:
            action.setStatusTip(command.tip)
        shortcut = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
        tip = command.tooltip or command.tip or action.text().replace("&", "").replace("…", "")
        action.setToolTip(f"{tip} ({shortcut})" if shortcut and not command.tooltip else tip)
        if command.role is not None:
            action.setMenuRole(command.role)
        if command.checked is not None:
            action.setCheckable(True)
        if command.radio:
            group = self._groups.get(command.radio)
            if group is None:
                group = self._groups[command.radio] = QActionGroup(self)
            group.addAction(action)
        if command.icon is not None and not isinstance(command.icon, str):
            style = QApplication.style() if self.window is None else self.window.style()
            action.setIcon(style.standardIcon(command.icon))
        action.triggered.connect(lambda _checked=False, key=command.key: self.run(key))
        return action

    def _text(self, command: Command) -> str:
        return command.text(self) if callable(command.text) else command.text

    def _stack_changed(self, *_args) -> None:
        if shiboken6.isValid(self.document.undo_stack):  # (a stack being deleted clears itself, emitting)
            self.refresh()

    def refresh(self, *_args) -> None:
        """Bring every action's enabled state, text and check mark up to date (after any change that may
        alter them: the selection, the undo stack, the training lock, a run's state)."""
        for key, action in self.actions.items():
            command = self.table[key]
            if command.enabled is not None:
                action.setEnabled(bool(command.enabled(self)))
            if callable(command.text):
                text = command.text(self)
                if action.text() != text:
                    action.setText(text)
            if command.checked is not None:
                action.setChecked(bool(command.checked(self)))

    def refresh_icons(self) -> None:
        """Load the themed icons again (after a change of theme)."""
        from layerloom.gui import theme

        for key, command in self.table.items():
            if isinstance(command.icon, str) and key in self.actions:
                self.actions[key].setIcon(theme.icon(command.icon))

    def commands_at(self, place: str) -> list[Command]:
        """The commands shown in `place` ("edit", "toolbar", "block", …), in order."""
        found = [c for c in self.table.values() if place in c.places]
        return sorted(found, key=lambda c: c.places[place])

    def fill(self, widget: QMenu | QToolBar, place: str) -> None:
        """Add the actions of `place` to a menu or toolbar, a separator between their groups; a command with
        a `submenu` becomes a submenu of its entries now (a menu only; none when it has no entries)."""
        group = None
        for command in self.commands_at(place):
            entries = command.submenu(self) if command.submenu is not None else None
            if entries is not None and (not entries or not isinstance(widget, QMenu)):
                continue
            if group is not None and command.places[place][0] != group:
                widget.addSeparator()
            group = command.places[place][0]
            if entries is None:
                widget.addAction(self.actions[command.key])
                continue
            sub = widget.addMenu(self._text(command))
            sub.menuAction().setStatusTip(command.tip or "")
            sub.setEnabled(command.enabled is None or bool(command.enabled(self)))
            for text, args in entries:
                sub.addAction(self.bound_action(command.key, sub, label=text, **args))

    def bound_action(self, key: str, parent: QObject, label: str | None = None, **args: Any) -> QAction:
        """A one-off action running command `key` with `args` (a context menu's "Remove connection" of the
        wire under the cursor), named `label` (default: the command's text)."""
        command = self.table[key]
        action = QAction(label or self._text(command), parent)
        action.triggered.connect(lambda _checked=False: self.run(key, **args))
        return action
