"""Predictions: pick a sample (from the data preview) or make an input of your own, and see what the network
says. The input fits the data: images are drawn on a pad (digit-sized classifiers), texts are typed (and
shown as the tokens the network reads), table rows are edited value by value, sequences and series are
plotted (a series with its predicted next values). Classifiers show the top-k class probabilities as bars.

    view.set_predictor(predictor)   # None: no model yet (a hint shows)
    view.set_samples(preview)       # a core.data.preview.Preview: its samples and labels
    view.set_preprocessing(pre)     # the data's Preprocessing (the kind of input; tokens, feature names)

The predictor contract: `predictor.input_shape` is one sample's shape as the model takes it (batch left
out, e.g. (1, 28, 28) or (64,)); `predictor.predict(inputs)` takes a batch of RAW samples — images of that
shape with values in [0, 1] (the preview's uint8 / 255; the drawing pad's ink), texts as a list of strings,
other data in its original units — prepares them as in training, runs the model and returns an N × classes
array of probabilities (rows sum to 1), or the outputs in the data's units for other tasks;
`predict(samples, normalized=True)` takes samples as the model takes them (a text sample's token ids).
Optional: `predictor.class_names`, `predictor.kind`, `predictor.task`, `predictor.preprocessing`.
"""

from __future__ import annotations

