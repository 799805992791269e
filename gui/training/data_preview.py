"""What the Data panel shows of loaded data: a summary line, how texts became token ids (text data), a grid of
samples with their labels and a histogram of samples per class.

    preview = DataPreview(parent)
    preview.show_prepared(prepared)       # a core.data PreparedData
    preview.show_failure("cancelled")
"""

from __future__ import annotations

import html

import numpy as np
from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPalette, QPixmap
from PySide6.QtWidgets import QGridLayout, QLabel, QVBoxLayout, QWidget

PREVIEW_SAMPLES = 24
GRID_COLUMNS = 8


def image_of(sample: np.ndarray) -> QImage | None:
    """A sample as a picture: a square vector, a grey image or an RGB image (None for anything else)."""
    a = np.asarray(sample)
    if a.ndim == 1:
        side = round(float(np.sqrt(a.size)))
        if side * side != a.size:
            return None
        a = a.reshape(side, side)
    if a.dtype != np.uint8:
        lo, hi = float(np.min(a)), float(np.max(a))
        a = np.clip((a - lo) / (hi - lo or 1.0) * 255, 0, 255).astype(np.uint8)
    a = np.ascontiguousarray(a)
    if a.ndim == 2:
        h, w = a.shape
        return QImage(a.data, w, h, w, QImage.Format.Format_Grayscale8).copy()
    if a.ndim == 3 and a.shape[2] == 3:
        h, w, _ = a.shape
        return QImage(a.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
    return None


class Histogram(QWidget):
    """Samples per class as bars."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.counts: dict[str, int] = {}
        self.setMinimumHeight(90)

    def set_counts(self, counts: dict[str, int]) -> None:
        self.counts = dict(counts)
        self.setVisible(bool(counts))
        self.update()

    def sizeHint(self) -> QSize:
        return QSize(240, 110)

    def paintEvent(self, _event) -> None:
        if not self.counts:
            return
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        pal = self.palette()
        items = list(self.counts.items())[:40]
        top = max(c for _, c in items) or 1
        fm = p.fontMetrics()
        label_h = fm.height() + 2
        w = self.width() / len(items)
        h = self.height() - label_h * 2
        bar = QColor("#4c8bf5")
        for i, (name, count) in enumerate(items):
            bh = h * count / top
            rect = QRectF(i * w + 2, label_h + h - bh, max(1.0, w - 4), bh)
            p.fillRect(rect, bar)
            p.setPen(pal.color(QPalette.ColorRole.WindowText))
            short = name if fm.horizontalAdvance(name) < w else name[:2]
            p.drawText(QRectF(i * w, label_h + h, w, label_h), Qt.AlignmentFlag.AlignCenter, short)
            if w > fm.horizontalAdvance(str(count)):
                p.drawText(QRectF(i * w, label_h + h - bh - label_h, w, label_h), Qt.AlignmentFlag.AlignCenter,
                           str(count))
        p.end()


class DataPreview(QWidget):
    """The summary, the tokenization (text data only), the sample grid and the class histogram of prepared data."""

    def __init__(self, parent=None):
        super().__init__(parent)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        self.summary = QLabel("", self)
        self.summary.setWordWrap(True)
        outer.addWidget(self.summary)
        self.tokens_label = QLabel("", self)  # how texts became token ids (text data only)
        self.tokens_label.setWordWrap(True)
        self.tokens_label.setTextFormat(Qt.TextFormat.RichText)
        self.tokens_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.tokens_label.setVisible(False)
        outer.addWidget(self.tokens_label)
        grid_host = QWidget(self)
        self.grid = QGridLayout(grid_host)
        self.grid.setSpacing(4)
        self.grid.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(grid_host)
        self.histogram = Histogram(self)
        self.histogram.setVisible(False)
        outer.addWidget(self.histogram)

    def show_prepared(self, prepared) -> None:
        """Show loaded data: its summary, tokens, samples and classes."""
        from layerloom.core.data.check import describe
        from layerloom.core.data.preview import preview

        pv = preview(prepared, PREVIEW_SAMPLES)
        info = prepared.info
        classes = f", {info.num_classes} classes" if info.num_classes else ""
        self.summary.setText(f"<b>{info.name}</b>: {describe(info)}{classes} — {len(prepared.train):,} for training, "
                             f"{len(prepared.val):,} for validation")
        self._show_tokens(info, pv)
        self._clear_grid()
        for i, (sample, label) in enumerate(zip(pv.samples, pv.labels, strict=False)):
            cell = QLabel(self)
            cell.setAlignment(Qt.AlignmentFlag.AlignCenter)
            img = image_of(sample) if pv.kind == "image" else None
            text = pv.texts[i] if pv.texts else None
            if img is not None:
                pix = QPixmap.fromImage(img).scaled(36, 36, Qt.AspectRatioMode.KeepAspectRatio,
                                                    Qt.TransformationMode.FastTransformation)
                cell.setPixmap(pix)
                cell.setToolTip(f"label: {label}")
                host = QWidget(self)
                lay = QVBoxLayout(host)
                lay.setContentsMargins(0, 0, 0, 0)
                lay.setSpacing(0)
                lay.addWidget(cell)
                caption = QLabel(str(label)[:8], host)
                caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
                lay.addWidget(caption)
                self.grid.addWidget(host, i // GRID_COLUMNS, i % GRID_COLUMNS)
            else:
                values = text if text is not None else np.array2string(np.asarray(sample).ravel()[:6], precision=2)
                cell.setText(f"{str(values)[:40]} → {label}")
                cell.setAlignment(Qt.AlignmentFlag.AlignLeft)
                if i < 8:
                    self.grid.addWidget(cell, i, 0, 1, GRID_COLUMNS)
                else:
                    cell.deleteLater()
        self.histogram.set_counts(pv.class_counts)

    def show_failure(self, message: str) -> None:
        """No data to show: why ("cancelled" when the user cancelled the load)."""
        self.tokens_label.setVisible(False)
        if message == "cancelled":
            self.summary.setText("Loading cancelled.")
        else:
            self.summary.setText(f"<span style='color:#d9534f'><b>The data cannot be loaded:</b> {message}</span>")
        self._clear_grid()
        self.histogram.set_counts({})

    def _show_tokens(self, info, pv) -> None:
        """Text data: the tokenizer, vocabulary, length and padding, and a sample's first tokens and ids."""
        from layerloom.core.data.preview import token_summary

        lines = token_summary(info, pv.samples[0] if pv.samples else None)
        self.tokens_label.setVisible(bool(lines))
        if lines:
            self.tokens_label.setText("<b>Tokenization</b><br>" + "<br>".join(html.escape(line) for line in lines))

    def _clear_grid(self) -> None:
        while self.grid.count():
            item = self.grid.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
