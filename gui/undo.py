"""QUndoCommands over the core's reversible edits: every change made in the window goes through here."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtGui import QUndoCommand

from layerloom.core.edits import Edit

_MERGEABLE = 1001  # one id for every edit that can merge; `Edit.merge` decides whether two do


class EditCommand(QUndoCommand):
    """Wraps one `layerloom.core.edits.Edit` applied to `subject` (a graph, or the project for settings).
    The edit has already been applied when the command is pushed (so a refused edit never reaches the
    stack); the first redo() is therefore skipped. `changed`, when given, runs after every undo and redo
    (the document announces settings changes with it)."""

    def __init__(self, subject, edit: Edit, text: str | None = None, changed: Callable[[], None] | None = None):
        super().__init__(text or edit.text)
        self.subject = subject
        self.edit = edit
        self._own_text = text is not None
        self._changed = changed
        self._applied = True

    def redo(self) -> None:
        if self._applied:
            self._applied = False
            return
        self.edit.apply(self.subject)
        if self._changed is not None:
            self._changed()

    def undo(self) -> None:
        self.edit.revert(self.subject)
        if self._changed is not None:
            self._changed()

    def id(self) -> int:
        return _MERGEABLE if type(self.edit).merge is not Edit.merge else -1

    def mergeWith(self, other: QUndoCommand) -> bool:
        if not isinstance(other, EditCommand) or other.subject is not self.subject:
            return False
        if self.edit.merge(other.edit):
            if not self._own_text:
                self.setText(self.edit.text)
            return True
        return False
