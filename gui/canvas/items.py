"""The graphics items of the canvas: blocks (NodeItem, with their ports and problem badge), wires
(EdgeItem), the wire being drawn (WireItem) and the bubble that says why something was refused
(HintItem).

Items only draw what they are told (by the scene, from graph events and inference reports); they never
change the graph. Speed with hundreds of blocks comes from three choices:
- a block is ONE item whose picture (card, text, ports, badge) is cached as a pixmap
  (DeviceCoordinateCache): panning blits pixmaps and calls no Python;
- nodes and wires derive from QGraphicsRectItem / QGraphicsPathItem, so Qt's frequent
  boundingRect()/shape() calls stay in C++;
- text layout and tooltips are computed lazily (at paint, at hover), so an inference report that
  changes 250 blocks costs little for the blocks off screen.
"""

from __future__ import annotations

import math
import weakref

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QPainter, QPainterPath, QPen, QPolygonF
from PySide6.QtWidgets import QGraphicsItem, QGraphicsPathItem, QGraphicsRectItem, QStyleOptionGraphicsItem

from layerloom.core.blocks import fmt_shape
from layerloom.gui.canvas import style
from layerloom.gui.canvas.style import (
    BADGE_R,
    BODY_PAD,
    FOOTER_H,
    HEADER_H,
    LOW_DETAIL,
    MULTI_SLOT,
    NODE_W,
    PAD_X,
    PORT_HIT_R,
    PORT_R,
    PORT_Y,
    RADIUS,
    ROW_H,
    Fonts,
    fmt_count,
    fmt_count_short,
    fmt_value,
)
from layerloom.gui.colors import category_color

_NO_PEN = QPen(Qt.PenStyle.NoPen)
FROZEN_LABEL = "frozen"
_HIT_PEN = QPen(QColor(0, 0, 0, 0), 10.0)  # invisible: gives wires a 10-px wide hit area and bounds


def _theme(item: QGraphicsItem) -> style.CanvasTheme:
    scene = item.scene()
    return getattr(scene, "theme", style.DARK) if scene is not None else style.DARK


def _lod(painter: QPainter) -> float:
    return QStyleOptionGraphicsItem.levelOfDetailFromTransform(painter.worldTransform())


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


# --- ports and badges: parts of a block, drawn in its picture ------------------------------------------


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


# --- blocks -------------------------------------------------------------------------------------------


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
        self.setPen(_NO_PEN)
        self.setFlags(
            QGraphicsItem.GraphicsItemFlag.ItemIsSelectable
            | QGraphicsItem.GraphicsItemFlag.ItemIsMovable
            | QGraphicsItem.GraphicsItemFlag.ItemSendsGeometryChanges
        )
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.setAcceptHoverEvents(True)
        self.setZValue(1)
        self.update_bounds()
        self.setPos(QPointF(*node.pos))

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

    def itemChange(self, change, value):
        if change == QGraphicsItem.GraphicsItemChange.ItemPositionHasChanged:
            for edge in self.edges:
                edge.update_path()
        elif change == QGraphicsItem.GraphicsItemChange.ItemSelectedHasChanged:
            self.setZValue(2 if value else 1)
            for edge in self.edges:
                edge.update()
        return super().itemChange(change, value)

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
        theme = _theme(self)
        lod = _lod(painter)
        h = self.height
        rect = QRectF(0, 0, NODE_W, h)
        status = self.status
        detailed = lod >= LOW_DETAIL
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setRenderHint(QPainter.RenderHint.TextAntialiasing, True)
        painter.setPen(_NO_PEN)
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


# --- wires ------------------------------------------------------------------------------------------


def wire_controls(p1: QPointF, p2: QPointF) -> tuple[QPointF, QPointF, QPointF, QPointF]:
    """The control points of a horizontal S-shaped Bézier from an output (p1) to an input (p2).
    A wire that skips over blocks of its own row (a skip connection) arcs over them instead of
    hiding behind them: blocks rise only a little above their port line."""
    span = p2.x() - p1.x()
    if span > style.ARC_SPAN and abs(p2.y() - p1.y()) < HEADER_H:
        lift = style.ARC_LIFT / 0.75  # a cubic reaches 3/4 of its control points' height
        top = min(p1.y(), p2.y()) - lift
        return p1, QPointF(p1.x() + 0.2 * span, top), QPointF(p2.x() - 0.2 * span, top), p2
    dx = max(abs(span) * 0.5, 60.0)
    return p1, QPointF(p1.x() + dx, p1.y()), QPointF(p2.x() - dx, p2.y()), p2


