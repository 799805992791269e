"""The confusion matrix at each epoch end (true class down, predicted class across, counts in the cells,
colour by the share of the true class) and a gallery of misclassified validation samples.

    view.set_validation_samples(images, labels, class_names, texts=None)   # for the gallery
    view.set_predictor(predictor)   # optional: the predicted class under each misclassified sample
    view.show_trained_history(records, class_names)   # an opened model's matrices, from its run's epochs

The gallery needs the validation samples' pictures (`images[i]` for validation index i: uint8 H×W or
H×W×C, or floats in [0, 1]) — EpochEnd only carries indices. EpochEnd carries no predicted classes; they
are shown when the event has a `misclassified_predicted` array, or computed with the optional predictor.
"""

from __future__ import annotations

import html

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSize, Qt, QTimer
from PySide6.QtGui import QColor, QIcon, QImage, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QSlider,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from layerloom.core.training.events import EpochEnd, RunStarted
from layerloom.gui.plots.common import PlotView, graphics_widget, plot_colors, ramp_lut, style_plot, write_csv
from layerloom.gui.quiet_text import QuietText

MAX_TEXT_CLASSES = 20  # counts are written in the cells up to this many classes
TEXTS_PER_FRAME = 10  # count labels made per redraw at most (the first matrix of a run comes in slices)
THUMB = 56


