"""QUndoCommands over the core's reversible edits: every change made in the window goes through here."""

from __future__ import annotations

from PySide6.QtGui import QUndoCommand

from layerloom.core.edits import Edit, SetParams

_MERGE_PARAMS = 1001


class EditCommand(QUndoCommand):
    """Wraps one `layerloom.core.edits.Edit`. The edit has already been applied when the command is
    pushed (so a refused edit never reaches the stack); the first redo() is therefore skipped."""

    def __init__(self, graph, edit: Edit, text: str | None = None):
        super().__init__(text or edit.text)
        self.graph = graph
        self.edit = edit
        self._applied = True

    def redo(self) -> None:
        if self._applied:
            self._applied = False
            return
        self.edit.apply(self.graph)

    def undo(self) -> None:
        self.edit.revert(self.graph)

    def id(self) -> int:
        return _MERGE_PARAMS if isinstance(self.edit, SetParams) else -1

    def mergeWith(self, other: QUndoCommand) -> bool:
        if not isinstance(other, EditCommand) or other.graph is not self.graph:
            return False
        if self.edit.merge(other.edit):
            self.setText(self.edit.text)
            return True
        return False
