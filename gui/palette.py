"""The block palette: every block type by category, with a search box. Drag a block onto the canvas
(a real QDrag carrying `application/x-layerloom-block`), or double-click it (or press Enter) to add it
at the centre of the view (the window runs the editor's `place_block` command, as a drop on the canvas does).

    palette = BlockPalette()
    palette.block_activated.connect(lambda type_id: editor.run("place_block", type_id=type_id))
"""

from __future__ import annotations

import html

from PySide6.QtCore import QMimeData, QModelIndex, QPoint, QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QAction, QColor, QDrag, QFont, QFontMetrics, QKeySequence, QPainter, QPalette, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QLineEdit,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from layerloom.core.blocks import CATEGORIES, all_specs, get_spec
from layerloom.core.blocks.spec import BlockSpec
from layerloom.gui import theme
from layerloom.gui.colors import category_color

BLOCK_MIME = "application/x-layerloom-block"  # the canvas's DropBlock reads the same type
TYPE_ROLE = Qt.ItemDataRole.UserRole + 1
SUMMARY_ROLE = Qt.ItemDataRole.UserRole + 2
CATEGORY_ROLE = Qt.ItemDataRole.UserRole + 3


def block_mime(type_id: str) -> QMimeData:
    """The payload of a palette drag: the block type id, in utf-8, under BLOCK_MIME."""
    mime = QMimeData()
    mime.setData(BLOCK_MIME, type_id.encode("utf-8"))
    return mime


def block_tooltip(spec: BlockSpec) -> str:
    """Rich-text tooltip: name, category, summary, the help text and the parameters."""
    paragraphs = "".join(f"<p>{html.escape(p)}</p>" for p in spec.help.split("\n\n") if p.strip())
    params = ""
    if spec.params:
        rows = "".join(f"<li><b>{html.escape(p.name)}</b> — {html.escape(p.help)}</li>" for p in spec.params)
        params = f"<p><b>Parameters</b></p><ul style='margin-left:-20px'>{rows}</ul>"
    return (
        f"<qt><p><b>{html.escape(spec.type_id)}</b> &nbsp;<span style='color:gray'>{html.escape(spec.category)}"
        f"</span></p><p><i>{html.escape(spec.summary)}</i></p>{paragraphs}{params}"
        "<p style='color:gray'>Drag onto the canvas, or double-click to add.</p></qt>"
    )


def drag_pixmap(spec: BlockSpec, device_pixel_ratio: float = 1.0) -> QPixmap:
    """A small chip that follows the cursor during a drag: the category colour and the block name."""
    font = QFont()
    font.setBold(True)
    fm = QFontMetrics(font)
    w, h = max(120, fm.horizontalAdvance(spec.type_id) + 44), 30
    pixmap = QPixmap(round(w * device_pixel_ratio), round(h * device_pixel_ratio))
    pixmap.setDevicePixelRatio(device_pixel_ratio)
    pixmap.fill(Qt.GlobalColor.transparent)
    p = QPainter(pixmap)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    color = category_color(spec.category)
    p.setPen(Qt.PenStyle.NoPen)
    body = QColor(color)
    body.setAlpha(230)
    p.setBrush(body)
    p.drawRoundedRect(QRectF(0.5, 0.5, w - 1, h - 1), 7, 7)
    theme.category_icon(spec.category).paint(p, QRect(6, 5, 20, 20))
    lum = 0.2126 * color.redF() + 0.7152 * color.greenF() + 0.0722 * color.blueF()
    p.setPen(QColor("#15171a") if lum > 0.55 else QColor("#ffffff"))
    p.setFont(font)
    p.drawText(QRect(32, 0, w - 36, h), Qt.AlignmentFlag.AlignVCenter, spec.type_id)
    p.end()
    return pixmap


