"""What the live views share: the base class (throttled redraw, palette following, PNG/CSV export), plot
styling from the application palette, growing arrays, the EMA smoothing of the loss and colour maps.

Views are fed by the training controller's ~30 Hz timer: `on_event` only appends to numpy buffers and
marks the view dirty; one redraw per timer tick follows (a zero-delay single-shot timer coalesces all the
events of one drain), and none at all while the view is hidden (it redraws when shown).
"""

from __future__ import annotations

import csv
import math
import time
from collections.abc import Iterable, Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, Qt, QTimer
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QSizePolicy, QToolButton, QWidget

LEGEND_TEXT_SIZE = "8pt"

# Series colours: (dark palette, light palette). Chosen to read on both backgrounds.
SERIES = {
    "loss": ("#5b9bff", "#2563eb"),
    "val": ("#ffa94d", "#e8590c"),
    "accuracy": ("#51cf66", "#2f9e44"),
    "train_accuracy": ("#66d9e8", "#1098ad"),
    "lr": ("#b197fc", "#7048e8"),
    "vanishing": ("#4dabf7", "#1c7ed6"),
    "exploding": ("#ff6b6b", "#e03131"),
    "ok": ("#8ce99a", "#37b24d"),
    "run_a": ("#5b9bff", "#2563eb"),
    "run_b": ("#ffa94d", "#e8590c"),
}


def palette() -> QPalette:
    app = QGuiApplication.instance()
    return app.palette() if app is not None else QPalette()


def dark() -> bool:
    return palette().color(QPalette.ColorRole.Window).lightness() < 128


def series_color(name: str, alpha: int = 255) -> QColor:
    c = QColor(SERIES[name][0 if dark() else 1])
    c.setAlpha(alpha)
    return c


def plot_colors() -> dict[str, QColor]:
    """Background, foreground, grid and subtle text colours of plots, from the application palette."""
    p = palette()
    base = p.color(QPalette.ColorRole.Base)
    text = p.color(QPalette.ColorRole.Text)
    subtle = QColor(text)
    subtle.setAlpha(150)
    grid = QColor(text)
    grid.setAlpha(40)
    return {"background": base, "foreground": text, "subtle": subtle, "grid": grid,
            "window": p.color(QPalette.ColorRole.Window), "highlight": p.color(QPalette.ColorRole.Highlight)}


def style_plot(plot: pg.PlotItem, *, title: str | None = None, left: str | None = None,
               bottom: str | None = None, grid: bool = True) -> None:
    """Axis pens, tick text and grid in the palette's colours; optional title and axis labels."""
    c = plot_colors()
    for name in ("left", "bottom", "right", "top"):
        axis = plot.getAxis(name)
        axis.setPen(pg.mkPen(c["subtle"], width=1))
        axis.setTextPen(pg.mkPen(c["foreground"]))
        axis.setStyle(tickLength=-4)
        axis.enableAutoSIPrefix(False)  # plain values: "0.0004", not "0.4" under "loss (x0.001)"
    if grid:
        plot.showGrid(x=True, y=True, alpha=0.16)
    fg = c["foreground"].name()
    if title is not None:
        plot.setTitle(title, color=fg, size="10pt")
    if left is not None:
        plot.setLabel("left", left, color=c["subtle"].name())
    if bottom is not None:
        plot.setLabel("bottom", bottom, color=c["subtle"].name())


def legend_above(graphics: pg.GraphicsLayoutWidget, plot: pg.PlotItem, row: int, col: int = 0,
                 indent: int = 0) -> pg.LegendItem:
    """A legend in its own row of `graphics` (put `plot` in the row below), so it never hides the data.
    Curves plotted on `plot` with a name join it, as with PlotItem.addLegend; `fit_legend` sets how many
    entries share a line. `indent`: pixels left of the first entry (the plot's left axis width)."""
    legend = pg.LegendItem(labelTextSize=LEGEND_TEXT_SIZE, colCount=8, frame=False, horSpacing=2)
    legend.layout.setContentsMargins(indent, 0, 0, 0)
    legend.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
    graphics.addItem(legend, row=row, col=col)
    graphics.ci.layout.setAlignment(legend, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignBottom)
    graphics.ci.layout.setRowStretchFactor(row, 0)
    plot.legend = legend
    return legend


def style_legend(legend: pg.LegendItem) -> None:
    """Entries in the palette's text colour (pyqtgraph's setLabelTextColor alone keeps the drawn texts)."""
    legend.setLabelTextColor(plot_colors()["foreground"])
    for _sample, label in legend.items:
        label.setText(label.text)


