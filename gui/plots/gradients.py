"""Gradient flow: how strongly each layer is being taught. A heat map of the per-layer gradient norm (log
scale, layers × time, first layer at the top) and, beside it, the latest norms as bars against the two
thresholds. Layers whose gradient is below 1e-6 (vanishing: they have stopped learning) or above 1e3
(exploding: steps so big that training may blow up) are named in a banner with a one-line explanation.
Beside them, for a selected recurrent block, its gradient through time (time_gradients.py).
"""

from __future__ import annotations

import html

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout

from layerloom.core.training.events import GradientStats, RecurrentInside, RunStarted
from layerloom.gui.plots.common import (
    PlotView,
    colormap_lut,
    fmt,
    graphics_widget,
    plot_colors,
    series_color,
    style_plot,
    write_csv,
)
from layerloom.gui.plots.time_gradients import TimeGradientPanel

VANISHING = 1e-6
EXPLODING = 1e3
LOG_RANGE = (-8.0, 4.0)  # colour levels of the heat map, in log10 of the norm

VANISHING_TEXT = ("<b>Vanishing gradients</b> in {names}: almost no learning signal reaches them (norm below "
                  "1e-6), so their weights barely change. Deep stacks of sigmoid or tanh do this; ReLU, "
                  "BatchNorm or residual connections help.")
EXPLODING_TEXT = ("<b>Exploding gradients</b> in {names}: the norm is above 1e3, so each step is huge and "
                  "training may diverge. Lower the learning rate or set a gradient clip.")
HEALTHY_TEXT = "Every layer gets a useful gradient (between 1e-6 and 1e3)."


GRADIENT_CAP = 4096  # gradient samples kept for the heat map (columns); past it they merge in pairs


