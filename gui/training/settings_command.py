"""An undoable change of the project's training or data settings (they are not part of the graph)."""

from __future__ import annotations

import copy

from PySide6.QtGui import QUndoCommand

_MERGE_SETTINGS = 1101


class SetProjectSettings(QUndoCommand):
    """Set fields of `project.training` or `project.data` ("training" / "data"); merges with the previous
    change of the same field, so typing a number is one undo step."""

    def __init__(self, document, section: str, values: dict, text: str | None = None):
        names = ", ".join(values)
        super().__init__(text or f"Set {section} {names}")
        self.document = document
        self.project = document.project
        self.section = section
        target = getattr(self.project, section)
        self.new = copy.deepcopy(values)
        self.old = {k: copy.deepcopy(getattr(target, k)) for k in values}

    def _apply(self, values: dict) -> None:
        target = getattr(self.project, self.section)
        for k, v in values.items():
            setattr(target, k, copy.deepcopy(v))
        signal = getattr(self.document, "settings_changed", None)
        if signal is not None:
            signal.emit(self.section)

    def redo(self) -> None:
        self._apply(self.new)

    def undo(self) -> None:
        self._apply(self.old)

    def id(self) -> int:
        return _MERGE_SETTINGS

    def mergeWith(self, other: QUndoCommand) -> bool:
        if not isinstance(other, SetProjectSettings) or other.project is not self.project \
                or other.section != self.section or set(other.new) != set(self.new):
            return False
        self.new = other.new
        return True


def set_settings(document, section: str, values: dict, text: str | None = None) -> None:
    """Push the change on the document's undo stack (which marks the document modified)."""
    target = getattr(document.project, section)
    if all(getattr(target, k) == v for k, v in values.items()):
        return
    document.undo_stack.push(SetProjectSettings(document, section, values, text))
