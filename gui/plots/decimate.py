"""Long curves made short: min-max decimation for display (about two points per pixel, the envelope kept) and
compaction of what a view keeps over a long run (a capped history whose extremes survive).

    xs, ys = envelope(steps, loss, buckets=800)        # ≤ 2·800 + 2 points: each bucket's lowest and highest
    keep = compact_indices(loss)                       # indices of half the points: the low and high of each four
    lo, hi = visible_slice(steps, x0, x1)              # the points inside [x0, x1] and one either side
"""

from __future__ import annotations

import numpy as np


def _bucket_extremes(y: np.ndarray, per: int) -> np.ndarray:
    """Indices of the lowest and highest value of each run of `per` points of `y` (a trailing partial run
    included), in increasing order; non-finite values count as neither low nor high unless a run has nothing
    else."""
    n = len(y)
    full = n // per
    head = y[:full * per].reshape(full, per)
    finite = np.isfinite(head)
    low = np.argmin(np.where(finite, head, np.inf), axis=1)
    high = np.argmax(np.where(finite, head, -np.inf), axis=1)
    if full * per < n:  # the last, shorter run
        tail = y[full * per:]
        ok = np.isfinite(tail)
        low = np.append(low, np.argmin(np.where(ok, tail, np.inf)))
        high = np.append(high, np.argmax(np.where(ok, tail, -np.inf)))
    base = np.arange(len(low)) * per
    pairs = np.stack([base + np.minimum(low, high), base + np.maximum(low, high)], axis=1).ravel()
    return pairs[np.concatenate([[True], np.diff(pairs) > 0])]  # a run whose low is its high: once


def envelope(x: np.ndarray, y: np.ndarray, buckets: int) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) with at most about 2·`buckets` + 2 points: in each of `buckets` runs of consecutive points the
    lowest and the highest (in their order), and the first and last point. Shorter input comes back as is."""
    x, y = np.asarray(x), np.asarray(y)
    n, buckets = len(y), max(1, int(buckets))
    if n <= 2 * buckets + 2:
        return x, y
    per = -(-n // buckets)
    idx = _bucket_extremes(y, per)
    idx = np.concatenate([[0] if idx[0] else [], idx, [n - 1] if idx[-1] != n - 1 else []]).astype(np.intp)
    return x[idx], y[idx]


def compact_indices(y: np.ndarray, group: int = 4) -> np.ndarray:
    """Indices keeping about 2/`group` of `y`: the lowest and the highest of each `group` consecutive points (so a
    history halves, with group 4, and keeps its envelope), the last point always kept."""
    y = np.asarray(y)
    if len(y) <= 2:
        return np.arange(len(y))
    idx = _bucket_extremes(y, group)
    return idx if idx[-1] == len(y) - 1 else np.append(idx, len(y) - 1)


def visible_slice(x: np.ndarray, x0: float, x1: float) -> tuple[int, int]:
    """[lo, hi) of the sorted `x` inside [x0, x1], widened by one point on each side (the lines into the view)."""
    lo = max(0, int(np.searchsorted(x, x0, side="left")) - 1)
    hi = min(len(x), int(np.searchsorted(x, x1, side="right")) + 1)
    return lo, max(lo, hi)
