"""File → New: the template gallery. Each template shows its name, description, its lesson when it has one,
a small drawing of its graph (blocks in their category colours, as laid out in the file) and its blocks and
size.

    dialog = TemplateGallery(parent)
    if dialog.exec():
        project = dialog.project()     # a fresh Project (the template, or an empty one)
"""

from __future__ import annotations

import html
from collections import Counter

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPainterPath, QPalette, QPen, QPixmap
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from layerloom.core.blocks import get_spec, has_spec
from layerloom.gui.colors import category_color
from layerloom.gui.inspector import human, human_macs
from layerloom.gui.lesson_panel import lesson_html, lesson_of

EMPTY = ""  # the "empty canvas" entry
NODE_W, NODE_H = 164.0, 80.0  # a block's size in scene units, for the drawing


def preview_positions(graph, aspect: float = 1.8) -> dict[str, tuple[float, float]]:
    """Block positions for a small drawing. A long chain (most networks) is folded into rows that snake
    left-right, right-left, so the drawing keeps the shape of the network at a readable size; a graph
    that already fits the aspect is drawn as laid out in layers."""
    from layerloom.core.layout import layered_positions

    if not len(graph):
        return {}
    cells = layered_positions(graph, 1.0, 1.0)
    n_cols = int(max(c for c, _ in cells.values())) + 1
    top = min(r for _, r in cells.values())
    band_h = max(r for _, r in cells.values()) - top + 1
    col_w, row_h, gap = 240.0, 150.0, 0.7

    def ratio(k: int) -> float:
        bands = -(-n_cols // k)
        return (k * col_w) / (bands * (band_h + gap) * row_h)

    k = n_cols
    if ratio(n_cols) > aspect * 1.5:
        k = min(range(3, n_cols + 1), key=lambda k: abs(ratio(k) - aspect))
    out = {}
    for nid, (c, r) in cells.items():
        band, j = divmod(int(c), k)
        x = j if band % 2 == 0 else k - 1 - j
        out[nid] = (x * col_w, (band * (band_h + gap) + (r - top)) * row_h)
    return out


def paint_graph(painter: QPainter, graph, rect: QRectF, background: QColor, edge_color: QColor,
                positions: dict[str, tuple[float, float]] | None = None) -> None:
    """Draw `graph` scaled into `rect`: wires, then blocks as coloured chips (positions: the file's, or
    `positions`)."""
    painter.save()
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.fillRect(rect, background)
    nodes = graph.nodes
    if not nodes:
        painter.restore()
        return
    pos = positions or {n.id: n.pos for n in nodes}
    xs = [pos[n.id][0] for n in nodes]
    ys = [pos[n.id][1] for n in nodes]
    x0, y0 = min(xs), min(ys)
    w = max(xs) - x0 + NODE_W
    h = max(ys) - y0 + NODE_H
    margin = max(6.0, min(rect.width(), rect.height()) * 0.07)
    scale = min((rect.width() - 2 * margin) / w, (rect.height() - 2 * margin) / h, 0.6)
    ox = rect.left() + (rect.width() - w * scale) / 2
    oy = rect.top() + (rect.height() - h * scale) / 2
    boxes = {n.id: QRectF(ox + (pos[n.id][0] - x0) * scale, oy + (pos[n.id][1] - y0) * scale,
                          NODE_W * scale, NODE_H * scale) for n in nodes}
    painter.setPen(QPen(edge_color, max(1.0, 4.0 * scale)))
    painter.setBrush(Qt.BrushStyle.NoBrush)
    for e in graph.edges:
        a, b = boxes[e.src], boxes[e.dst]
        path = QPainterPath()
        if b.center().x() > a.center().x() + 1:  # forwards: right side to left side
            p0, p1 = QPointF(a.right(), a.center().y()), QPointF(b.left(), b.center().y())
            dx = max((p1.x() - p0.x()) * 0.5, 8 * scale)
            path.moveTo(p0)
            path.cubicTo(p0 + QPointF(dx, 0), p1 - QPointF(dx, 0), p1)
        elif b.center().x() < a.center().x() - 1:  # a snaking row: left side to right side
            p0, p1 = QPointF(a.left(), a.center().y()), QPointF(b.right(), b.center().y())
            dx = max((p0.x() - p1.x()) * 0.5, 8 * scale)
            path.moveTo(p0)
            path.cubicTo(p0 - QPointF(dx, 0), p1 + QPointF(dx, 0), p1)
        else:  # the turn between two rows
            p0, p1 = QPointF(a.center().x(), a.bottom()), QPointF(b.center().x(), b.top())
            path.moveTo(p0)
            path.lineTo(p1)
        painter.drawPath(path)
    painter.setPen(Qt.PenStyle.NoPen)
    radius = max(2.0, 10 * scale)
    labels = NODE_H * scale >= 22  # big enough to name the blocks
    if labels:
        font = QFont(painter.font())
        font.setPixelSize(max(9, min(13, round(NODE_H * scale * 0.3))))
        painter.setFont(font)
    for n in nodes:
        color = category_color(get_spec(n.type).category) if has_spec(n.type) else QColor("#888")
        box = boxes[n.id]
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(color)
        painter.drawRoundedRect(box, radius, radius)
        if labels:
            lum = 0.2126 * color.redF() + 0.7152 * color.greenF() + 0.0722 * color.blueF()
            painter.setPen(QColor("#15171a") if lum > 0.55 else QColor("#ffffff"))
            text_rect = box.adjusted(4, 0, -4, 0)
            name = QFontMetrics(painter.font()).elidedText(n.name, Qt.TextElideMode.ElideRight,
                                                          int(text_rect.width()))
            painter.drawText(text_rect, Qt.AlignmentFlag.AlignCenter, name)
    painter.restore()


def graph_pixmap(graph, size: QSize, background: QColor, edge_color: QColor, dpr: float = 1.0) -> QPixmap:
    pixmap = QPixmap(round(size.width() * dpr), round(size.height() * dpr))
    pixmap.setDevicePixelRatio(dpr)
    pixmap.fill(Qt.GlobalColor.transparent)
    p = QPainter(pixmap)
    path = QPainterPath()
    path.addRoundedRect(QRectF(0, 0, size.width(), size.height()), 6, 6)
    p.setClipPath(path)
    paint_graph(p, graph, QRectF(0, 0, size.width(), size.height()), background, edge_color,
                preview_positions(graph, size.width() / size.height()) if len(graph) else None)
    p.end()
    return pixmap


class GraphPreview(QWidget):
    """A larger live drawing of one graph."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.graph = None
        self._positions = None
        self._aspect = 0.0
        self.setMinimumSize(360, 200)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def set_graph(self, graph) -> None:
        self.graph = graph
        self._positions = None
        self.update()

    def paintEvent(self, _event) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        pal = self.palette()
        bg = pal.color(QPalette.ColorRole.Base)
        edge = QColor(pal.color(QPalette.ColorRole.Text))
        edge.setAlphaF(0.45)
        r = QRectF(self.rect()).adjusted(0.5, 0.5, -0.5, -0.5)
        path = QPainterPath()
        path.addRoundedRect(r, 8, 8)
        p.setClipPath(path)
        if self.graph is not None and len(self.graph):
            if self._positions is None or self._aspect != round(r.width() / r.height(), 1):
                self._aspect = round(r.width() / r.height(), 1)
                self._positions = preview_positions(self.graph, self._aspect)
            paint_graph(p, self.graph, r, bg, edge, self._positions)
        else:
            p.fillRect(r, bg)
            p.setPen(pal.color(QPalette.ColorRole.PlaceholderText))
            p.drawText(r, Qt.AlignmentFlag.AlignCenter, "An empty canvas")
        p.setClipping(False)
        p.setPen(QPen(pal.color(QPalette.ColorRole.Mid), 1))
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawRoundedRect(r, 8, 8)
        p.end()


class TemplateGallery(QDialog):
    """Choose a template (or an empty canvas) for a new project."""

    def __init__(self, parent=None, selected: str = "lenet5"):
        super().__init__(parent)
        self.setWindowTitle("New project")
        self.setModal(True)
        self.resize(920, 560)
        self._projects: dict[str, object] = {}
        self._descriptions: dict[str, str] = {}

        self.list = QListWidget(self)
        self.list.setIconSize(QSize(96, 54))
        self.list.setSpacing(2)
        self.list.setWordWrap(False)
        self.list.setUniformItemSizes(True)
        self.preview = GraphPreview(self)
        self.title = QLabel(self)
        f = self.title.font()
        f.setPointSizeF(f.pointSizeF() * 1.35)
        f.setBold(True)
        self.title.setFont(f)
        self.description = QLabel(self)
        self.description.setWordWrap(True)
        self.lesson = QLabel(self)  # a template's lesson (meta["lesson"]): what to do and what to look for
        self.lesson.setObjectName("templateLesson")
        self.lesson.setWordWrap(True)
        self.lesson.setTextFormat(Qt.TextFormat.RichText)
        self.lesson.hide()
        self.details = QLabel(self)
        self.details.setWordWrap(True)
        self.details.setTextFormat(Qt.TextFormat.RichText)
        self.details.setObjectName("subtle")

        right = QVBoxLayout()
        right.addWidget(self.title)
        right.addWidget(self.description)
        right.addWidget(self.lesson)
        right.addWidget(self.preview, 1)
        right.addWidget(self.details)
        body = QHBoxLayout()
        body.addWidget(self.list, 0)
        body.addLayout(right, 1)
        self.buttons = QDialogButtonBox(self)
        self.create_button = QPushButton("Create", self)
        self.create_button.setDefault(True)
        self.buttons.addButton(self.create_button, QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.list.setMinimumWidth(380)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(body, 1)
        layout.addWidget(self.buttons)

        self._populate()
        self.list.currentItemChanged.connect(self._show)
        self.list.itemActivated.connect(lambda _item: self.accept())
        self.select(selected)

    def _populate(self) -> None:
        from layerloom.core.errors import ProjectError
        from layerloom.core.templates import load_template, templates

        pal = self.palette()
        bg = pal.color(QPalette.ColorRole.Base)
        edge = QColor(pal.color(QPalette.ColorRole.Text))
        edge.setAlphaF(0.45)
        dpr = self.devicePixelRatioF()
        for name, description in templates():
            try:
                project = load_template(name)
            except ProjectError:
                continue  # a damaged template is left out, never shown half-loaded
            self._projects[name] = project
            self._descriptions[name] = description
            title = project.name or name
            item = QListWidgetItem(f"{title}\n{_tagline(description)}")
            item.setData(Qt.ItemDataRole.UserRole, name)
            item.setToolTip(description)
            item.setIcon(graph_pixmap(project.graph, QSize(96, 54), bg, edge, dpr))
            item.setSizeHint(QSize(300, 64))
            self.list.addItem(item)
        empty = QListWidgetItem("Empty canvas\nStart from nothing")
        empty.setData(Qt.ItemDataRole.UserRole, EMPTY)
        empty.setIcon(graph_pixmap(_EmptyGraph(), QSize(96, 54), bg, edge, dpr))
        empty.setSizeHint(QSize(300, 64))
        self.list.addItem(empty)

    def names(self) -> list[str]:
        return [self.list.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.list.count())]

    def select(self, name: str) -> None:
        for i in range(self.list.count()):
            if self.list.item(i).data(Qt.ItemDataRole.UserRole) == name:
                self.list.setCurrentRow(i)
                return
        if self.list.count():
            self.list.setCurrentRow(0)

    def selected_name(self) -> str | None:
        item = self.list.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item else None

    def _show(self, item: QListWidgetItem | None, _previous=None) -> None:
        name = item.data(Qt.ItemDataRole.UserRole) if item else None
        if name is None:
            return
        if name == EMPTY:
            self.title.setText("Empty canvas")
            self.description.setText("A blank network: add blocks from the palette, or press Tab on the canvas.")
            self.preview.set_graph(None)
            self.details.setText("")
            self.lesson.hide()
            return
        project = self._projects[name]
        self.title.setText(project.name or name)
        self.description.setText(self._descriptions.get(name, ""))
        lesson = lesson_of(project)
        self.lesson.setText(f"<p><b>Lesson</b></p>{lesson_html(lesson)}" if lesson else "")
        self.lesson.setVisible(bool(lesson))
        self.preview.set_graph(project.graph)
        from layerloom.core.inference import infer

        report = infer(project.graph.copy())
        counts = Counter(n.type for n in project.graph)
        blocks = ", ".join(f"{t} ×{c}" if c > 1 else t for t, c in counts.items())
        source = html.escape(str(project.data.source))
        self.details.setText(
            f"<p><b>{len(project.graph)} blocks:</b> {html.escape(blocks)}</p>"
            f"<p><b>{human(report.total_params)}</b> parameters · {human_macs(report.total_macs)} MACs · "
            f"data: {source}</p>")

    def project(self):
        """A fresh copy of the chosen template as a new Project (an empty one for "Empty canvas")."""
        from layerloom.core.project import blank_project

        name = self.selected_name()
        if not name:
            return blank_project()
        from layerloom.core.templates import load_template

        return load_template(name)


class _EmptyGraph:
    nodes: list = []
    edges: list = []

    def __len__(self) -> int:
        return 0


def _tagline(text: str, limit: int = 48) -> str:
    """What follows "Name: " in a description, cut to one short line."""
    head, sep, rest = text.partition(": ")
    line = rest if sep and len(head) < 48 else text
    line = line[:1].upper() + line[1:]
    return line if len(line) <= limit else line[: limit - 1].rstrip(" ,;:") + "…"
