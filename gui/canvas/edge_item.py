"""A wire on the canvas (EdgeItem): from an output port to an input port, labelled with the tensor shape it
carries; the label shrinks to fit between two blocks. It derives from QGraphicsPathItem, so Qt's bounds
and hit tests stay in C++; a long wire is stroked only in the pieces on screen (wire_geometry.py)."""

from __future__ import annotations

import math

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsItem, QGraphicsPathItem

from layerloom.gui.canvas.node_item import NodeItem
from layerloom.gui.canvas.style import LOW_DETAIL, NODE_W, PORT_R, Fonts, level_of_detail, theme_of
from layerloom.gui.canvas.wire_geometry import PIECE, wire_controls, wire_pieces

_HIT_PEN = QPen(QColor(0, 0, 0, 0), 10.0)  # invisible: gives wires a 10-px wide hit area and bounds
_TEXT_W: dict[str, float] = {}
_FLAGS = QGraphicsItem.GraphicsItemFlag.ItemIsSelectable | QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption
LABEL_H = 15.0  # the shape label's pill, at full size
LABEL_PAD = 10.0  # room around its text, both sides together
LABEL_MIN_PAD = 4.0
LABEL_MIN_SCALE = 0.6  # the smallest a label's text shrinks to fit between two blocks (6 px)
PORT_CLEARANCE = PORT_R + 2.0  # a port's radius and outline: a label keeps off it


def label_text_width(text: str) -> float:
    """The width of a wire label's text in the label font: its advance or its ink, whichever is wider."""
    w = _TEXT_W.get(text)
    if w is None:
        m = Fonts.metrics["label"]
        w = _TEXT_W[text] = max(m.horizontalAdvance(text), m.boundingRect(text).width()) if text else 0.0
    return w


