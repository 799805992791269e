"""Gestures on the canvas, one small class each, in the orange-canvas-core manner. A gesture lives from
a mouse press to its release (or Escape) and ends in at most one edit through the editor (`Editor.do`, or
one of its commands): one undo step, or a refusal shown where it happened and in the status bar.

- `PanView`     middle button, or Space + left button: scroll the view.
- `MoveNodes`   drag selected blocks (Qt moves the items); release commits one `Move` of all of them.
- `RubberBand`  drag on empty canvas: Qt's rubber band selects (Ctrl adds to the selection).
- `DrawEdge`    drag from a port: a wire follows the cursor; release on a port (or a block) connects,
                on a refusing target says why, on empty canvas opens the quick search to add a connected
                block. Dragging the wire off a connected input picks it up (reconnect, or drop to remove).
- `DropBlock`   a palette drag (MIME `application/x-layerloom-block`) dropped on the canvas.

`gesture_for(view, event)` picks the gesture a mouse press starts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QPoint, QPointF, QRectF, Qt
from PySide6.QtWidgets import QGraphicsItem

from layerloom.core.blocks import has_spec
from layerloom.core.edits import Connect, Disconnect, Macro, Move
from layerloom.gui.canvas.edge_item import EdgeItem
from layerloom.gui.canvas.node_item import NodeItem
from layerloom.gui.canvas.node_parts import Port

if TYPE_CHECKING:
    from layerloom.gui.canvas.view import CanvasView

BLOCK_MIME = "application/x-layerloom-block"
CLICK_SLOP = 4  # pixels the mouse may travel and still count as a click


def node_of(item: QGraphicsItem | None) -> NodeItem | None:
    """The block an item belongs to (itself or a parent)."""
    while item is not None:
        if isinstance(item, NodeItem):
            return item
        item = item.parentItem()
    return None


def gesture_for(view: CanvasView, event) -> Gesture | None:
    """The gesture a mouse press starts: pan (middle button, Space + left), a wire (on a port), a move (on
    a block's card) or the rubber band (elsewhere); None for other buttons."""
    button = event.button()
    if button == Qt.MouseButton.MiddleButton or (button == Qt.MouseButton.LeftButton and view.space_held):
        return PanView(view)
    if button != Qt.MouseButton.LeftButton:
        return None
    pos = event.position().toPoint()
    port = port_at(view, pos)
    if port is not None:
        return DrawEdge(view, port)
    node = node_of(view.itemAt(pos))
    if node is not None:
        if not node.card_rect().contains(node.mapFromScene(view.mapToScene(pos))):
            return RubberBand(view)  # the transparent margin around a card is canvas
        return MoveNodes(view)
    return RubberBand(view)


def port_at(view: CanvasView, view_pos: QPoint) -> Port | None:
    """The port under a viewport point."""
    node = node_of(view.itemAt(view_pos))
    if node is None:
        return None
    return node.port_at(node.mapFromScene(view.mapToScene(view_pos)))


def port_for_wire(view: CanvasView, scene_pos: QPointF, want_input: bool, exclude: str | None = None) -> Port | None:
    """The port a wire being drawn would attach to at `scene_pos`: a port of the wanted side under the
    cursor, or the block under the cursor's port of that side (the nearest, if several)."""
    tol = 4.0 / max(view.zoom_level(), 1e-3)
    area = QRectF(scene_pos.x() - tol, scene_pos.y() - tol, 2 * tol, 2 * tol)
    items = view.canvas_scene.items(area, Qt.ItemSelectionMode.IntersectsItemShape, Qt.SortOrder.DescendingOrder,
                                    view.transform())
    for item in items:
        node = node_of(item)
        if node is None:
            continue
        if node.node_id == exclude:
            return None
        local = node.mapFromScene(scene_pos)
        port = node.port_at(local, output=not want_input)
        if port is not None:
            return port
        if not node.card_rect().contains(local):
            continue  # the transparent margin around a card
        ports = list((node.inputs if want_input else node.outputs).values())
        if not ports:
            return None
        return min(ports, key=lambda p: abs(p.scene_pos().y() - scene_pos.y()))
    return None


class Gesture:
    """From press to release. `builtin` gestures let QGraphicsView handle the mouse too (selection,
    item dragging, rubber band) and only add what happens at the end."""

    builtin = False

    def __init__(self, view: CanvasView) -> None:
        self.view = view
        self.editor = view.editor
        self.document = view.document

    def press(self, event) -> None:
        pass

    def move(self, event) -> None:
        pass

    def release(self, event) -> None:
        pass

    def cancel(self) -> None:
        pass


class PanView(Gesture):
    def press(self, event) -> None:
        self._last = event.position().toPoint()
        self.view.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)

    def move(self, event) -> None:
        pos = event.position().toPoint()
        delta = pos - self._last
        self._last = pos
        self.view.scroll_by(-delta.x(), -delta.y())

    def release(self, event) -> None:
        self._restore_cursor()

    def cancel(self) -> None:
        self._restore_cursor()

    def _restore_cursor(self) -> None:
        if self.view.space_held:
            self.view.viewport().setCursor(Qt.CursorShape.OpenHandCursor)
        else:
            self.view.viewport().unsetCursor()