class _Delegate(QStyledItemDelegate):
    """Blocks as "icon  Name  summary…" (summary in a quieter colour); categories as bold headers."""

    def sizeHint(self, option, index) -> QSize:
        size = super().sizeHint(option, index)
        return QSize(size.width(), max(size.height(), 26))

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        summary = index.data(SUMMARY_ROLE)
        if not summary:
            super().paint(painter, option, index)
            return
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        text = opt.text
        opt.text = ""
        style = opt.widget.style() if opt.widget else None
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, opt.widget)
        text_rect = style.subElementRect(QStyle.SubElement.SE_ItemViewItemText, opt, opt.widget)
        selected = bool(opt.state & QStyle.StateFlag.State_Selected)
        palette = opt.palette
        main = palette.color(QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text)
        quiet = QColor(main)
        quiet.setAlphaF(0.78 if selected else 0.55)
        painter.save()
        font = QFont(opt.font)
        font.setWeight(QFont.Weight.DemiBold)
        painter.setFont(font)
        painter.setPen(main)
        fm = QFontMetrics(font)
        name_w = fm.horizontalAdvance(text)
        r = text_rect.adjusted(2, 0, 0, 0)
        painter.drawText(r, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, text)
        rest = r.adjusted(name_w + 8, 0, 0, 0)
        if rest.width() > 24:
            painter.setFont(opt.font)
            painter.setPen(quiet)
            elided = QFontMetrics(opt.font).elidedText(summary, Qt.TextElideMode.ElideRight, rest.width())
            painter.drawText(rest, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, elided)
        painter.restore()


