"""The open project as the window sees it: the graph, its undo stack, its file and its latest inference.

Every view reads the graph and listens to it (`graph.subscribe`) or to this object's signals; every
change, of the graph or of the training and data settings, goes through `Document.do(edit)`, which
applies a core edit and pushes it on the undo stack, or returns why it was refused:

    outcome = document.do(SetParams(node_id, {"kernel_size": 3}))
    if not outcome:
        show(outcome.reason)         # in plain words: "... must be at least 1", the training lock, ...

Inference runs shortly after a burst of edits (debounced) and its report is announced once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QUndoStack

from layerloom.core.edits import Edit, SetSettings
from layerloom.core.errors import LayerloomError
from layerloom.core.graph import Graph
from layerloom.core.graph_parts import GraphEvent
from layerloom.core.inference import Report, infer
from layerloom.gui.undo import EditCommand

INFER_DELAY_MS = 15
TITLE_CHARS = 120  # the longest title shown (window title, dialogs)


@dataclass(frozen=True)
class Outcome:
    """What became of an edit: applied, or refused with the reason in plain words. True when applied,
    so `if document.do(edit):` reads as it should."""

    applied: bool
    reason: str = ""

    def __bool__(self) -> bool:
        return self.applied


class Document(QObject):
    """A project open in the window."""

    project_replaced = Signal()  # a new graph: views must rebind to `document.graph`
    graph_changed = Signal(object)  # GraphEvent, after every change of the graph
    inferred = Signal(object)  # Report, after the (debounced) inference that follows edits
    path_changed = Signal(str)
    modified_changed = Signal(bool)
    settings_changed = Signal(str)  # "training" or "data": the project's settings changed (edit, undo, redo)
    locked_changed = Signal(str)  # the reason structural edits are refused ("" when they are allowed again)
    edited = Signal()  # after any change of the project, graph or settings (edit, undo, redo); see `revision`

    def __init__(self, project=None, parent: QObject | None = None):
        super().__init__(parent)
        self.revision = 0  # bumped on every change of the project (the graph's own counter misses settings)
        self.undo_stack = QUndoStack(self)
        self.undo_stack.cleanChanged.connect(self._on_clean_changed)
        self.settings_changed.connect(self._edited)
        self._infer_timer = QTimer(self)
        self._infer_timer.setSingleShot(True)
        self._infer_timer.setInterval(INFER_DELAY_MS)
        self._infer_timer.timeout.connect(self.infer_now)
        self._unsubscribe = None
        self.project = None
        self.path: Path | None = None
        self.report: Report | None = None
        # While set (to a reason in plain words, e.g. during training), `do` refuses structural edits.
        self.locked: str | None = None
        if project is None:
            from layerloom.core.project import blank_project

            project = blank_project()
        self.set_project(project, None)

    # --- the project ------------------------------------------------------------------------------

    @property
    def graph(self) -> Graph:
        return self.project.graph

    def set_project(self, project, path: str | Path | None) -> None:
        """Show another project (New, Open): the undo history starts afresh."""
        if self._unsubscribe:
            self._unsubscribe()
        self.project = project
        self.path = Path(path) if path else None
        self.undo_stack.clear()
        self.undo_stack.setClean()
        self._unsubscribe = project.graph.subscribe(self._on_graph_event)
        self.project_replaced.emit()
        self.path_changed.emit(str(self.path or ""))
        self.modified_changed.emit(False)
        self.infer_now()

    def _on_clean_changed(self, clean: bool) -> None:
        self.modified_changed.emit(not clean)

    @property
    def modified(self) -> bool:
        return not self.undo_stack.isClean()

    @property
    def title(self) -> str:
        """The file's name, else the project's (at most TITLE_CHARS characters: a name can be megabytes long)."""
        title = self.path.stem if self.path else str(self.project.meta.get("name", "Untitled"))
        return title if len(title) <= TITLE_CHARS else title[:TITLE_CHARS - 1] + "…"

    def save(self, path: str | Path | None = None) -> Path:
        """Write the project (atomically) to `path` or its own file; raises LayerloomError or OSError."""
        from layerloom.core.project import save_project

        target = Path(path) if path else self.path
        if target is None:
            raise LayerloomError("the project has no file yet; use Save As")
        save_project(self.project, target)
        self.undo_stack.setClean()
        if target != self.path:
            self.path = target
            self.path_changed.emit(str(target))
        return target

    # --- edits ------------------------------------------------------------------------------------

    def set_locked(self, reason: str | None) -> None:
        """Refuse structural edits (all but moving blocks and changing settings) with `reason`; None allows
        them again."""
        self.locked = reason or None
        self.locked_changed.emit(reason or "")

    def do(self, edit: Edit, text: str | None = None) -> Outcome:
        """Apply `edit` (to the graph, or to the project's settings) and make it undoable, with `text` in the
        Undo menu (default: the edit's own). A refused edit changes nothing; the Outcome says why."""
        if self.locked and edit.structural:
            return Outcome(False, self.locked)
        subject = edit.subject(self.project)
        try:
            edit.apply(subject)
        except LayerloomError as err:
            return Outcome(False, str(err) or "this edit is refused")
        changed = None
        if isinstance(edit, SetSettings):
            def changed(section: str = edit.section) -> None:
                self.settings_changed.emit(section)

            changed()
        self.undo_stack.push(EditCommand(subject, edit, text, changed))
        return Outcome(True)

    def _edited(self, *_args) -> None:
        self.revision += 1
        self.edited.emit()

    def _on_graph_event(self, event: GraphEvent) -> None:
        self.graph_changed.emit(event)
        self._edited()
        if event.kind not in ("node_moved", "nodes_moved"):
            self._infer_timer.start()

    def infer_now(self) -> Report:
        """Run inference at once (normally it runs by itself shortly after edits)."""
        self._infer_timer.stop()
        self.report = infer(self.graph)
        self.inferred.emit(self.report)
        return self.report
