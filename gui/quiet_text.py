"""A rich-text line that changes many times a second without disturbing the window around it.

A QLabel's setText always asks its parent layouts to lay out again, and that request climbs from layout to
layout up to the main window; a QTabWidget on the way repaints itself whole, and a label with no background of
its own has every widget behind it repainted too: in a 30-epoch LeNet-5 run with the Curves view on show, 803
paints covering 50 Mpx, against 239 covering 13.5 Mpx with QuietText (its tab bar, the controls beside it, two docks
and the main window had repainted at each update). QuietText paints its text itself (a QTextDocument) on a
background of its own, and asks for a new layout only when its text needs more lines than it has room for:

    text = QuietText(lines=2)      # room for two lines from the start
    text.setText("<b>step 1,234</b> · loss 0.12")   # repaints this widget only

A right click offers "Copy text" (the plain text). A percentage never breaks before its sign ("92.8 %").
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import (
    QAbstractTextDocumentLayout,
    QAction,
    QGuiApplication,
    QPainter,
    QPalette,
    QTextDocument,
    QTextOption,
)
from PySide6.QtWidgets import QSizePolicy, QWidget

NO_BREAK = "\u00a0"  # a space no line breaks at


class QuietText(QWidget):
    """Word-wrapped rich text with room for `lines` lines; more only when a text needs it, and never less until
    its width changes (or `hold_height`). Its width is what the layout gives it, never what the text would like."""

    def __init__(self, parent: QWidget | None = None, *, lines: int = 1, min_width: int = 120):
        super().__init__(parent)
        self._text = ""
        self._lines = max(1, lines)
        self._doc = QTextDocument(self)
        self._doc.setDocumentMargin(0)
        self._doc.setDefaultFont(self.font())
        self._doc.setDefaultTextOption(QTextOption(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter))
        self._checked_chars = 0  # the longest text the current height was checked for
        self.setAutoFillBackground(True)  # opaque: what lies behind it is not repainted with it
        self.setMinimumWidth(min_width)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        copy = QAction("Copy text", self)  # right-click: what a selectable label offered
        copy.triggered.connect(lambda: QGuiApplication.clipboard().setText(self.plain_text()))
        self.addAction(copy)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        self.hold_height()

    # --- the text -------------------------------------------------------------------------------------

    def text(self) -> str:
        """The text last set (rich text, as given)."""
        return self._text

    def setText(self, text: str) -> None:
        """Show `text`: this widget is repainted; the layout is asked again only if the text needs more room."""
        if text == self._text:
            return
        self._text = text
        self._doc.setHtml(text.replace(" %", NO_BREAK + "%"))  # "92.8 %" stays on one line
        self._fit()
        self.update()

    def plain_text(self) -> str:
        """The text as shown, without markup."""
        return self._doc.toPlainText().replace(NO_BREAK, " ")

    # --- its height -------------------------------------------------------------------------------------

    def hold_height(self) -> None:
        """Back to the lines it was made with (after a resize); later texts grow it again if they need to."""
        m = self.contentsMargins()
        self._set_height(self._lines * self.fontMetrics().lineSpacing() + 2 + m.top() + m.bottom())
        self._checked_chars = 0
        self._fit()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if event.size().width() != event.oldSize().width():  # wrapped anew: as few lines as the text needs now
            self.hold_height()

    def _fit(self) -> None:
        if len(self._text) <= self._checked_chars:  # no longer than a text the height was checked for
            return
        self._checked_chars = len(self._text)
        needed = self._needed_height(max(1, self.width()))
        if needed > self.height() and needed > self.minimumHeight():
            self._set_height(needed)

    def _needed_height(self, width: int) -> int:
        m = self.contentsMargins()
        self._doc.setTextWidth(max(1, width - m.left() - m.right()))
        return int(self._doc.size().height() + 0.999) + 2 + m.top() + m.bottom()

    def _set_height(self, h: int) -> None:
        if self.minimumHeight() != h or self.maximumHeight() != h:
            self.setFixedHeight(h)  # a change of height is the one change the layout hears of

    def sizeHint(self) -> QSize:
        return QSize(self.minimumWidth(), self.minimumHeight())

    def minimumSizeHint(self) -> QSize:
        return self.sizeHint()

    # --- drawing -----------------------------------------------------------------------------------------

    def changeEvent(self, event) -> None:
        if event.type() in (event.Type.FontChange, event.Type.PaletteChange, event.Type.StyleChange):
            self._doc.setDefaultFont(self.font())
            self.hold_height()
            self.update()
        super().changeEvent(event)

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        inside = self.contentsRect()
        self._doc.setTextWidth(max(1, inside.width()))
        painter.translate(inside.left(), inside.top() + max(0.0, (inside.height() - self._doc.size().height()) / 2))
        context = QAbstractTextDocumentLayout.PaintContext()
        palette = QPalette(self.palette())
        palette.setColor(QPalette.ColorRole.Text, self.palette().color(self.foregroundRole()))
        context.palette = palette
        self._doc.documentLayout().draw(painter, context)
        painter.end()
