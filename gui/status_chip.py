"""The problems count in the main window's status bar: a red pill for errors, an amber one for warnings,
quiet text when all is well; a click shows the problems list.

    chip = StatusChip(window)
    chip.show_counts(errors=2, warnings=0)     # "2 errors", in red
    chip.clicked.connect(window.show_problems)
"""

from __future__ import annotations

from PySide6.QtCore import QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPalette
from PySide6.QtWidgets import QWidget

from layerloom.gui.colors import ERROR_COLOR, WARNING_COLOR


class StatusChip(QWidget):
    """The problems count in the status bar: a red pill for errors, an amber one for warnings, quiet text
    when all is well. Clicking it shows the problems list."""

    clicked = Signal()
    COLORS = {"error": (ERROR_COLOR, "#ffffff"), "warning": (WARNING_COLOR, "#1f1f1f")}

    def __init__(self, parent=None):
        super().__init__(parent)
        self.kind = "ok"
        self._text = ""
        self.setCursor(Qt.CursorShape.PointingHandCursor)

    def text(self) -> str:
        return self._text

    def set_state(self, kind: str, text: str) -> None:
        self.kind, self._text = kind, text
        self.updateGeometry()
        self.update()

    def _font(self) -> QFont:
        font = QFont(self.font())
        font.setBold(self.kind != "ok")
        return font

    def sizeHint(self) -> QSize:
        fm = QFontMetrics(self._font())
        return QSize(fm.horizontalAdvance(self._text) + 22, fm.height() + 6)

    def minimumSizeHint(self) -> QSize:
        return self.sizeHint()

    def paintEvent(self, _event) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        fm = QFontMetrics(self._font())
        h = fm.height() + 4
        rect = QRectF(2, (self.height() - h) / 2, self.width() - 4, h)
        if self.kind in self.COLORS:
            bg, fg = self.COLORS[self.kind]
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(QColor(bg))
            p.drawRoundedRect(rect, h / 2, h / 2)
            p.setPen(QColor(fg))
        else:
            p.setPen(self.palette().color(QPalette.ColorRole.PlaceholderText))
        p.setFont(self._font())
        p.drawText(rect, Qt.AlignmentFlag.AlignCenter, self._text)
        p.end()

    def show_counts(self, errors: int, warnings: int) -> None:
        """The network's problem counts: "2 errors" (red), "1 warning" (amber), or "✓ no problems"."""
        if errors:
            self.set_state("error", f"{errors} error{'s' if errors != 1 else ''}")
            self.setToolTip("Show the problems list")
        elif warnings:
            self.set_state("warning", f"{warnings} warning{'s' if warnings != 1 else ''}")
            self.setToolTip("Show the problems list")
        else:
            self.set_state("ok", "✓ no problems")
            self.setToolTip("Every block has a shape; the network can be built")

    def mousePressEvent(self, event) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self.clicked.emit()
        super().mousePressEvent(event)