class MoveNodes(Gesture):
    """Qt drags the selected items; on release their new places become one Move edit."""

    builtin = True

    def press(self, event) -> None:  # called after Qt has updated the selection
        scene = self.view.canvas_scene
        self.start = {nid: scene.nodes[nid].pos() for nid in scene.selected_node_ids()}

    def move(self, event) -> None:  # called after Qt has moved the items: their wires follow
        scene = self.view.canvas_scene
        for nid in self.start:
            item = scene.nodes.get(nid)
            if item is not None:
                scene.node_moved(item)

    def release(self, event) -> None:
        scene = self.view.canvas_scene
        graph = self.document.graph
        moved = {}
        for nid in self.start:
            item = scene.nodes.get(nid)
            if item is None or nid not in graph:
                continue
            p = item.pos()
            new = (float(round(p.x())), float(round(p.y())))
            if new != graph.node(nid).pos:
                moved[nid] = new
        if moved:
            self.editor.do(Move(moved), "Move" if len(moved) == 1 else f"Move {len(moved)} blocks")

    def cancel(self) -> None:
        scene = self.view.canvas_scene
        for nid, pos in self.start.items():
            item = scene.nodes.get(nid)
            if item is not None:
                item.setPos(pos)
                scene.node_moved(item)
        grabber = scene.mouseGrabberItem()
        if grabber is not None:
            grabber.ungrabMouse()


class RubberBand(Gesture):
    """Qt's rubber band (drag mode RubberBandDrag) does the selecting; Ctrl adds to the selection."""

    builtin = True


