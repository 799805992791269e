"""The scene mirrors the document: graph events become item changes, inference reports become badges,
shapes and counts. It never writes to the graph (gestures in `interactions.py` do, through
`Document.do`).

Work per event is local: a moved block updates its own wires, a new report touches only the blocks
whose result changed, a new wire re-slots only the wires of its target port.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt, QTimer
from PySide6.QtGui import QTransform
from PySide6.QtWidgets import QGraphicsItem, QGraphicsScene, QToolTip

from layerloom.core.gc_pause import paused_gc
from layerloom.core.graph_parts import Edge, GraphEvent
from layerloom.gui.canvas import style
from layerloom.gui.canvas.edge_item import EdgeItem
from layerloom.gui.canvas.gesture_items import HintItem, WireItem
from layerloom.gui.canvas.network_frames import NetworkFrames
from layerloom.gui.canvas.node_item import NodeItem
from layerloom.gui.canvas.overview import GraphPicture

REPORT_NOW = 1000  # a graph of more blocks shows a new report in the view at once, elsewhere in slices
REPORT_SLICE = 500  # blocks per slice (a turn of the event loop each)
BULK_MOVES = 64  # past this many block moves in one turn of the event loop, wires update once, at its end
SCENE_EXTENT = 200_000.0  # a fixed, generous scene rect: the view pans freely, nothing recomputes bounds


class CanvasScene(QGraphicsScene):
    """Graphics items of one Document's graph."""

    def __init__(self, document, parent=None) -> None:
        super().__init__(parent)
        self.document = document
        self.theme = style.theme_for_palette()
        self.nodes: dict[str, NodeItem] = {}
        self.edges: dict[Edge, EdgeItem] = {}
        self.wire: WireItem | None = None
        self.hint: HintItem | None = None
        self.frames: NetworkFrames | None = None  # a GAN's two networks, framed (network_frames.py)
        self.version = 0  # moves on with every change that shows (the overview and minimap redraw then)
        self.picture = GraphPicture(self)
        self._moves = 0  # block moves in this turn of the event loop
        self._stale: set[EdgeItem] = set()  # wires whose paths wait for the end of a big move
        self._report_rest: list[NodeItem] = []  # blocks off screen still to be shown the latest report
        self._report = None
        self._report_timer = QTimer(self)
        self._report_timer.setSingleShot(True)
        self._report_timer.setInterval(0)
        self._report_timer.timeout.connect(self._report_slice)
        self.selected: set[NodeItem] = set()  # the selected blocks' items, as last shown (`selection_settled`)
        # the selected blocks' ids and wires, as of the last selectionChanged (`selection_settled` runs first)
        self.selection_parts: tuple[list[str], list[Edge]] = ([], [])
        # Zoomed far out, wires are cached as (small) pixmaps too, so a pan runs no Python per wire;
        # close up they are stroked directly (a cached long wire would be a huge pixmap).
        self.edge_cache_mode = QGraphicsItem.CacheMode.NoCache
        self.setSceneRect(QRectF(-SCENE_EXTENT / 2, -SCENE_EXTENT / 2, SCENE_EXTENT, SCENE_EXTENT))
        # BSP, measured against NoIndex on a 5,000-block chain: a pan frame at 30 % 3.4 vs 8.6 ms, and no
        # faster select-all + move with NoIndex (bench_canvas_big.py, README)
        self.setItemIndexMethod(QGraphicsScene.ItemIndexMethod.BspTreeIndex)
        document.graph_changed.connect(self._on_event)
        document.inferred.connect(self.apply_report)
        document.project_replaced.connect(self.rebuild)
        self.selectionChanged.connect(self.selection_settled)
        self.rebuild()
        self.frames = NetworkFrames(self)
        if document.report is not None:
            self.apply_report(document.report)

    @property
    def graph(self):
        return self.document.graph

    def node_moved(self, item: NodeItem) -> None:
        """A block's item moved (a graph event, or Qt dragging it: interactions.MoveNodes): its wires
        follow, at once for the first BULK_MOVES moves of a turn of the event loop, then together at its
        end (or the next paint), each wire once; a GAN's frames follow too."""
        self.version += 1
        if self.frames is not None:
            self.frames.node_moved(item.node_id)
        self._moves += 1
        if self._moves == 1:
            QTimer.singleShot(0, self.flush_wires)
        if self._moves <= BULK_MOVES:
            for edge in item.edges:
                edge.update_path()
        else:
            self._stale.update(item.edges)

    def nodes_moved(self, new: dict) -> None:
        """Several blocks moved at once (one Move of a selection, an auto-layout, their undo; `new`: id →
        position): the items move (those not there already: a drag moved them), and each wire touching
        them once: shifted whole when both its blocks moved alike (a selection moved together), made
        afresh otherwise. The overview picture, if up to date, follows in place."""
        current = self.picture.current()
        self.version += 1
        nodes = self.nodes
        moved: dict[NodeItem, tuple[float, float]] = {}  # item → how far it moved
        first, alike = None, True
        # (loops run for every block of a big move: local names, few calls into Qt)
        for nid, (x, y) in new.items():
            item = nodes.get(nid)
            if item is None:
                continue
            dx, dy = x - item.x(), y - item.y()
            if dx or dy:
                item.setPos(x, y)
                moved[item] = d = (dx, dy)
                if first is None:
                    first = d
                elif alike and d != first:
                    alike = False
        if self.frames is not None and self.frames.items:
            for item in moved:
                self.frames.node_moved(item.node_id)
        if alike and first is not None and len(moved) == len(nodes):  # everything moved alike: a select-all
            dx, dy = first
            for edge in self.edges.values():
                edge.moveBy(dx, dy)  # EdgeItem.shift, without a call into Python per wire
            if current:
                self.picture.shift_all(*first)
                self.picture.mark_current()
            return
        still = (0.0, 0.0)
        for item, d in moved.items():
            for edge in item.edges:  # each wire once: from its source's side if that moved, else here
                if edge.src is item:
                    if moved.get(edge.dst, still) == d and edge._ends is not None:
                        edge.moveBy(*d)  # what EdgeItem.shift does, without a call into Python per wire
                    else:
                        edge.update_path()
                elif edge.src not in moved:
                    edge.update_path()
        if current:
            self.picture.nodes_moved(moved)
            self.picture.mark_current()

    def flush_wires(self) -> None:
        """Update the wires a big move left waiting (before a paint, a hit test, or at the turn's end)."""
        self._moves = 0
        if self._stale:
            stale, self._stale = self._stale, set()
            for edge in stale:
                if edge.scene() is self:
                    edge.update_path()

    def selection_settled(self) -> None:
        """The selection changed (Qt's selectionChanged, or once after a bulk change made with the scene's
        signals blocked): the blocks selected or deselected since last time show it."""
        picture = self.picture
        current = picture.current()
        self.version += 1
        now, ids, edges = set(), [], []
        for item in self.selectedItems():  # one pass: the set shown here, the lists for the editor
            if isinstance(item, NodeItem):
                now.add(item)
                ids.append(item.node_id)
            elif isinstance(item, EdgeItem):
                edges.append(item.edge)
        self.selection_parts = (ids, edges)
        changed = now ^ self.selected
        for item in changed:  # selected blocks draw above the others, their wires in the active colour
            if item.scene() is not self:
                continue
            item.setZValue(2 if item in now else 1)
            for edge in item.edges:
                if edge.src is item or edge.src not in changed:  # each wire once
                    edge.update()
        self.selected = now
        if current:
            picture.selection_changed(now)
            picture.mark_current()

    def touch(self) -> None:
        """Something that shows changed: the overview picture and the minimap redraw."""
        self.version += 1

    def picture_bounds(self) -> QRectF:
        """The rectangle of every block's card (cached with the overview picture)."""
        self.picture.refresh()
        return self.picture.bounds

    def ensure_room(self, rect: QRectF) -> None:
        """Grow the scene rect (fixed otherwise) so that the view can scroll to all of `rect`."""
        scene_rect = self.sceneRect()
        if not scene_rect.contains(rect):
            margin = SCENE_EXTENT / 4
            self.setSceneRect(scene_rect.united(rect.adjusted(-margin, -margin, margin, margin)))

    def overlay_items(self) -> list:
        """The items besides blocks and wires (GAN frames, a wire being drawn, a hint)."""
        frames = list(self.frames.items.values()) if self.frames is not None else []
        return [*frames, *(i for i in (self.wire, self.hint) if i is not None)]

    def set_far(self, far: bool) -> None:
        """Tell the wires whether the view is zoomed out below the detail threshold."""
        mode = QGraphicsItem.CacheMode.DeviceCoordinateCache if far else QGraphicsItem.CacheMode.NoCache
        if mode != self.edge_cache_mode:
            self.edge_cache_mode = mode
            for item in self.edges.values():
                item.setCacheMode(mode)

    def set_theme(self, theme: style.CanvasTheme) -> None:
        if theme is self.theme:
            return
        self.theme = theme
        self.touch()
        for item in self.nodes.values():
            item.update()
        for item in self.edges.values():
            item.update()
        self.update()

    # --- building ---------------------------------------------------------------------------

    def rebuild(self) -> None:
        """Throw every item away and mirror the current graph (a new project)."""
        self.clearSelection()
        self.selected = set()
        self.selection_parts = ([], [])
        for item in list(self.edges.values()):
            self.removeItem(item)
            item.dispose()
        for item in list(self.nodes.values()):
            self.removeItem(item)
            item.dispose()
        for item in (self.wire, self.hint):
            if item is not None:
                self.removeItem(item)
        self.nodes.clear()
        self.edges.clear()
        self._report_rest = []
        self.wire = self.hint = None
        graph = self.graph
        with paused_gc():  # thousands of items made at once (gc_pause.py)
            for node in graph:
                self._add_node(node)
            into: dict[tuple[str, str], list[Edge]] = {}  # the wires into each input port, for their slots
            for edge in graph.edges:
                into.setdefault((edge.dst, edge.dst_port), []).append(edge)
            for edge in graph.edges:  # each wire made once, in its slot (not made again by _reslot)
                group = into[(edge.dst, edge.dst_port)]
                dst = self.nodes.get(edge.dst)
                port = dst.inputs.get(edge.dst_port) if dst is not None else None
                multi = port is not None and port.multi and len(group) > 1
                self._add_edge(edge, group.index(edge) if multi else 0, len(group) if multi else 1)
            for nid in self.nodes:
                self._reslot(nid)
        if self.nodes:
            self.version += 1
            self.ensure_room(self.picture_bounds())
        if self.frames is not None:
            self.frames.refresh()

    def temp_wire(self) -> WireItem:
        if self.wire is None:
            self.wire = WireItem()
            self.addItem(self.wire)
        return self.wire

    def hint_item(self) -> HintItem:
        if self.hint is None:
            self.hint = HintItem()
            self.addItem(self.hint)
        return self.hint

    # --- graph events -------------------------------------------------------------------------

    def _on_event(self, ev: GraphEvent) -> None:
        kind = ev.kind
        if kind == "nodes_moved":  # (its own version step: the overview picture may follow in place)
            self.nodes_moved(ev.new)
            if self.frames is not None:
                self.frames.on_event(ev)
            return
        self.version += 1
        if kind == "node_moved":
            item = self.nodes.get(ev.node)
            if item is not None:
                pos = QPointF(*ev.new)
                if item.pos() != pos:
                    item.setPos(pos)
                    self.node_moved(item)
        elif kind == "node_added":
            self._add_node(ev.new)
        elif kind == "node_removed":
            item = self.nodes.pop(ev.node, None)
            if item is not None:
                for edge_item in list(item.edges):  # normally gone already (edges go first)
                    self._remove_edge(edge_item.edge)
                self.removeItem(item)
                item.dispose()
        elif kind == "edge_added":
            self._add_edge(ev.edge)
            self._reslot(ev.edge.dst)
        elif kind == "edge_removed":
            self._remove_edge(ev.edge)
            self._reslot(ev.edge.dst)
        elif kind == "params_changed":
            item = self.nodes.get(ev.node)
            if item is not None:
                item.set_params(self.graph.node(ev.node).params)
        elif kind == "node_renamed":
            item = self.nodes.get(ev.node)
            if item is not None:
                item.set_name(ev.new)
        elif kind == "frozen_changed":
            item = self.nodes.get(ev.node)
            if item is not None:
                item.set_frozen(ev.new)
        if self.frames is not None:
            self.frames.on_event(ev)

    def _add_node(self, node) -> NodeItem:
        item = NodeItem(node)
        self.nodes[node.id] = item
        self.addItem(item)
        report = self.document.report
        if report is not None and node.id in report and report[node.id].name == node.name:
            item.set_report(report[node.id])
        return item

    def _add_edge(self, edge: Edge, slot: int = 0, slots: int = 1) -> EdgeItem | None:
        src, dst = self.nodes.get(edge.src), self.nodes.get(edge.dst)
        if src is None or dst is None:
            return None
        item = EdgeItem(edge, src, dst, slot, slots)
        if self.edge_cache_mode != QGraphicsItem.CacheMode.NoCache:
            item.setCacheMode(self.edge_cache_mode)
        self.edges[edge] = item
        src.edges.append(item)
        dst.edges.append(item)
        port = src.outputs.get(edge.src_port)
        if port is not None:
            port.set_connections(port.connections + 1)
        self.addItem(item)
        return item

    def _remove_edge(self, edge: Edge) -> None:
        item = self.edges.pop(edge, None)
        if item is None:
            return
        for end in (item.src, item.dst):
            if item in end.edges:
                end.edges.remove(item)
        port = item.src.outputs.get(edge.src_port)
        if port is not None:
            port.set_connections(max(port.connections - 1, 0))
        self.removeItem(item)
        item.dispose()

    def _reslot(self, node_id: str) -> None:
        """Count the wires into each input port of a block and spread those of a multi-input port."""
        item = self.nodes.get(node_id)
        if item is None or node_id not in self.graph:
            return
        by_port: dict[str, list[Edge]] = {}
        for edge in self.graph.in_edges(node_id):
            by_port.setdefault(edge.dst_port, []).append(edge)
        for name, port in item.inputs.items():
            edges = by_port.get(name, [])
            port.set_connections(len(edges))
            for i, edge in enumerate(edges):
                edge_item = self.edges.get(edge)
                if edge_item is not None:
                    edge_item.set_slot(i, len(edges) if port.multi else 1)

    # --- inference ------------------------------------------------------------------------------

    def apply_report(self, report) -> None:
        """Show a new inference report: only blocks whose result changed repaint. In a big graph the blocks
        in view (and the sources of the wires in view) show it at once, the others in slices of
        REPORT_SLICE blocks, one per turn of the event loop, so that an edit's badges come without waiting
        for thousands of blocks off screen."""
        self._report = report
        items = list(self.nodes.values())
        seen = self._on_screen() if len(items) > REPORT_NOW else None
        if seen is not None:
            items, rest = [i for i in items if i in seen], [i for i in items if i not in seen]
            self._report_rest = rest
            if rest:
                self._report_timer.start()
        else:
            self._report_rest = []
        self._show_report(items)

    def report_pending(self) -> bool:
        """Whether blocks off screen still wait to show the latest report (see `apply_report`)."""
        return bool(self._report_rest)

    def _report_slice(self) -> None:
        rest = self._report_rest
        self._report_rest = rest[REPORT_SLICE:]
        self._show_report(rest[:REPORT_SLICE])
        if self._report_rest:
            self._report_timer.start()

    def _on_screen(self) -> set | None:
        """The block items in any view, with the sources of the wires in view; None when a view shows
        (nearly) everything anyway."""
        seen: set = set()
        for view in self.views():
            if not view.isVisible():
                continue
            rect = view.mapToScene(view.viewport().rect()).boundingRect()
            for item in self.items(rect):
                if isinstance(item, NodeItem):
                    seen.add(item)
                elif isinstance(item, EdgeItem):
                    seen.add(item.src)
        return seen if len(seen) < len(self.nodes) / 2 else None

    def _show_report(self, items) -> None:
        get, nodes = self._report.get, self.nodes
        changed = False
        for item in items:
            if nodes.get(item.node_id) is not item:  # (removed while waiting for its slice)
                continue
            if item.set_report(get(item.node_id)):
                changed = True
                label = item.output_label()
                for edge_item in item.edges:
                    if edge_item.src is item:
                        edge_item.set_label(label)
                    edge_item.update()
        if changed:  # (the first report of a new project: each item had it already)
            self.version += 1

    # --- tooltips, built when asked for ---------------------------------------------------------

    def tooltip_at(self, scene_pos: QPointF, transform: QTransform | None = None) -> str:
        """The tooltip at a scene point: a badge's message, a port's hint, a block's summary, a wire's
        shape."""
        items = self.items(scene_pos, Qt.ItemSelectionMode.IntersectsItemShape, Qt.SortOrder.DescendingOrder,
                           transform or QTransform())
        for item in items:
            if isinstance(item, NodeItem):
                return item.tooltip_at(item.mapFromScene(scene_pos))
            if isinstance(item, EdgeItem):
                return item.tooltip()
        return ""

    def helpEvent(self, event) -> None:
        widget = event.widget()
        view = widget.parentWidget() if widget is not None else None
        transform = view.transform() if view is not None and hasattr(view, "transform") else None
        text = self.tooltip_at(event.scenePos(), transform)
        if text:
            QToolTip.showText(event.screenPos(), text, widget)
        else:
            QToolTip.hideText()
        event.setAccepted(bool(text))

    # --- queries --------------------------------------------------------------------------------

    def nodes_rect(self, ids=None) -> QRectF:
        """The scene rectangle holding the given blocks (all of them by default)."""
        items = self.nodes.values() if ids is None else [self.nodes[i] for i in ids if i in self.nodes]
        rect = QRectF()
        for item in items:
            rect = rect.united(item.sceneBoundingRect())
        return rect

    def selected_node_ids(self) -> list[str]:
        return [item.node_id for item in self.selectedItems() if isinstance(item, NodeItem)]


    def select_nodes(self, ids) -> None:
        """Select exactly these blocks, in one change of the selection (one selectionChanged, however many)."""
        nodes = self.nodes
        blocked = self.blockSignals(True)  # else Qt emits selectionChanged once per block
        try:
            self.clearSelection()
            for nid in ids:
                item = nodes.get(nid)
                if item is not None:
                    item.setSelected(True)
        finally:
            self.blockSignals(blocked)
        self.selectionChanged.emit()

    def selected_edges(self) -> list[Edge]:
        return [item.edge for item in self.selectedItems() if isinstance(item, EdgeItem)]
