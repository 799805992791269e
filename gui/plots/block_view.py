"""The base of the live views that show the block selected on the canvas (Feature maps, Inside RNN): the block,
its latest frame, a note saying why there is none, the run's class names that name the probe sample's label, and
a "sample #" spin box that picks which validation sample the view looks at (each view puts `sample_box` in its
header).

    view.set_block("lstm", "LSTM")   # the controller does this when the canvas selection changes
    view.set_note("Load the data …") # why nothing shows (None: the wait message)
    view.set_probe_range(len(val))   # the samples there are (0: the box hides)
    view.probe_changed.connect(...)  # the user picked another sample; set_probe_index(i) shows one without it
"""

from __future__ import annotations

import html

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QSpinBox

from layerloom.core.training.events import RunStarted
from layerloom.gui.plots.common import PlotView


class SelectedBlockView(PlotView):
    """A view of one block's frames; frames of other blocks are ignored (subclasses check `self.block`)."""

    probe_changed = Signal(int)  # the user picked another probe sample (its index in the validation split)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.block: str | None = None
        self.block_type: str | None = None
        self.note: str | None = None  # why the selected block's frame is missing; None: waiting for a run's
        self.frame = None  # the event on show (not `event`: that is QWidget.event)
        self.class_names: tuple[str, ...] | None = None
        self.sample_box = QSpinBox(self)
        self.sample_box.setPrefix("sample #")
        self.sample_box.setToolTip("Which validation sample the view looks at (the Predictions tab shows them)")
        self.sample_box.setKeyboardTracking(False)  # typing "12" asks for sample 12, not 1 and then 12
        self.sample_box.setVisible(False)  # until there are samples (set_probe_range)
        self._quiet = False
        self.sample_box.valueChanged.connect(self._sample_picked)

    def set_probe_range(self, count: int) -> None:
        """The number of samples to pick from (sample #0 … #count − 1); the box hides when there are none."""
        self._quiet = True
        try:
            self.sample_box.setMaximum(max(0, int(count) - 1))
        finally:
            self._quiet = False
        self.sample_box.setVisible(count > 0)

    def set_probe_index(self, index: int) -> None:
        """Show `index` in the sample box without emitting probe_changed."""
        self._quiet = True
        try:
            self.sample_box.setValue(int(index))
        finally:
            self._quiet = False

    def _sample_picked(self, index: int) -> None:
        if not self._quiet:
            self.probe_changed.emit(int(index))

    def set_block(self, name: str | None, block_type: str | None = None) -> None:
        """Show this block (None: no block selected, the hint shows). Frames of other blocks are ignored."""
        if name != self.block:
            self.frame = None
        self.block, self.block_type = name, block_type
        self._changed()

    def set_note(self, note: str | None) -> None:
        """Why the selected block's frame is missing (shown instead of the wait message); None: none."""
        self.note = note
        self._changed()

    def reset(self, run: RunStarted | None = None) -> None:
        self.frame = None
        self.class_names = run.class_names if run is not None else None
        self._changed()

    def block_title(self) -> str:
        """"<b>name</b> (Type)" of the selected block, or "" when none is."""
        if self.block is None:
            return ""
        kind = f" ({html.escape(self.block_type)})" if self.block_type else ""
        return f"<b>{html.escape(self.block)}</b>{kind}"

    def sample_text(self, sample_index: int, label) -> str:
        """"probe sample #3 (label spam)": a class index named with the run's class names."""
        if isinstance(label, int | np.integer) and self.class_names and 0 <= int(label) < len(self.class_names):
            label = self.class_names[int(label)]
        text = f"probe sample #{sample_index}"
        if label is not None:
            text += f" (label {html.escape(short(label))})"
        return text


def short(value) -> str:
    """A value as text of at most 24 characters."""
    text = str(value)
    return text if len(text) <= 24 else text[:21] + "…"
