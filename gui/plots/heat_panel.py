"""One heat map of a quantity over time (time across, units down) with its colour bar, for the recurrent
views: the image, colour map and levels are set in one call (numpy → ImageItem.setImage, no per-cell work),
and the items are made once and reused. Also the thinning of time labels along a time axis."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt

from layerloom.gui.plots.common import plot_colors, style_plot

# colour map per Quantity.scale (core/recurrent/trace.py): sequential for 0–1 gates, diverging for signed values
COLORMAPS = {"gate": "viridis", "tanh": "CET-D1", "signed": "CET-D1", "positive": "inferno"}
LABEL_PX = 7.0  # rough width of one character of a tick label, in pixels


def time_ticks(labels: Sequence[str], width_px: float) -> list[tuple[int, str]]:
    """(step, label) ticks for a time axis `width_px` pixels wide: every k-th label, k as small as lets the
    labels sit side by side without overlapping."""
    n = len(labels)
    if n == 0:
        return []
    widest = max(len(s) for s in labels) * LABEL_PX + 8.0
    room = max(1, int(width_px // widest))
    k = max(1, math.ceil(n / room))
    return [(t, labels[t]) for t in range(0, n, k)]


class HeatPanel:
    """A plot in `graphics` at (row, 2·col) with a heat map and, at (row, 2·col + 1), its colour bar."""

    def __init__(self, graphics: pg.GraphicsLayoutWidget, row: int, col: int, *, bar_width: int = 10,
                 title_size: str = "9pt"):
        self.plot = graphics.addPlot(row=row, col=2 * col)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.plot.addItem(self.image)
        self.plot.invertY(True)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.plot.setMenuEnabled(False)
        self.bar = pg.ColorBarItem(values=(0.0, 1.0), colorMap=pg.colormap.get(COLORMAPS["gate"]),
                                   interactive=False, width=bar_width)
        self.bar.setImageItem(self.image)
        graphics.addItem(self.bar, row=row, col=2 * col + 1)
        self.unit_line = pg.InfiniteLine(angle=0, movable=False)
        self.time_line = pg.InfiniteLine(angle=90, movable=False)
        self.plot.addItem(self.unit_line)
        self.plot.addItem(self.time_line)
        self.time_line.setVisible(False)
        self.scale = "gate"
        self.title = ""
        self.title_size = title_size
        self.shape = (0, 0)  # (units, steps) of the image on show
        self.ticks: list[tuple[int, str]] = []
        self.restyle()

    def set_visible(self, on: bool) -> None:
        self.plot.setVisible(on)
        self.bar.setVisible(on)

    def show(self, values: np.ndarray, levels: tuple[float, float], scale: str, title: str) -> None:
        """`values` is T × units; drawn transposed (units down, time across) at `levels` in the colour map of
        `scale`."""
        image = np.ascontiguousarray(np.asarray(values, np.float32).T)
        if scale != self.scale:
            self.scale = scale
            self.bar.setColorMap(pg.colormap.get(COLORMAPS.get(scale, "viridis")))
        levels = (float(levels[0]), float(levels[1]))
        self.image.setImage(image, autoLevels=False, levels=levels)
        if tuple(self.bar.levels()) != levels:  # an unchanged colour bar keeps its drawn axis
            self.bar.setLevels(levels)
        if image.shape != self.shape:
            self.shape = image.shape
            units, steps = image.shape
            self.image.setRect(-0.5, -0.5, steps, units)
            self.plot.setXRange(-0.5, steps - 0.5, padding=0)
            self.plot.setYRange(-0.5, units - 0.5, padding=0)
        if title != self.title:
            self.title = title
            self.plot.setTitle(title, color=plot_colors()["foreground"].name(), size=self.title_size)

    def set_ticks(self, ticks: list[tuple[int, str]]) -> None:
        if ticks != self.ticks:  # new ticks make the axis lay itself out again: only when they change
            self.ticks = ticks
            self.plot.getAxis("bottom").setTicks([ticks, []])

    def mark(self, unit: int | None, step: int | None) -> None:
        """Lines at the picked unit (a row) and the hovered step (a column); None hides one."""
        self.unit_line.setVisible(unit is not None)
        if unit is not None:
            self.unit_line.setPos(unit)
        self.time_line.setVisible(step is not None)
        if step is not None:
            self.time_line.setPos(step)

    def row_at(self, scene_pos) -> int | None:
        """The unit (row) under a scene position, None when it is off the image."""
        if not self.plot.isVisible() or not self.plot.sceneBoundingRect().contains(scene_pos):
            return None
        p = self.plot.vb.mapSceneToView(scene_pos)
        row = round(p.y())
        return row if 0 <= row < self.shape[0] else None

    def step_at(self, scene_pos) -> int | None:
        if not self.plot.isVisible() or not self.plot.sceneBoundingRect().contains(scene_pos):
            return None
        step = round(self.plot.vb.mapSceneToView(scene_pos).x())
        return step if 0 <= step < self.shape[1] else None

    def restyle(self) -> None:
        c = plot_colors()
        style_plot(self.plot, grid=False)
        pen = pg.mkPen(c["foreground"], width=1, style=Qt.PenStyle.DashLine)
        self.unit_line.setPen(pen)
        self.time_line.setPen(pen)
        axis = self.bar.axis
        axis.setTextPen(pg.mkPen(c["foreground"]))
        axis.setPen(pg.mkPen(c["subtle"]))
        if self.title:
            self.plot.setTitle(self.title, color=c["foreground"].name(), size=self.title_size)
