"""What the curves view keeps of a run, bounded however long it trains: the steps' series compacted to their
envelope past a cap (gui/plots/decimate.py), and the epochs' values as arrays (no per-redraw walk over records).

    compact_steps([step, epoch_of_step, loss, smoothed, lr], key=loss)   # past STEP_CAP points: halve, envelope kept
    table = EpochTable(); table.add(record); table.column("val_loss")
"""

from __future__ import annotations

import numpy as np

from layerloom.gui.plots.common import GrowingArray
from layerloom.gui.plots.decimate import compact_indices

# Steps kept per series for display (a run's every step is in its run folder's log). Past this the series halve,
# each group of four points keeping its lowest and highest loss, so a 2,000-epoch run costs what 100,000 steps do.
STEP_CAP = 100_000


def compact_steps(series: list[GrowingArray], key: GrowingArray, cap: int = STEP_CAP) -> bool:
    """Halve every array of `series` (the same rows: the lowest and highest `key` of each four) while `key` has
    more than `cap` points; True when it did."""
    done = False
    while len(key) > cap:
        keep = compact_indices(key.values)
        for arr in series:
            kept = arr.values[keep]  # a copy (fancy indexing) before the array is refilled
            arr.clear()
            arr.append(kept)
        done = True
    return done


class EpochTable:
    """One row per EpochEnd as growing columns: "step", "train_loss", "val_loss" and each metric (NaN where an
    epoch lacks it)."""

    def __init__(self):
        self._cols: dict[str, GrowingArray] = {}
        self.rows = 0

    def clear(self) -> None:
        self._cols = {}
        self.rows = 0

    def add(self, record: dict) -> None:
        for name, value in record.items():
            if name == "epoch":
                continue
            col = self._cols.get(name)
            if col is None:
                col = self._cols[name] = GrowingArray(np.float64, 64)
                col.append(np.full(self.rows, np.nan))
            col.append([np.nan if value is None else float(value)])
        self.rows += 1
        for col in self._cols.values():
            if len(col) < self.rows:  # a column this epoch lacks
                col.append([np.nan])

    def names(self) -> list[str]:
        """The columns, in the order they first came."""
        return list(self._cols)

    def column(self, name: str) -> np.ndarray:
        col = self._cols.get(name)
        return col.values if col is not None else np.full(self.rows, np.nan)

    def latest_at(self, step: float | None) -> int | None:
        """The row of the last epoch that ended at or before `step` (None: the last row; None when none did)."""
        if not self.rows:
            return None
        if step is None:
            return self.rows - 1
        k = int(np.searchsorted(self.column("step"), step, side="right"))
        return k - 1 if k > 0 else None