def wire_path(p1: QPointF, p2: QPointF) -> QPainterPath:
    a, b, c, d = wire_controls(p1, p2)
    path = QPainterPath(a)
    path.cubicTo(b, c, d)
    return path


PIECE = 120.0  # long wires are stroked in pieces of about this length, only those on screen


def _lerp(a: tuple[float, float], b: tuple[float, float], t: float) -> tuple[float, float]:
    return (a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t)


def _split(p: list[tuple[float, float]], t: float):
    """de Casteljau: the cubic p split at t into two cubics with exactly the same shape."""
    ab, bc, cd = _lerp(p[0], p[1], t), _lerp(p[1], p[2], t), _lerp(p[2], p[3], t)
    abc, bcd = _lerp(ab, bc, t), _lerp(bc, cd, t)
    m = _lerp(abc, bcd, t)
    return [p[0], ab, abc, m], [m, bcd, cd, p[3]]


def wire_pieces(controls, length: float) -> list[tuple[QPainterPath, QRectF]]:
    """A long wire as consecutive sub-curves (exact), each with its bounds; [] for a short one."""
    n = int(length // PIECE) + 1
    if n < 2:
        return []
    rest = [(q.x(), q.y()) for q in controls]
    pieces = []
    for i in range(n, 0, -1):  # cut off 1/i of what remains, n times
        if i > 1:
            head, rest = _split(rest, 1.0 / i)
        else:
            head = rest
        path = QPainterPath(QPointF(*head[0]))
        path.cubicTo(QPointF(*head[1]), QPointF(*head[2]), QPointF(*head[3]))
        pieces.append((path, path.controlPointRect().adjusted(-3, -3, 3, 3)))
    return pieces


_TEXT_W: dict[str, float] = {}
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

    def __init__(self, edge, src: NodeItem, dst: NodeItem) -> None:
        super().__init__()
        Fonts.ensure()
        self.edge = edge
        self.src = src
        self.dst = dst
        self.slot = 0
        self.slots = 1
        self.label = ""
        self._label_w = 0.0
        self.label_scale = 1.0  # below 1 when the text is shrunk to fit between two blocks
        self._hover = False
        self._wire = QPainterPath()
        self._pieces: list[tuple[QPainterPath, QRectF]] = []
        self._wire_bounds = QRectF()
        self._mid = QPointF()
        self.setPen(_HIT_PEN)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption)  # for option.exposedRect
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
            self.update_path()

    def set_label(self, text: str) -> None:
        if text != self.label:
            self.label = text
            self._fit_label()
            self._set_hit_path()

    def update_path(self) -> None:
        p1 = self.src.output_anchor(self.edge.src_port)
        p2 = self.dst.input_anchor(self.edge.dst_port, self.slot, self.slots)
        controls = wire_controls(p1, p2)
        self._wire = QPainterPath(controls[0])
        self._wire.cubicTo(controls[1], controls[2], controls[3])
        self._wire_bounds = self._wire.boundingRect()
        self._pieces = wire_pieces(controls, self._wire.length()) if abs(p2.x() - p1.x()) + abs(
            p2.y() - p1.y()) > PIECE else []
        self._mid = self._wire.pointAtPercent(0.5)
        self._fit_label()
        self._set_hit_path()

    def label_room(self) -> float:
        """The width free for the label at the wire's middle: up to the ports of a block beside it (blocks
        are drawn over wires, so a wider label would lose its ends under them); unlimited elsewhere."""
        half = math.inf
        x, y = self._mid.x(), self._mid.y()
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
        if not self._pieces or exposed.contains(self._wire_bounds):
            painter.drawPath(self._wire)
            return
        for path, bounds in self._pieces:
            if bounds.intersects(exposed):
                painter.drawPath(path)

    def paint(self, painter: QPainter, option, widget=None) -> None:
        theme = _theme(self)
        lod = _lod(painter)
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
        theme = _theme(self)
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
        theme = _theme(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        fill = QColor(theme.error if self.kind == "error" else theme.label_bg)
        fill.setAlpha(240)
        painter.setPen(QPen(fill.darker(130), 1.0))
        painter.setBrush(QBrush(fill))
        painter.drawRoundedRect(self._rect, 6, 6)
        painter.setFont(Fonts.type)
        painter.setPen(QColor("#ffffff") if self.kind == "error" else theme.label_text)
        painter.drawText(self._rect.adjusted(9, 6, -9, -6), int(Qt.TextFlag.TextWordWrap), self.text)