def fit_legend(legend: pg.LegendItem, width: float) -> None:
    """As many entries on a line as fit in `width` pixels (a narrow view wraps the legend)."""
    if not legend.items:
        return
    left = legend.layout.getContentsMargins()[0]
    widest = max(sample.width() + label.width() + 2 * legend.layout.horizontalSpacing()
                 for sample, label in legend.items)
    columns = max(1, min(len(legend.items), int((width - left) // max(widest, 1.0))))
    legend.setColumnCount(columns)


def fast_curve(curve: pg.PlotDataItem) -> pg.PlotDataItem:
    """The pyqtgraph settings for a live curve (LEARN-FROM.md): peak downsampling, clip to view."""
    curve.setDownsampling(auto=True, method="peak")
    curve.setClipToView(True)
    curve.setSkipFiniteCheck(True)
    return curve


def graphics_widget() -> pg.GraphicsLayoutWidget:
    w = pg.GraphicsLayoutWidget()
    w.setBackground(plot_colors()["background"])
    w.ci.layout.setContentsMargins(4, 4, 8, 4)
    return w


def colormap_lut(name: str, n: int = 256) -> np.ndarray:
    """An n×3 uint8 lookup table of a pyqtgraph colour map ("inferno", "CET-D1", …)."""
    cmap = pg.colormap.get(name)
    return np.asarray(cmap.getLookupTable(0.0, 1.0, n, alpha=False), dtype=np.uint8)[:, :3]


def ramp_lut(start: QColor, end: QColor, n: int = 256) -> np.ndarray:
    """A lookup table from `start` to `end` (for heat maps in the palette's own colours)."""
    t = np.linspace(0.0, 1.0, n)[:, None]
    a = np.array([start.red(), start.green(), start.blue()], dtype=np.float64)
    b = np.array([end.red(), end.green(), end.blue()], dtype=np.float64)
    return np.clip(np.round(a + (b - a) * t), 0, 255).astype(np.uint8)


class GrowingArray:
    """A 1-D numpy array that grows by doubling its capacity: appends cost O(new items), `values` is a view."""

    def __init__(self, dtype=np.float64, capacity: int = 1024):
        self._data = np.empty(capacity, dtype=dtype)
        self._n = 0

    def __len__(self) -> int:
        return self._n

    def append(self, values) -> None:
        values = np.asarray(values, dtype=self._data.dtype).reshape(-1)
        need = self._n + len(values)
        if need > len(self._data):
            cap = len(self._data)
            while cap < need:
                cap *= 2
            grown = np.empty(cap, dtype=self._data.dtype)
            grown[:self._n] = self._data[:self._n]
            self._data = grown
        self._data[self._n:need] = values
        self._n = need

    @property
    def values(self) -> np.ndarray:
        return self._data[:self._n]

    def clear(self) -> None:
        self._n = 0


class EMA:
    """Exponential moving average with bias correction (TensorBoard's smoothing):
    m_t = w·m_{t-1} + (1−w)·x_t,  smoothed_t = m_t / (1 − w^t).  Non-finite values are skipped."""

    def __init__(self, weight: float = 0.9):
        self.weight = float(weight)
        self._m = 0.0
        self._t = 0

    def reset(self) -> None:
        self._m, self._t = 0.0, 0

    def update(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64).reshape(-1)
        w = self.weight
        out = np.empty(len(x), dtype=np.float64)
        if w <= 0.0:
            out[:] = x
            if len(x) and np.isfinite(x[-1]):
                self._m, self._t = float(x[-1]), self._t + len(x)
            return out
        finite = np.isfinite(x)
        if finite.all() and len(x):
            m = _ema_run(x, w, self._m)
            t = self._t + np.arange(1, len(x) + 1)
            with np.errstate(under="ignore"):
                out[:] = m / (1.0 - np.power(w, t))
            self._m, self._t = float(m[-1]), int(t[-1])
            return out
        for i, v in enumerate(x):  # rare: a non-finite loss, step by step
            if math.isfinite(v):
                self._m = w * self._m + (1.0 - w) * v
                self._t += 1
            out[i] = self._m / (1.0 - w ** self._t) if self._t else float("nan")
        return out


def _ema_run(x: np.ndarray, w: float, m0: float) -> np.ndarray:
    """m_i = w·m_{i-1} + (1−w)·x_i from m_0 = m0, vectorised in blocks: within a block
    m_i = w^i·(m0 + (1−w)·Σ_{k≤i} w^{-k}·x_k), the block short enough that w^{-k} stays below 1e100."""
    out = np.empty(len(x), dtype=np.float64)
    block = 1024 if w >= 0.999 else max(1, min(1024, int(100.0 / -math.log10(w))))
    powers = w ** np.arange(1, block + 1, dtype=np.float64)
    m = m0
    for start in range(0, len(x), block):
        chunk = x[start:start + block]
        p = powers[:len(chunk)]
        with np.errstate(under="ignore"):
            run = p * (m + (1.0 - w) * np.cumsum(chunk / p))
        out[start:start + len(chunk)] = run
        m = float(run[-1])
    return out


def ema(values, weight: float) -> np.ndarray:
    """The bias-corrected EMA of a whole series (see `EMA`)."""
    return EMA(weight).update(values)


def write_csv(path: str, header: Sequence[str], rows: Iterable[Sequence]) -> None:
    """A CSV file; floats in full precision, None as an empty cell."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(header)
        for row in rows:
            out.writerow(["" if v is None or (isinstance(v, float) and math.isnan(v)) else
                          (repr(float(v)) if isinstance(v, float | np.floating) else v) for v in row])


def grab_png(widget: QWidget, path: str) -> bool:
    """Save `widget` as a PNG, as it is on screen (at the screen's pixel ratio)."""
    widget.ensurePolished()
    return widget.grab().save(path, "PNG")


class PlotView(QWidget):
    """The base of every live view: `reset(run)`, `on_event(event)`, `refresh()`, `export_png(path)`,
    `export_csv(path)`. Subclasses implement `_redraw()` and `_restyle()`, call `self._changed()` after
    taking in data, and put `self.export_buttons()` in their header."""

    MIN_INTERVAL_MS = 0  # at least this long between two redraws (heavier views raise it)
    EXPORT_NAME = "plot"

    def __init__(self, parent=None):
        super().__init__(parent)
        self._dirty = False
        self._last_draw = 0.0
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._timed_refresh)
        self.redraws = 0
        self._last_cost = 0.0  # seconds the last redraw took
        self._redraw_gap_ms = 0  # while training: at least this long between two redraws (the controller's pace)

    # --- the contract -----------------------------------------------------------------------------

    def reset(self, run=None) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def on_event(self, event) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def refresh(self) -> None:
        """Redraw now (the timer does this on its own; tests and screenshots call it directly)."""
        self._dirty = False
        start = time.monotonic()
        self.redraws += 1
        self._redraw()
        self._last_draw = time.monotonic()
        self._last_cost = self._last_draw - start

    def set_redraw_gap(self, ms: int) -> None:
        """At least `ms` between two redraws from now on (the training controller's pace, gui/training/pacing.py;
        0: as soon as MIN_INTERVAL_MS allows). A redraw waiting for a longer gap comes sooner when it shrinks."""
        self._redraw_gap_ms = ms
        self._timer.stop()
        if self._dirty:
            self._changed()

    def export_png(self, path: str) -> bool:
        if self._dirty:
            self.refresh()
        return grab_png(self.export_widget(), path)

    def export_csv(self, path: str) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    # --- for subclasses ----------------------------------------------------------------------------

    def export_widget(self) -> QWidget:
        return self

    def _redraw(self) -> None:
        pass

    def _restyle(self) -> None:
        pass

    def _changed(self) -> None:
        self._dirty = True
        if not self._timer.isActive():
            # a redraw at most every MIN_INTERVAL_MS, and never more than ~20 % of the GUI thread's time
            gap = max(self.MIN_INTERVAL_MS, 4000.0 * self._last_cost, self._redraw_gap_ms)
            wait = gap - (time.monotonic() - self._last_draw) * 1000.0
            self._timer.start(max(0, int(wait)))

    def _timed_refresh(self) -> None:
        if self._dirty and self.isVisible():
            self.refresh()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._dirty:
            self._timer.start(0)

    def changeEvent(self, event) -> None:
        super().changeEvent(event)
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange):
            self._restyle()
            self._dirty = True
            self._timer.start(0)

    def export_buttons(self) -> QWidget:
        """Two small buttons, "PNG…" and "CSV…", that ask for a file name and export."""
        box = QWidget(self)
        lay = QHBoxLayout(box)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        for label, tip, slot in (("PNG…", "Save this view as a picture", self._ask_png),
                                 ("CSV…", "Save the numbers behind this view as a table", self._ask_csv)):
            b = QToolButton(box)
            b.setText(label)
            b.setToolTip(tip)
            b.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
            b.clicked.connect(slot)
            lay.addWidget(b)
        return box

    def _ask_png(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export as PNG", f"{self.EXPORT_NAME}.png", "PNG images (*.png)")
        if path:
            self.export_png(path)

    def _ask_csv(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export as CSV", f"{self.EXPORT_NAME}.csv", "CSV tables (*.csv)")
        if path:
            self.export_csv(path)


def fmt(value, digits: int = 4) -> str:
    """A number for people: 0.0123, 1.23e-05, 1,234."""
    if value is None:
        return "–"
    v = float(value)
    if not math.isfinite(v):
        return str(v)
    if v != 0 and (abs(v) < 1e-3 or abs(v) >= 1e5):
        return f"{v:.2e}"
    return f"{v:.{digits}g}"
