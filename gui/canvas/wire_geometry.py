"""The shape of a wire: a horizontal S-shaped Bézier from an output to an input (an arc over the row for a
skip connection), and a long wire cut into exact pieces so that only those on screen are stroked. Pure
geometry, shared by the wires (edge_item.py) and the wire being drawn (gesture_items.py)."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF
from PySide6.QtGui import QPainterPath

from layerloom.gui.canvas import style
from layerloom.gui.canvas.style import HEADER_H


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
