"""The whole graph drawn in a few batched calls, for a canvas zoomed far out and for the minimap: every block
a plain box in its header colour, every wire a straight line, no text, ports or badges (none of them is
readable at that size). GraphPicture keeps the boxes and lines (scene coordinates) and rebuilds them only
when the scene's `version` moved on (a graph event, a report, a selection, a drag); a frame is then a
handful of drawRects/drawLines calls however many blocks there are.

    picture = GraphPicture(scene)
    picture.paint(painter, exposed_scene_rect)   # the painter maps scene coordinates
"""

from __future__ import annotations

import math

from PySide6.QtCore import QLineF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPen

from layerloom.gui.canvas.style import NO_PEN, NODE_W, PORT_Y


class GraphPicture:
    """Boxes and straight wires of a CanvasScene's graph, cached until the scene changes."""

    def __init__(self, scene) -> None:
        self.scene = scene
        self._version = -1
        self.boxes: dict[tuple, tuple[QColor, list[QRectF]]] = {}  # header colour → its boxes
        self.lines: list[QLineF] = []
        self.selected: list[QRectF] = []
        self.errors: list[QRectF] = []
        self.bounds = QRectF()

    def refresh(self) -> bool:
        """Rebuild from the scene's items if it changed since the last time; True when rebuilt."""
        scene = self.scene
        if scene.version == self._version:
            return False
        self._version = scene.version
        theme = scene.theme
        boxes: dict[tuple, tuple[QColor, list[QRectF]]] = {}
        selected, errors = [], []
        left = top = math.inf
        right = bottom = -math.inf
        where = {}
        for item in scene.nodes.values():
            pos = item.pos()
            x, y, h = pos.x(), pos.y(), item.height
            where[item] = (x, y)
            rect = QRectF(x, y, NODE_W, h)
            status = item.status
            key = (item.color.rgba(), status == "waiting", item.frozen)
            group = boxes.get(key)
            if group is None:
                group = boxes[key] = (item.header_color(theme), [])
            group[1].append(rect)
            if item.isSelected():
                selected.append(rect)
            elif status == "error":
                errors.append(rect)
            left, top = min(left, x), min(top, y)
            right, bottom = max(right, x + NODE_W), max(bottom, y + h)
        bounds = QRectF(left, top, right - left, bottom - top) if boxes else QRectF()
        lines = []
        for edge in scene.edges.values():
            (x1, y1), (x2, y2) = where[edge.src], where[edge.dst]
            lines.append(QLineF(x1 + NODE_W, y1 + PORT_Y, x2, y2 + PORT_Y))
        self.boxes, self.lines, self.selected, self.errors, self.bounds = boxes, lines, selected, errors, bounds
        return True

    def paint(self, painter: QPainter, exposed: QRectF | None = None, *, outlines: bool = True) -> None:
        """Draw the boxes and lines; the painter maps scene coordinates (pens are one pixel wide)."""
        self.refresh()
        theme = self.scene.theme
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        painter.setPen(QPen(theme.edge, 0))
        painter.drawLines(self.lines)
        painter.setPen(NO_PEN)
        for color, rects in self.boxes.values():
            painter.setBrush(color)
            painter.drawRects(rects)
        if outlines:
            painter.setBrush(Qt.BrushStyle.NoBrush)
            for color, rects in ((theme.error, self.errors), (theme.selection, self.selected)):
                if rects:
                    painter.setPen(QPen(color, 2.0 if color is theme.selection else 1.5))
                    pen = painter.pen()
                    pen.setCosmetic(True)
                    painter.setPen(pen)
                    painter.drawRects(rects)
        painter.restore()
