"""The parts of a block that are drawn in its picture (not items of their own): its ports (Port) and its
problem badge (Badge). NodeItem (node_item.py) owns them, paints them and asks them what a point hits."""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPen, QPolygonF

from layerloom.gui.canvas import style
from layerloom.gui.canvas.style import BADGE_R, MULTI_SLOT, NODE_W, PORT_HIT_R, PORT_R, Fonts

if TYPE_CHECKING:
    from layerloom.gui.canvas.node_item import NodeItem


class Port:
    """An input (left side) or output (right side) of a block. A multi-input port (Add, Concat,
    Multiply) is a pill that grows with the number of wires it takes."""

    __slots__ = ("_node", "connections", "highlight", "hover", "multi", "name", "output", "y")

    def __init__(self, node: NodeItem, name: str, output: bool, multi: bool, y: float) -> None:
        self._node = weakref.ref(node)  # no cycle: a removed block is freed at once, not by the GC later
        self.name = name
        self.output = output
        self.multi = multi
        self.y = y
        self.connections = 0
        self.highlight: str | None = None  # "ok" / "refused" while a wire being drawn hovers it
        self.hover = False

    def __repr__(self) -> str:
        return f"Port({self.node.node_id}.{self.name}, {'out' if self.output else 'in'})"

    @property
    def node(self) -> NodeItem:
        return self._node()

    @property
    def node_id(self) -> str:
        return self.node.node_id

    def local_pos(self) -> QPointF:
        return QPointF(NODE_W if self.output else 0.0, self.y)

    def scene_pos(self) -> QPointF:
        return self.node.mapToScene(self.local_pos())

    def half_height(self) -> float:
        if self.multi and self.connections > 1:
            return self.connections * MULTI_SLOT / 2 + 2
        return PORT_R

    def contains(self, local: QPointF) -> bool:
        p = self.local_pos()
        return (abs(local.x() - p.x()) <= PORT_HIT_R
                and abs(local.y() - p.y()) <= max(self.half_height(), PORT_HIT_R))

    def set_connections(self, n: int) -> None:
        if n != self.connections:
            grew = self.multi and max(n, self.connections) > 1
            self.connections = n
            if grew:
                self.node.update_bounds()
            self.node.update()

    def set_highlight(self, state: str | None) -> None:
        if state != self.highlight:
            self.highlight = state
            self.node.update()

    def tooltip(self) -> str:
        if self.output:
            return "Output: drag to an input to connect (release on empty canvas to add a block)"
        if self.multi:
            return "Input that takes several wires: drag from an output here to connect"
        return "Input: drag from an output here to connect; drag a wire off it to move or remove it"

    def paint(self, painter: QPainter, theme: style.CanvasTheme) -> None:
        color = theme.waiting if self.node.status == "waiting" else self.node.color
        if self.highlight == "ok":
            color = theme.ok
        elif self.highlight == "refused":
            color = theme.error
        grow = 1.5 if (self.hover or self.highlight) else 0.0
        r = PORT_R + grow
        hh = self.half_height() + grow
        c = self.local_pos()
        body = QRectF(c.x() - r, c.y() - hh, 2 * r, 2 * hh)
        filled = self.connections or self.hover or self.highlight
        painter.setPen(QPen(theme.background if theme.dark else theme.node_body, 2.0))
        painter.setBrush(color if filled else theme.node_body)
        painter.drawRoundedRect(body, r, r)
        if not filled:
            painter.setPen(QPen(color, 2.0))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRoundedRect(body.adjusted(1, 1, -1, -1), r - 1, r - 1)


class Badge:
    """The problem badge at a block's top-right corner: a red disc for an error, an amber triangle for
    warnings. Hovering it shows the message."""

    __slots__ = ("kind", "message")
    CENTER = QPointF(NODE_W - 3, 3)

    def __init__(self) -> None:
        self.kind: str | None = None
        self.message = ""

    @property
    def visible(self) -> bool:
        return self.kind is not None

    def rect(self) -> QRectF:
        c = self.CENTER
        return QRectF(c.x() - BADGE_R - 2, c.y() - BADGE_R - 2, 2 * BADGE_R + 4, 2 * BADGE_R + 4)

    def set_problem(self, report) -> bool:
        kind, message = None, ""
        if report is not None and report.error:
            kind, message = "error", report.error
            if report.warnings:
                message += "\n\nAlso: " + "\n".join(report.warnings)
        elif report is not None and report.warnings:
            kind, message = "warning", "\n".join(report.warnings)
        changed = (kind, message) != (self.kind, self.message)
        self.kind, self.message = kind, message
        return changed

    def paint(self, painter: QPainter, theme: style.CanvasTheme) -> None:
        if self.kind is None:
            return
        c = self.CENTER
        if self.kind == "error":
            painter.setPen(QPen(theme.background, 2.0))
            painter.setBrush(theme.error)
            painter.drawEllipse(c, BADGE_R, BADGE_R)
            mark, text_rect = QColor("#ffffff"), QRectF(c.x() - BADGE_R, c.y() - BADGE_R, 2 * BADGE_R, 2 * BADGE_R)
        else:
            r = BADGE_R + 1.5
            tri = QPolygonF([QPointF(c.x(), c.y() - r), QPointF(c.x() + r * 0.98, c.y() + r * 0.78),
                             QPointF(c.x() - r * 0.98, c.y() + r * 0.78)])
            painter.setPen(QPen(theme.background, 2.0, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap,
                                Qt.PenJoinStyle.RoundJoin))
            painter.setBrush(theme.warning)
            painter.drawPolygon(tri)
            mark = QColor("#1d1d1d")
            text_rect = QRectF(c.x() - BADGE_R, c.y() - BADGE_R + 3, 2 * BADGE_R, 2 * BADGE_R)
        painter.setPen(mark)
        painter.setFont(Fonts.badge)
        painter.drawText(text_rect, Qt.AlignmentFlag.AlignCenter, "!")
