"""The minimap: a small overview of the whole graph in the canvas's bottom-right corner, shown only while the
graph is larger than the view. It draws the graph's boxes and wires (overview.py) into a cached pixmap,
redrawn only when the graph changed, and the view's rectangle over it; a click or a drag on it centres the
view there.

    minimap = Minimap(view)     # a child of the view's viewport; the view calls view_changed() on every
                                # scroll, zoom and resize
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt, QTimer
from PySide6.QtGui import QColor, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QWidget

MAX_W, MAX_H = 220, 150  # the largest the minimap gets, in pixels
MARGIN = 12  # from the viewport's corner
PAD = 5  # inside the minimap, around the graph
LARGER = 2.0  # shown when the graph is this many times wider or taller than the view: a graph a little wider
# than the window (LeNet-5 at 100 %) keeps its corner free


class Minimap(QWidget):
    """The whole graph in a corner of a CanvasView, with the view's rectangle; click or drag to pan."""

    def __init__(self, view) -> None:
        super().__init__(view.viewport())
        self.view = view
        self.scene = view.canvas_scene
        self._pixmap: QPixmap | None = None
        self._version = -1
        self._bounds = QRectF()
        self._scale = 1.0
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setToolTip("Overview of the whole graph: click or drag to move the view")
        self.hide()
        self._timer = QTimer(self)  # graph changes come in bursts (a paste, a drag): one redraw per burst
        self._timer.setSingleShot(True)
        self._timer.setInterval(100)
        self._timer.timeout.connect(self.view_changed)
        view.document.graph_changed.connect(self._graph_changed)
        view.document.inferred.connect(self._graph_changed)

    def _graph_changed(self, *_args) -> None:
        if not self._timer.isActive():
            self._timer.start()

    def needed(self) -> bool:
        """Whether the graph is much larger than what the view shows (LARGER times wider or taller: then the
        minimap is shown). While the graph changes (the timer runs), the bounds of the last picture stand."""
        bounds = self.scene.picture.bounds if self._timer.isActive() else self.scene.picture_bounds()
        if bounds.isEmpty():
            return False
        visible = self.view.mapToScene(self.view.viewport().rect()).boundingRect()
        return bounds.width() > LARGER * visible.width() or bounds.height() > LARGER * visible.height()

    def view_changed(self) -> None:
        """Show or hide, place in the corner and repaint (the view moved, zoomed or resized)."""
        if not self.needed():
            self.hide()
            return
        bounds = self.scene.picture.bounds
        scale = min((MAX_W - 2 * PAD) / bounds.width(), (MAX_H - 2 * PAD) / bounds.height())
        w, h = round(bounds.width() * scale) + 2 * PAD, round(bounds.height() * scale) + 2 * PAD
        if bounds != self._bounds or w != self.width() or h != self.height():
            self._bounds, self._scale = QRectF(bounds), scale
            self.resize(w, h)
        if self._version != self.scene.version or self._pixmap is None or self._pixmap.size() != self.size():
            self._pixmap = None
        area = self.view.viewport().rect()
        self.move(area.right() - w - MARGIN, area.bottom() - h - MARGIN)
        self.show()
        self.raise_()
        self.update()

    # --- mapping ------------------------------------------------------------------------------------

    def to_scene(self, pos: QPointF) -> QPointF:
        """A point on the minimap → the scene point it shows."""
        b = self._bounds
        return QPointF(b.left() + (pos.x() - PAD) / self._scale, b.top() + (pos.y() - PAD) / self._scale)

    def from_scene(self, rect: QRectF) -> QRectF:
        b, s = self._bounds, self._scale
        return QRectF(PAD + (rect.left() - b.left()) * s, PAD + (rect.top() - b.top()) * s,
                      rect.width() * s, rect.height() * s)

    # --- paint and mouse ----------------------------------------------------------------------------

    def _picture(self) -> QPixmap:
        """The graph's picture; when the graph changed, the last one is shown and the new one made a moment
        later (a burst of edits costs one redraw, after it, not one per frame)."""
        if self._pixmap is not None and self._version != self.scene.version:
            self._graph_changed()
        if self._pixmap is None:
            self._version = self.scene.version
            pixmap = QPixmap(self.size())
            pixmap.fill(Qt.GlobalColor.transparent)
            painter = QPainter(pixmap)
            theme = self.scene.theme
            back = QColor(theme.background)
            back.setAlpha(225)
            painter.setPen(QPen(theme.node_border, 1))
            painter.setBrush(back)
            painter.drawRoundedRect(QRectF(0.5, 0.5, self.width() - 1, self.height() - 1), 4, 4)
            painter.translate(PAD, PAD)
            painter.scale(self._scale, self._scale)
            painter.translate(-self._bounds.left(), -self._bounds.top())
            self.scene.picture.paint(painter, outlines=False)
            painter.end()
            self._pixmap = pixmap
        return self._pixmap

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.drawPixmap(0, 0, self._picture())
        visible = self.view.mapToScene(self.view.viewport().rect()).boundingRect()
        rect = self.from_scene(visible).intersected(QRectF(self.rect()).adjusted(1, 1, -1, -1))
        color = self.scene.theme.selection
        fill = QColor(color)
        fill.setAlpha(40)
        painter.setPen(QPen(color, 1.5))
        painter.setBrush(fill)
        painter.drawRect(rect)
        painter.end()

    def mousePressEvent(self, event) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self.view.centerOn(self.to_scene(event.position()))
        event.accept()

    def mouseMoveEvent(self, event) -> None:
        if event.buttons() & Qt.MouseButton.LeftButton:
            self.view.centerOn(self.to_scene(event.position()))
        event.accept()

    def mouseReleaseEvent(self, event) -> None:
        event.accept()
