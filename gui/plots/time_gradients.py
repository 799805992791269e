"""Gradients through time: ‖∂loss/∂h_t‖ of the selected recurrent block at every step of the probe sample, on a
log scale, one line per layer and direction. It sits beside the per-layer gradient flow (gradients.py), which
feeds it the `RecurrentInside` events of its block and calls `draw()` when it redraws."""

from __future__ import annotations

import html

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from layerloom.core.training.events import RecurrentInside
from layerloom.gui.plots.common import (
    fit_legend,
    graphics_widget,
    legend_above,
    plot_colors,
    series_color,
    style_legend,
    style_plot,
)
from layerloom.gui.plots.heat_panel import time_ticks

RECURRENT = ("RNN", "LSTM", "GRU")
CAPTION = ("How much the loss at the end still depends on each step — a simple RNN's line falls towards the start "
           "(the vanishing gradient); an LSTM or GRU keeps it up.")
NOT_RECURRENT = "Select an RNN, LSTM or GRU block on the canvas to see its gradient through time here."
LAYER_COLORS = ("loss", "val", "accuracy", "lr", "train_accuracy", "exploding")


class TimeGradientPanel(QWidget):
    """The plot, its caption and a note when there is nothing to draw. `take(event)` keeps the latest
    `RecurrentInside` of the selected block; `draw()` draws it."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.block: str | None = None
        self.block_type: str | None = None
        self.note: str | None = None
        self.frame: RecurrentInside | None = None
        self.curves: list[pg.PlotDataItem] = []
        self._shape: tuple[int, int] = (0, 0)  # (layers, directions) the curves were made for

        self.caption = QLabel(CAPTION, self)
        self.caption.setObjectName("subtle")
        self.caption.setWordWrap(True)
        self.hint = QLabel(NOT_RECURRENT, self)
        self.hint.setObjectName("subtle")
        self.hint.setWordWrap(True)
        self.hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.graphics = graphics_widget()
        self.plot = self.graphics.addPlot(row=1, col=0)
        self.legend = legend_above(self.graphics, self.plot, row=0)
        self.plot.setLogMode(x=False, y=True)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        box = QVBoxLayout(self)
        box.setContentsMargins(4, 0, 4, 0)
        box.setSpacing(2)
        box.addWidget(self.caption)
        box.addWidget(self.hint, 1)
        box.addWidget(self.graphics, 4)
        self.restyle()
        self.draw()

    # --- fed by the gradient view -------------------------------------------------------------------

    @property
    def recurrent(self) -> bool:
        return self.block is not None and (self.block_type is None or self.block_type in RECURRENT)

    def set_block(self, name: str | None, block_type: str | None = None) -> None:
        if name != self.block:
            self.frame = None
        self.block, self.block_type = name, block_type

    def set_note(self, note: str | None) -> None:
        self.note = note

    def clear(self) -> None:
        self.frame = None

    def take(self, event) -> bool:
        """Keep `event` if it is the selected block's; True when it was kept."""
        if isinstance(event, RecurrentInside) and self.block is not None and event.block == self.block:
            self.frame = event
            return True
        return False

    # --- drawing ------------------------------------------------------------------------------------

    def restyle(self) -> None:
        self.graphics.setBackground(plot_colors()["background"])
        style_plot(self.plot, left="‖∂loss/∂hₜ‖ (log scale)", bottom="time step")
        style_legend(self.legend)
        for curve, (layer, direction) in zip(self.curves, self._keys()):
            curve.setPen(_pen(layer, direction))

    def _keys(self) -> list[tuple[int, int]]:
        layers, dirs = self._shape
        return [(layer, d) for layer in range(layers) for d in range(dirs)]

    def draw(self) -> None:
        ev = self.frame
        grads = ev.gradients if ev is not None else None
        show = self.recurrent and grads is not None
        self.graphics.setVisible(show)
        self.hint.setVisible(not show)
        self.caption.setVisible(self.recurrent)
        if not self.recurrent:
            self.hint.setText(NOT_RECURRENT)
            return
        if ev is None:
            self.hint.setText(self.note or f"Waiting for {self.block}'s gradient through time on the probe sample: "
                              "it is computed while training runs, about twice a second.")
            return
        if grads is None:
            self.hint.setText(ev.gradient_note or f"No gradient through time for {self.block}.")
            return
        if (grads.layers, grads.directions) != self._shape:
            self._make_curves(grads.layers, grads.directions)
        x = np.arange(grads.steps)
        for curve, (layer, d) in zip(self.curves, self._keys()):
            y = np.asarray(grads.norms[layer, d], np.float64)
            curve.setData(x, np.where(y > 0, y, np.nan))
        self.plot.setXRange(-0.5, grads.steps - 0.5, padding=0)
        labels = tuple(str(s) for s in ev.time_labels)
        if len(labels) != grads.steps:
            labels = tuple(str(t + 1) for t in range(grads.steps))
        w = self.plot.vb.width()
        self.plot.getAxis("bottom").setTicks([time_ticks(labels, w if w > 10 else 400.0), []])
        self.plot.setTitle(f"<b>{html.escape(self.block)}</b> through time · loss {grads.loss:.4g}",
                           color=plot_colors()["foreground"].name(), size="10pt")
        fit_legend(self.legend, max(150, self.graphics.width()))

    def _make_curves(self, layers: int, dirs: int) -> None:
        for curve in self.curves:
            self.plot.removeItem(curve)
        self.legend.clear()
        self._shape = (layers, dirs)
        self.curves = []
        for layer, d in self._keys():
            parts = ([f"layer {layer + 1}"] if layers > 1 else []) + ([("forward", "backward")[d]] if dirs > 1 else [])
            curve = self.plot.plot([], [], name=" ".join(parts) or "‖∂loss/∂hₜ‖ per step", pen=_pen(layer, d))
            curve.setSkipFiniteCheck(False)
            self.curves.append(curve)
        style_legend(self.legend)


def _pen(layer: int, direction: int):
    style = Qt.PenStyle.DashLine if direction else Qt.PenStyle.SolidLine
    return pg.mkPen(series_color(LAYER_COLORS[layer % len(LAYER_COLORS)]), width=2, style=style)