class GradientFlowView(PlotView):
    EXPORT_NAME = "gradient_flow"

    def __init__(self, parent=None):
        super().__init__(parent)
        self.layers: tuple[str, ...] = ()
        self._norms = np.zeros((0, 256), np.float32)  # layers × capacity, grown by doubling
        self._steps = np.zeros(256, np.int64)
        self._n = 0
        self.vanishing: tuple[str, ...] = ()
        self.exploding: tuple[str, ...] = ()

        self.banner = QLabel(self)
        self.banner.setWordWrap(True)
        self.banner.setTextFormat(Qt.TextFormat.RichText)
        self.banner.setContentsMargins(8, 4, 8, 4)
        self.graphics = graphics_widget()
        self.heat_plot = self.graphics.addPlot(row=0, col=0)
        self.bar_plot = self.graphics.addPlot(row=0, col=1)
        self.graphics.ci.layout.setColumnStretchFactor(0, 3)
        self.graphics.ci.layout.setColumnStretchFactor(1, 1)
        self.heat = pg.ImageItem(axisOrder="row-major")
        self.heat_plot.addItem(self.heat)
        self.heat_plot.invertY(True)
        self.heat_plot.setMouseEnabled(x=True, y=False)
        self.heat_plot.getAxis("left").setWidth(96)
        self.bar_plot.invertY(True)
        self.bar_plot.setYLink(self.heat_plot)
        self.bar_plot.setLogMode(x=True, y=False)
        self.bar_plot.setMouseEnabled(x=False, y=False)
        self.bar_plot.getAxis("left").setStyle(showValues=False)
        self.bars = pg.BarGraphItem(x0=[], y=[], height=0.7, width=[])
        self.bar_plot.addItem(self.bars)
        self.lines = [pg.InfiniteLine(pos=np.log10(v), angle=90) for v in (VANISHING, EXPLODING)]
        for line in self.lines:
            self.bar_plot.addItem(line)
        self.colorbar = pg.ColorBarItem(values=LOG_RANGE, colorMap=pg.colormap.get("viridis"), interactive=False,
                                        width=12, label="log₁₀ gradient norm")
        self.colorbar.setImageItem(self.heat)
        self.graphics.addItem(self.colorbar, row=0, col=2)
        self.heat.setLookupTable(colormap_lut("viridis"))
        self.hover_label = QLabel(self)
        self.hover_label.setObjectName("subtle")
        self._mouse = pg.SignalProxy(self.graphics.scene().sigMouseMoved, rateLimit=30, slot=self._hover)

        head = QHBoxLayout()
        head.setContentsMargins(6, 2, 6, 0)
        head.addWidget(self.hover_label, 1)
        head.addWidget(self.export_buttons())
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.setSpacing(2)
        box.addLayout(head)
        box.addWidget(self.banner)
        self.through_time = TimeGradientPanel(self)
        row = QHBoxLayout()
        row.setSpacing(2)
        row.addWidget(self.graphics, 3)
        row.addWidget(self.through_time, 2)
        box.addLayout(row, 1)
        self._restyle()
        self.reset(None)

    # --- the contract ------------------------------------------------------------------------------

    def reset(self, run: RunStarted | None = None) -> None:
        self.layers = ()
        self._norms = np.zeros((0, 256), np.float32)
        self._steps = np.zeros(256, np.int64)
        self._n = 0
        self.vanishing = self.exploding = ()
        self.through_time.clear()
        self._changed()

    def set_block(self, name: str | None, block_type: str | None = None) -> None:
        """The selected block: a recurrent one gets its gradient through time beside the layers' flow."""
        self.through_time.set_block(name, block_type)
        self._changed()

    def set_recurrent_note(self, note: str | None) -> None:
        """Why the selected recurrent block's gradient through time is missing (None: none)."""
        self.through_time.set_note(note)
        self._changed()

    def on_event(self, event) -> None:
        if isinstance(event, RecurrentInside):
            if self.through_time.take(event):
                self._changed()
        elif isinstance(event, GradientStats):
            norms = np.asarray(event.grad_norms, np.float32).reshape(-1)
            if tuple(event.layers) != self.layers:
                self.reset(None)
                self.layers = tuple(event.layers)
                self._norms = np.zeros((len(self.layers), 256), np.float32)
            if self._n >= GRADIENT_CAP:  # a long run: pairs of samples merge (the larger norm), the history halves
                half = self._n // 2
                self._norms[:, :half] = np.maximum(self._norms[:, 0:2 * half:2], self._norms[:, 1:2 * half:2])
                self._steps[:half] = self._steps[1:2 * half:2]
                self._n = half
            if self._n == self._norms.shape[1]:
                grown = np.zeros((len(self.layers), self._n * 2), np.float32)
                grown[:, :self._n] = self._norms
                self._norms = grown
                steps = np.zeros(self._n * 2, np.int64)
                steps[:self._n] = self._steps
                self._steps = steps
            self._norms[:, self._n] = norms
            self._steps[self._n] = event.step
            self._n += 1
            self.vanishing = tuple(event.vanishing)
            self.exploding = tuple(event.exploding)
            self._changed()

    @property
    def norms(self) -> np.ndarray:
        """layers × samples gradient norms so far."""
        return self._norms[:, :self._n]

    @property
    def steps(self) -> np.ndarray:
        return self._steps[:self._n]

    # --- drawing ------------------------------------------------------------------------------------

    def _restyle(self) -> None:
        c = plot_colors()
        self.graphics.setBackground(c["background"])
        style_plot(self.heat_plot, bottom="optimizer step", grid=False)
        style_plot(self.bar_plot, bottom="latest norm", grid=True)
        self.bar_plot.showGrid(x=True, y=False, alpha=0.16)
        for line, name in zip(self.lines, ("vanishing", "exploding")):
            line.setPen(pg.mkPen(series_color(name), width=1.5, style=Qt.PenStyle.DashLine))
        axis = self.colorbar.getAxis("right") if hasattr(self.colorbar, "getAxis") else None
        if axis is not None:
            axis.setTextPen(pg.mkPen(c["foreground"]))
            axis.setPen(pg.mkPen(c["subtle"]))
        self._banner()
        self.through_time.restyle()

    def _banner(self) -> None:
        c = plot_colors()
        parts = []
        if self.vanishing:
            parts.append(_chip(series_color("vanishing")) + VANISHING_TEXT.format(names=_names(self.vanishing)))
        if self.exploding:
            parts.append(_chip(series_color("exploding")) + EXPLODING_TEXT.format(names=_names(self.exploding)))
        if not parts:
            text = HEALTHY_TEXT if self._n else "Gradient norms appear here once training has taken a few steps."
            parts.append(f"<span style='color:{c['subtle'].name()}'>{text}</span>")
        self.banner.setText("<br>".join(parts))

    def _redraw(self) -> None:
        self.through_time.draw()
        self._banner()
        n, layers = self._n, self.layers
        if not n or not layers:
            self.heat.clear()
            self.bars.setOpts(x0=[], y=[], width=[], brushes=[])
            return
        norms = self.norms
        with np.errstate(divide="ignore"):
            logs = np.log10(np.maximum(norms, 1e-12))
        self.heat.setImage(logs, autoLevels=False, levels=LOG_RANGE, autoDownsample=True)
        s0, s1 = float(self._steps[0]), float(self._steps[n - 1])
        width = (s1 - s0) / max(1, n - 1) if n > 1 else 1.0
        self.heat.setRect(s0 - width / 2, -0.5, (s1 - s0) + width, len(layers))
        ticks = [(i, name) for i, name in enumerate(layers)]
        self.heat_plot.getAxis("left").setTicks([ticks, []])
        self.heat_plot.setYRange(-0.5, len(layers) - 0.5, padding=0)
        latest = norms[:, -1]
        safe = np.maximum(latest, 1e-12)
        lo = -9.0
        brushes = []
        for name in layers:
            kind = "vanishing" if name in self.vanishing else "exploding" if name in self.exploding else "ok"
            brushes.append(pg.mkBrush(series_color(kind, 220)))
        # log-mode x: bars from 1e-12 to the norm, drawn in log10 coordinates
        self.bars.setOpts(x0=np.full(len(layers), lo), y=np.arange(len(layers)), height=0.64,
                          width=np.maximum(np.log10(safe) - lo, 0.12), brushes=brushes, pen=pg.mkPen(None))
        self.bar_plot.setXRange(-9, 5, padding=0)

    def _hover(self, args) -> None:
        pos = args[0]
        if not self._n or not self.heat_plot.sceneBoundingRect().contains(pos):
            self.hover_label.setText("")
            return
        p = self.heat_plot.vb.mapSceneToView(pos)
        row = round(p.y())
        if not 0 <= row < len(self.layers):
            return
        col = int(np.clip(np.searchsorted(self.steps, p.x()), 0, self._n - 1))
        self.hover_label.setText(f"{self.layers[row]} · step {int(self._steps[col]):,} · gradient norm "
                                 f"{fmt(self._norms[row, col], 3)}")

    def export_widget(self):
        return self

    def export_csv(self, path: str) -> None:
        """One row per sample: step, then one column per layer (the gradient norm)."""
        write_csv(path, ["step", *self.layers],
                  ([int(s), *[float(v) for v in col]] for s, col in zip(self.steps, self.norms.T)))



def _names(names) -> str:
    shown = ", ".join(f"<b>{html.escape(n)}</b>" for n in names[:6])
    return shown + (f" and {len(names) - 6} more" if len(names) > 6 else "")


def _chip(color) -> str:
    return f"<span style='color:{color.name()}'>■</span> "
