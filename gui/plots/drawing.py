"""Images in the prediction view: the draw-a-digit pad, a small image box, and turning a drawing or a picture
into one sample of the model's input shape.

The pad shows for classifiers whose input is 1×28×28, 1×8×8, 28×28, 8×8, 784 or 64 values. Strokes are
white on black, like the digits data; the drawing is cropped to its ink, scaled (area averaging) to 20 of
28 pixels (the whole 8 for 8×8) and centred by its centre of mass, as MNIST was made.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPalette, QPen
from PySide6.QtWidgets import QWidget

from layerloom.gui.plots.common import palette

PAD_SHAPES = {(1, 28, 28): 28, (28, 28): 28, (784,): 28, (1, 8, 8): 8, (8, 8): 8, (64,): 8}


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