class ConfusionView(PlotView):
    EXPORT_NAME = "confusion"

    def __init__(self, parent=None):
        super().__init__(parent)
        self.class_names: list[str] | None = None
        self.matrices: list[tuple[int, np.ndarray]] = []  # (epoch, counts) per epoch end
        self.misclassified: list[np.ndarray | None] = []
        self.predicted: list[np.ndarray | None] = []
        self.images = None
        self.labels = None
        self.texts: list[str] | None = None  # text samples' words (shown in the gallery's tooltips)
        self.predictor = None
        self._asked = None  # (future, matrix index, its epoch) of the gallery's prediction under way
        self._answer_timer = QTimer(self)
        self._answer_timer.setInterval(50)
        self._answer_timer.timeout.connect(self._poll_answer)
        self.unavailable: str | None = None  # why this model gets no matrix here (a GAN), in plain words
        self.shown = -1  # index into matrices (-1: the latest)
        self._texts: list[pg.TextItem] = []
        self._text_pool: list[pg.TextItem] = []  # every count label made so far (shown: _texts)
        self._text_shows: list[tuple | None] = []  # per pooled label: what it shows (text, colour, size, bold, x, y)
        self._made = 0  # labels made by the redraw under way
        self._ticks: list | None = None  # the class names on both axes (set again only when they change)
        self._gallery_shows: tuple | None = None  # what the gallery lists (filled again only when it changes)
        self._thumbs: dict[int, QIcon | None] = {}  # validation sample → its gallery picture, made once

        self.title = QuietText(self)  # changes every epoch: repaints itself alone (gui/quiet_text.py)
        self.normalize_box = QCheckBox("row %", self)
        self.normalize_box.setToolTip("Write each row's share (recall) instead of counts")
        self.normalize_box.toggled.connect(lambda *_: self._changed())
        self.epoch_slider = QSlider(Qt.Orientation.Horizontal, self)
        self.epoch_slider.setFixedWidth(120)
        self.epoch_slider.setToolTip("Show an earlier epoch")
        self.epoch_slider.valueChanged.connect(self._pick_epoch)
        self.graphics = graphics_widget()
        self.plot = self.graphics.addPlot()
        self.plot.invertY(True)
        self.plot.setAspectLocked(True)
        self.plot.setMenuEnabled(False)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.plot.addItem(self.image)
        self.gallery = QListWidget(self)
        self.gallery.setViewMode(QListWidget.ViewMode.IconMode)
        self.gallery.setIconSize(QSize(THUMB, THUMB))
        self.gallery.setGridSize(QSize(THUMB + 26, THUMB + 34))
        self.gallery.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.gallery.setMovement(QListWidget.Movement.Static)
        self.gallery.setSelectionMode(QListWidget.SelectionMode.NoSelection)
        self.gallery_title = QLabel(self)
        self.gallery_title.setObjectName("sectionTitle")

        head = QHBoxLayout()
        head.setContentsMargins(6, 2, 6, 0)
        head.addWidget(self.title, 1)
        head.addWidget(QLabel("epoch", self))
        head.addWidget(self.epoch_slider)
        head.addWidget(self.normalize_box)
        head.addWidget(self.export_buttons())
        right = QWidget(self)
        rl = QVBoxLayout(right)
        rl.setContentsMargins(4, 0, 4, 4)
        rl.addWidget(self.gallery_title)
        rl.addWidget(self.gallery, 1)
        self.splitter = QSplitter(self)
        self.splitter.addWidget(self.graphics)
        self.splitter.addWidget(right)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.setSpacing(2)
        box.addLayout(head)
        box.addWidget(self.splitter, 1)
        self._restyle()
        self.reset(None)

    # --- the contract ------------------------------------------------------------------------------

    def reset(self, run: RunStarted | None = None) -> None:
        if run is not None and run.class_names:
            self.class_names = list(run.class_names)
        self.matrices, self.misclassified, self.predicted = [], [], []
        self._asked = None
        self.shown = -1
        self._sync_slider()
        self._changed()

    def on_event(self, event) -> None:
        if isinstance(event, EpochEnd) and event.confusion is not None:
            self.matrices.append((event.epoch, np.asarray(event.confusion, np.int64)))
            wrong = None if event.misclassified is None else np.asarray(event.misclassified, np.int64)
            self.misclassified.append(wrong)
            pred = getattr(event, "misclassified_predicted", None)
            self.predicted.append(None if pred is None else np.asarray(pred, np.int64))
            follow = self.shown == -1
            self._sync_slider()
            if follow:
                self.shown = -1
            self._changed()

    def set_validation_samples(self, images, labels=None, class_names=None, texts=None) -> None:
        self._gallery_shows = None
        self._thumbs = {}
        self.images = images
        self.labels = labels
        self.texts = list(texts) if texts else None
        if class_names:
            self.class_names = list(class_names)
        self._changed()

    def show_trained_history(self, records, class_names=None) -> None:
        """The confusion matrices a trained model's run recorded per epoch (epochs.jsonl records with a
        `confusion`); the gallery stays empty (the run did not record which samples were wrong)."""
        if class_names:
            self.class_names = list(class_names)
        self.matrices, self.misclassified, self.predicted = [], [], []
        for i, record in enumerate(records or []):
            m = record.get("confusion") if isinstance(record, dict) else None
            if m:
                self.matrices.append((int(record.get("epoch", i)), np.asarray(m, np.int64)))
                self.misclassified.append(None)
                self.predicted.append(None)
        self.shown = -1
        self._sync_slider()
        self._changed()

    def set_unavailable(self, note: str | None) -> None:
        """Say `note` instead of the matrix (a model this view is not for); None: the usual text."""
        self.unavailable = note
        self._changed()

    def set_predictor(self, predictor) -> None:
        self.predictor = predictor
        self._changed()

    @property
    def counts(self) -> np.ndarray | None:
        """The matrix on show."""
        return self.matrices[self.shown][1] if self.matrices else None

    # --- drawing ------------------------------------------------------------------------------------

    def _sync_slider(self) -> None:
        self.epoch_slider.blockSignals(True)
        self.epoch_slider.setRange(0, max(0, len(self.matrices) - 1))
        self.epoch_slider.setValue(len(self.matrices) - 1 if self.shown == -1 else self.shown)
        self.epoch_slider.setEnabled(len(self.matrices) > 1)
        self.epoch_slider.blockSignals(False)

    def _pick_epoch(self, value: int) -> None:
        self.shown = -1 if value >= len(self.matrices) - 1 else value
        self._changed()

    def _restyle(self) -> None:
        c = plot_colors()
        self.graphics.setBackground(c["background"])
        style_plot(self.plot, left="true class", bottom="predicted class", grid=False)
        start = QColor(c["background"])
        self._lut = ramp_lut(start, c["highlight"])
        self._text_shows = [None] * len(self._text_pool)  # the colours change with the theme

    def _names(self, n: int) -> list[str]:
        names = list(self.class_names or [])
        return [names[i] if i < len(names) else str(i) for i in range(n)]

    def _cell_text(self, k: int):
        """The k-th count label, made and added once, then reused (creating ~100 TextItems per epoch cost the
        GUI thread ~60 ms); None when this redraw has made its share of new ones (the rest come next frame)."""
        if len(self._text_pool) <= k and self._made >= TEXTS_PER_FRAME:
            return None
        while len(self._text_pool) <= k:
            self._made += 1
            item = pg.TextItem("", anchor=(0.5, 0.5))
            self.plot.addItem(item)
            self._text_pool.append(item)
            self._text_shows.append(None)
        return self._text_pool[k]

    def _put_text(self, k: int, text: str, color: QColor, size: int, bold: bool, x: int, y: int) -> None:
        """Show pooled label k: only what differs from what it shows is set (each setter re-lays out the item)."""
        item, old = self._text_pool[k], self._text_shows[k]
        new = (text, color.rgba(), size, bold, x, y)
        if old != new:
            if old is None or old[1] != new[1]:
                item.setColor(color)
            if old is None or old[2:4] != new[2:4]:
                f = item.textItem.font()
                if f.pointSize() != size or f.bold() != bold:
                    f.setPointSize(size)
                    f.setBold(bold)
                    item.setFont(f)
            if old is None or old[0] != text:
                item.setText(text)
            if old is None or old[4:] != new[4:]:
                item.setPos(x, y)
            self._text_shows[k] = new
        if not item.isVisible():
            item.setVisible(True)

    def _hide_texts_from(self, k: int) -> None:
        for item in self._text_pool[k:]:
            if item.isVisible():
                item.setVisible(False)
        self._texts = self._text_pool[:k]

    def _set_ticks(self, ticks: list) -> None:
        if ticks != self._ticks:  # new ticks redraw the axis (~1 ms each)
            self.plot.getAxis("left").setTicks(ticks)
            self.plot.getAxis("bottom").setTicks(ticks)
            self._ticks = ticks

    def _redraw(self) -> None:
        """The matrix on show, its count labels and the gallery; a label or the gallery is changed only where
        it differs from what it shows (the matrix is redrawn at every epoch end, and again when the gallery's
        predictions come)."""
        self._made = 0
        m = self.counts
        if m is None:
            self._hide_texts_from(0)
            self._gallery_shows = None
            self.image.clear()
            note = self.unavailable or "The confusion matrix appears at the end of the first epoch (classifiers " \
                "with validation data)."
            self.title.setText(f"<span style='color:gray'>{note}</span>")
            self.gallery.clear()
            self.gallery_title.setText("")
            return
        epoch = self.matrices[self.shown][0]
        n = m.shape[0]
        rows = m.sum(1, keepdims=True).astype(np.float64)
        share = np.divide(m, rows, out=np.zeros(m.shape), where=rows > 0)
        self.image.setLookupTable(self._lut)
        self.image.setImage(np.sqrt(share), autoLevels=False, levels=(0.0, 1.0))  # sqrt: small errors show
        self.image.setRect(-0.5, -0.5, n, n)
        names = self._names(n)
        self._set_ticks([[(i, _clip(names[i])) for i in range(n)]])
        total, correct = int(m.sum()), int(np.trace(m))
        used = 0
        if n <= MAX_TEXT_CLASSES:
            fg = plot_colors()["foreground"]
            size = 9 if n <= 10 else 7
            percent = self.normalize_box.isChecked()
            for i, j in ((i, j) for i in range(n) for j in range(n) if percent or m[i, j]):
                if self._cell_text(used) is None:  # drawing in slices: the other labels at the next redraw
                    self._changed()
                    break
                text = f"{share[i, j] * 100:.0f}" if percent else str(int(m[i, j]))
                color = QColor("#ffffff") if share[i, j] > 0.45 else fg
                self._put_text(used, text, color, size, i == j, j, i)
                used += 1
        self._hide_texts_from(used)
        self.plot.setRange(xRange=(-0.5, n - 0.5), yRange=(-0.5, n - 0.5), padding=0.02)
        acc = correct / total * 100 if total else 0.0
        self.title.setText(f"<b>Epoch {epoch + 1}</b> · {acc:.1f} % right ({correct:,} of {total:,} validation "
                           f"samples)")
        self._gallery()

    def _gallery(self) -> None:
        wrong = self.misclassified[self.shown] if self.misclassified else None
        if wrong is None or not len(wrong):
            self._gallery_shows = None
            self.gallery.clear()
            self.gallery_title.setText("No misclassified samples" if wrong is not None else "")
            return
        pred = self.predicted[self.shown] if self.predicted else None
        if pred is None and self.predictor is not None and self.images is not None:
            pred = self._predict(wrong, self.shown % len(self.predicted))
        names = self._names(self.counts.shape[0])
        shows = (wrong.tobytes(), None if pred is None else np.asarray(pred).tobytes(), tuple(names))
        if shows == self._gallery_shows:  # the same samples, labels and predictions: nothing to fill again
            return
        self._gallery_shows = shows
        self.gallery.clear()
        self.gallery_title.setText(f"Misclassified ({len(wrong)} shown)")
        for k, idx in enumerate(wrong.tolist()):
            true = self._label(idx, names)
            text = f"#{idx}\ntrue {true}"
            if pred is not None and k < len(pred):
                p = int(pred[k])
                text = f"{true} → {names[p] if 0 <= p < len(names) else p}"
                text = f"#{idx}\n{text}"
            item = QListWidgetItem(text)
            item.setTextAlignment(Qt.AlignmentFlag.AlignHCenter)
            icon = self._thumb(idx)
            if icon is not None:
                item.setIcon(icon)
            words = self.texts[idx] if self.texts is not None and idx < len(self.texts) else ""
            item.setToolTip(f"validation sample {idx}: true {html.escape(true)}"
                            + (f"<br>{html.escape(words[:300])}" if words else ""))
            self.gallery.addItem(item)

    def _label(self, idx: int, names: list[str]) -> str:
        if self.labels is None or idx >= len(self.labels):
            return "?"
        lab = self.labels[idx]
        if isinstance(lab, int | np.integer) and 0 <= int(lab) < len(names):
            return names[int(lab)]
        return str(lab)

    def _image(self, idx: int) -> np.ndarray | None:
        if self.images is None or idx >= len(self.images):
            return None
        a = np.asarray(self.images[idx])
        if a.dtype != np.uint8:
            a = np.clip(np.round(a.astype(np.float32) * 255), 0, 255).astype(np.uint8)
        if a.ndim == 3 and a.shape[0] in (1, 3) and a.shape[-1] not in (1, 3):
            a = a.transpose(1, 2, 0)
        if a.ndim == 3 and a.shape[-1] == 1:
            a = a[..., 0]
        return a if a.ndim in (2, 3) else None

    def _thumb(self, idx: int) -> QIcon | None:
        if idx not in self._thumbs:
            self._thumbs[idx] = self._make_thumb(idx)
        return self._thumbs[idx]

    def _make_thumb(self, idx: int) -> QIcon | None:
        a = self._image(idx)
        if a is None:
            return None
        a = np.ascontiguousarray(a)
        h, w = a.shape[:2]
        fmt = QImage.Format.Format_Grayscale8 if a.ndim == 2 else QImage.Format.Format_RGB888
        img = QImage(a.data, w, h, a.strides[0], fmt).copy()
        pix = QPixmap.fromImage(img).scaled(THUMB, THUMB, Qt.AspectRatioMode.KeepAspectRatio,
                                            Qt.TransformationMode.FastTransformation)
        return QIcon(pix)

    def _predict(self, wrong: np.ndarray, index: int) -> np.ndarray | None:
        """The predicted classes of the misclassified samples of matrix `index`, asked for without waiting: during a
        run the trainer answers between two steps, and a timer puts the answer in (`predicted[index]`) and redraws;
        until then (and when the model cannot say) the gallery shows the true labels only."""
        from layerloom.gui.plots.drawing import to_model_input

        if self._asked is not None:
            return None  # one question at a time; the next redraw asks again
        shape = getattr(self.predictor, "input_shape", None)
        if shape is None:
            return None
        xs = []
        for idx in wrong.tolist():
            a = self._image(idx)
            x = None if a is None else to_model_input(a.astype(np.float32) / 255.0, shape)
            if x is None:
                return None
            xs.append(x)
        later = getattr(self.predictor, "predict_later", None)  # a plain predictor (a demo's) answers at once
        try:
            if later is None:
                return np.asarray(self.predictor.predict(np.stack(xs))).argmax(1)
            future = later(np.stack(xs))
        except Exception:  # the gallery still shows the true labels
            return None
        if future.done():
            return self._answer(future)
        self._asked = (future, index, self.matrices[index][0])
        self._answer_timer.start()
        return None

    @staticmethod
    def _answer(future) -> np.ndarray | None:
        try:
            return np.asarray(future.result()).argmax(1)
        except Exception:
            return None

    def _poll_answer(self) -> None:
        if self._asked is None:
            self._answer_timer.stop()
            return
        future, index, epoch = self._asked
        if not future.done():
            return
        self._asked = None
        self._answer_timer.stop()
        pred = self._answer(future)
        if pred is not None and index < len(self.matrices) and self.matrices[index][0] == epoch:
            self.predicted[index] = pred
            self._changed()

    # --- export -------------------------------------------------------------------------------------

    def export_csv(self, path: str) -> None:
        """The matrix on show: one row per true class, one column per predicted class (counts)."""
        m = self.counts
        if m is None:
            write_csv(path, ["true \\ predicted"], [])
            return
        names = self._names(m.shape[0])
        write_csv(path, ["true \\ predicted", *names], ([names[i], *map(int, m[i])] for i in range(m.shape[0])))


def _clip(name: str, n: int = 12) -> str:
    return name if len(name) <= n else name[:n - 1] + "…"
