"""Axis ranges that follow a live run without moving at every update: the step axis spans a short run's whole plan
from its first step (as MATLAB's training-progress plot does) and widens a long one's in a few jumps of 2–2.5× up
to its planned end; a value axis starts at 0 and ends at a round number that changes only when the data outgrows
it. A plot whose axes do not move is repainted from its cached axes, about a third of the cost of one whose ticks
change (each jump of the step axis cost the Curves view ~10 ms of the GUI thread).

    step_span(450, 1, 120)                              # (0, 450): a short run's whole plan from the start
    step_span(4500, 1, 1200)                            # (0, 2000): a long one widens 2–2.5× near its end
    step_span(4500, 1, 1900)                            # (0, 4500): its last stretch ends at its last step
    value_span([loss, smoothed])                        # (0.0, 2.5) for a loss that peaked at 2.31
    value_span([lr], constant_mid=True)                 # (0.0, 0.002) for a constant 0.001: mid-axis
    value_span([loss], log=True)                        # (-2.0, 1.0): whole decades, in log10 units
    symmetric_span([z0, z1])                            # (-3.0, 3.0) for latent means out to 2.7
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

NICE = (1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0)  # value axes: the next round number is close
COARSE = (1.0, 2.0, 5.0, 10.0)  # the step axis: it widens 2–2.5× at a time
WHOLE_PLAN_STEPS = 2000  # a run planned for at most this many steps shows them all from its first step


def nice_ceil(x: float, mantissas: tuple[float, ...] = NICE) -> float:
    """The smallest of `mantissas` × 10^k at or above `x` (> 0): 1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8 by default."""
    if not x > 0 or not math.isfinite(x):
        return 1.0
    decade = 10.0 ** math.floor(math.log10(x))
    m = next(m for m in mantissas if m * decade >= x * (1 - 1e-12))  # the last mantissa is 10: always found
    return float(f"{m * decade:.12g}")  # 0.3, not 0.30000000000000004


def coarse_ceil(x: float) -> float:
    """The smallest of 1, 2, 5 × 10^k at or above `x` (> 0): steps of 2–2.5×."""
    return nice_ceil(x, COARSE)


def step_span(run_total: int | None, first: float | None, last: float | None) -> tuple[float, float] | None:
    """The step axis: from 0 (or the first step shown, when it is past 0) to the run's planned last step
    `run_total` when the plan is WHOLE_PLAN_STEPS or fewer; for a longer plan to a round number 10 % or more past
    the last step (1, 2, 5 × 10^k: the axis widens a few times over a run, by 2–2.5× each time, and the curve fills
    40–90 % of it), never past the planned end: its last stretch ends exactly there. Past the plan (a run asked for
    more), round numbers again. None: no steps and no plan."""
    if last is None:
        return (0.0, float(run_total)) if run_total else None
    start = 0.0 if first is None or first <= 1 else float(first)
    if run_total and run_total >= last and run_total - start <= WHOLE_PLAN_STEPS:
        return start, max(float(run_total), start + 1.0)
    end = coarse_ceil(max(float(last), 1.0) * 1.1)
    if run_total and run_total >= last:
        end = min(end, float(run_total))
    return start, max(end, start + 1.0)


def _finite(arrays: Iterable[np.ndarray], positive: bool = False) -> np.ndarray:
    parts = [np.asarray(a, dtype=np.float64).reshape(-1) for a in arrays]
    values = np.concatenate(parts) if parts else np.zeros(0)
    keep = np.isfinite(values) & ((values > 0) if positive else True)
    return values[keep]


def value_span(arrays: Iterable[np.ndarray], *, log: bool = False, constant_mid: bool = False,
               fixed: tuple[float, float] | None = None) -> tuple[float, float] | None:
    """A value axis for `arrays` (None when there is nothing finite to show).

    - `fixed`: that range, widened to round numbers if the data leaves it (percentages: 0–100).
    - `log`: whole decades around the positive values, in log10 units (pyqtgraph's log axis).
    - otherwise 0 to a round number above the largest value (a round number below the smallest when there are
      negative values); with `constant_mid`, a series that never changes sits mid-axis (0 to twice it)."""
    values = _finite(arrays, positive=log)
    if fixed is not None:
        if not len(values):
            return fixed
        lo, hi = fixed
        vmin, vmax = float(values.min()), float(values.max())
        if vmin < lo:
            lo = -nice_ceil(-vmin) if vmin < 0 else 0.0
        if vmax > hi:
            hi = nice_ceil(vmax)
        return lo, hi
    if not len(values):
        return None
    vmin, vmax = float(values.min()), float(values.max())
    if log:
        lo, hi = math.floor(math.log10(vmin)), math.ceil(math.log10(vmax))
        return float(lo), float(hi if hi > lo else lo + 1)
    if constant_mid and vmin == vmax:
        pad = abs(vmax) or 1.0
        return (0.0, 2.0 * vmax) if vmax > 0 else (vmax - pad, vmax + pad)
    hi = nice_ceil(vmax) if vmax > 0 else 0.0
    lo = 0.0 if vmin >= 0 else -nice_ceil(-vmin)
    if hi == lo:
        hi = lo + 1.0
    return lo, hi


def symmetric_span(arrays: Iterable[np.ndarray]) -> tuple[float, float] | None:
    """−m … m, m the round number at or above the largest magnitude (a latent space centred on 0)."""
    values = _finite(arrays)
    if not len(values):
        return None
    m = nice_ceil(float(np.abs(values).max()))
    return -m, m


class AxisFollower:
    """Holds a pyqtgraph ViewBox's axes on ranges a view chooses (pyqtgraph's own auto-range off), setting an
    axis only when its range changes, so the axis keeps its cached picture. A zoom or pan with the mouse stops
    that axis following; pyqtgraph's "A" button (auto-range back on) gives it back.

        follower = AxisFollower(plot.vb)
        follower.apply(0, value_span([x]))            # x: 0 … a round number (or a round number … 0 … one)
    """

    def __init__(self, vb, padding: float = 0.04):
        self.vb = vb
        self.padding = padding
        self.following = [True, True]
        self._shown: list[tuple[float, float] | None] = [None, None]
        vb.disableAutoRange()
        vb.sigRangeChangedManually.connect(self._moved_by_user)

    def _moved_by_user(self, mask) -> None:
        for axis in (0, 1):
            if mask[axis]:
                self.following[axis] = False

    def apply(self, axis: int, span: tuple[float, float] | None) -> None:
        if span is None:
            return
        if self.vb.state["autoRange"][axis]:  # the "A" button: follow again
            self.following[axis] = True
            self._shown[axis] = None
        if not self.following[axis]:
            return
        lo, hi = span
        pad = (hi - lo) * self.padding
        wanted = (lo - pad, hi + pad)
        if self._shown[axis] == wanted:
            return
        self._shown[axis] = wanted
        if axis == 0:
            self.vb.setXRange(*wanted, padding=0)
        else:
            self.vb.setYRange(*wanted, padding=0)
