"""The in-place name field over a block's title (F2, Edit → Rename, a double-click on the title). Enter
commits through the editor's `set_name` command; a refused name keeps the field open and shows the reason
the document gave (a taken name, a bad one, the training lock), Escape cancels, leaving the field commits
a valid name."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QPoint, QRectF, Qt
from PySide6.QtWidgets import QLineEdit

from layerloom.gui.canvas.node_item import NodeItem
from layerloom.gui.canvas.style import HEADER_H, NODE_W

if TYPE_CHECKING:
    from layerloom.gui.canvas.view import CanvasView


class RenameField(QLineEdit):
    """Edits a block's name in place, over its title (see the module's docstring)."""

    def __init__(self, view: CanvasView, item: NodeItem) -> None:
        super().__init__(view.viewport())
        self.view = view
        self.node_id = item.node_id
        self.old = item.name
        self._done = False
        theme = view.canvas_scene.theme
        zoom = view.zoom_level()
        font = self.font()
        font.setPixelSize(max(10, min(28, round(13 * zoom))))
        font.setBold(True)
        self.setFont(font)
        rect = view.mapFromScene(item.mapRectToScene(QRectF(8, 3, NODE_W - 16, HEADER_H - 6))).boundingRect()
        rect.setHeight(max(rect.height(), self.fontMetrics().height() + 6))
        self.setGeometry(rect)
        self.setStyleSheet(
            f"QLineEdit {{ background: {theme.node_body.name()}; color: {theme.text.name()};"
            f" border: 1.5px solid {theme.selection.name()}; border-radius: 4px; padding: 0 4px; }}"
        )
        self.setText(item.name)
        self.selectAll()
        self.returnPressed.connect(self.commit)
        self.show()
        self.setFocus(Qt.FocusReason.OtherFocusReason)

    def commit(self) -> bool:
        if self._done:
            return True
        name = self.text().strip()
        graph = self.view.document.graph
        if self.node_id not in graph or name == self.old:
            self.close_editor()
            return True
        outcome = self.view.editor.run("set_name", node_id=self.node_id, name=name)
        if not outcome:  # the reason shows under the field (and in the status bar)
            below = self.view.mapToScene(self.geometry().bottomLeft() + QPoint(-14, -10))
            self.view.show_hint(outcome.reason, below, timeout_ms=4000)
            self.selectAll()
            return False
        self.close_editor()
        return True

    def cancel(self) -> None:
        self.close_editor()

    def close_editor(self) -> None:
        if self._done:
            return
        self._done = True
        self.view.hide_hint()
        self.view.rename_closed(self)
        self.hide()
        self.deleteLater()

    def keyPressEvent(self, event) -> None:
        if event.key() == Qt.Key.Key_Escape:
            self.cancel()
            return
        super().keyPressEvent(event)

    def event(self, event) -> bool:
        if event.type() == QEvent.Type.ShortcutOverride and event.key() in (Qt.Key.Key_Escape, Qt.Key.Key_F2):
            event.accept()
            return True
        return super().event(event)

    def focusOutEvent(self, event) -> None:
        super().focusOutEvent(event)
        if self._done or event.reason() == Qt.FocusReason.PopupFocusReason:
            return
        name = self.text().strip()
        graph = self.view.document.graph
        if name != self.old and self.node_id in graph and graph.check_name(name, self.node_id) is None:
            self.commit()
        else:
            self.cancel()
