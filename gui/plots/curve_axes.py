"""The Curves view's axes while a run goes on (follow_range.py has the rules): the step axis spanning a short run's
whole plan or widening a long one's in a few jumps to its end, each value axis from 0 to a round number, set only
when they change so that an axis keeps its cached picture.
An axis the user zooms or pans stops following; pyqtgraph's "A" button (its auto-range back on) gives it back.

    axes = RunAxes(loss_plot, (loss_plot, metric_plot, lr_plot), on_user_range=view._changed)
    axes.reset()                                   # a new run: following, pyqtgraph's auto-range off
    axes.apply(step_span, [loss_span, metric_span, lr_span])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pyqtgraph as pg

STEP_PADDING, VALUE_PADDING = 0.01, 0.03


class RunAxes:
    def __init__(self, x_plot: pg.PlotItem, plots: Sequence[pg.PlotItem], on_user_range: Callable[[pg.ViewBox], None]):
        self.x_plot = x_plot  # the plot the others' step axes are linked to
        self.plots = tuple(plots)
        self.on_user_range = on_user_range  # called after the user (or pyqtgraph's "A") moved an axis
        self.follow_x = True
        self.follow_y: dict[int, bool] = {}
        self._shown: dict[tuple[int, int], tuple[float, float]] = {}  # set last: to tell them from the user's
        self._applying = False
        x_plot.sigXRangeChanged.connect(lambda vb, r: self._moved(vb, 0, r))
        for p in self.plots:
            p.sigYRangeChanged.connect(lambda vb, r: self._moved(vb, 1, r))

    def reset(self) -> None:
        self.follow_x, self.follow_y, self._shown = True, {}, {}
        for p in self.plots:
            p.disableAutoRange()

    def follows_x(self) -> bool:
        return self.follow_x or bool(self.x_plot.vb.state["autoRange"][0])

    def _moved(self, vb: pg.ViewBox, axis: int, value_range) -> None:
        if self._applying:
            return
        shown = self._shown.get((id(vb), axis))
        if shown is not None and not vb.state["autoRange"][axis] and not same_range(tuple(value_range), shown):
            if axis == 0:
                self.follow_x = False
            else:
                self.follow_y[id(vb)] = False
        self.on_user_range(vb)

    def apply(self, x_span: tuple[float, float] | None, y_spans: Sequence[tuple[float, float] | None]) -> None:
        """Set the axes that follow: x to `x_span`, each plot's y to its span (None: left as it is)."""
        self._applying = True
        try:
            if self.x_plot.vb.state["autoRange"][0]:
                self.follow_x = True
            if self.follow_x and x_span is not None:
                self._set(self.x_plot, 0, x_span, STEP_PADDING)
            for p, span in zip(self.plots, y_spans, strict=True):
                if p.vb.state["autoRange"][1]:
                    self.follow_y[id(p.vb)] = True
                if self.follow_y.get(id(p.vb), True) and span is not None:
                    self._set(p, 1, span, VALUE_PADDING)
        finally:
            self._applying = False

    def _set(self, plot: pg.PlotItem, axis: int, span: tuple[float, float], padding: float) -> None:
        lo, hi = span
        pad = (hi - lo) * padding
        wanted = (lo - pad, hi + pad)
        vb = plot.vb
        key = (id(vb), axis)
        if self._shown.get(key) == wanted and not vb.state["autoRange"][axis]:
            return
        if axis == 0:
            plot.setXRange(*wanted, padding=0)
        else:
            plot.setYRange(*wanted, padding=0)
        self._shown[key] = wanted


def same_range(a: tuple[float, float], b: tuple[float, float]) -> bool:
    scale = max(abs(b[1] - b[0]), 1e-300)
    return abs(a[0] - b[0]) <= 1e-6 * scale and abs(a[1] - b[1]) <= 1e-6 * scale
