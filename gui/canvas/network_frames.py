"""The two networks of a GAN project framed on the canvas: a rounded, translucent rectangle behind the blocks of
the generator and one behind those of the discriminator (core/gan.py tells them apart), each labelled above its
top-left corner. Nothing is drawn for other graphs.

    frames = NetworkFrames(scene)       # the scene calls frames.on_event(ev) and frames.refresh() (rebuild)
    frames.items                        # {"generator": NetworkFrame, "discriminator": NetworkFrame} of a GAN

Which blocks belong to which network is worked out again after a structural edit (a block or wire added or
removed); the rectangles follow blocks as they move (also live, while dragged). Both are coalesced into one
update per turn of the event loop, so a paste of many blocks or a drag costs one pass over the GAN's blocks.
"""

from __future__ import annotations

from PySide6.QtCore import QRectF, Qt, QTimer
from PySide6.QtGui import QBrush, QColor, QFont, QPainter, QPen
from PySide6.QtWidgets import QGraphicsItem, QGraphicsSimpleTextItem

from layerloom.core.gan import DISCRIMINATOR, GENERATOR, gan_layout
from layerloom.gui.canvas.style import theme_of

PAD = 22.0  # space between the blocks and the frame
LABEL_H = 26.0  # the title band above the blocks, inside the frame
FRAME_RADIUS = 16.0
TITLES = {GENERATOR: "Generator", DISCRIMINATOR: "Discriminator"}
COLORS = {GENERATOR: "#4fa3e0", DISCRIMINATOR: "#e0894f"}
STRUCTURE = ("node_added", "node_removed", "edge_added", "edge_removed")


class NetworkFrame(QGraphicsItem):
    """A labelled rounded rectangle behind one network's blocks; it takes no mouse buttons (a press on it is a
    press on the canvas). The label keeps its size on screen at every zoom."""

    def __init__(self, network: str) -> None:
        super().__init__()
        self.network = network
        self.title = TITLES[network]
        self.color = QColor(COLORS[network])
        self.rect = QRectF()
        self.ids: frozenset[str] = frozenset()  # the blocks it encloses
        self.setZValue(-1)  # under the wires (0) and the blocks (1)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.setAcceptHoverEvents(False)
        self.label = QGraphicsSimpleTextItem(self.title, self)
        font = QFont()
        font.setPointSizeF(10.5)
        font.setBold(True)
        self.label.setFont(font)
        self.label.setBrush(QBrush(self.color.darker(115)))
        self.label.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
        self.label.setAcceptedMouseButtons(Qt.MouseButton.NoButton)

    def set_rect(self, rect: QRectF) -> None:
        if rect != self.rect:
            self.prepareGeometryChange()
            self.rect = QRectF(rect)
            self.label.setPos(rect.left() + 14, rect.top() + 5)
            self.label.setVisible(not rect.isEmpty())

    def boundingRect(self) -> QRectF:
        return self.rect.adjusted(-2, -2, 2, 2)

    def paint(self, painter: QPainter, option, widget=None) -> None:
        if self.rect.isEmpty():
            return
        dark = theme_of(self).dark
        fill = QColor(self.color)
        fill.setAlpha(34 if dark else 26)
        edge = QColor(self.color)
        edge.setAlpha(150)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QPen(edge, 1.5, Qt.PenStyle.DashLine))
        painter.setBrush(fill)
        painter.drawRoundedRect(self.rect, FRAME_RADIUS, FRAME_RADIUS)


class NetworkFrames:
    """The frames of one CanvasScene (see the module text)."""

    def __init__(self, scene) -> None:
        self.scene = scene
        self.items: dict[str, NetworkFrame] = {}
        self._structure = False  # a pending update must work the networks out again
        self._timer = QTimer()
        self._timer.setSingleShot(True)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self.update_now)
        self.refresh()

    # --- what the scene tells ---------------------------------------------------------------------

    def on_event(self, ev) -> None:
        if ev.kind in STRUCTURE:
            self._structure = True
            self._schedule()
        elif ev.kind in ("node_moved", "nodes_moved", "params_changed") and self.items:
            self._schedule()

    def node_moved(self, node_id: str) -> None:
        """A block item moved (also while being dragged)."""
        if self.items and any(node_id in item.ids for item in self.items.values()):
            self._schedule()

    def refresh(self) -> None:
        """Work out the networks again now (a new project)."""
        self._structure = True
        self.update_now()

    # --- updating ---------------------------------------------------------------------------------

    def _schedule(self) -> None:
        if not self._timer.isActive():
            self._timer.start()

    def update_now(self) -> None:
        self._timer.stop()
        if self._structure:
            self._structure = False
            self._regroup()
        for item in self.items.values():
            rect = self.scene.nodes_rect(item.ids)
            item.set_rect(rect.adjusted(-PAD, -PAD - LABEL_H, PAD, PAD) if not rect.isNull() else QRectF())

    def _regroup(self) -> None:
        layout = gan_layout(self.scene.graph)
        if layout is None:
            for item in self.items.values():
                self.scene.removeItem(item)
            self.items.clear()
            return
        for network, ids in ((GENERATOR, layout.generator), (DISCRIMINATOR, layout.discriminator)):
            item = self.items.get(network)
            if item is None:
                item = self.items[network] = NetworkFrame(network)
                self.scene.addItem(item)
            item.ids = frozenset(ids)
