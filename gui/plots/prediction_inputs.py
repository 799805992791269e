"""The input side of the prediction view, one body per kind of data: images (the drawing pad and the picture
as the network gets it), text (a box to type a message, and its tokens), table rows (the feature values,
editable) and sequences, signals and series (the sample plotted, with a series' predicted next values).

Every body has the same small interface, which the view uses:

    body.set_context(input_shape, preprocessing)   # the model's input and its Preprocessing (or None)
    body.show_sample(sample, text)      # the picked sample as the preview holds it (None: none), its text
    body.query(own)                     # Query for the sample, or for the user's own input (own=True); None
    body.show_result(outputs, task, truth)          # the prediction's outputs (None: none yet)
    body.edited                         # Signal(int): the user changed the input; ms to wait before predicting
    body.OWN                            # the name of the user's own input ("Drawing", "Typed", …; "": none)
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from layerloom.gui.plots.common import graphics_widget, plot_colors, series_color, style_plot
from layerloom.gui.plots.drawing import DrawPad, ImageBox, digit_input, pad_side, to_model_input

TEXT_DELAY_MS = 150  # typing: predict once the keys pause this long
DRAW_DELAY_MS = 40  # drawing: at most ~25 predictions a second
UNKNOWN_COLOR = "#e5484d"
MAX_NAMED_LINES = 4  # a legend for sequences of at most this many features


@dataclass
class Query:
    """What to predict: raw inputs (a batch), or samples as the model takes them when `normalized`."""

    inputs: Any
    normalized: bool = False


class InputError(ValueError):
    """The user's input cannot be read (a feature value that is not a number); the message says which."""


# --- images ------------------------------------------------------------------------------------------


class ImageBody(QWidget):
    """The drawing pad (for digit-sized classifiers) and the picture as the network gets it."""

    edited = Signal(int)
    OWN = "Drawing"
    DEBOUNCE = False  # drawing: predict at a steady pace while the stroke goes on

    def __init__(self, parent=None):
        super().__init__(parent)
        self.shape: tuple[int, ...] | None = None
        self.pre = None
        self.sample: np.ndarray | None = None
        self.pad = DrawPad(self)
        self.pad.changed.connect(lambda: self.edited.emit(DRAW_DELAY_MS))
        self.clear_button = QPushButton("Clear", self)
        self.clear_button.clicked.connect(self.pad.clear)
        self.input_box = ImageBox("network input", self)
        self.output_box = ImageBox("network output", self)
        self.output_box.hide()
        pad_col = QVBoxLayout()
        pad_col.addWidget(self.pad)
        pad_col.addWidget(self.clear_button, 0, Qt.AlignmentFlag.AlignHCenter)
        pad_col.addStretch(1)
        in_col = QVBoxLayout()
        in_col.addWidget(self.input_box)
        in_col.addWidget(self.output_box)
        in_col.addStretch(1)
        box = QHBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.setSpacing(14)
        box.addLayout(pad_col)
        box.addLayout(in_col)
        box.addStretch(1)

    def can_draw(self) -> bool:
        return pad_side(self.shape) is not None

    def set_context(self, shape, pre) -> None:
        self.shape, self.pre = shape, pre

    def set_drawing(self, on: bool) -> None:
        for w in (self.pad, self.clear_button):
            w.setVisible(on)
        self.pad.setEnabled(on)

    def show_sample(self, sample, text=None) -> None:
        self.sample = None if sample is None else np.asarray(sample)

    def query(self, own: bool) -> Query | None:
        shape = self.shape
        x = None
        if shape is not None and own and self.can_draw() and not self.pad.is_empty():
            x = digit_input(self.pad.values(), pad_side(shape)).reshape(shape).astype(np.float32)
        elif shape is not None and not own and self.sample is not None:
            s = self.sample
            raw = s.astype(np.float32) / 255.0 if s.dtype == np.uint8 else s.astype(np.float32)
            x = to_model_input(raw, shape)
        self.input_box.set_array(self._picture(x))
        return None if x is None else Query(x[None])

    def _picture(self, x: np.ndarray | None) -> np.ndarray | None:
        """One model-shaped sample as a picture (H×W or C×H×W); None when it is not one."""
        if x is None:
            return None
        side = pad_side(self.shape)
        if side is not None:
            return x.reshape(side, side)
        if x.ndim == 3 and x.shape[0] in (1, 3):
            return x
        image = (self.pre.facts.get("image") if self.pre is not None else None) or {}
        chw = (image.get("channels"), image.get("height"), image.get("width"))
        if all(chw) and x.size == math.prod(chw):
            return x.reshape(chw)
        return None

    def show_result(self, outputs, task: str, truth=None) -> None:
        """A reconstruction (an autoencoder's output of the input's size) shows as a picture."""
        picture = None
        if outputs is not None and task != "classification" and self.shape is not None \
                and np.size(outputs) == math.prod(self.shape):
            picture = self._picture(np.asarray(outputs, np.float32).reshape(self.shape))
        self.output_box.setVisible(picture is not None)
        self.output_box.set_array(picture)


