"""The quick search (Tab, right-click, or a wire released on empty canvas): type a few letters, press
Enter, and the block appears at the cursor — as in Blender and Unreal. "lstm" Enter adds an LSTM.

`search_blocks(query)` ranks the block types (pure, tested without a window); `QuickSearch` is the small
floating panel inside the canvas viewport.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QModelIndex, QRect, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFont, QPainter, QPalette
from PySide6.QtWidgets import (
    QApplication,
    QFrame,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QStyle,
    QStyledItemDelegate,
    QVBoxLayout,
    QWidget,
)

from layerloom.core.blocks import all_specs
from layerloom.core.blocks.spec import CATEGORIES, BlockSpec
from layerloom.gui.colors import category_color

# Words people type for a block whose name they do not know (lower case).
ALIASES: dict[str, tuple[str, ...]] = {
    "Dense": ("linear", "fc", "fully connected", "mlp", "perceptron"),
    "Conv2d": ("conv", "convolution", "cnn", "filter"),
    "MaxPool2d": ("pool", "pooling", "subsample"),
    "BatchNorm": ("bn", "batchnorm", "norm"),
    "Residual": ("resnet", "skip", "shortcut", "res"),
    "Inception": ("googlenet",),
    "Concat": ("cat", "merge", "join"),
    "Add": ("sum", "plus", "skip"),
    "Embedding": ("embed", "token", "word"),
    "Flatten": ("vector", "unroll"),
    "Softmax": ("probabilities",),
    "Output": ("loss", "target", "end"),
    "Input": ("data", "start", "image"),
    "LSTM": ("rnn", "recurrent", "memory"),
    "GRU": ("rnn", "recurrent"),
    "Dropout": ("regularization", "regularisation"),
    "ConvTranspose2d": ("deconv", "upsample", "transpose"),
    "GlobalAvgPool": ("gap", "global"),
}


def _score(spec: BlockSpec, q: str) -> int | None:
    name = spec.type_id.lower()
    if not q:
        return 100 + CATEGORIES.index(spec.category)
    if name == q:
        return 0
    if name.startswith(q):
        return 1 + (len(name) - len(q)) / 100  # shorter names first: "conv" → Conv1d, Conv2d before ConvTranspose2d
    aliases = ALIASES.get(spec.type_id, ())
    if q in aliases:
        return 3
    if q in name:
        return 4
    if any(a.startswith(q) for a in aliases):
        return 5
    if spec.category.lower().startswith(q) or any(w.startswith(q) for w in spec.category.lower().split()):
        return 6
    if len(q) >= 3 and q in spec.summary.lower():
        return 7
    return None


def search_blocks(query: str, accept: Callable[[BlockSpec], bool] | None = None) -> list[BlockSpec]:
    """Block types matching `query`, best first: exact name, name prefix, alias, name substring,
    category, summary. An empty query lists every block by category."""
    q = query.strip().lower()
    ranked = []
    for i, spec in enumerate(all_specs()):
        if accept is not None and not accept(spec):
            continue
        s = _score(spec, q)
        if s is not None:
            ranked.append((s, i, spec))
    ranked.sort(key=lambda t: (t[0], t[1]))
    return [spec for _, _, spec in ranked]


class _Delegate(QStyledItemDelegate):
    """Two lines per block: a colour dot, the type and its category; the one-line summary below."""

    ROW_H = 40

    def sizeHint(self, option, index) -> QSize:
        return QSize(200, self.ROW_H)

    def paint(self, painter: QPainter, option, index: QModelIndex) -> None:
        spec: BlockSpec = index.data(Qt.ItemDataRole.UserRole)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        pal = option.palette
        rect: QRect = option.rect
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        if selected:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(pal.color(QPalette.ColorRole.Highlight))
            painter.drawRoundedRect(rect.adjusted(4, 1, -4, -1), 6, 6)
        text = pal.color(QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text)
        muted = QColor(text)
        muted.setAlphaF(0.65)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(category_color(spec.category))
        painter.drawEllipse(rect.left() + 14, rect.top() + 10, 10, 10)
        font = QFont(option.font)
        font.setBold(True)
        painter.setFont(font)
        painter.setPen(text)
        fm = painter.fontMetrics()
        top = QRect(rect.left() + 32, rect.top() + 4, rect.width() - 44, fm.height())
        painter.drawText(top, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, spec.type_id)
        small = QFont(option.font)
        small.setPointSizeF(max(option.font.pointSizeF() - 1, 7))
        painter.setFont(small)
        painter.setPen(muted)
        painter.drawText(top, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, spec.category)
        line_h = painter.fontMetrics().height()
        bottom = QRect(rect.left() + 32, rect.top() + 4 + fm.height(), rect.width() - 44, line_h)
        summary = painter.fontMetrics().elidedText(spec.summary, Qt.TextElideMode.ElideRight, bottom.width())
        painter.drawText(bottom, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, summary)
        painter.restore()


class QuickSearch(QFrame):
    """A search field over a list of blocks. `chosen(type_id)` on Enter or a click; closes itself on
    Escape, on a choice, or when focus goes elsewhere (`closed` is emitted once)."""

    chosen = Signal(str)
    closed = Signal()

    def __init__(self, parent: QWidget, accept: Callable[[BlockSpec], bool] | None = None,
                 title: str = "Add block") -> None:
        super().__init__(parent)
        self.accept_fn = accept
        self._closed = False
        self.setObjectName("quickSearch")
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setAutoFillBackground(True)
        pal = self.palette()
        border = pal.color(QPalette.ColorRole.Mid).name()
        self.setStyleSheet(
            f"QFrame#quickSearch {{ background: palette(window); border: 1px solid {border}; border-radius: 9px; }}"
            "QLineEdit { border: 1px solid palette(mid); border-radius: 6px; padding: 4px 8px;"
            " background: palette(base); }"
            "QListWidget { border: none; background: transparent; outline: none; }"
        )
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.setSpacing(6)
        self.title = QLabel(title, self)
        small = self.title.font()
        small.setBold(True)
        self.title.setFont(small)
        layout.addWidget(self.title)
        self.line_edit = QLineEdit(self)
        self.line_edit.setPlaceholderText("Type a block name… (lstm, conv, dense)")
        self.line_edit.setClearButtonEnabled(True)
        layout.addWidget(self.line_edit)
        self.list = QListWidget(self)
        self.list.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.list.setItemDelegate(_Delegate(self.list))
        self.list.setUniformItemSizes(True)
        self.list.setVerticalScrollMode(QListWidget.ScrollMode.ScrollPerPixel)
        layout.addWidget(self.list)
        self.resize(330, 360)
        self.line_edit.textChanged.connect(self._refilter)
        self.line_edit.installEventFilter(self)
        self.list.itemClicked.connect(lambda item: self._choose(item))
        self._refilter("")

    # --- filtering ------------------------------------------------------------------------------

    def _refilter(self, text: str) -> None:
        self.list.clear()
        for spec in search_blocks(text, self.accept_fn):
            item = QListWidgetItem(spec.type_id)
            item.setData(Qt.ItemDataRole.UserRole, spec)
            item.setToolTip(spec.help)
            self.list.addItem(item)
        if self.list.count():
            self.list.setCurrentRow(0)
        self._fit_height()

    def _fit_height(self) -> None:
        """As tall as the matches need (up to eight rows), so a short list leaves no empty panel."""
        rows = max(1, min(self.list.count(), 8))
        margins = self.layout().contentsMargins()
        head = self.title.sizeHint().height() + self.line_edit.sizeHint().height() + 2 * self.layout().spacing()
        self.list.setFixedHeight(rows * _Delegate.ROW_H + 4)
        self.resize(self.width(), margins.top() + margins.bottom() + head + rows * _Delegate.ROW_H + 4)

    def current_type(self) -> str | None:
        item = self.list.currentItem()
        return item.data(Qt.ItemDataRole.UserRole).type_id if item is not None else None

    def matches(self) -> list[str]:
        return [self.list.item(i).data(Qt.ItemDataRole.UserRole).type_id for i in range(self.list.count())]

    # --- keys and focus ---------------------------------------------------------------------------

    def eventFilter(self, obj, event) -> bool:
        if obj is self.line_edit:
            if event.type() == QEvent.Type.KeyPress:
                key = event.key()
                if key in (Qt.Key.Key_Down, Qt.Key.Key_Up, Qt.Key.Key_PageDown, Qt.Key.Key_PageUp):
                    step = {Qt.Key.Key_Down: 1, Qt.Key.Key_Up: -1, Qt.Key.Key_PageDown: 6, Qt.Key.Key_PageUp: -6}[key]
                    n = self.list.count()
                    if n:
                        self.list.setCurrentRow(max(0, min(n - 1, self.list.currentRow() + step)))
                    return True
                if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
                    self._choose(self.list.currentItem())
                    return True
                if key == Qt.Key.Key_Escape:
                    self.close_search()
                    return True
                if key == Qt.Key.Key_Tab:
                    return True
            elif event.type() == QEvent.Type.ShortcutOverride and event.key() in (
                    Qt.Key.Key_Escape, Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Tab):
                event.accept()
                return True
            elif event.type() == QEvent.Type.FocusOut:
                QTimer.singleShot(0, self._close_if_unfocused)
        return super().eventFilter(obj, event)

    def _close_if_unfocused(self) -> None:
        if self._closed or self.line_edit.hasFocus():
            return
        focus = QApplication.focusWidget()
        if focus is None or not (focus is self or self.isAncestorOf(focus)):
            self.close_search()

    def _choose(self, item: QListWidgetItem | None) -> None:
        if item is None or self._closed:
            return
        type_id = item.data(Qt.ItemDataRole.UserRole).type_id
        self.close_search()
        self.chosen.emit(type_id)

    def popup(self) -> None:
        self.show()
        self.raise_()
        self.line_edit.setFocus(Qt.FocusReason.PopupFocusReason)

    def close_search(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.hide()
        self.closed.emit()
        self.deleteLater()
