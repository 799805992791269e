"""Predictions: pick a sample (from the data preview) or draw a digit, and see what the network says — the
input as the network gets it and the top-k class probabilities as bars.

    view.set_predictor(predictor)   # None: no model yet (a hint shows)
    view.set_samples(preview)       # a core.data.preview.Preview: its samples and labels

The predictor contract: `predictor.input_shape` is one sample's shape as the model takes it (batch left
out, e.g. (1, 28, 28) or (64,)); `predictor.predict(inputs)` takes a float32 batch of RAW samples of that
shape — images with values in [0, 1] (the preview's uint8 / 255; the drawing pad's ink), other data in its
original units — applies the data's normalization itself, runs the model and returns an N × classes array
of probabilities (rows sum to 1). An optional `predictor.class_names` names the classes.

The draw-a-digit pad shows for classifiers whose input is 1×28×28, 1×8×8, 28×28, 8×8, 784 or 64 values.
Strokes are white on black, like the digits data; the drawing is cropped to its ink, scaled (area
averaging) to 20 of 28 pixels (the whole 8 for 8×8) and centred by its centre of mass, as MNIST was made.
"""

from __future__ import annotations

import html
import itertools

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFont, QFontMetrics, QImage, QPainter, QPalette, QPen
from PySide6.QtWidgets import (
    QButtonGroup,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from layerloom.core.training.events import EpochEnd, Finished, RunStarted
from layerloom.gui.plots.common import PlotView, grab_png, palette, series_color, write_csv

PAD_SHAPES = {(1, 28, 28): 28, (28, 28): 28, (784,): 28, (1, 8, 8): 8, (8, 8): 8, (64,): 8}
TOP_K = 10


def pad_side(input_shape) -> int | None:
    """The digit side (28 or 8) when a drawing can be fed to a model with this input shape."""
    return PAD_SHAPES.get(tuple(int(s) for s in input_shape)) if input_shape is not None else None


def qimage_to_array(image: QImage) -> np.ndarray:
    """A grayscale QImage → H×W float32 in [0, 1]."""
    image = image.convertToFormat(QImage.Format.Format_Grayscale8)
    w, h, bpl = image.width(), image.height(), image.bytesPerLine()
    data = np.frombuffer(image.constBits(), np.uint8, count=h * bpl).reshape(h, bpl)[:, :w]
    return data.astype(np.float32) / 255.0


def array_to_qimage(values: np.ndarray) -> QImage:
    """H×W values in [0, 1] → a grayscale QImage (owning its data)."""
    a = np.ascontiguousarray(np.clip(np.round(values * 255.0), 0, 255).astype(np.uint8))
    h, w = a.shape
    return QImage(a.data, w, h, w, QImage.Format.Format_Grayscale8).copy()


def digit_input(canvas: np.ndarray, side: int) -> np.ndarray:
    """A drawing (S×S ink in [0, 1]) → side×side in [0, 1], prepared like the digits data: cropped to the
    ink, scaled with area averaging so its longer side is 20/28 of `side` (all of it for 8×8), centred by
    its centre of mass."""
    out = np.zeros((side, side), np.float32)
    ys, xs = np.nonzero(canvas > 0.05)
    if not len(ys):
        return out
    crop = canvas[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    h, w = crop.shape
    n = max(h, w)
    square = np.zeros((n, n), np.float32)
    square[(n - h) // 2:(n - h) // 2 + h, (n - w) // 2:(n - w) // 2 + w] = crop
    inner = side if side <= 8 else round(side * 20 / 28)
    small = qimage_to_array(array_to_qimage(square).scaled(
        inner, inner, Qt.AspectRatioMode.IgnoreAspectRatio, Qt.TransformationMode.SmoothTransformation))
    if small.max() > 0:
        small = small / small.max()  # thin strokes averaged away still reach full ink
    total = small.sum()
    yy, xx = np.indices(small.shape)
    cy, cx = (yy * small).sum() / total, (xx * small).sum() / total
    top = int(np.clip(round(side / 2 - cy - 0.5), 0, side - inner))
    left = int(np.clip(round(side / 2 - cx - 0.5), 0, side - inner))
    out[top:top + inner, left:left + inner] = small
    return out


def to_model_input(image: np.ndarray, input_shape) -> np.ndarray | None:
    """One sample (H×W or H×W×C image in [0, 1], or any array) reshaped to `input_shape`; None if it
    cannot be."""
    shape = tuple(int(s) for s in input_shape)
    x = np.asarray(image, np.float32)
    if x.ndim == 3 and len(shape) == 3 and x.shape[-1] == shape[0] and x.shape[0] != shape[0]:
        x = x.transpose(2, 0, 1)  # H×W×C → C×H×W
    if x.ndim == 2 and len(shape) == 3 and shape[0] == 3 and x.shape == shape[1:]:
        x = np.repeat(x[None], 3, 0)
    if x.size != int(np.prod(shape)):
        return None
    return x.reshape(shape)


class DrawPad(QWidget):
    """A square to draw on with the mouse: thick, round, anti-aliased white strokes on black.
    `changed` fires while drawing (throttled by the listener) and when a stroke ends."""

    changed = Signal()
    SIZE = 224

    def __init__(self, parent=None):
        super().__init__(parent)
        self.image = QImage(self.SIZE, self.SIZE, QImage.Format.Format_Grayscale8)
        self.image.fill(0)
        self.pen_width = 18.0
        self._last: QPointF | None = None
        self.strokes = 0
        self.setFixedSize(self.SIZE, self.SIZE)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.setToolTip("Draw a digit with the mouse")

    def sizeHint(self) -> QSize:
        return QSize(self.SIZE, self.SIZE)

    def clear(self) -> None:
        self.image.fill(0)
        self.strokes = 0
        self.update()
        self.changed.emit()

    def is_empty(self) -> bool:
        return not qimage_to_array(self.image).any()

    def values(self) -> np.ndarray:
        """The drawing as SIZE×SIZE ink in [0, 1]."""
        return qimage_to_array(self.image)

    def draw_line(self, a: QPointF, b: QPointF) -> None:
        p = QPainter(self.image)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        pen = QPen(QColor(255, 255, 255), self.pen_width, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap,
                   Qt.PenJoinStyle.RoundJoin)
        p.setPen(pen)
        if a == b:
            p.drawPoint(a)
        else:
            p.drawLine(a, b)
        p.end()
        self.update()

    def mousePressEvent(self, event) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self._last = event.position()
            self.draw_line(self._last, self._last)
            self.changed.emit()

    def mouseMoveEvent(self, event) -> None:
        if self._last is not None:
            pos = event.position()
            self.draw_line(self._last, pos)
            self._last = pos
            self.changed.emit()

    def mouseReleaseEvent(self, event) -> None:
        if self._last is not None:
            self.draw_line(self._last, event.position())
            self._last = None
            self.strokes += 1
            self.changed.emit()

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.drawImage(self.rect(), self.image)
        p.setPen(QPen(palette().color(QPalette.ColorRole.Mid), 1))
        p.drawRect(self.rect().adjusted(0, 0, -1, -1))
        if self.is_empty():
            p.setPen(QColor(150, 150, 150))
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "draw a digit here")
        p.end()


class ImageBox(QWidget):
    """A small image shown with square pixels (nearest neighbour), with a caption under it."""

    def __init__(self, caption: str = "", parent=None, side: int = 132):
        super().__init__(parent)
        self._image: QImage | None = None
        self.caption = caption
        self.side = side
        self.setMinimumSize(side, side + 20)

    def set_array(self, values: np.ndarray | None) -> None:
        if values is None:
            self._image = None
        else:
            v = np.asarray(values, np.float32)
            if v.ndim == 3 and v.shape[0] in (1, 3):
                v = v[0] if v.shape[0] == 1 else v.transpose(1, 2, 0)
            if v.ndim == 3:
                a = np.ascontiguousarray(np.clip(v * 255, 0, 255).astype(np.uint8))
                h, w = a.shape[:2]
                self._image = QImage(a.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
            elif v.ndim == 2:
                self._image = array_to_qimage(v)
            else:
                self._image = None
        self.update()

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        side = min(self.width(), self.height() - 20)
        target = QRectF((self.width() - side) / 2, 0, side, side)
        if self._image is not None:
            p.drawImage(target, self._image)
        p.setPen(QPen(palette().color(QPalette.ColorRole.Mid), 1))
        p.drawRect(target.adjusted(0, 0, -1, -1))
        p.setPen(palette().color(QPalette.ColorRole.PlaceholderText))
        p.drawText(QRectF(0, side + 2, self.width(), 18), Qt.AlignmentFlag.AlignHCenter, self.caption)
        p.end()


class ProbabilityBars(QWidget):
    """Horizontal bars of the top-k classes: name, bar, percentage; the winner in the accent colour, the true
    class (when known) marked."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.items: list[tuple[str, float]] = []
        self.true_name: str | None = None
        self.setMinimumSize(240, 120)

    def set_items(self, items: list[tuple[str, float]], true_name: str | None = None) -> None:
        self.items, self.true_name = items, true_name
        self.update()

    def _label(self, name: str) -> str:
        return name + (" ✓" if self.true_name is not None and name == self.true_name else "")

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        pal = palette()
        text = pal.color(QPalette.ColorRole.Text)
        if not self.items:
            p.end()
            return
        fm = QFontMetrics(self.font())
        bold = QFont(self.font())
        bold.setBold(True)
        widest = max(QFontMetrics(bold).horizontalAdvance(self._label(n)) for n, _ in self.items)  # bold: the winner
        name_w = min(160, widest + 12)
        pct_w = fm.horizontalAdvance("100.0 %") + 8
        row = min(28.0, (self.height() - 4) / len(self.items))
        bar_h = max(6.0, row * 0.62)
        track = QColor(text)
        track.setAlpha(22)
        for i, (name, prob) in enumerate(self.items):
            y = 2 + i * row
            cy = y + row / 2
            font = QFont(self.font())
            font.setBold(i == 0)
            p.setFont(font)
            p.setPen(text)
            label = self._label(name)
            p.drawText(QRectF(0, y, name_w - 8, row), Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                       label)
            x0, x1 = name_w, self.width() - pct_w
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(track)
            p.drawRoundedRect(QRectF(x0, cy - bar_h / 2, x1 - x0, bar_h), 3, 3)
            color = series_color("loss") if i == 0 else series_color("loss", 110)
            p.setBrush(color)
            width = max(0.0, min(1.0, float(prob))) * (x1 - x0)
            if width > 0.5:
                p.drawRoundedRect(QRectF(x0, cy - bar_h / 2, width, bar_h), 3, 3)
            p.setPen(text)
            p.drawText(QRectF(x1 + 6, y, pct_w, row), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                       f"{prob * 100:.1f} %")
        p.end()


class PredictionView(PlotView):
    EXPORT_NAME = "prediction"

    def __init__(self, parent=None):
        super().__init__(parent)
        self.predictor = None
        self.preview = None
        self.class_names: list[str] | None = None
        self.task = "classification"
        self.probabilities: np.ndarray | None = None  # of the last prediction
        self.last_input: np.ndarray | None = None  # what was given to predict() (input_shape)
        self.error: str | None = None

        self.sample_radio = QRadioButton("Sample", self)
        self.draw_radio = QRadioButton("Drawing", self)
        self.sample_radio.setChecked(True)
        self._source = QButtonGroup(self)
        self._source.addButton(self.sample_radio)
        self._source.addButton(self.draw_radio)
        self._source.buttonToggled.connect(lambda *_: self._source_changed())
        self.sample_spin = QSpinBox(self)
        self.sample_spin.setPrefix("#")
        self.sample_spin.setRange(0, 0)
        self.sample_spin.valueChanged.connect(lambda *_: self._source_changed())
        self.pad = DrawPad(self)
        self.pad.changed.connect(self._drawn)
        self.clear_button = QPushButton("Clear", self)
        self.clear_button.clicked.connect(self.pad.clear)
        self.input_box = ImageBox("network input", self)
        self.bars = ProbabilityBars(self)
        self.status = QLabel(self)
        self.status.setWordWrap(True)
        self.status.setTextFormat(Qt.TextFormat.RichText)
        self._draw_timer = QTimer(self)
        self._draw_timer.setSingleShot(True)
        self._draw_timer.timeout.connect(self.predict_now)

        head = QHBoxLayout()
        head.setContentsMargins(6, 2, 6, 0)
        head.addWidget(QLabel("Input:", self))
        head.addWidget(self.sample_radio)
        head.addWidget(self.sample_spin)
        head.addWidget(self.draw_radio)
        head.addStretch(1)
        head.addWidget(self.export_buttons())
        pad_col = QVBoxLayout()
        pad_col.addWidget(self.pad)
        pad_col.addWidget(self.clear_button, 0, Qt.AlignmentFlag.AlignHCenter)
        pad_col.addStretch(1)
        self._pad_widgets = (self.pad, self.clear_button)
        body = QHBoxLayout()
        body.setContentsMargins(8, 4, 8, 8)
        body.setSpacing(14)
        body.addLayout(pad_col)
        in_col = QVBoxLayout()
        in_col.addWidget(self.input_box)
        in_col.addStretch(1)
        body.addLayout(in_col)
        right = QVBoxLayout()
        right.addWidget(self.status)
        right.addWidget(self.bars, 1)
        body.addLayout(right, 1)
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.addLayout(head)
        box.addLayout(body, 1)
        self._update_controls()
        self._show_status()

    # --- the contract ------------------------------------------------------------------------------

    def reset(self, run: RunStarted | None = None) -> None:
        if run is not None:
            self.task = run.task
            if run.class_names:
                self.class_names = list(run.class_names)
        self.probabilities = None
        self.bars.set_items([])
        self._show_status()

    def on_event(self, event) -> None:
        if isinstance(event, EpochEnd | Finished) and self.predictor is not None:
            self._changed()  # the model changed: predict again (once, at the next tick)
        elif isinstance(event, RunStarted):
            self.reset(event)

    def set_predictor(self, predictor) -> None:
        self.predictor = predictor
        names = getattr(predictor, "class_names", None)
        if names:
            self.class_names = list(names)
        self._update_controls()
        if self.isVisible():
            self.predict_now()
        else:  # behind another tab: predict when shown (a run's start needs no forward pass for a hidden view)
            self._changed()

    def set_samples(self, preview) -> None:
        """A core.data.preview.Preview (or anything with `samples` and `labels`)."""
        self.preview = preview
        n = len(preview.samples) if preview is not None else 0
        self.sample_spin.setRange(0, max(0, n - 1))
        if preview is not None and getattr(preview, "task", "") and preview.task != "classification":
            self.task = preview.task
        if preview is not None and getattr(preview, "class_counts", None) and not self.class_names:
            self.class_names = list(preview.class_counts)
        self._update_controls()
        self.predict_now()

    # --- inputs -------------------------------------------------------------------------------------

    @property
    def input_shape(self):
        shape = getattr(self.predictor, "input_shape", None)
        if shape is None and self.preview is not None and getattr(self.preview, "sample_shapes", None):
            shape = self.preview.sample_shapes[0]
        return tuple(shape) if shape is not None else None

    def pad_available(self) -> bool:
        return pad_side(self.input_shape) is not None and self.task == "classification"

    def _update_controls(self) -> None:
        can_draw = self.pad_available()
        for w in (*self._pad_widgets, self.draw_radio):
            w.setVisible(can_draw)
        has_samples = self.preview is not None and len(self.preview.samples) > 0
        self.sample_radio.setEnabled(has_samples)
        self.sample_spin.setEnabled(has_samples)
        if not can_draw and self.draw_radio.isChecked():
            self.sample_radio.setChecked(True)
        self.pad.setEnabled(can_draw)

    def _source_changed(self) -> None:
        self.predict_now()

    def _drawn(self) -> None:
        if not self.draw_radio.isChecked() and self.pad_available():
            self.draw_radio.setChecked(True)  # drawing switches the input to the drawing
        if not self._draw_timer.isActive():
            self._draw_timer.start(40)  # at most ~25 predictions a second while drawing

    def current_input(self) -> tuple[np.ndarray | None, str | None]:
        """(the sample as the model takes it, its true label or None)."""
        shape = self.input_shape
        if shape is None:
            return None, None
        if self.draw_radio.isChecked() and self.pad_available():
            if self.pad.is_empty():
                return None, None
            digit = digit_input(self.pad.values(), pad_side(shape))
            return digit.reshape(shape).astype(np.float32), None
        if self.preview is None or not len(self.preview.samples):
            return None, None
        i = min(self.sample_spin.value(), len(self.preview.samples) - 1)
        sample = np.asarray(self.preview.samples[i])
        raw = sample.astype(np.float32) / 255.0 if sample.dtype == np.uint8 else sample.astype(np.float32)
        x = to_model_input(raw, shape)
        label = self.preview.labels[i] if i < len(self.preview.labels) else None
        return x, None if label is None else str(label)

    # --- predicting ---------------------------------------------------------------------------------

    def _redraw(self) -> None:
        self.predict_now()

    def predict_now(self) -> None:
        x, true = self.current_input()
        self.last_input = x
        shape = self.input_shape
        side = pad_side(shape)
        if x is not None and side is not None:
            self.input_box.set_array(x.reshape(side, side))
        elif x is not None and x.ndim == 3 and x.shape[0] in (1, 3):
            self.input_box.set_array(x)
        else:
            self.input_box.set_array(None)
        self.error = None
        self.probabilities = None
        if x is None or self.predictor is None:
            self.bars.set_items([])
            self._show_status()
            return
        try:
            probs = np.asarray(self.predictor.predict(x[None]), np.float64).reshape(1, -1)[0]
        except Exception as err:  # the view stays usable; the message says what went wrong
            self.error = str(err) or type(err).__name__
            self.bars.set_items([])
            self._show_status()
            return
        self.probabilities = probs
        names = self.class_names or [str(i) for i in range(len(probs))]
        order = np.argsort(-probs)[:min(TOP_K, len(probs))]
        items = [(names[j] if j < len(names) else str(j), float(probs[j])) for j in order]
        self.bars.set_items(items, true)
        self._show_status(items[0] if items else None, true)

    def _show_status(self, top=None, true=None) -> None:
        if self.predictor is None:
            self.status.setText("<span style='color:gray'>Train the network (or load a trained one) to see "
                                "what it predicts.</span>")
        elif self.error:
            self.status.setText(f"<span style='color:#e5484d'>The prediction failed: "
                                f"{html.escape(self.error)}</span>")
        elif top is None:
            hint = "Draw a digit on the pad" if self.draw_radio.isChecked() else "Choose a sample"
            self.status.setText(f"<span style='color:gray'>{hint} to see the prediction.</span>")
        else:
            verdict = ""
            if true is not None:
                ok = top[0] == true
                color = series_color("ok" if ok else "exploding").name()
                verdict = (f" &nbsp; <span style='color:{color}'>{'right' if ok else 'wrong'}</span>"
                           f" (label {html.escape(true)})")
            self.status.setText(f"The network says <b>{html.escape(top[0])}</b> "
                                f"({top[1] * 100:.1f} %){verdict}")

    def draw_demo_digit(self) -> None:
        """Draws a "7" on the pad (for screenshots and the demo)."""
        s = DrawPad.SIZE
        pts = [QPointF(s * 0.25, s * 0.22), QPointF(s * 0.75, s * 0.22), QPointF(s * 0.45, s * 0.85)]
        for a, b in itertools.pairwise(pts):
            self.pad.draw_line(a, b)
        self.draw_radio.setChecked(True)
        self.predict_now()

    # --- export -------------------------------------------------------------------------------------

    def export_png(self, path: str) -> bool:
        return grab_png(self, path)

    def export_csv(self, path: str) -> None:
        """class, probability: every class, most likely first."""
        probs = self.probabilities if self.probabilities is not None else np.zeros(0)
        names = self.class_names or [str(i) for i in range(len(probs))]
        order = np.argsort(-probs)
        write_csv(path, ["class", "probability"],
                  ([names[j] if j < len(names) else str(j), float(probs[j])] for j in order))


