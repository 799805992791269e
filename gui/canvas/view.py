"""The canvas widget over an Editor: zoom (wheel, around the cursor), pan (middle button or Space+drag),
fit, a grid, hints, and the dispatch of mouse gestures (`interactions.py`), keys (Tab quick search, F2
rename, Space pan, Escape) and context menus. What they do is the editor's: its commands (gui/commands.py)
and `Editor.do`, one undo step each. The view shows the editor's selection and reports every change of it.

The view does no work per frame that grows with the graph: the scene rect is fixed, items are looked
up through the scene's BSP index, repaints cover only changed bounding rects
(`BoundingRectViewportUpdate`), blocks are cached pixmaps, and the grid draws only the exposed area. Zoomed far
out it paints the graph as an overview (view_zoom.py, overview.py); a minimap shows a big graph whole.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QPoint, QPointF, Qt, QTimer, Signal
from PySide6.QtGui import QCursor, QPainter
from PySide6.QtWidgets import QGraphicsView, QMenu

from layerloom.gui.canvas import style
from layerloom.gui.canvas.edge_item import EdgeItem
from layerloom.gui.canvas.interactions import DropBlock, Gesture, PanView, gesture_for, node_of
from layerloom.gui.canvas.minimap import Minimap
from layerloom.gui.canvas.node_item import NodeItem
from layerloom.gui.canvas.quick_search import QuickSearch
from layerloom.gui.canvas.rename_field import RenameField
from layerloom.gui.canvas.scene import CanvasScene
from layerloom.gui.canvas.style import HEADER_H, NODE_W
from layerloom.gui.canvas.view_zoom import MAX_ZOOM, MIN_ZOOM, ZOOM_STEP, ZoomMixin

if TYPE_CHECKING:
    from layerloom.gui.editor import Editor

OPEN_MIN_ZOOM = 0.7  # an opened project is shown at least this large (readable), from its inputs


__all__ = ["MAX_ZOOM", "MIN_ZOOM", "OPEN_MIN_ZOOM", "ZOOM_STEP", "CanvasView"]


class CanvasView(ZoomMixin, QGraphicsView):
    """The node editor of one Editor's document."""

    zoom_changed = Signal(float)

    def __init__(self, editor: Editor, parent=None) -> None:
        super().__init__(parent)
        self.editor = editor
        self.document = document = editor.document
        self.canvas_scene = CanvasScene(document, self)
        self.setScene(self.canvas_scene)
        self.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.TextAntialiasing
                            | QPainter.RenderHint.SmoothPixmapTransform)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.BoundingRectViewportUpdate)
        self.setOptimizationFlag(QGraphicsView.OptimizationFlag.DontAdjustForAntialiasing, True)
        self.setCacheMode(QGraphicsView.CacheModeFlag.CacheBackground)
        self.setDragMode(QGraphicsView.DragMode.RubberBandDrag)
        self.setRubberBandSelectionMode(Qt.ItemSelectionMode.IntersectsItemShape)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.NoAnchor)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setFrameShape(QGraphicsView.Shape.NoFrame)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setAcceptDrops(True)
        self.setMouseTracking(True)

        self.space_held = False
        self._gesture: Gesture | None = None
        self._quick: QuickSearch | None = None
        self._rename: RenameField | None = None
        self._bulk_selection = False
        self._fit_pending = len(document.graph) > 0
        self._hint_timer = QTimer(self)
        self._hint_timer.setSingleShot(True)
        self._hint_timer.timeout.connect(self.hide_hint)

        self.minimap = Minimap(self)
        self.canvas_scene.selectionChanged.connect(self._on_selection_changed)
        document.project_replaced.connect(self._on_project_replaced)
        editor.attach_view(self)
        self.centerOn(0, 0)

    # --- selection, places and popups -----------------------------------------------------------------

    def selected_node_ids(self) -> list[str]:
        return self.canvas_scene.selected_node_ids()

    def show_selection(self, ids: list[str], reveal: bool = True) -> None:
        """Select exactly these blocks' items (`Editor.select` asks this); with `reveal`, bring the first
        into view. The editor hears of it like of any other change of the selection."""
        nodes = self.canvas_scene.nodes
        self._bulk_selection = True
        try:
            self.canvas_scene.select_nodes(ids)
        finally:
            self._bulk_selection = False
        first = next((nodes[i] for i in ids if i in nodes), None)
        if reveal and first is not None:
            self.ensureVisible(first, 40, 40)
        self._on_selection_changed()

    def node_item(self, node_id: str) -> NodeItem:
        return self.canvas_scene.nodes[node_id]

    def port_scene_pos(self, node_id: str, port_name: str, output: bool) -> QPointF:
        item = self.canvas_scene.nodes[node_id]
        return item.output_anchor(port_name) if output else item.input_anchor(port_name)

    def free_spot(self) -> tuple[int, int]:
        """Where a block added without a place goes (its top-left): the view centre, stepped aside from a
        block already there (repeated double-clicks in the palette)."""
        centre = self.mapToScene(self.viewport().rect().center())
        x, y = round(centre.x() - NODE_W / 2), round(centre.y() - HEADER_H / 2)
        for _ in range(50):
            if not any(isinstance(i, NodeItem) and i.pos() == QPointF(x, y)
                       for i in self.canvas_scene.items(QPointF(x + NODE_W / 2, y + HEADER_H / 2))):
                break
            x, y = x + 30, y + 30
        return x, y

    def bring_into_view(self, ids: list[str]) -> None:
        """Centre the view on these blocks unless they are all in view already."""
        rect = self.canvas_scene.nodes_rect(ids)
        if not rect.isNull() and not self.mapToScene(self.viewport().rect()).boundingRect().contains(rect):
            self.centerOn(rect.center())

    def open_rename(self, node_id: str) -> RenameField | None:
        """The in-place name editor over a block's title."""
        item = self.canvas_scene.nodes.get(node_id)
        if item is None:
            return None
        self.close_popups()
        self.ensureVisible(item, 20, 20)
        self._rename = RenameField(self, item)
        return self._rename

    def open_quick_search(self, scene_pos: QPointF | None = None, connect_from=None,
                          connect_to=None) -> QuickSearch:
        """The block search at `scene_pos` (default: the cursor, or the view centre). With
        `connect_from=(node_id, output_port)` the new block is wired after that port; with
        `connect_to=(node_id, input_port)` before it."""
        self.close_popups()
        if scene_pos is None:
            cursor = self.viewport().mapFromGlobal(QCursor.pos())
            inside = self.viewport().rect().contains(cursor)
            scene_pos = self.mapToScene(cursor if inside else self.viewport().rect().center())
        graph = self.document.graph
        if connect_from is not None:
            accept, title = (lambda s: bool(s.inputs)), f"Add block after {graph.node(connect_from[0]).name}"
        elif connect_to is not None:
            accept, title = (lambda s: bool(s.outputs)), f"Add block before {graph.node(connect_to[0]).name}"
        else:
            accept, title = None, "Add block"
        qs = QuickSearch(self.viewport(), accept=accept, title=title)
        at = self.mapFromScene(scene_pos)
        area = self.viewport().rect()
        x = max(4, min(at.x(), area.width() - qs.width() - 4))
        y = max(4, min(at.y(), area.height() - qs.height() - 4))
        qs.move(x, y)
        qs.chosen.connect(lambda type_id: self.editor.run("place_block", type_id=type_id, at=scene_pos,
                                                          connect_from=connect_from, connect_to=connect_to))
        qs.closed.connect(lambda: self._quick_closed(qs))
        self._quick = qs
        qs.popup()
        return qs

    def quick_search(self) -> QuickSearch | None:
        """The quick search now open, if any."""
        return self._quick

    def rename_field(self) -> RenameField | None:
        return self._rename

    # --- hints --------------------------------------------------------------------------------------

    def show_hint(self, text: str, scene_pos: QPointF, timeout_ms: int = 3000) -> None:
        """A bubble near `scene_pos` (why something was refused); hidden after `timeout_ms` (0: stays)."""
        self.canvas_scene.hint_item().show_text(text, scene_pos)
        self._hint_timer.stop()
        if timeout_ms:
            self._hint_timer.start(timeout_ms)

    def hide_hint(self) -> None:
        hint = self.canvas_scene.hint
        if hint is not None and hint.isVisible():
            hint.setVisible(False)

    def hint_text(self) -> str:
        hint = self.canvas_scene.hint
        return hint.text if hint is not None and hint.isVisible() else ""

    # --- mouse ----------------------------------------------------------------------------------------

    def mousePressEvent(self, event) -> None:
        self.close_popups()
        self.hide_hint()
        if self._gesture is not None:
            event.accept()
            return
        gesture = gesture_for(self, event)
        if gesture is None:
            super().mousePressEvent(event)
            return
        self._gesture = gesture
        if gesture.builtin:
            super().mousePressEvent(event)
        gesture.press(event)
        event.accept()

    def mouseMoveEvent(self, event) -> None:
        gesture = self._gesture
        if gesture is None or gesture.builtin:
            super().mouseMoveEvent(event)
        if gesture is not None:
            gesture.move(event)

    def mouseReleaseEvent(self, event) -> None:
        gesture = self._gesture
        if gesture is None:
            super().mouseReleaseEvent(event)
            return
        if gesture.builtin:
            super().mouseReleaseEvent(event)
        self._gesture = None
        gesture.release(event)
        event.accept()

    def mouseDoubleClickEvent(self, event) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            item = self.itemAt(event.position().toPoint())
            node = node_of(item)
            if node is not None:
                local = node.mapFromScene(self.mapToScene(event.position().toPoint()))
                if node.title_rect().contains(local) and node.port_at(local) is None:
                    self.editor.select([node.node_id], reveal=False)
                    self.editor.run("rename")
                    event.accept()
                    return
        super().mouseDoubleClickEvent(event)

    def contextMenuEvent(self, event) -> None:
        if self._gesture is not None:
            return
        item = self.itemAt(event.pos())
        node = node_of(item)
        scene_pos = self.mapToScene(event.pos())
        if node is None and not isinstance(item, EdgeItem):
            self.open_quick_search(scene_pos)
            event.accept()
            return
        menu = QMenu(self)
        if node is not None:  # the block's commands, as in the Edit menu
            if not node.isSelected():
                self.editor.select([node.node_id], reveal=False)
            self.editor.fill(menu, "block")
        else:  # the wire's, for this wire
            for command in self.editor.commands_at("wire"):
                menu.addAction(self.editor.bound_action(command.key, menu, edge=item.edge))
        self._exec_menu(menu, event.globalPos())
        menu.deleteLater()
        event.accept()

    def _exec_menu(self, menu: QMenu, global_pos: QPoint) -> None:
        """Show a context menu (modal); tests replace this to pick an action."""
        menu.exec(global_pos)

    # --- keys -----------------------------------------------------------------------------------------

    _OWN_KEYS = (Qt.Key.Key_Tab, Qt.Key.Key_Space, Qt.Key.Key_F2)

    def event(self, event) -> bool:
        kind = event.type()
        if kind == QEvent.Type.ShortcutOverride:
            plain = not (event.modifiers() & (Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.AltModifier
                                              | Qt.KeyboardModifier.MetaModifier))
            if plain and (event.key() in self._OWN_KEYS or (event.key() == Qt.Key.Key_Escape and self._busy())):
                event.accept()
                return True
        elif kind == QEvent.Type.KeyPress and event.key() == Qt.Key.Key_Tab and not (
                event.modifiers() & (Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.AltModifier)):
            self.editor.run("add_block")
            return True
        return super().event(event)

    def _busy(self) -> bool:
        return self._gesture is not None or self._quick is not None or self.hint_text() != ""

    def keyPressEvent(self, event) -> None:
        key = event.key()
        if key == Qt.Key.Key_Space:
            if not event.isAutoRepeat():
                self.space_held = True
                if self._gesture is None:
                    self.viewport().setCursor(Qt.CursorShape.OpenHandCursor)
            event.accept()
            return
        if key == Qt.Key.Key_F2:
            self.editor.run("rename")
            event.accept()
            return
        if key == Qt.Key.Key_Escape:
            self.cancel_gesture()
            self.close_popups()
            self.hide_hint()
            event.accept()
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self.space_held = False
            if not isinstance(self._gesture, PanView):
                self.viewport().unsetCursor()
            event.accept()
            return
        super().keyReleaseEvent(event)

    def focusOutEvent(self, event) -> None:
        if self.space_held and not isinstance(self._gesture, PanView):
            self.space_held = False
            self.viewport().unsetCursor()
        super().focusOutEvent(event)

    def cancel_gesture(self) -> None:
        gesture, self._gesture = self._gesture, None
        if gesture is not None:
            gesture.cancel()

    # --- drops --------------------------------------------------------------------------------------

    def dragEnterEvent(self, event) -> None:
        if DropBlock.accepts(event.mimeData()):
            event.setDropAction(Qt.DropAction.CopyAction)
            event.accept()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:
        self.dragEnterEvent(event)

    def dragLeaveEvent(self, event) -> None:
        event.accept()

    def dropEvent(self, event) -> None:
        if DropBlock.drop(self, event) is None:
            event.ignore()

    # --- internals ------------------------------------------------------------------------------

    def close_popups(self) -> None:
        if self._quick is not None:
            self._quick.close_search()
        rename = self._rename
        if rename is not None and not rename.commit():
            rename.cancel()

    def rename_closed(self, rename: RenameField) -> None:
        if self._rename is rename:
            self._rename = None
            self.setFocus(Qt.FocusReason.OtherFocusReason)

    def _quick_closed(self, qs: QuickSearch) -> None:
        if self._quick is qs:
            self._quick = None
            self.setFocus(Qt.FocusReason.OtherFocusReason)

    def _on_selection_changed(self) -> None:
        if not self._bulk_selection:
            ids, edges = self.canvas_scene.selection_parts  # (the scene hears of each change first)
            self.editor.note_selection(ids, edges)

    def _on_project_replaced(self) -> None:
        self.cancel_gesture()
        self.close_popups()
        self.resetCachedContent()
        if self.isVisible():
            self.fit_all(min_zoom=OPEN_MIN_ZOOM)
        else:
            self._fit_pending = True
        self._on_selection_changed()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._fit_pending:
            QTimer.singleShot(0, self._fit_if_pending)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._view_moved()
        if self._fit_pending and self.isVisible():
            self._fit_if_pending()

    def _fit_if_pending(self) -> None:
        if self._fit_pending:
            self.fit_all(min_zoom=OPEN_MIN_ZOOM)

    def changeEvent(self, event) -> None:
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange,
                            QEvent.Type.StyleChange):
            self.canvas_scene.set_theme(style.theme_for_palette())
            self.resetCachedContent()
        super().changeEvent(event)