# --- text --------------------------------------------------------------------------------------------


def tokens_html(tokens: list[tuple[str, bool]], seq_len: int | None) -> str:
    """Tokens as chips; unknown ones (not in the vocabulary) in red and struck through, those past the
    model's sequence length greyed."""
    if not tokens:
        return "<span style='color:gray'>No tokens yet.</span>"
    chips = []
    for i, (tok, known) in enumerate(tokens):
        shown = html.escape(tok.replace(" ", "␣"))
        if seq_len is not None and i >= seq_len:
            chips.append(f"<span style='color:gray'>{shown}</span>")
        elif known:
            chips.append(f"<span style='background-color:rgba(128,128,128,50)'>&nbsp;{shown}&nbsp;</span>")
        else:
            chips.append(f"<span style='color:{UNKNOWN_COLOR}'><s>&nbsp;{shown}&nbsp;</s></span>")
    unknown = sum(1 for i, (_t, k) in enumerate(tokens) if not k and (seq_len is None or i < seq_len))
    head = f"{len(tokens)} token{'s' if len(tokens) != 1 else ''}"
    if unknown:
        head += (f", <span style='color:{UNKNOWN_COLOR}'>{unknown} unknown</span> (not in the vocabulary: each read "
                 "as the “unknown” id)")
    if seq_len is not None and len(tokens) > seq_len:
        head += f"; the network reads the first {seq_len}"
    return f"{head}<br>{' '.join(chips)}"


