"""A block on the canvas (NodeItem): a rounded card with a category-coloured header, its key parameters, a
footer with the output shape and parameter count, its ports and problem badge (node_parts.py) and, for a
frozen block, a snowflake.

Items only draw what they are told (by the scene, from graph events and inference reports); they never
change the graph. Speed with hundreds of blocks comes from three choices:
- a block is ONE item whose picture (card, text, ports, badge) is cached as a pixmap
  (DeviceCoordinateCache): panning blits pixmaps and calls no Python;
- it derives from QGraphicsRectItem, so Qt's frequent boundingRect()/shape() calls stay in C++;
- text layout and tooltips are computed lazily (at paint, at hover), so an inference report that
  changes 250 blocks costs little for the blocks off screen.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsItem, QGraphicsRectItem

from layerloom.core.blocks import fmt_shape
from layerloom.gui.canvas import style
from layerloom.gui.canvas.node_parts import Badge, Port
from layerloom.gui.canvas.style import (
    BADGE_R,
    BODY_PAD,
    FOOTER_H,
    HEADER_H,
    LOW_DETAIL,
    MULTI_SLOT,
    NO_PEN,
    NODE_W,
    PAD_X,
    PORT_HIT_R,
    PORT_Y,
    RADIUS,
    ROW_H,
    Fonts,
    fmt_count,
    fmt_count_short,
    fmt_value,
    level_of_detail,
    theme_of,
)
from layerloom.gui.colors import category_color

if TYPE_CHECKING:
    from layerloom.gui.canvas.edge_item import EdgeItem

FROZEN_LABEL = "frozen"
# Enum members looked up once: a PySide enum attribute costs microseconds.
_FLAGS = QGraphicsItem.GraphicsItemFlag.ItemIsSelectable | QGraphicsItem.GraphicsItemFlag.ItemIsMovable
_CACHE = QGraphicsItem.CacheMode.DeviceCoordinateCache


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_PATHS: dict[tuple, QPainterPath] = {}


def _band(top: float, height: float, total: float) -> QPainterPath:
    """A horizontal band (header, footer) of a node's rounded rectangle, cached by geometry."""
    key = (top, height, total)
    path = _PATHS.get(key)
    if path is None:
        whole = QPainterPath()
        whole.addRoundedRect(QRectF(0, 0, NODE_W, total), RADIUS, RADIUS)
        band = QPainterPath()
        band.addRect(QRectF(0, top, NODE_W, height))
        path = _PATHS[key] = whole.intersected(band)
    return path


_SNOWFLAKE: QPainterPath | None = None
SNOWFLAKE_R = 5.0  # the frozen mark's radius, in scene units


def snowflake() -> QPainterPath:
    """The frozen mark: six spokes with a V near each tip, centred on (0, 0), to be stroked (built once)."""
    global _SNOWFLAKE
    if _SNOWFLAKE is None:
        path = QPainterPath()
        r, at, twig = SNOWFLAKE_R, 0.55 * SNOWFLAKE_R, 0.34 * SNOWFLAKE_R
        for k in range(6):
            a = math.radians(90 + 60 * k)
            ux, uy = math.cos(a), -math.sin(a)
            path.moveTo(0, 0)
            path.lineTo(r * ux, r * uy)
            bx, by = at * ux, at * uy
            for side in (-1, 1):  # the twigs point outwards, 45° off the spoke
                b = a + side * math.radians(45)
                path.moveTo(bx, by)
                path.lineTo(bx + twig * math.cos(b), by - twig * math.sin(b))
        _SNOWFLAKE = path
    return _SNOWFLAKE