class DrawEdge(Gesture):
    """Drag a wire from a port to a port."""

    def __init__(self, view: CanvasView, port: Port) -> None:
        super().__init__(view)
        graph = self.document.graph
        self.detached = None  # an existing wire picked up from its input
        self.detached_item: EdgeItem | None = None
        if port.output:
            self.fixed, self.from_output = (port.node_id, port.name), True
        else:
            taken = [e for e in graph.in_edges(port.node_id) if e.dst_port == port.name]
            if taken and not port.multi:
                self.detached = taken[0]
                self.fixed, self.from_output = (self.detached.src, self.detached.src_port), True
                self.detached_item = view.canvas_scene.edges.get(self.detached)
            else:
                self.fixed, self.from_output = (port.node_id, port.name), False
        self.target: Port | None = None
        self.reason: str | None = None

    def press(self, event) -> None:
        self._press_pos = event.position().toPoint()
        if self.detached_item is not None:
            self.detached_item.setVisible(False)
        self._wire = self.view.canvas_scene.temp_wire()
        self._wire.setVisible(True)
        self._update(self.view.mapToScene(self._press_pos))

    def move(self, event) -> None:
        self._update(self.view.mapToScene(event.position().toPoint()))

    def _fixed_anchor(self) -> QPointF:
        item = self.view.canvas_scene.nodes[self.fixed[0]]
        return item.output_anchor(self.fixed[1]) if self.from_output else item.input_anchor(self.fixed[1])

    def _ends(self, target: Port) -> tuple[tuple[str, str], tuple[str, str]]:
        other = (target.node_id, target.name)
        return (self.fixed, other) if self.from_output else (other, self.fixed)

    def _check(self, target: Port) -> str | None:
        src, dst = self._ends(target)
        if self.detached is not None and dst == (self.detached.dst, self.detached.dst_port):
            return None  # dropped back where it was
        return self.document.graph.can_connect(src, dst)

    def _update(self, scene_pos: QPointF) -> None:
        target = port_for_wire(self.view, scene_pos, want_input=self.from_output, exclude=self.fixed[0])
        if target is not self.target:
            if self.target is not None:
                self.target.set_highlight(None)
            self.target = target
            self.reason = self._check(target) if target is not None else None
            if target is not None:
                target.set_highlight("refused" if self.reason else "ok")
        loose = target.scene_pos() if target is not None else scene_pos
        fixed = self._fixed_anchor()
        if self.from_output:
            self._wire.set_ends(fixed, loose, bool(self.reason))
        else:
            self._wire.set_ends(loose, fixed, bool(self.reason))
        if self.reason:
            self.view.show_hint(self.reason, scene_pos, timeout_ms=0)
        else:
            self.view.hide_hint()

    def _finish_visuals(self) -> None:
        if self.target is not None:
            self.target.set_highlight(None)
        self._wire.setVisible(False)
        if self.detached_item is not None and self.detached in self.view.canvas_scene.edges:
            self.detached_item.setVisible(True)
        self.view.hide_hint()

    def release(self, event) -> None:
        pos = event.position().toPoint()
        scene_pos = self.view.mapToScene(pos)
        self._update(scene_pos)
        target, reason = self.target, self.reason
        self._finish_visuals()
        if target is not None:
            src, dst = self._ends(target)
            if self.detached is not None:
                if dst == (self.detached.dst, self.detached.dst_port) and src == self.fixed:
                    return
                edit = Macro([Disconnect(self.detached), Connect(src, dst)], label="Reconnect")
            else:
                edit = Connect(src, dst)
            outcome = self.editor.do(edit)
            if not outcome:
                self.view.show_hint(reason or outcome.reason, scene_pos, timeout_ms=3000)
            return
        if (pos - self._press_pos).manhattanLength() <= CLICK_SLOP:
            return  # a click on a port, not a drag
        if self.detached is not None:
            self.editor.run("remove_connection", edge=self.detached)
        elif self.from_output:
            self.view.open_quick_search(scene_pos, connect_from=self.fixed)
        else:
            self.view.open_quick_search(scene_pos, connect_to=self.fixed)

    def cancel(self) -> None:
        self._finish_visuals()


class DropBlock:
    """A block dragged from the palette: the MIME payload is the block type id (utf-8)."""

    @staticmethod
    def type_id(mime) -> str | None:
        if mime is None or not mime.hasFormat(BLOCK_MIME):
            return None
        type_id = bytes(mime.data(BLOCK_MIME).data()).decode("utf-8", "replace").strip()
        return type_id if has_spec(type_id) else None

    @classmethod
    def accepts(cls, mime) -> bool:
        return cls.type_id(mime) is not None

    @classmethod
    def drop(cls, view: CanvasView, event) -> str | None:
        type_id = cls.type_id(event.mimeData())
        if type_id is None:
            return None
        event.setDropAction(Qt.DropAction.CopyAction)
        event.accept()
        return view.editor.run("place_block", type_id=type_id, at=view.mapToScene(event.position().toPoint()))
