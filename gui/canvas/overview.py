"""The whole graph drawn in a few batched calls, for a canvas zoomed far out and for the minimap: every block
a plain box in its header colour, every wire a straight line, no text, ports or badges (none of them is
readable at that size). GraphPicture keeps the boxes and lines (scene coordinates) and rebuilds them only
when the scene's `version` moved on (a graph event, a report, a selection, a drag); a frame is then a
handful of drawRects/drawLines calls however many blocks there are. A change of the selection and a batch
of moves update the picture in place instead (`selection_changed`, `nodes_moved`), when it was up to date.

    picture = GraphPicture(scene)
    picture.paint(painter, exposed_scene_rect)   # the painter maps scene coordinates
"""

from __future__ import annotations

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
        self._bounds = QRectF()
        self._bounds_stale = False
        self._error_items: list = []  # (item, box) of the blocks with an error
        # where the boxes and lines are drawn, relative to where they were made: a move of every block
        # alike only shifts the picture (`shift_all`)
        self.dx = self.dy = 0.0
        self._rects: dict = {}  # block item → its box (the same QRectF as in `boxes`, moved in place)
        self._lines: dict = {}  # wire item → its line (the same QLineF as in `lines`)

    @property
    def bounds(self) -> QRectF:
        """The rectangle of every box (worked out again after moves that were not all alike)."""
        if self._bounds_stale:
            self._bounds_stale = False
            rects = self._rects.values()
            if rects:
                left, top = min(r.left() for r in rects), min(r.top() for r in rects)
                self._bounds = QRectF(left + self.dx, top + self.dy, max(r.right() for r in rects) - left,
                                      max(r.bottom() for r in rects) - top)
        return self._bounds

    def current(self) -> bool:
        """Whether the picture shows the scene as it is (then it can be updated in place)."""
        return self._version == self.scene.version

    def selection_changed(self, selected) -> None:
        """The selected blocks (items) are now these; call while current, before the version moves on."""
        rects = self._rects
        self.selected = [rects[item] for item in selected if item in rects]
        self.errors = [rect for item, rect in self._error_items if item not in selected]

    def nodes_moved(self, moved: dict) -> None:
        """These block items moved by (dx, dy) each (call while current, as for `selection_changed`): their
        boxes and the lines of their wires move in place."""
        rects, lines, still = self._rects, self._lines, (0.0, 0.0)
        first = next(iter(moved.values()), still)
        alike = len(moved) == len(rects)
        for item, (dx, dy) in moved.items():
            rect = rects.get(item)
            if rect is None:
                continue
            rect.translate(dx, dy)
            if alike and (dx, dy) != first:
                alike = False
            for edge in item.edges:
                line = lines.get(edge)
                if line is None:
                    continue
                if edge.src is item:
                    if moved.get(edge.dst, still) == (dx, dy):
                        line.translate(dx, dy)
                        continue
                elif edge.src in moved:
                    continue  # done from its source's side
                src, dst = rects.get(edge.src), rects.get(edge.dst)
                if src is not None and dst is not None:
                    line.setLine(src.right(), src.top() + PORT_Y, dst.left(), dst.top() + PORT_Y)
        if alike:
            self._bounds.translate(*first)
        else:
            self._bounds_stale = True

    def shift_all(self, dx: float, dy: float) -> None:
        """Every block moved by (dx, dy) (call while current): the whole picture moves, in one step."""
        self.dx += dx
        self.dy += dy
        self._bounds.translate(dx, dy)

    def mark_current(self) -> None:
        """The picture was brought up to date in place: it stands for the scene's present version."""
        self._version = self.scene.version

    def refresh(self) -> bool:
        """Rebuild from the scene's items if it changed since the last time; True when rebuilt."""
        scene = self.scene
        if scene.version == self._version:
            return False
        self._version = scene.version
        theme = scene.theme
        boxes: dict[tuple, tuple[QColor, list[QRectF]]] = {}
        selected, errors, error_items = [], [], []
        rects = {}
        xs, ys, bottoms = [], [], []
        where = {}
        chosen = scene.selected  # the selected blocks' items (a set: no call into Qt per block)
        # a loop run for every block at every change: plain local names, two calls into Qt per block
        for item in scene.nodes.values():
            x, y, h = item.x(), item.y(), item.height
            where[item] = (x, y)
            xs.append(x)
            ys.append(y)
            bottoms.append(y + h)
            rect = rects[item] = QRectF(x, y, NODE_W, h)
            report = item.report
            status = report.status if report is not None else None
            key = (item.color.rgba(), status == "waiting", item.frozen)
            group = boxes.get(key)
            if group is None:
                group = boxes[key] = (item.header_color(theme), [])
            group[1].append(rect)
            if status == "error":
                error_items.append((item, rect))
            if item in chosen:
                selected.append(rect)
            elif status == "error":
                errors.append(rect)
        if xs:
            left, top = min(xs), min(ys)
            bounds = QRectF(left, top, max(xs) + NODE_W - left, max(bottoms) - top)
        else:
            bounds = QRectF()
        w, py = NODE_W, PORT_Y
        line_of = {e: QLineF(x1 + w, y1 + py, x2, y2 + py)
                   for e, (x1, y1), (x2, y2) in ((e, where[e.src], where[e.dst]) for e in scene.edges.values())}
        self.boxes, self.selected, self.errors, self._bounds = boxes, selected, errors, bounds
        self.lines, self._lines, self._rects = list(line_of.values()), line_of, rects
        self._error_items, self._bounds_stale = error_items, False
        self.dx = self.dy = 0.0
        return True

    def paint(self, painter: QPainter, exposed: QRectF | None = None, *, outlines: bool = True) -> None:
        """Draw the boxes and lines; the painter maps scene coordinates (pens are one pixel wide)."""
        self.refresh()
        theme = self.scene.theme
        painter.save()
        if self.dx or self.dy:
            painter.translate(self.dx, self.dy)
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