class TextBody(QWidget):
    """A box to type a message, and its tokens as the network reads them (unknown ones marked)."""

    edited = Signal(int)
    OWN = "Typed"
    DEBOUNCE = True  # typing: predict once the keys pause

    def __init__(self, parent=None):
        super().__init__(parent)
        self.pre = None
        self.sample_ids: np.ndarray | None = None
        self.token_list: list[tuple[str, bool]] = []  # the tokens shown: (token, in the vocabulary)
        self._index: dict[str, int] = {}
        self._vocab_of = None
        self._filling = False
        self.edit = QPlainTextEdit(self)
        self.edit.setPlaceholderText("Type a message here: the network reads it with the words it was trained on")
        self.edit.setTabChangesFocus(True)
        self.edit.setMaximumHeight(110)
        self.edit.textChanged.connect(self._typed)
        self.tokens_label = QLabel(self)
        self.tokens_label.setWordWrap(True)
        self.tokens_label.setTextFormat(Qt.TextFormat.RichText)
        self.tokens_label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(QLabel("Message", self))
        box.addWidget(self.edit)
        box.addWidget(self.tokens_label, 1)

    def set_context(self, shape, pre) -> None:
        self.pre = pre
        vocab = pre.vocabulary if pre is not None else None
        if vocab is not self._vocab_of:
            self._vocab_of = vocab
            self._index = {tok: i for i, tok in enumerate(vocab or [])}

    @property
    def seq_len(self) -> int | None:
        text = (self.pre.facts.get("text") if self.pre is not None else None) or {}
        return int(text["seq_len"]) if "seq_len" in text else None

    def show_sample(self, sample, text=None) -> None:
        self.sample_ids = None if sample is None else np.asarray(sample, np.int64).reshape(-1)
        self._filling = True
        try:
            self.edit.setPlainText(text or "")
        finally:
            self._filling = False

    def _typed(self) -> None:
        if not self._filling:
            self.edited.emit(TEXT_DELAY_MS)

    def query(self, own: bool) -> Query | None:
        if not own and self.sample_ids is not None:
            self._show_tokens(self._sample_tokens(self.sample_ids))
            return Query(self.sample_ids[None], normalized=True)
        text = self.edit.toPlainText()
        if not text.strip():
            self._show_tokens([])
            return None
        if self.pre is not None and self.pre.kind == "text":
            self._show_tokens([(t, t in self._index) for t in self.pre.tokens(text)])
        else:
            self._show_tokens([])
        return Query([text])

    def _sample_tokens(self, ids: np.ndarray) -> list[tuple[str, bool]]:
        vocab = self.pre.vocabulary if self.pre is not None else None
        facts = (self.pre.facts.get("text") if self.pre is not None else None) or {}
        pad, unk = int(facts.get("pad_id", 0)), int(facts.get("unk_id", 1))
        out = []
        for i in ids.tolist():
            if i == pad:
                continue
            if i == unk or not vocab or not 0 <= i < len(vocab):
                out.append(("?", False))
            else:
                out.append((vocab[i], True))
        return out

    def _show_tokens(self, tokens: list[tuple[str, bool]]) -> None:
        self.token_list = tokens
        self.tokens_label.setText(tokens_html(tokens, self.seq_len) if tokens or self.edit.toPlainText() else "")

    def show_result(self, outputs, task: str, truth=None) -> None:
        pass


# --- table rows --------------------------------------------------------------------------------------


class TableBody(QWidget):
    """One row of feature values, editable: a sample's, or the training means when no sample is loaded."""

    edited = Signal(int)
    OWN = "Edited"
    DEBOUNCE = True

    def __init__(self, parent=None):
        super().__init__(parent)
        self.pre = None
        self.names: list[str] = []
        self._filling = False
        self.table = QTableWidget(0, 2, self)
        self.table.setHorizontalHeaderLabels(["feature", "value"])
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setToolTip("Double-click a value to change it; the prediction follows")
        self.table.itemChanged.connect(self._item_changed)
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(self.table)

    def set_context(self, shape, pre) -> None:
        self.pre = pre
        n = int(math.prod(shape)) if shape else 0
        feats = (pre.facts.get("features") if pre is not None else None) or {}
        names = list(feats.get("names") or [])
        names = [str(names[i]) if i < len(names) else f"feature {i + 1}" for i in range(n)]
        if names == self.names:
            return
        self.names = names
        means = list(feats.get("mean") or [])
        self._fill([float(means[i]) if len(means) == n else 0.0 for i in range(n)])

    def _fill(self, values) -> None:
        self._filling = True
        try:
            self.table.setRowCount(len(self.names))
            for i, name in enumerate(self.names):
                label = QTableWidgetItem(name)
                label.setFlags(Qt.ItemFlag.ItemIsEnabled)
                self.table.setItem(i, 0, label)
                value = QTableWidgetItem(f"{float(values[i]):.7g}" if i < len(values) else "0")
                value.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(i, 1, value)
        finally:
            self._filling = False

    def show_sample(self, sample, text=None) -> None:
        if sample is not None:
            values = np.asarray(sample, np.float64).reshape(-1)
            if len(values) == len(self.names) or not self.names:
                if not self.names:
                    self.names = [f"feature {i + 1}" for i in range(len(values))]
                self._fill(values.tolist())

    def _item_changed(self, item) -> None:
        if not self._filling and item.column() == 1:
            self.edited.emit(0)

    def values(self) -> np.ndarray:
        """The row as numbers; InputError names the first value that is not a number."""
        out = []
        for i, name in enumerate(self.names):
            item = self.table.item(i, 1)
            text = item.text().strip() if item is not None else ""
            try:
                v = float(text)
            except ValueError:
                raise InputError(f"the value of {name!r} is not a number ({text!r})") from None
            if not math.isfinite(v):
                raise InputError(f"the value of {name!r} must be a finite number")
            out.append(v)
        return np.asarray(out, np.float32)

    def query(self, own: bool) -> Query | None:
        return Query(self.values()[None]) if self.names else None

    def show_result(self, outputs, task: str, truth=None) -> None:
        pass