class PaletteTree(QTreeWidget):
    """The tree of blocks; starts a real QDrag with the block's MIME payload."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setHeaderHidden(True)
        self.setColumnCount(1)
        self.setRootIsDecorated(True)
        self.setIndentation(12)
        self.setUniformRowHeights(True)
        self.setIconSize(QSize(20, 20))
        self.setDragEnabled(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.setDefaultDropAction(Qt.DropAction.CopyAction)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setItemDelegate(_Delegate(self))
        self.setMouseTracking(True)
        self.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.last_drag: QDrag | None = None  # kept for tests

    def mimeTypes(self) -> list[str]:
        return [BLOCK_MIME]

    def mimeData(self, items) -> QMimeData:
        type_ids = [it.data(0, TYPE_ROLE) for it in items if it.data(0, TYPE_ROLE)]
        return block_mime(type_ids[0]) if type_ids else QMimeData()

    def supportedDropActions(self) -> Qt.DropAction:
        return Qt.DropAction.CopyAction

    def make_drag(self, type_id: str) -> QDrag:
        """The QDrag a palette entry starts: MIME payload, a pixmap chip and its hot spot."""
        drag = QDrag(self)
        drag.setMimeData(block_mime(type_id))
        dpr = self.devicePixelRatioF()
        chip = drag_pixmap(get_spec(type_id), dpr)
        drag.setPixmap(chip)
        drag.setHotSpot(QPoint(16, 15))
        return drag

    def startDrag(self, supported_actions) -> None:
        item = self.currentItem()
        type_id = item.data(0, TYPE_ROLE) if item else None
        if not type_id:
            return
        drag = self.make_drag(type_id)
        self.last_drag = drag
        drag.exec(Qt.DropAction.CopyAction, Qt.DropAction.CopyAction)


class BlockPalette(QWidget):
    """Search box over a tree of categories and blocks."""

    block_activated = Signal(str)  # double-click or Enter: add this block type at the canvas centre

    def __init__(self, parent=None):
        super().__init__(parent)
        self.search = QLineEdit(self)
        self.search.setObjectName("searchField")
        self.search.setPlaceholderText("Search blocks")
        self.search.setClearButtonEnabled(True)
        self._search_icon = QAction(self)
        self.search.addAction(self._search_icon, QLineEdit.ActionPosition.LeadingPosition)
        self.search.setToolTip("Filter the blocks by name, category or summary; Enter adds the first one.")
        self.tree = PaletteTree(self)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 4, 4)
        layout.setSpacing(6)
        layout.addWidget(self.search)
        layout.addWidget(self.tree, 1)

        self._categories: dict[str, QTreeWidgetItem] = {}
        self._blocks: dict[str, QTreeWidgetItem] = {}
        self._populate()
        self.refresh_icons()

        self.search.textChanged.connect(self.set_filter)
        self.search.returnPressed.connect(self._activate_first)
        self.search.installEventFilter(self)
        self.tree.itemActivated.connect(self._activated)

        find = QAction(self)
        find.setShortcut(QKeySequence(QKeySequence.StandardKey.Find))
        find.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        find.triggered.connect(self.focus_search)
        self.addAction(find)

    # --- contents ---------------------------------------------------------------------------------

    def _populate(self) -> None:
        bold = QFont(self.font())
        bold.setBold(True)
        by_category: dict[str, list[BlockSpec]] = {c: [] for c in CATEGORIES}
        for spec in all_specs():
            by_category.setdefault(spec.category, []).append(spec)
        for category, specs in by_category.items():
            if not specs:
                continue
            top = QTreeWidgetItem(self.tree, [category])
            top.setFont(0, bold)
            top.setData(0, CATEGORY_ROLE, category)
            top.setFlags(Qt.ItemFlag.ItemIsEnabled)
            top.setToolTip(0, f"{category}: {len(specs)} block{'s' if len(specs) > 1 else ''}")
            self._categories[category] = top
            for spec in specs:
                item = QTreeWidgetItem(top, [spec.type_id])
                item.setData(0, TYPE_ROLE, spec.type_id)
                item.setData(0, SUMMARY_ROLE, spec.summary)
                item.setToolTip(0, block_tooltip(spec))
                item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsDragEnabled)
                self._blocks[spec.type_id] = item
            top.setExpanded(True)

    def refresh_icons(self) -> None:
        """Icons after a change of theme."""
        self._search_icon.setIcon(theme.icon("search", self.palette().color(QPalette.ColorRole.PlaceholderText)))
        for category, item in self._categories.items():
            item.setIcon(0, theme.category_icon(category))
        for type_id, item in self._blocks.items():
            item.setIcon(0, theme.block_icon(type_id))

    def item_for(self, type_id: str) -> QTreeWidgetItem:
        return self._blocks[type_id]

    def visible_blocks(self) -> list[str]:
        """Type ids shown now, top to bottom."""
        out = []
        for i in range(self.tree.topLevelItemCount()):
            top = self.tree.topLevelItem(i)
            if top.isHidden():
                continue
            out += [top.child(j).data(0, TYPE_ROLE) for j in range(top.childCount()) if not top.child(j).isHidden()]
        return out

    # --- search -----------------------------------------------------------------------------------

    def set_filter(self, text: str) -> None:
        """Show only the blocks matching `text` (name, alias, category, summary), best match selected."""
        from layerloom.gui.canvas.quick_search import search_blocks

        query = text.strip()
        if not query:
            matches = None
        else:
            ranked = search_blocks(query)
            if not ranked:  # also look into the help texts
                q = query.lower()
                ranked = [s for s in all_specs() if q in s.help.lower()]
            matches = [s.type_id for s in ranked]
        keep = set(matches) if matches is not None else None
        for top in self._categories.values():
            shown = 0
            for j in range(top.childCount()):
                child = top.child(j)
                hide = keep is not None and child.data(0, TYPE_ROLE) not in keep
                child.setHidden(hide)
                shown += not hide
            top.setHidden(shown == 0)
            if keep is not None and shown:
                top.setExpanded(True)
        if matches:
            self.tree.setCurrentItem(self._blocks[matches[0]])
        elif keep is None:
            self.tree.setCurrentItem(None)

    def focus_search(self) -> None:
        self.search.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search.selectAll()

    def _activate_first(self) -> None:
        item = self.tree.currentItem()
        if item is None or item.isHidden() or not item.data(0, TYPE_ROLE):
            visible = self.visible_blocks()
            item = self._blocks[visible[0]] if visible else None
        if item is not None:
            self.block_activated.emit(item.data(0, TYPE_ROLE))

    def _activated(self, item: QTreeWidgetItem, _column: int = 0) -> None:
        type_id = item.data(0, TYPE_ROLE)
        if type_id:
            self.block_activated.emit(type_id)

    def eventFilter(self, obj, event) -> bool:
        # Up/Down in the search box walk the matching blocks.
        if obj is self.search and event.type() == event.Type.KeyPress and event.key() in (
                Qt.Key.Key_Down, Qt.Key.Key_Up):
            visible = self.visible_blocks()
            if visible:
                current = self.tree.currentItem()
                tid = current.data(0, TYPE_ROLE) if current else None
                i = visible.index(tid) if tid in visible else -1
                i = (i + (1 if event.key() == Qt.Key.Key_Down else -1)) % len(visible)
                self.tree.setCurrentItem(self._blocks[visible[i]])
                self.tree.scrollToItem(self._blocks[visible[i]])
            return True
        return super().eventFilter(obj, event)

    def changeEvent(self, event) -> None:
        if event.type() in (event.Type.PaletteChange, event.Type.ApplicationPaletteChange):
            self.refresh_icons()
        super().changeEvent(event)