class EdgeItem(QGraphicsPathItem):
    """A wire from an output port to an input port, labelled with the tensor shape it carries.
    Its C++ path (the wire plus the label box, stroked 10 px wide) gives Qt its bounds and hit area."""

    def __init__(self, edge, src: NodeItem, dst: NodeItem, slot: int = 0, slots: int = 1) -> None:
        super().__init__()
        Fonts.ensure()
        self.edge = edge
        self.src = src
        self.dst = dst
        self.slot = slot  # its place among the wires into a multi-input port, and their number
        self.slots = slots
        self.label = ""
        self._label_w = 0.0
        self.label_scale = 1.0  # below 1 when the text is shrunk to fit between two blocks
        self._hover = False
        self._wire = QPainterPath()
        # the anchors the path was made for, in the item's coordinates (the scene's, less pos(): a wire
        # shifted whole by its blocks only moves the item, see `shift`)
        self._ends: tuple[QPointF, QPointF] | None = None
        self._pieces: list[tuple[QPainterPath, QRectF]] | None = None  # cut at the first paint that needs them
        self._wire_bounds = QRectF()
        self._mid = QPointF()
        self.setPen(_HIT_PEN)
        self.setFlags(_FLAGS)  # extended style option: for option.exposedRect
        self.setAcceptHoverEvents(True)
        self.setZValue(-1)
        self.label = src.output_label()
        self.update_path()

    def dispose(self) -> None:
        """Called when the wire leaves the scene."""
        self.setCacheMode(QGraphicsItem.CacheMode.NoCache)

    def set_slot(self, slot: int, slots: int) -> None:
        if (slot, slots) != (self.slot, self.slots):
            self.slot, self.slots = slot, slots
            self._ends = None
            self.update_path()

    def set_label(self, text: str) -> None:
        if text != self.label:
            self.label = text
            self._fit_label()
            self._set_hit_path()

    def update_path(self) -> None:
        p1 = self.src.output_anchor(self.edge.src_port)
        p2 = self.dst.input_anchor(self.edge.dst_port, self.slot, self.slots)
        ends, offset = self._ends, self.pos()
        if ends is not None and p1 - offset - ends[0] == p2 - offset - ends[1]:  # both blocks moved alike
            d = p1 - offset - ends[0]
            self.shift(d.x(), d.y())
            return
        if not offset.isNull():  # shifted before: the path is made afresh in scene coordinates
            self.setPos(0.0, 0.0)
        self._ends = (p1, p2)
        controls = wire_controls(p1, p2)
        self._wire = QPainterPath(controls[0])
        self._wire.cubicTo(controls[1], controls[2], controls[3])
        self._wire_bounds = self._wire.boundingRect()
        self._pieces = None if abs(p2.x() - p1.x()) + abs(p2.y() - p1.y()) > PIECE else []
        self._mid = self._wire.pointAtPercent(0.5)
        self._fit_label()
        self._set_hit_path()

    def shift(self, dx: float, dy: float) -> None:
        """Move the whole wire by (dx, dy) (both its blocks moved by as much: a multi-block drag or move).
        Only the item moves (`moveBy`, which is all a batch of moves calls): its path, ends, pieces and
        label stay as they are, in the item's coordinates, which differ from the scene's by `pos()` from
        then on (until the next full update)."""
        if self._ends is None:
            self.update_path()
        elif dx or dy:
            self.moveBy(dx, dy)

    def label_room(self) -> float:
        """The width free for the label at the wire's middle: up to the ports of a block beside it (blocks
        are drawn over wires, so a wider label would lose its ends under them); unlimited elsewhere."""
        half = math.inf
        offset = self.pos()
        x, y = self._mid.x() + offset.x(), self._mid.y() + offset.y()
        for node in (self.src, self.dst):
            top = node.y()
            if not top - LABEL_H / 2 <= y <= top + node.height + LABEL_H / 2:
                continue  # the block is above or below the label
            left, right = node.x(), node.x() + NODE_W
            if x <= left:
                half = min(half, left - PORT_CLEARANCE - x)
            elif x >= right:
                half = min(half, x - right - PORT_CLEARANCE)
        return 2 * max(half, 0.0)

    def _fit_label(self) -> None:
        """The label's width and text scale: the full pill where there is room, else less padding, else
        smaller text (down to LABEL_MIN_SCALE) so that it is read whole between the blocks."""
        text_w = label_text_width(self.label)
        room = self.label_room()
        if text_w + LABEL_PAD <= room:
            self._label_w, self.label_scale = text_w + LABEL_PAD, 1.0
        elif text_w + LABEL_MIN_PAD <= room:
            self._label_w, self.label_scale = room, 1.0
        else:
            self.label_scale = max(LABEL_MIN_SCALE, (room - LABEL_MIN_PAD) / text_w) if text_w else 1.0
            self._label_w = text_w * self.label_scale + LABEL_MIN_PAD

    def _set_hit_path(self) -> None:
        path = QPainterPath(self._wire)
        if self.label:
            path.addRect(self.label_rect())
        self.setPath(path)

    def label_rect(self) -> QRectF:
        w, h = self._label_w, LABEL_H * self.label_scale
        return QRectF(self._mid.x() - w / 2, self._mid.y() - h / 2, w, h)

    def tooltip(self) -> str:
        what = f"carries {self.label}" if self.label else "carries nothing yet (a block upstream has a problem)"
        return f"{self.src.name} → {self.dst.name}: {what}"

    def hoverEnterEvent(self, event) -> None:
        self._hover = True
        self.update()

    def hoverLeaveEvent(self, event) -> None:
        self._hover = False
        self.update()

    def _stroke(self, painter: QPainter, exposed: QRectF) -> None:
        """Stroke the wire; a long one only in the pieces that are on screen (Qt would otherwise
        rasterize its whole length to show a sliver of it)."""
        if self._pieces is None and not exposed.contains(self._wire_bounds):
            self._pieces = wire_pieces(wire_controls(*self._ends), self._wire.length())
        if not self._pieces or exposed.contains(self._wire_bounds):
            painter.drawPath(self._wire)
            return
        for path, bounds in self._pieces:
            if bounds.intersects(exposed):
                painter.drawPath(path)

    def paint(self, painter: QPainter, option, widget=None) -> None:
        theme = theme_of(self)
        lod = level_of_detail(painter)
        active = self.isSelected() or self.src.isSelected() or self.dst.isSelected()
        if active:
            color = theme.edge_active
        elif self._hover:
            color = theme.hover.lighter(130)
        elif self.src.status not in ("ok", None):
            color = theme.waiting
        else:
            color = theme.edge
        exposed = option.exposedRect
        if lod < LOW_DETAIL and not active:  # far away: a thin aliased line is enough, and fast
            painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
            painter.setPen(QPen(color, 0))
            painter.drawPath(self._wire)
            return
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setPen(QPen(color, 2.6 if active else 2.0, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        self._stroke(painter, exposed)
        if self.label and self.label_rect().intersects(exposed):
            rect = self.label_rect()
            painter.setPen(QPen(color if active else theme.node_border, 1.0))
            painter.setBrush(theme.label_bg)
            painter.drawRoundedRect(rect, rect.height() / 2, rect.height() / 2)
            painter.setFont(Fonts.label)
            painter.setPen(theme.label_text)
            whole = Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextDontClip  # never cut by the pill
            s = self.label_scale
            if s == 1.0:
                painter.drawText(rect, whole, self.label)
            else:
                painter.save()
                painter.translate(rect.center())
                painter.scale(s, s)
                painter.drawText(QRectF(-rect.width() / (2 * s), -LABEL_H / 2, rect.width() / s, LABEL_H), whole,
                                 self.label)
                painter.restore()

