"""What a gesture shows while it runs, never part of the graph: the wire that follows the cursor while a
connection is drawn (WireItem) and the bubble that says why something was refused (HintItem)."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QPainter, QPen
from PySide6.QtWidgets import QGraphicsItem, QGraphicsPathItem

from layerloom.gui.canvas.style import Fonts, theme_of
from layerloom.gui.canvas.wire_geometry import wire_path


class WireItem(QGraphicsPathItem):
    """The wire that follows the cursor while a connection is drawn; red when the target refuses."""

    def __init__(self) -> None:
        super().__init__()
        self.refused = False
        self.setZValue(10)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)

    def set_ends(self, out_point: QPointF, in_point: QPointF, refused: bool) -> None:
        self.refused = refused
        self.setPath(wire_path(out_point, in_point))

    def paint(self, painter: QPainter, option, widget=None) -> None:
        theme = theme_of(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        color = theme.error if self.refused else theme.edge_active
        painter.setPen(QPen(color, 2.4, Qt.PenStyle.DashLine, Qt.PenCapStyle.RoundCap))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPath(self.path())


class HintItem(QGraphicsItem):
    """A small bubble near the cursor (why a connection is refused); same size at every zoom."""

    MAX_W = 320.0

    def __init__(self) -> None:
        super().__init__()
        Fonts.ensure()
        self.text = ""
        self.kind = "error"
        self._rect = QRectF()
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.setZValue(20)
        self.setVisible(False)

    def show_text(self, text: str, scene_pos: QPointF, kind: str = "error") -> None:
        self.prepareGeometryChange()
        self.text, self.kind = text, kind
        m = Fonts.metrics["type"]
        bound = m.boundingRect(QRectF(0, 0, self.MAX_W, 1000), int(Qt.TextFlag.TextWordWrap), text)
        self._rect = QRectF(14, 14, bound.width() + 18, bound.height() + 12)
        self.setPos(scene_pos)
        self.setVisible(True)
        self.update()

    def boundingRect(self) -> QRectF:
        return self._rect.adjusted(-2, -2, 2, 2)

    def paint(self, painter: QPainter, option, widget=None) -> None:
        if not self.text:
            return
        theme = theme_of(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        fill = QColor(theme.error if self.kind == "error" else theme.label_bg)
        fill.setAlpha(240)
        painter.setPen(QPen(fill.darker(130), 1.0))
        painter.setBrush(QBrush(fill))
        painter.drawRoundedRect(self._rect, 6, 6)
        painter.setFont(Fonts.type)
        painter.setPen(QColor("#ffffff") if self.kind == "error" else theme.label_text)
        painter.drawText(self._rect.adjusted(9, 6, -9, -6), int(Qt.TextFlag.TextWordWrap), self.text)