import html
import itertools

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, QTimer
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPalette
from PySide6.QtWidgets import (
    QButtonGroup,
    QHBoxLayout,
    QLabel,
    QRadioButton,
    QSpinBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from layerloom.core.training.events import EpochEnd, Finished, RunStarted
from layerloom.gui.plots.common import PlotView, fmt, grab_png, palette, series_color, write_csv
from layerloom.gui.plots.drawing import DrawPad
from layerloom.gui.plots.prediction_inputs import ImageBody, InputError, PlotBody, TableBody, TextBody

TOP_K = 10
BODY_OF_KIND = {"image": "image", "text": "text", "vector": "table", "sequence": "plot", "signal": "plot",
                "series": "plot"}
HINTS = {"image": "Choose a sample", "text": "Type a message (or choose a sample)",
         "table": "Choose a sample or type feature values", "plot": "Choose a sample"}


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
        self.pre = None  # the data's Preprocessing given with set_preprocessing
        self.class_names: list[str] | None = None
        self.task = "classification"
        self.probabilities: np.ndarray | None = None  # of the last prediction (classifiers)
        self.outputs: np.ndarray | None = None  # of the last prediction (other tasks), in the data's units
        self.last_input = None  # what was given to predict()
        self.error: str | None = None
        self._input_error = False  # the error is in the user's input (not the model's)
        self._own_possible = False
        self.unavailable: str | None = None  # why this model gets no predictions here (a GAN), in plain words

        self.sample_radio = QRadioButton("Sample", self)
        self.own_radio = QRadioButton("Drawing", self)
        self.draw_radio = self.own_radio  # (its name for images)
        self.sample_radio.setChecked(True)
        self._source = QButtonGroup(self)
        self._source.addButton(self.sample_radio)
        self._source.addButton(self.own_radio)
        self._source.buttonToggled.connect(self._source_toggled)
        self.sample_spin = QSpinBox(self)
        self.sample_spin.setPrefix("#")
        self.sample_spin.setRange(0, 0)
        self.sample_spin.valueChanged.connect(lambda *_: self._sample_picked())
        self.bodies = {"image": ImageBody(self), "text": TextBody(self), "table": TableBody(self),
                       "plot": PlotBody(self)}
        self.stack = QStackedWidget(self)
        for body in self.bodies.values():
            self.stack.addWidget(body)
            body.edited.connect(lambda ms, body=body: self._edited(body, ms))
        image = self.bodies["image"]
        self.pad, self.clear_button, self.input_box = image.pad, image.clear_button, image.input_box
        self.text_edit = self.bodies["text"].edit
        self.table = self.bodies["table"].table
        self.bars = ProbabilityBars(self)
        self.status = QLabel(self)
        self.status.setWordWrap(True)
        self.status.setTextFormat(Qt.TextFormat.RichText)
        self._predict_timer = QTimer(self)
        self._predict_timer.setSingleShot(True)
        self._predict_timer.timeout.connect(self.predict_now)

        head = QHBoxLayout()
        head.setContentsMargins(6, 2, 6, 0)
        head.addWidget(QLabel("Input:", self))
        head.addWidget(self.sample_radio)
        head.addWidget(self.sample_spin)
        head.addWidget(self.own_radio)
        head.addStretch(1)
        head.addWidget(self.export_buttons())
        body = QHBoxLayout()
        body.setContentsMargins(8, 4, 8, 8)
        body.setSpacing(14)
        body.addWidget(self.stack, 3)
        right = QVBoxLayout()
        right.addWidget(self.status)
        right.addWidget(self.bars, 1)
        body.addLayout(right, 2)
        self._body_layout = body
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
        self.probabilities = self.outputs = None
        self.bars.set_items([])
        self._show_status()

    def on_event(self, event) -> None:
        if isinstance(event, EpochEnd | Finished) and self.predictor is not None:
            self._changed()  # the model changed: predict again (once, at the next tick)

    def set_unavailable(self, note: str | None) -> None:
        """Say `note` instead of predicting (a model this view is not for); None: predict again."""
        self.unavailable = note
        self._show_status()

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

    def set_preprocessing(self, pre) -> None:
        """The data's Preprocessing (None: unknown): the kind of input, class names, tokens, feature names."""
        self.pre = pre
        if pre is not None and pre.class_names:
            self.class_names = list(pre.class_names)
        if pre is not None and pre.facts.get("task"):
            self.task = str(pre.facts["task"])
        self._update_controls()
        self._changed()

    def set_samples(self, preview) -> None:
        """A core.data.preview.Preview (or anything with `samples` and `labels`)."""
        self.preview = preview
        n = len(preview.samples) if preview is not None else 0
        self.sample_spin.blockSignals(True)
        self.sample_spin.setRange(0, max(0, n - 1))
        self.sample_spin.blockSignals(False)
        if preview is not None and getattr(preview, "task", ""):
            self.task = preview.task
        if preview is not None and getattr(preview, "class_counts", None) and not self.class_names:
            self.class_names = list(preview.class_counts)
        self._update_controls()
        self._load_sample()
        if n:
            self.sample_radio.setChecked(True)
        self.predict_now()

    # --- inputs -------------------------------------------------------------------------------------

    @property
    def preprocessing(self):
        return getattr(self.predictor, "preprocessing", None) or self.pre

    @property
    def kind(self) -> str:
        """What one sample is: image, text, vector, sequence, signal or series."""
        for source in (self.predictor, self.pre, self.preview):
            kind = getattr(source, "kind", None)
            if kind:
                return str(kind)
        return "image"

    @property
    def body(self):
        return self.bodies[BODY_OF_KIND.get(self.kind, "image")]

    @property
    def input_shape(self):
        shape = getattr(self.predictor, "input_shape", None)
        pre = self.preprocessing
        if shape is None and pre is not None:
            shape = pre.input_shape
        if shape is None and self.preview is not None and getattr(self.preview, "sample_shapes", None):
            shape = self.preview.sample_shapes[0]
        return tuple(shape) if shape is not None else None

    def _task(self) -> str:
        return getattr(self.predictor, "task", None) or self.task

    def has_samples(self) -> bool:
        return self.preview is not None and len(self.preview.samples) > 0

    def pad_available(self) -> bool:
        return self.body is self.bodies["image"] and self.bodies["image"].can_draw() and \
            self._task() == "classification"

    def _update_controls(self) -> None:
        body = self.body
        image = self.bodies["image"]
        self.stack.setCurrentWidget(body)
        self._body_layout.setStretch(0, 1 if body is image else 3)  # the pad and picture need little room
        body.set_context(self.input_shape, self.preprocessing)
        image.set_drawing(self.pad_available())
        own = body.OWN if body is not image or self.pad_available() else ""
        self._own_possible = bool(own)
        self.own_radio.setText(own or "Drawing")
        self.own_radio.setVisible(self._own_possible)
        has = self.has_samples()
        self.sample_radio.setEnabled(has)
        self.sample_spin.setEnabled(has)
        if not self._own_possible and self.own_radio.isChecked():
            self.sample_radio.setChecked(True)
        elif self._own_possible and not has and body is not image:
            self.own_radio.setChecked(True)  # no samples: the user's own input is the input

    def _sample_index(self) -> int | None:
        if not self.has_samples():
            return None
        return min(self.sample_spin.value(), len(self.preview.samples) - 1)

    def _load_sample(self) -> None:
        """Hand the picked sample to the body (a text sample's words fill the message box)."""
        i = self._sample_index()
        if i is None:
            self.body.show_sample(None, None)
            return
        texts = getattr(self.preview, "texts", None)
        self.body.show_sample(self.preview.samples[i], texts[i] if texts and i < len(texts) else None)

    def _sample_picked(self) -> None:
        self._load_sample()
        if not self.sample_radio.isChecked():
            self.sample_radio.setChecked(True)  # predicts (_source_toggled)
        else:
            self.predict_now()

    def _source_toggled(self, button, checked: bool) -> None:
        if not checked:
            return
        if button is self.sample_radio:
            self._load_sample()  # back to the sample: a typed text or edited row gives way to it
        self.predict_now()

    def _edited(self, body, ms: int) -> None:
        """The user changed the input: it becomes the input, predicted after `ms` (typing: once keys pause)."""
        if body is not self.body:
            return
        if self._own_possible and not self.own_radio.isChecked():
            self._source.blockSignals(True)
            self.own_radio.setChecked(True)
            self._source.blockSignals(False)
        if ms <= 0:
            self.predict_now()
        elif body.DEBOUNCE or not self._predict_timer.isActive():
            self._predict_timer.start(ms)

    def _own(self) -> bool:
        return self._own_possible and (self.own_radio.isChecked() or not self.has_samples())

    # --- predicting ---------------------------------------------------------------------------------

    def _redraw(self) -> None:
        self.predict_now()

    def predict_now(self) -> None:
        self._predict_timer.stop()
        body = self.body
        body.set_context(self.input_shape, self.preprocessing)
        own = self._own()
        self.error = None
        self.probabilities = self.outputs = None
        self._input_error = False
        try:
            query = body.query(own)
        except InputError as err:
            query, self.error, self._input_error = None, str(err), True
        true = None
        i = self._sample_index()
        if query is not None and not own and i is not None and i < len(self.preview.labels):
            true = self.preview.labels[i]
        self.last_input = None if query is None else query.inputs
        if query is None or self.predictor is None:
            self._no_result(None if query is None else "input")
            return
        try:
            if query.normalized:
                out = self.predictor.predict(query.inputs, normalized=True)
            else:
                out = self.predictor.predict(query.inputs)
        except Exception as err:  # the view stays usable; the message says what went wrong
            self.error = str(err) or type(err).__name__
            self._no_result("input")
            return
        out = np.asarray(out, np.float64)
        if self._task() == "classification":
            self._show_classes(out.reshape(1, -1)[0], None if true is None else str(true))
        else:
            self.outputs = out.reshape(1, -1)[0]
            self.bars.set_items([])
            body.show_result(self.outputs, self._task(), true)
            self._show_status(("values", self.outputs), true)

    def _no_result(self, have: str | None) -> None:
        self.bars.set_items([])
        self.body.show_result(None, self._task())
        self._show_status(None, None, have)

    def _show_classes(self, probs: np.ndarray, true: str | None) -> None:
        self.probabilities = probs
        names = self.class_names or [str(i) for i in range(len(probs))]
        order = np.argsort(-probs)[:min(TOP_K, len(probs))]
        items = [(names[j] if j < len(names) else str(j), float(probs[j])) for j in order]
        self.bars.set_items(items, true)
        self.body.show_result(probs, "classification")
        self._show_status(items[0] if items else None, true)

    def _show_status(self, top=None, true=None, have: str | None = None) -> None:
        if self.unavailable:
            self.status.setText(f"<span style='color:gray'>{html.escape(self.unavailable)}</span>")
        elif self.error:
            what = "Check the input" if self._input_error else "The prediction failed"
            self.status.setText(f"<span style='color:#e5484d'>{what}: {html.escape(self.error)}</span>")
        elif self.predictor is None:
            what = "this input" if have else "a sample or your own input"
            self.status.setText(f"<span style='color:gray'>Train the network first (or open a trained model) to "
                                f"see what it predicts for {what}.</span>")
        elif top is None:
            key = BODY_OF_KIND.get(self.kind, "image")
            hint = "Draw a digit on the pad" if self.own_radio.isChecked() and key == "image" else HINTS[key]
            if key == "plot" and not self.has_samples():
                hint = "Load the data (Data panel → Load & preview) to choose a sample"
            self.status.setText(f"<span style='color:gray'>{hint} to see the prediction.</span>")
        elif top[0] == "values":
            self.status.setText(self._values_text(top[1], true))
        else:
            verdict = ""
            if true is not None:
                ok = top[0] == true
                color = series_color("ok" if ok else "exploding").name()
                verdict = (f" &nbsp; <span style='color:{color}'>{'right' if ok else 'wrong'}</span>"
                           f" (label {html.escape(true)})")
            self.status.setText(f"The network says <b>{html.escape(top[0])}</b> "
                                f"({top[1] * 100:.1f} %){verdict}")

    def _values_text(self, values: np.ndarray, true) -> str:
        shown = ", ".join(fmt(v, 4) for v in values[:8]) + (", …" if len(values) > 8 else "")
        what = "next value" if self.kind == "series" else "output"
        what += "s" if len(values) > 1 else ""
        label = ""
        if true is not None and not isinstance(true, str):
            t = np.asarray(true, np.float64).reshape(-1)
            label = " (label " + ", ".join(fmt(v, 4) for v in t[:8]) + ")"
        return f"The network says <b>{html.escape(shown)}</b> — its {what}, in the data's units{label}"

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
        """class, probability: every class, most likely first (classifiers); output, value otherwise."""
        if self.outputs is not None:
            write_csv(path, ["output", "value"], ([i, float(v)] for i, v in enumerate(self.outputs)))
            return
        probs = self.probabilities if self.probabilities is not None else np.zeros(0)
        names = self.class_names or [str(i) for i in range(len(probs))]
        order = np.argsort(-probs)
        write_csv(path, ["class", "probability"],
                  ([names[j] if j < len(names) else str(j), float(probs[j])] for j in order))
