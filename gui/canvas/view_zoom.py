"""The canvas view's zoom, pan, background and paint (a mixin of CanvasView, view.py).

Zoomed far out (style.detail_for gives "overview"), the view paints the whole graph itself in a few batched
calls (overview.py: boxes in header colours, straight wires) instead of asking thousands of items to paint:
a frame then costs the same whatever the graph's size. Closer in, Qt paints the items (cached pixmaps), and
only those in the exposed area (the scene's BSP index). A big graph may be zoomed out until it fits
(down to FLOOR_ZOOM); the minimap (minimap.py) shows where the view is when the graph is larger.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QLineF, QPoint, QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPen, QTransform
from PySide6.QtWidgets import QStyleOptionGraphicsItem

from layerloom.gui.canvas import style
from layerloom.gui.canvas.style import GRID_MAJOR, GRID_MINOR, detail_for

MIN_ZOOM = 0.1
FLOOR_ZOOM = 0.005  # the farthest a very big graph zooms out (to fit it whole)
MAX_ZOOM = 3.0
ZOOM_STEP = 1.2


class ZoomMixin:
    """Zoom, pan, fit, the grid and the far-out paint of CanvasView."""

    overview = False  # True while the view paints the graph as an overview (detail_for(zoom))
    minimap = None  # made by CanvasView.__init__ (minimap.py)

    def _view_moved(self) -> None:
        if self.minimap is not None:
            self.minimap.view_changed()

    # --- zoom and pan -------------------------------------------------------------------------------

    def zoom_level(self) -> float:
        return self.transform().m11()

    def set_zoom(self, zoom: float, anchor: QPoint | None = None) -> None:
        """Zoom to `zoom` keeping the scene point under `anchor` (viewport pixels; default: centre)."""
        zoom = max(self.min_zoom(), min(MAX_ZOOM, zoom))
        current = self.zoom_level()
        if math.isclose(zoom, current, rel_tol=1e-6):
            return
        if anchor is None:
            anchor = self.viewport().rect().center()
        before = self.mapToScene(anchor)
        self.scale(zoom / current, zoom / current)
        after = self.mapFromScene(before)
        self.scroll_by(after.x() - anchor.x(), after.y() - anchor.y())
        self.close_popups()
        self._zoomed()

    def min_zoom(self) -> float:
        """MIN_ZOOM, or less when that is what it takes to see a big graph whole (down to FLOOR_ZOOM)."""
        rect = self.canvas_scene.picture_bounds()
        view = self.viewport().rect()
        if rect.isEmpty() or view.isEmpty():
            return MIN_ZOOM
        fit = min(view.width() / (rect.width() + 200), view.height() / (rect.height() + 200))
        return max(FLOOR_ZOOM, min(MIN_ZOOM, fit))

    def _zoomed(self) -> None:
        zoom = self.zoom_level()
        self.canvas_scene.set_far(zoom < style.LOW_DETAIL)
        self.overview = detail_for(zoom) == "overview"
        self._view_moved()
        self.zoom_changed.emit(zoom)

    def zoom_in(self) -> None:
        self.set_zoom(self.zoom_level() * ZOOM_STEP)

    def zoom_out(self) -> None:
        self.set_zoom(self.zoom_level() / ZOOM_STEP)

    def fit_all(self, *, min_zoom: float | None = None) -> None:
        """Show every block (at most at 100 %). With `min_zoom` above what fitting needs, show the
        graph's left end (its inputs) at `min_zoom` instead, where text stays readable."""
        self._fit_pending = False
        rect = self.canvas_scene.nodes_rect()
        if min_zoom is None:
            min_zoom = self.min_zoom()
        if rect.isNull():
            self.setTransform(QTransform.fromScale(1.0, 1.0))
            self.centerOn(0, 0)
        else:
            rect = rect.adjusted(-50, -50, 50, 50)
            self.fitInView(rect, Qt.AspectRatioMode.KeepAspectRatio)
            self.canvas_scene.ensure_room(rect)
            zoom = max(self.min_zoom(), min(1.0, self.zoom_level()))
            if zoom >= min_zoom:
                self.setTransform(QTransform.fromScale(zoom, zoom))
                self.centerOn(rect.center())
            else:
                self.setTransform(QTransform.fromScale(min_zoom, min_zoom))
                view = self.viewport().rect()
                half_w = view.width() / 2 / min_zoom
                half_h = view.height() / 2 / min_zoom
                cy = rect.center().y() if rect.height() <= 2 * half_h else rect.top() + half_h
                self.centerOn(QPointF(rect.left() + half_w, cy))
        self._zoomed()

    def scroll_by(self, dx: int, dy: int) -> None:
        h, v = self.horizontalScrollBar(), self.verticalScrollBar()
        h.setValue(h.value() + int(dx))
        v.setValue(v.value() + int(dy))

    def wheelEvent(self, event) -> None:
        delta = event.angleDelta()
        steps = (delta.y() or delta.x()) / 120.0
        if not steps:
            pixel = event.pixelDelta()
            self.scroll_by(-pixel.x(), -pixel.y())
            return
        self.set_zoom(self.zoom_level() * (ZOOM_STEP ** steps), event.position().toPoint())
        event.accept()

    # --- background ---------------------------------------------------------------------------------

    def drawBackground(self, painter: QPainter, rect: QRectF) -> None:
        theme = self.canvas_scene.theme
        painter.fillRect(rect, theme.background)
        zoom = self.zoom_level()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        for step, color, skip in ((GRID_MINOR, theme.grid_minor, GRID_MAJOR), (GRID_MAJOR, theme.grid_major, 0)):
            if step * zoom < 8:
                continue
            left = math.floor(rect.left() / step) * step
            top = math.floor(rect.top() / step) * step
            lines = []
            x = left
            while x <= rect.right():
                if not skip or x % skip:
                    lines.append(QLineF(x, rect.top(), x, rect.bottom()))
                x += step
            y = top
            while y <= rect.bottom():
                if not skip or y % skip:
                    lines.append(QLineF(rect.left(), y, rect.right(), y))
                y += step
            pen = QPen(color, 0)  # cosmetic: one pixel at every zoom
            painter.setPen(pen)
            painter.drawLines(lines)


    # --- paint --------------------------------------------------------------------------------------

    def paintEvent(self, event) -> None:
        self.canvas_scene.flush_wires()
        if not self.overview:
            super().paintEvent(event)
            return
        painter = QPainter(self.viewport())
        painter.setWorldTransform(self.viewportTransform())
        exposed = self.mapToScene(event.rect()).boundingRect()
        self.drawBackground(painter, exposed)
        self.canvas_scene.picture.paint(painter, exposed)
        for item in self.canvas_scene.overlay_items():  # a GAN's frames, a wire being drawn, a hint
            if item.isVisible() and item.sceneBoundingRect().intersects(exposed):
                painter.save()
                painter.setWorldTransform(item.sceneTransform() * self.viewportTransform())
                item.paint(painter, QStyleOptionGraphicsItem(), self.viewport())
                painter.restore()
        band = self.rubberBandRect()
        if not band.isNull():
            painter.resetTransform()
            color = self.palette().highlight().color()
            fill = QColor(color)
            fill.setAlpha(50)
            painter.setPen(QPen(color, 1))
            painter.setBrush(fill)
            painter.drawRect(band)
        painter.end()

    def scrollContentsBy(self, dx: int, dy: int) -> None:
        super().scrollContentsBy(dx, dy)
        self._view_moved()
