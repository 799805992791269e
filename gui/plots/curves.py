"""Learning curves: the training loss of every step (raw, faint) and smoothed (EMA), the validation loss of
every epoch; accuracy (validation, training per epoch, and the training accuracy sampled during the epoch)
or the regression metric; the learning rate. All three plots share the step axis; hovering shows the
values under the mouse; steps taken one at a time while paused (Stepped events) are marked on the loss
curve ("stepped"); the mouse wheel zooms, dragging pans, right-click has pyqtgraph's menu.

    view = CurvesView(); view.reset(run_started); view.on_event(steps_event) …
    view.export_csv(path)   # one row per step: step, epoch, loss, loss_smoothed, lr, then the epoch columns
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QGraphicsItem, QHBoxLayout, QLabel, QSlider, QVBoxLayout

from layerloom.core.training.events import EpochEnd, Failed, Finished, RunStarted, Stepped, Steps
from layerloom.gui.plots.common import (
    EMA,
    GrowingArray,
    PlotView,
    fast_curve,
    fit_legend,
    graphics_widget,
    legend_above,
    plot_colors,
    series_color,
    style_legend,
    style_plot,
)
from layerloom.gui.plots.curve_axes import RunAxes
from layerloom.gui.plots.curve_history import EpochTable, compact_steps
from layerloom.gui.plots.curve_readout import LOSS_TERMS, METRIC_TITLES, PERCENT, curves_csv, readout_html
from layerloom.gui.plots.decimate import envelope, visible_slice
from layerloom.gui.plots.follow_range import step_span, value_span
from layerloom.gui.quiet_text import QuietText

AXIS_WIDTH = 64  # the left axes of the three plots, so their data lines up
SYMBOL_MAX = 120  # epoch curves show a marker per epoch up to this many points on show, plain lines past it


class CurvesView(PlotView):
    EXPORT_NAME = "curves"
    MIN_INTERVAL_MS = 100  # 10 redraws a second at most: a frame of three plots costs ~10 ms of the GUI thread

    def __init__(self, parent=None, smoothing: float = 0.9):
        super().__init__(parent)
        self.run: RunStarted | None = None
        self._ema = EMA(smoothing)
        self.step = GrowingArray(np.float64)
        self.epoch_of_step = GrowingArray(np.int32)
        self.loss = GrowingArray(np.float64)
        self.smoothed = GrowingArray(np.float64)
        self.lr = GrowingArray(np.float64)
        self.acc_step = GrowingArray(np.float64)  # sampled training accuracy (Steps.accuracy), at its step
        self.acc_value = GrowingArray(np.float64)
        self.epochs: list[dict] = []  # one record per EpochEnd: epoch, step, train_loss, val_loss, metrics…
        self.epoch_table = EpochTable()  # the same as columns, for drawing
        self._symbols_on: dict[int, bool] = {}  # id(curve) → whether its markers are on
        self._sliced = False  # the step curves show only the steps in view (zoomed)
        self.stepped = GrowingArray(np.float64)  # steps trained while paused: each batch of a batch step, an epoch
        self._hover_index: int | None = None
        self._ended = False  # the run finished or failed: the step axis ends at the last step
        self._drawn: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # id(item) → the data it was last given

        # room for two lines from the start, more only when a text needs it: a readout that grows or shrinks by a
        # line re-lays out the three plots (~15 ms for their six axes); its updates repaint it alone
        self.readout = QuietText(self, lines=2)
        self.log_box = QCheckBox("log", self)
        self.log_box.setToolTip("Loss on a logarithmic scale")
        self.log_box.toggled.connect(self._set_log)
        self.smooth_slider = QSlider(Qt.Orientation.Horizontal, self)
        self.smooth_slider.setRange(0, 99)
        self.smooth_slider.setValue(round(smoothing * 100))
        self.smooth_slider.setFixedWidth(90)
        self.smooth_slider.setToolTip("Smoothing of the training loss (exponential moving average)")
        self.smooth_slider.valueChanged.connect(lambda v: self.set_smoothing(v / 100.0))
        self.smooth_label = QLabel(self)
        self.smooth_label.setObjectName("subtle")

        self.graphics = graphics_widget()
        # rows: the loss legend, the loss plot, the metric legend, the metric plot, the lr plot; each legend
        # sits above its plot, not over the curves
        self.loss_plot = self.graphics.addPlot(row=1, col=0)
        self.metric_plot = self.graphics.addPlot(row=3, col=0)
        self.lr_plot = self.graphics.addPlot(row=4, col=0)
        lay = self.graphics.ci.layout
        lay.setRowStretchFactor(1, 5)
        lay.setRowStretchFactor(3, 3)
        lay.setRowStretchFactor(4, 2)
        for p in (self.metric_plot, self.lr_plot):
            p.setXLink(self.loss_plot)
        for p in (self.loss_plot, self.metric_plot, self.lr_plot):
            p.getAxis("left").setWidth(AXIS_WIDTH)
            p.setClipToView(True)
            # no pyqtgraph downsampling: every curve here is decimated to ~2 points a pixel (decimate.envelope),
            # and pyqtgraph's own would empty a sparse series (the stepped marks) on a step axis that spans the
            # whole stretch ahead while only its start is trained
            p.setDownsampling(ds=1, auto=False)
            for side in ("left", "bottom"):  # an axis (and its grid) is painted again only when it changed
                p.getAxis(side).setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)

        self._legends = [legend_above(self.graphics, self.loss_plot, row=0, indent=AXIS_WIDTH),
                         legend_above(self.graphics, self.metric_plot, row=2, indent=AXIS_WIDTH)]
        self.raw_curve = fast_curve(self.loss_plot.plot(name="loss (each step)"))
        # Step curves are drawn without antialiasing: a wide antialiased pen over thousands of (peak-
        # downsampled, zigzag) points costs Qt's raster engine 20-500 ms a frame; epoch curves keep it.
        self.smooth_curve = fast_curve(self.loss_plot.plot(name="loss (smoothed)"))
        self.val_curve = self.loss_plot.plot(name="validation loss", antialias=True)
        self.train_epoch_curve = self.loss_plot.plot(name="training loss (epoch mean)", antialias=True)
        self.stepped_marks = pg.PlotDataItem(pen=None, symbol="t1")  # in the legend once a step is marked
        self.stepped_marks.setZValue(20)
        self.loss_plot.addItem(self.stepped_marks)
        self.metric_curves: dict[str, pg.PlotDataItem] = {}  # also LOSS_TERMS' curves (on the loss plot)
        self.acc_sample_curve = fast_curve(self.metric_plot.plot())
        self.lr_curve = fast_curve(self.lr_plot.plot(name="learning rate"))
        for curve in (self.raw_curve, self.smooth_curve, self.acc_sample_curve, self.lr_curve):
            curve.setDownsampling(ds=1, auto=False)
        self._styled_for: bool | None = None  # the _regression() the titles were drawn for
        self._cursors = []
        for p in (self.loss_plot, self.metric_plot, self.lr_plot):
            line = pg.InfiniteLine(angle=90, movable=False)
            line.setVisible(False)
            line.setZValue(50)
            p.addItem(line, ignoreBounds=True)
            self._cursors.append(line)
        # the axes follow the run until the user zooms or pans one (curve_axes.py)
        self.axes = RunAxes(self.loss_plot, (self.loss_plot, self.metric_plot, self.lr_plot), self._range_moved)
        self._mouse = pg.SignalProxy(self.graphics.scene().sigMouseMoved, rateLimit=60, slot=self._hover)

        head = QHBoxLayout()
        head.setContentsMargins(6, 2, 6, 0)
        head.addWidget(self.readout, 1)
        head.addWidget(QLabel("smoothing", self))
        head.addWidget(self.smooth_slider)
        head.addWidget(self.smooth_label)
        head.addWidget(self.log_box)
        head.addWidget(self.export_buttons())
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.setSpacing(2)
        box.addLayout(head)
        box.addWidget(self.graphics, 1)
        self._restyle()
        self.reset(None)

    # --- the contract ------------------------------------------------------------------------------

    def reset(self, run: RunStarted | None = None) -> None:
        self.run = run
        for arr in (self.step, self.epoch_of_step, self.loss, self.smoothed, self.lr, self.acc_step, self.acc_value,
                    self.stepped):
            arr.clear()
        self._legends[0].removeItem(self.stepped_marks)
        self._ema.reset()
        self.epochs = []
        self.epoch_table.clear()
        self._hover_index = None
        # The curves this run's task will have stay (emptied) and are made now, not at its first epoch: a legend
        # entry added or removed re-lays out all three plots (~40 ms of the GUI thread for the next paint)
        expected = _expected_metrics(run)
        for name, curve in list(self.metric_curves.items()):
            if name in expected:
                curve.setData([], [])
                continue
            (self.loss_plot if name in LOSS_TERMS else self.metric_plot).removeItem(curve)
            del self.metric_curves[name]
        for name in expected:
            self._metric_curve(name)
        if self._styled_for != self._title_key():  # restyling costs ~10 ms: only when the labels change
            self._titles()
        self._drawn.clear()
        self._ended = False
        self.axes.reset()
        self._changed()

    def on_event(self, event) -> None:
        if isinstance(event, Steps):
            if not len(event.step):
                return
            self.step.append(event.step)
            self.epoch_of_step.append(np.full(len(event.step), event.epoch, np.int32))
            self.loss.append(event.loss)
            self.smoothed.append(self._ema.update(event.loss))
            self.lr.append(event.lr)
            if event.accuracy is not None:
                self.acc_step.append([float(event.step[-1])])
                self.acc_value.append([float(event.accuracy)])
                compact_steps([self.acc_step, self.acc_value], self.acc_value)
            if compact_steps([self.step, self.epoch_of_step, self.loss, self.smoothed, self.lr], self.loss):
                self._hover_index = None
            self._changed()
        elif isinstance(event, EpochEnd):
            rec = {"epoch": event.epoch, "step": event.step, "train_loss": event.train_loss,
                   "val_loss": event.val_loss, "lr": event.lr}
            rec.update({k: float(v) for k, v in (event.metrics or {}).items() if v is not None})
            self.epochs.append(rec)
            self.epoch_table.add(rec)
            self._changed()
        elif isinstance(event, Finished | Failed):
            self._ended = True  # the step axis ends where the run did
            self._changed()
        elif isinstance(event, Stepped) and event.step_to > event.step_from:
            # a batch step: each of its batches; an epoch step: its last batch
            first = event.step_from + 1 if event.unit == "batch" else event.step_to
            if not len(self.stepped):
                self._legends[0].addItem(self.stepped_marks, "stepped")
                self._fit_legends()
            self.stepped.append(np.arange(first, event.step_to + 1, dtype=np.float64))
            self._changed()

    def set_smoothing(self, weight: float) -> None:
        """The EMA weight (0: none, 0.99: very smooth); recomputes the smoothed curve."""
        weight = min(max(float(weight), 0.0), 0.999)
        self._ema = EMA(weight)
        self.smoothed.clear()
        if len(self.loss):
            self.smoothed.append(self._ema.update(self.loss.values))
        if self.smooth_slider.value() != round(weight * 100):
            self.smooth_slider.blockSignals(True)
            self.smooth_slider.setValue(round(weight * 100))
            self.smooth_slider.blockSignals(False)
        self.smooth_label.setText(f"{weight:.2f}")
        self._changed()

    @property
    def smoothing(self) -> float:
        return self._ema.weight

    # --- drawing ------------------------------------------------------------------------------------

    def _regression(self) -> bool:
        return self.run is not None and self.run.task != "classification"

    def _title_key(self) -> tuple[bool, bool]:
        """What the axis titles depend on: a regression's errors (not accuracy), a VAE's KL term."""
        return self._regression(), bool(self.epochs) and "val_kl" in self.epochs[-1]

    def _titles(self) -> None:
        c = plot_colors()
        self._styled_for = self._title_key()
        regression = self._regression()
        style_plot(self.loss_plot, left="loss")
        kl = self._title_key()[1]
        style_plot(self.metric_plot, left="KL term" if kl else "error" if regression else "accuracy (%)")
        style_plot(self.lr_plot, left="lr", bottom="optimizer step")
        for p in (self.loss_plot, self.metric_plot, self.lr_plot):
            p.showGrid(x=False, y=True, alpha=0.16)  # an alpha-blended grid is a third of the paint time
        for p in (self.loss_plot, self.metric_plot):  # the shared step axis is numbered once, under the lr plot
            p.getAxis("bottom").setStyle(showValues=False)
        self.smooth_label.setText(f"{self.smoothing:.2f}")
        for line in self._cursors:
            line.setPen(pg.mkPen(c["subtle"], width=1, style=Qt.PenStyle.DashLine))
        for legend in self._legends:
            style_legend(legend)

    def _restyle(self) -> None:
        self.graphics.setBackground(plot_colors()["background"])
        self.raw_curve.setPen(pg.mkPen(series_color("loss", 70), width=1))
        self.smooth_curve.setPen(pg.mkPen(series_color("loss"), width=2))
        self.val_curve.setPen(pg.mkPen(series_color("val"), width=2))
        self.val_curve.setSymbol("o")
        self.val_curve.setSymbolSize(7)
        self.val_curve.setSymbolBrush(series_color("val"))
        self.val_curve.setSymbolPen(pg.mkPen(plot_colors()["background"], width=1))
        self.train_epoch_curve.setPen(pg.mkPen(series_color("loss"), width=1.5, style=Qt.PenStyle.DashLine))
        self.train_epoch_curve.setSymbol("s")
        self.train_epoch_curve.setSymbolSize(5)
        self.train_epoch_curve.setSymbolBrush(series_color("loss"))
        self.train_epoch_curve.setSymbolPen(None)
        self.acc_sample_curve.setPen(None)
        self.acc_sample_curve.setSymbol("o")
        self.acc_sample_curve.setSymbolSize(3)
        self.acc_sample_curve.setSymbolPen(None)
        self.acc_sample_curve.setSymbolBrush(series_color("train_accuracy", 110))
        self._symbols_on = {}  # the markers were set above: _markers sets them again for long runs
        self.stepped_marks.setSymbolSize(10)
        self.stepped_marks.setSymbolBrush(series_color("lr"))
        self.stepped_marks.setSymbolPen(pg.mkPen(plot_colors()["background"], width=1))
        self.lr_curve.setPen(pg.mkPen(series_color("lr"), width=2))
        for name, curve in self.metric_curves.items():
            self._style_metric(name, curve)
        self._titles()

    def _style_metric(self, name: str, curve: pg.PlotDataItem) -> None:
        color = series_color("train_accuracy" if name.startswith("train") else
                             "accuracy" if name in ("val_accuracy", "val_kl") else "val")
        style = Qt.PenStyle.DashLine if name.startswith("train") or name in LOSS_TERMS else Qt.PenStyle.SolidLine
        curve.setPen(pg.mkPen(color, width=2, style=style))
        curve.setSymbol("o")
        curve.setSymbolSize(6)
        curve.setSymbolBrush(color)
        curve.setSymbolPen(pg.mkPen(plot_colors()["background"], width=1))

    def _metric_names(self) -> list[str]:
        names = [k for k in self.epoch_table.names() if k in METRIC_TITLES or k in LOSS_TERMS]
        return [k for k in names if k != "val_r2"]  # R²: readout only

    def _buckets(self) -> int:
        """Display buckets along x: one per pixel of the loss plot (two points each at most)."""
        return max(100, int(self.loss_plot.vb.width()))

    def _window(self) -> tuple[int, int]:
        """The steps to draw: all while x follows the run, else those in view (the user zoomed or panned)."""
        n = len(self.step)
        if self._follows_x() or not n:
            return 0, n
        x0, x1 = self.loss_plot.vb.viewRange()[0]
        return visible_slice(self.step.values, x0, x1)

    def _follows_x(self) -> bool:
        return self.axes.follows_x()

    def _range_moved(self, vb: pg.ViewBox) -> None:
        """An axis moved by the user: the step curves show what is in view; back to following ("A"): all of them."""
        if not self._follows_x() or self._sliced or any(vb.state["autoRange"]):
            self._changed()

    def _follow(self, lo: int, hi: int) -> None:
        """The spans the axes follow (follow_range.py): the step axis to a round number past the last step, never
        past the run's planned end (to the last step once the run ended); the loss from 0 to a round number
        (decades on a log scale); accuracy 0–100 %; errors and the KL term from 0; the learning rate from 0 (a
        constant one mid-axis)."""
        x_span, run = None, self.run
        total = run.start_step + (run.epochs - run.start_epoch) * run.steps_per_epoch if run is not None else None
        if len(self.step):
            first, last = float(self.step.values[0]), float(self.step.values[-1])
            if run is not None and not self._ended:
                x_span = step_span(total, first, last)
            else:
                x_span = (0.0 if first <= 1 else first, max(last, first + 1.0))
        elif run is not None:  # waiting for the first steps: the first epoch's stretch, not pyqtgraph's 0…1
            x_span = step_span(total, float(run.start_step + 1), float(run.start_step + run.steps_per_epoch))
        names = self._metric_names()
        percent = [n for n in names if n in PERCENT]
        kl_or_error = [self.epoch_table.column(n) for n in names if n not in PERCENT and n not in LOSS_TERMS]
        table = self.epoch_table
        loss_series = [self.loss.values[lo:hi], self.smoothed.values[lo:hi], table.column("val_loss"),
                       table.column("train_loss")] + [table.column(n) for n in names if n in LOSS_TERMS]
        metric_span = (value_span(kl_or_error) if self._regression() or kl_or_error else
                       value_span([table.column(n) * 100.0 for n in percent] + [self.acc_value.values * 100.0],
                                  fixed=(0.0, 100.0)))
        self.axes.apply(x_span, [value_span(loss_series, log=self.log_box.isChecked()), metric_span,
                                 value_span([self.lr.values[lo:hi]], constant_mid=True)])

    def _markers(self, curve: pg.PlotDataItem, symbol: str, count: int) -> None:
        """Markers and antialiasing on an epoch curve of up to SYMBOL_MAX points; past that a plain line (a wide
        antialiased pen over thousands of points costs the raster engine tens of ms a frame)."""
        on = count <= SYMBOL_MAX
        if self._symbols_on.get(id(curve)) != on:
            self._symbols_on[id(curve)] = on
            curve.opts["antialias"] = on  # taken by the next setData
            curve.setSymbol(symbol if on else None)

    def _redraw(self) -> None:
        if self._styled_for != self._title_key():  # a VAE's first epoch: the KL axis
            self._titles()
        lo, hi = self._window()
        self._sliced = (lo, hi) != (0, len(self.step))
        buckets = self._buckets()
        steps = self.step.values[lo:hi]
        self._put(self.raw_curve, *envelope(steps, self.loss.values[lo:hi], buckets))
        # the wide pens (smoothed loss, learning rate, the epoch curves) cost the raster engine per point: a smooth
        # series keeps one bucket per 2–3 pixels, the raw loss (1 px) its full envelope
        self._put(self.smooth_curve, *envelope(steps, self.smoothed.values[lo:hi], buckets // 2))
        self._put(self.lr_curve, *envelope(steps, self.lr.values[lo:hi], buckets // 3))
        self._put(self.stepped_marks, *self.stepped_points())
        scale = 100.0 if self.run is None or self.run.task == "classification" else 1.0
        # markers: one per ~4 pixels at most (a scatter costs per spot)
        self._put(self.acc_sample_curve, *envelope(self.acc_step.values, self.acc_value.values * scale, buckets // 4))
        table = self.epoch_table
        ep_step = table.column("step")
        self._epoch_curve(self.val_curve, "o", ep_step, table.column("val_loss"), buckets // 3)
        self._epoch_curve(self.train_epoch_curve, "s", ep_step, table.column("train_loss"), buckets // 3)
        for name in self._metric_names():
            curve = self._metric_curve(name)
            self._epoch_curve(curve, "o", ep_step, table.column(name) * (100.0 if name in PERCENT else 1.0),
                              buckets // 3)
        self._follow(lo, hi)
        self._update_readout()

    def _metric_curve(self, name: str) -> pg.PlotDataItem:
        """The curve of an epoch metric (made, with its legend entry, the first time it is asked for)."""
        curve = self.metric_curves.get(name)
        if curve is None:
            plot = self.loss_plot if name in LOSS_TERMS else self.metric_plot
            curve = plot.plot(name={**METRIC_TITLES, **LOSS_TERMS}[name], antialias=True)
            self._style_metric(name, curve)
            self.metric_curves[name] = curve
            self._fit_legends()
        return curve

    def _epoch_curve(self, curve: pg.PlotDataItem, symbol: str, x: np.ndarray, y: np.ndarray, buckets: int) -> None:
        ok = np.isfinite(y)
        xs, ys = envelope(x[ok], y[ok], buckets)
        self._markers(curve, symbol, len(xs))
        self._put(curve, xs, ys)

    def _put(self, item, xs, ys) -> None:
        """item.setData(xs, ys), skipped when it already shows exactly that: an epoch curve between two epochs,
        the stepped marks of a run without steps (each setData re-makes a curve's path and its markers)."""
        xs, ys = np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64)
        last = self._drawn.get(id(item))
        if last is not None and last[0].shape == xs.shape and np.array_equal(last[0], xs) and \
                np.array_equal(last[1], ys, equal_nan=True):
            return
        self._drawn[id(item)] = (xs.copy(), ys.copy())
        item.setData(xs, ys)

    def stepped_points(self) -> tuple[np.ndarray, np.ndarray]:
        """(step, loss) of the stepped batches whose losses have come."""
        steps, marked = self.step.values, self.stepped.values
        if not len(steps) or not len(marked):
            return np.zeros(0), np.zeros(0)
        i = np.clip(np.searchsorted(steps, marked), 0, len(steps) - 1)
        found = steps[i] == marked
        return marked[found], self.loss.values[i[found]]

    def _fit_legends(self) -> None:
        for legend in self._legends:
            fit_legend(legend, self.graphics.width())

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._fit_legends()  # (the readout fits its own height to a new width: gui/quiet_text.py)

    def _set_log(self, on: bool) -> None:
        self.loss_plot.setLogMode(y=on)
        self._changed()

    # --- hover --------------------------------------------------------------------------------------

    def _hover(self, args) -> None:
        pos = args[0]
        n = len(self.step)
        inside = None
        for p in (self.loss_plot, self.metric_plot, self.lr_plot):
            if p.sceneBoundingRect().contains(pos):
                inside = p
        if inside is None or n == 0:
            self._hover_index = None
            for line in self._cursors:
                line.setVisible(False)
            self._update_readout()
            return
        x = inside.vb.mapSceneToView(pos).x()
        self.hover_at(x)

    def hover_at(self, x: float) -> None:
        """Show the values at step `x` (what the mouse does; also for tests)."""
        steps = self.step.values
        if not len(steps):
            return
        i = int(np.clip(np.searchsorted(steps, x), 0, len(steps) - 1))
        if i > 0 and abs(steps[i - 1] - x) < abs(steps[i] - x):
            i -= 1
        self._hover_index = i
        for line in self._cursors:
            line.setPos(float(steps[i]))
            line.setVisible(True)
        self._update_readout()

    def _update_readout(self) -> None:
        self.readout.setText(readout_html(self))

    # --- export -------------------------------------------------------------------------------------

    def export_widget(self):
        return self.graphics

    def export_csv(self, path: str) -> None:
        """One row per kept step: step, epoch (1-based), loss, loss_smoothed, lr, then the epoch columns
        (curve_readout.curves_csv)."""
        curves_csv(self, path)


def _expected_metrics(run: RunStarted | None) -> tuple[str, ...]:
    """The epoch metrics a run of this task reports, drawn as curves (a VAE's terms come with its first epoch)."""
    if run is None:
        return ()
    return {"classification": ("val_accuracy", "train_accuracy"), "regression": ("val_mae",)}.get(run.task, ())