class NodeItem(QGraphicsRectItem):
    """One block: a rounded card with a category-coloured header (name and type), its key parameters,
    a footer with the output shape and parameter count, ports on the sides and a problem badge.
    `node_id` ties it to the graph. Its rect (C++) is the area it may paint, ports and badge included."""

    def __init__(self, node) -> None:
        super().__init__()
        Fonts.ensure()
        self.node_id: str = node.id
        self.type_id: str = node.type
        self.spec = node.spec
        self.name: str = node.name
        self.params: dict = dict(node.params)
        self.frozen: bool = bool(node.frozen)  # drawn with a greyed header and a snowflake
        self.color = category_color(self.spec.category)
        self.report = None
        self.edges: list[EdgeItem] = []  # every wire touching this block, kept by the scene
        self._rows = [p for p in self.spec.key_params if p in self.spec.param_map][: style.MAX_ROWS]
        self.height = style.node_height(len(self._rows))
        self._texts: dict | None = None  # laid out on demand (paint, tests), dropped on every change
        self._tooltip: str | None = None
        self._shape: QPainterPath | None = None
        self._hover = False
        self.badge = Badge()
        step = 2 * PORT_HIT_R
        self.inputs: dict[str, Port] = {
            p.name: Port(self, p.name, False, p.multi, PORT_Y + i * step) for i, p in enumerate(self.spec.inputs)}
        self.outputs: dict[str, Port] = {
            p.name: Port(self, p.name, True, False, PORT_Y + i * step) for i, p in enumerate(self.spec.outputs)}
        self.ports: list[Port] = [*self.inputs.values(), *self.outputs.values()]
        self.setPen(NO_PEN)
        self.setPos(QPointF(*node.pos))
        self.setZValue(1)
        self.setFlags(_FLAGS)
        self.setCacheMode(_CACHE)
        self.setAcceptHoverEvents(True)
        self.update_bounds()

    # --- state from the scene -------------------------------------------------------------------

    def set_name(self, name: str) -> None:
        self.name = name
        self._changed()

    def set_params(self, params: dict) -> None:
        self.params = dict(params)
        self._changed()

    def set_frozen(self, frozen: bool) -> None:
        if frozen != self.frozen:
            self.frozen = frozen
            self._changed()  # update() drops the cached picture

    def header_color(self, theme: style.CanvasTheme) -> QColor:
        """The header's fill: grey while waiting, greyed for a frozen block, else the category colour."""
        if self.status == "waiting":
            return theme.waiting_header
        if self.frozen:
            return style.frozen_header_fill(self.color, theme.dark)
        return style.header_fill(self.color, theme.dark)

    def set_report(self, report) -> bool:
        """Show an inference result; False when it is the one already shown (nothing to repaint)."""
        if report is self.report or report == self.report:
            return False
        self.report = report
        if self.badge.set_problem(report):
            self._shape = None
        self._changed()
        return True

    def _changed(self) -> None:
        self._texts = None
        self._tooltip = None
        self.update()

    def dispose(self) -> None:
        """Called when the block leaves the scene: free its cached picture now."""
        self.setCacheMode(QGraphicsItem.CacheMode.NoCache)
        self.edges.clear()

    @property
    def status(self) -> str | None:
        return self.report.status if self.report is not None else None

    def output_label(self) -> str:
        """The shape this block outputs, as written on its wires ('' when unknown)."""
        r = self.report
        if r is None or r.output is None or r.status != "ok":
            return ""
        return fmt_shape(r.output.shape)

    # --- geometry ---------------------------------------------------------------------------------

    def update_bounds(self) -> None:
        """The painted area: the card, its shadow, the ports sticking out, the badge over the corner."""
        top = min([-BADGE_R - 3] + [p.y - p.half_height() - 3 for p in self.ports])
        bottom = max([self.height + 5] + [p.y + p.half_height() + 3 for p in self.ports])
        self.setRect(QRectF(-PORT_HIT_R - 1, top, NODE_W + 2 * PORT_HIT_R + 2, bottom - top))
        self._shape = None

    def shape(self) -> QPainterPath:
        """What a click hits: the card, its ports and its badge (not the margin around them). Qt asks
        only for hit tests (clicks, hover, rubber band), never to paint."""
        if self._shape is None:
            path = QPainterPath()
            path.addRoundedRect(self.card_rect(), RADIUS, RADIUS)
            for p in self.ports:
                c = p.local_pos()
                hh = max(p.half_height(), PORT_HIT_R)
                path.addRoundedRect(QRectF(c.x() - PORT_HIT_R, c.y() - hh, 2 * PORT_HIT_R, 2 * hh),
                                    PORT_HIT_R, PORT_HIT_R)
            if self.badge.visible:
                path.addEllipse(self.badge.rect())
            path.setFillRule(Qt.FillRule.WindingFill)
            self._shape = path
        return self._shape

    def card_rect(self) -> QRectF:
        return QRectF(0, 0, NODE_W, self.height)

    def title_rect(self) -> QRectF:
        """Where the name is written (double-click there renames)."""
        return QRectF(0, 0, NODE_W, HEADER_H)

    def port_at(self, local: QPointF, output: bool | None = None) -> Port | None:
        """The port under a point in item coordinates (of the given side, if given)."""
        for p in self.ports:
            if (output is None or p.output == output) and p.contains(local):
                return p
        return None

    def output_anchor(self, port: str) -> QPointF:
        p = self.outputs.get(port)
        return self.mapToScene(p.local_pos() if p is not None else QPointF(NODE_W, PORT_Y))

    def input_anchor(self, port: str, slot: int = 0, slots: int = 1) -> QPointF:
        p = self.inputs.get(port)
        local = p.local_pos() if p is not None else QPointF(0, PORT_Y)
        if slots > 1:
            local = QPointF(local.x(), local.y() + (slot - (slots - 1) / 2) * MULTI_SLOT)
        return self.mapToScene(local)

    # No itemChange here: Qt would call into Python twice for every block selected or moved, which
    # costs a select-all or a big move dearly. Whoever moves a block tells the scene
    # (CanvasScene.node_moved); the scene shows a change of the selection (CanvasScene.selection_settled:
    # selected blocks draw above the others, and their wires in the active colour).

    # --- hover ------------------------------------------------------------------------------------

    def hoverMoveEvent(self, event) -> None:
        port = self.port_at(event.pos())
        hover = port is None and self.card_rect().contains(event.pos())
        changed = hover != self._hover
        self._hover = hover
        for p in self.ports:
            if p.hover != (p is port):
                p.hover = p is port
                changed = True
        if port is not None:
            self.setCursor(Qt.CursorShape.CrossCursor)
        else:
            self.unsetCursor()
        if changed:
            self.update()

    def hoverLeaveEvent(self, event) -> None:
        self._hover = False
        for p in self.ports:
            p.hover = False
        self.unsetCursor()
        self.update()

    # --- tooltips (built when asked for) -------------------------------------------------------------

    def tooltip_at(self, local: QPointF) -> str:
        if self.badge.visible and self.badge.rect().contains(local):
            return self.badge.message
        port = self.port_at(local)
        if port is not None:
            return port.tooltip()
        if self._tooltip is None:
            lines = [f"<b>{_html(self.name)}</b> — {self.type_id}", _html(self.spec.summary)]
            r = self.report
            if r is not None:
                if r.status == "ok":
                    lines.append(f"Output {fmt_shape(r.output.shape)} · {fmt_count(r.param_count)} · "
                                 f"{r.macs:,} multiply-adds")
                elif r.status == "waiting":
                    lines.append(f"Waiting: <b>{_html(r.waiting_on or '')}</b> upstream has a problem to fix first.")
                elif r.error:
                    lines.append(f"<span style='color:{style.DARK.error.name()}'>{_html(r.error)}</span>")
            if self.frozen:
                lines.append("<i>This block is frozen: training keeps its weights as they are.</i>")
            self._tooltip = "<br>".join(lines)
        return self._tooltip

    # --- text layout (once per change, and only for blocks that get painted) ----------------------------

    def texts(self) -> dict:
        """What the card says: title, type, key-parameter rows, footer left (shape) and right (count)."""
        if self._texts is None:
            self._texts = self._layout()
        return self._texts

    def _layout(self) -> dict:
        m = Fonts.metrics
        room = NODE_W - 2 * PAD_X
        frozen_w = m["subtitle"].horizontalAdvance(FROZEN_LABEL) + 2 * SNOWFLAKE_R + 10 if self.frozen else 0.0
        type_text = m["subtitle"].elidedText(self.type_id, Qt.TextElideMode.ElideRight, room - frozen_w)
        title = m["title"].elidedText(self.name, Qt.TextElideMode.ElideRight, room)
        rows = []
        for key in self._rows:
            label = key.replace("_", " ")
            value = fmt_value(self.params.get(key), self.spec.param_map[key].kind)
            room = max(NODE_W - 2 * PAD_X - 8 - m["key"].horizontalAdvance(label), 30)
            rows.append((label, m["value"].elidedText(value, Qt.TextElideMode.ElideRight, room)))
        r = self.report
        right = ""
        if r is None:
            left, role = "…", "muted"
        elif r.status == "ok":
            left, role = fmt_shape(r.output.shape), "text"
            if r.output.dtype != "float32":
                left += f"  {r.output.dtype}"
            right = fmt_count(r.param_count)
        elif r.status == "waiting":
            left, role = (f"waiting on {r.waiting_on}" if r.waiting_on else "waiting"), "muted"
        else:  # the reason, without the "Dense 'fc1' " the message starts with (the card says that)
            reason = r.error or "error"
            prefix = f"{self.type_id} '{self.name}' "
            left, role = (reason[len(prefix):] if reason.startswith(prefix) else reason), "error"
        room = NODE_W - 2 * PAD_X
        font = "footer" if role != "error" else "key"
        left_w = m[font].horizontalAdvance(left)
        if right:  # the shape keeps its room; the count shortens: 2,416 params → 2.42k params → 2.42k
            for candidate in (right, fmt_count_short(r.param_count), fmt_count_short(r.param_count).split()[0]):
                right = candidate
                if left_w + 5 + m["count"].horizontalAdvance(right) <= room:
                    break
        right_w = m["count"].horizontalAdvance(right) + 5 if right else 0
        left = m[font].elidedText(left, Qt.TextElideMode.ElideRight, room - right_w)
        return {"title": title, "type": type_text, "rows": rows, "left": left, "left_role": role, "right": right}

    # --- painting -------------------------------------------------------------------------------------

    def paint(self, painter: QPainter, option, widget=None) -> None:
        theme = theme_of(self)
        lod = level_of_detail(painter)
        h = self.height
        rect = QRectF(0, 0, NODE_W, h)
        status = self.status
        detailed = lod >= LOW_DETAIL
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setRenderHint(QPainter.RenderHint.TextAntialiasing, True)
        painter.setPen(NO_PEN)
        if detailed:  # a soft drop shadow
            painter.setBrush(theme.node_shadow)
            painter.drawRoundedRect(rect.translated(0, 3), RADIUS, RADIUS)
        painter.setBrush(theme.node_body)
        painter.drawRoundedRect(rect, RADIUS, RADIUS)
        waiting = status == "waiting"
        header = self.header_color(theme)
        painter.setBrush(header)
        painter.drawPath(_band(0, HEADER_H, h))
        painter.setBrush(theme.node_footer)
        painter.drawPath(_band(h - FOOTER_H, FOOTER_H, h))
        if detailed:
            self._paint_text(painter, theme, header, waiting)
        # outline: selection wins, then error, then hover
        if self.isSelected():
            pen = QPen(theme.selection, 2.2)
        elif status == "error":
            pen = QPen(theme.error, 2.0)
        elif self._hover:
            pen = QPen(theme.hover, 1.4)
        else:
            pen = QPen(theme.node_border, 1.0)
        painter.setPen(pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRoundedRect(rect, RADIUS, RADIUS)
        for port in self.ports:
            port.paint(painter, theme)
        self.badge.paint(painter, theme)

    def _paint_text(self, painter: QPainter, theme, header: QColor, waiting: bool) -> None:
        t = self.texts()
        h = self.height
        on_header = theme.muted.lighter(130) if waiting else style.header_text_color(header)
        painter.setFont(Fonts.title)
        painter.setPen(on_header)
        painter.drawText(QRectF(PAD_X, 3, NODE_W - 2 * PAD_X, 19), Qt.AlignmentFlag.AlignVCenter, t["title"])
        painter.setFont(Fonts.subtitle)
        faded = QColor(on_header)
        faded.setAlphaF(0.8)
        painter.setPen(faded)
        painter.drawText(QRectF(PAD_X, 21, NODE_W - 2 * PAD_X, 13), Qt.AlignmentFlag.AlignVCenter, t["type"])
        if self.frozen:  # "❄ frozen" at the right of the type line (the badge owns the top-right corner)
            right = NODE_W - PAD_X
            painter.drawText(QRectF(PAD_X, 21, right - PAD_X, 13),
                             Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight, FROZEN_LABEL)
            x = right - Fonts.metrics["subtitle"].horizontalAdvance(FROZEN_LABEL) - SNOWFLAKE_R - 4
            painter.save()
            painter.translate(x, 27.5)
            painter.setPen(QPen(on_header, 1.1, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawPath(snowflake())
            painter.restore()
        y = HEADER_H + BODY_PAD
        for label, value in t["rows"]:
            row = QRectF(PAD_X, y, NODE_W - 2 * PAD_X, ROW_H)
            painter.setFont(Fonts.key)
            painter.setPen(theme.muted)
            painter.drawText(row, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, label)
            painter.setFont(Fonts.value)
            painter.setPen(theme.muted if waiting else theme.text)
            painter.drawText(row, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight, value)
            y += ROW_H
        foot = QRectF(PAD_X, h - FOOTER_H, NODE_W - 2 * PAD_X, FOOTER_H)
        painter.setPen(QPen(theme.node_border, 1.0))
        painter.drawLine(QPointF(1, h - FOOTER_H), QPointF(NODE_W - 1, h - FOOTER_H))
        role = t["left_role"]
        painter.setFont(Fonts.key if role == "error" else Fonts.footer)
        painter.setPen(theme.error if role == "error" else theme.muted if role == "muted" else theme.text)
        painter.drawText(foot, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, t["left"])
        if t["right"]:
            painter.setFont(Fonts.count)
            painter.setPen(theme.muted)
            painter.drawText(foot, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight, t["right"])