# --- sequences, signals, series -----------------------------------------------------------------------


class PlotBody(QWidget):
    """The picked sample plotted: a series' window with the predicted next value(s) (and the true ones), a
    sequence's features over time, a signal's channels."""

    edited = Signal(int)
    OWN = ""
    DEBOUNCE = True

    def __init__(self, parent=None):
        super().__init__(parent)
        self.pre = None
        self.kind = "sequence"
        self.sample: np.ndarray | None = None
        self.graphics = graphics_widget()
        self.plot = self.graphics.addPlot()
        self.legend = self.plot.addLegend()
        self.predicted: np.ndarray | None = None  # the series' predicted next values, as plotted
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(self.graphics)

    def set_context(self, shape, pre) -> None:
        self.pre = pre
        self.kind = pre.kind if pre is not None else "sequence"

    def show_sample(self, sample, text=None) -> None:
        self.sample = None if sample is None else np.asarray(sample, np.float32)
        self.predicted = None
        self._draw(None, None)

    def query(self, own: bool) -> Query | None:
        return None if self.sample is None else Query(self.sample[None])

    def show_result(self, outputs, task: str, truth=None) -> None:
        self.predicted = None
        if outputs is not None and self.kind == "series" and task != "classification":
            self.predicted = np.asarray(outputs, np.float64).reshape(-1)
        self._draw(self.predicted, truth if self.predicted is not None else None)

    def _draw(self, predicted, truth) -> None:
        self.plot.clear()
        self.plot.setTitle(None)
        self.legend.clear()
        self.graphics.setBackground(plot_colors()["background"])
        s = self.sample
        if s is None:
            style_plot(self.plot, title="Load the data to pick a sample", grid=False)
            return
        if self.kind == "series" or s.ndim == 1:
            values = s.reshape(-1)
            x = np.arange(-len(values), 0)
            self.plot.plot(x, values, pen=pg.mkPen(series_color("loss"), width=2), name="window")
            if truth is not None:
                t = np.asarray(truth, np.float64).reshape(-1)
                self.plot.plot(np.arange(len(t)), t, pen=None, symbol="x", symbolSize=11,
                               symbolPen=pg.mkPen(series_color("ok"), width=2), name="true next")
            if predicted is not None:
                self.plot.plot(np.arange(len(predicted)), predicted, pen=None, symbol="o", symbolSize=9,
                               symbolBrush=series_color("exploding"), symbolPen=None, name="predicted next")
            style_plot(self.plot, left="value", bottom="time step (0: the next)", grid=True)
        else:
            lines = s if self.kind == "signal" else s.T  # signal: C×L; sequence: T×F → F lines over time
            named = 1 < len(lines) <= MAX_NAMED_LINES  # one line needs no legend; more than that hide the lines
            for i, line in enumerate(lines[:16]):
                name = f"channel {i + 1}" if self.kind == "signal" else self._feature_name(i)
                color = series_color("loss") if len(lines) == 1 else pg.intColor(i, hues=len(lines))
                self.plot.plot(np.arange(len(line)), line, pen=pg.mkPen(color, width=1.5),
                               name=name if named else None)
            style_plot(self.plot, left="value", bottom="position" if self.kind == "signal" else "time step",
                       grid=True)
        self.plot.autoRange()
        self.legend.anchor(itemPos=(1, 0), parentPos=(1, 0), offset=(-8, 8))  # sized now: top right, inside

    def _feature_name(self, i: int) -> str:
        names = ((self.pre.facts.get("features") if self.pre is not None else None) or {}).get("names") or []
        return str(names[i]) if i < len(names) else f"feature {i + 1}"
