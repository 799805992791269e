"""Inside a recurrent block (RNN, LSTM, GRU) on the probe sample, from `RecurrentInside` events: the hidden
state over time (time across, units down, the sample's words or values along the time axis), the gates side by
side (each with its colour scale and range), and one unit's quantities as lines over time.

    view.set_block("lstm", "LSTM")   # the controller does this when the canvas selection changes
    view.on_event(recurrent_inside)  # only the selected block's events are kept; drawn when the tab shows

Clicking a row of a heat map picks that unit; hovering a step reads every quantity of the unit there.
"""

from __future__ import annotations

import html
from functools import partial

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QFrame, QHBoxLayout, QLabel, QScrollArea, QSpinBox, QSplitter, QVBoxLayout

from layerloom.core.recurrent.trace import unit_lines
from layerloom.core.training.events import RecurrentInside
from layerloom.gui.plots.block_view import SelectedBlockView
from layerloom.gui.plots.common import (
    fit_legend,
    fmt,
    graphics_widget,
    legend_above,
    plot_colors,
    series_color,
    style_legend,
    style_plot,
    write_csv,
)
from layerloom.gui.plots.heat_panel import HeatPanel, time_ticks
from layerloom.gui.quiet_text import QuietText

RECURRENT = ("RNN", "LSTM", "GRU")
NOT_RECURRENT = ("Select an RNN, LSTM or GRU block on the canvas to see inside it: its hidden state over time, "
                 "its gates and, in the Gradients tab, its gradient through time.")
# the gate panels, in reading order (rows of `GATE_COLUMNS[kind]`)
GATES = {"lstm": ("i", "f", "g", "o", "c", "h"), "gru": ("z", "r", "n", "h"), "rnn": ()}
GATE_COLUMNS = {"lstm": 2, "gru": 2, "rnn": 1}
LINES = {"lstm": ("i", "f", "o", "c", "h"), "gru": ("r", "z", "n", "h"), "rnn": ("h",)}
TITLES = {
    "i": "input gate i — 0 adds nothing, 1 adds the candidate",
    "f": "forget gate f — 0 forgets, 1 keeps",
    "o": "output gate o — 0 hides the cell, 1 shows it",
    "g": "candidate g — what may be written (−1 to 1)",
    "c": "cell state c — the long-term memory",
    "h": "hidden state h — what the layer passes on",
    "z": "update gate z — 0 takes the candidate, 1 keeps the old state",
    "r": "reset gate r — 0 ignores the old state in the candidate",
    "n": "candidate n — the proposed new state (−1 to 1)",
}
COLORS = {"h": "loss", "c": "val", "i": "accuracy", "f": "exploding", "o": "lr", "g": "train_accuracy",
          "z": "accuracy", "r": "exploding", "n": "train_accuracy"}
# the least height a heat map, a row of gate panels and the unit plot need to be read: a short dock scrolls instead
MIN_HEIGHT = {"state": 170, "gate_row": 135, "unit": 170}
DIRECTION_NAMES = ("forward (reads left to right)", "backward (reads right to left)")


class RecurrentView(SelectedBlockView):
    EXPORT_NAME = "inside_rnn"
    MIN_INTERVAL_MS = 100

    def __init__(self, parent=None):
        super().__init__(parent)
        self.layer = self.direction = self.unit = 0
        self.hover_step: int | None = None
        self.kind: str | None = None  # the kind whose panels and curves exist
        self.gate_panels: dict[str, HeatPanel] = {}
        self.curves: dict[str, pg.PlotDataItem] = {}
        self._unit_range, self._unit_ticks, self._unit_title = 0, [], ""  # what the unit plot shows now

        self.title = QuietText(self)  # changes with every look: repaints itself alone (gui/quiet_text.py)
        self.layer_box = QComboBox(self)
        self.layer_box.setToolTip("Which layer of the stacked block to show")
        self.direction_box = QComboBox(self)
        self.direction_box.setToolTip("Which direction of the bidirectional block to show")
        self.direction_box.addItems(list(DIRECTION_NAMES))
        self.unit_box = QSpinBox(self)
        self.unit_box.setPrefix("unit ")
        self.unit_box.setToolTip("The unit whose quantities show as lines below (or click a row of a heat map)")
        self.hover_label = QLabel(self)
        self.hover_label.setObjectName("subtle")
        self.hint = QLabel(NOT_RECURRENT, self)
        self.hint.setObjectName("subtle")
        self.hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.hint.setWordWrap(True)

        self.state_graphics = graphics_widget()
        self.hidden = HeatPanel(self.state_graphics, 0, 0, bar_width=12, title_size="10pt")
        self.gate_graphics = graphics_widget()
        self.unit_graphics = graphics_widget()
        self.unit_plot = self.unit_graphics.addPlot(row=1, col=0)
        self.legend = legend_above(self.unit_graphics, self.unit_plot, row=0)
        self.unit_plot.setMouseEnabled(x=False, y=False)
        self.unit_plot.hideButtons()
        self.unit_time = pg.InfiniteLine(angle=90, movable=False)
        self.unit_time.setVisible(False)
        self.unit_plot.addItem(self.unit_time)
        self.body = QSplitter(Qt.Orientation.Vertical, self)
        for w, stretch in ((self.state_graphics, 3), (self.gate_graphics, 4), (self.unit_graphics, 3)):
            self.body.addWidget(w)
            self.body.setStretchFactor(self.body.indexOf(w), stretch)
        self.state_graphics.setMinimumHeight(MIN_HEIGHT["state"])
        self.unit_graphics.setMinimumHeight(MIN_HEIGHT["unit"])
        self.body.setChildrenCollapsible(False)
        self.scroll = QScrollArea(self)
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll.setWidget(self.body)
        for g in (self.state_graphics, self.gate_graphics, self.unit_graphics):  # each scene has its own coordinates
            g.scene().sigMouseMoved.connect(partial(self._mouse_moved, scene=g.scene()))
        for g in (self.state_graphics, self.gate_graphics):
            g.scene().sigMouseClicked.connect(partial(self._mouse_clicked, scene=g.scene()))
        self.layer_box.currentIndexChanged.connect(self._pick_layer)
        self.direction_box.currentIndexChanged.connect(self._pick_direction)
        self.unit_box.valueChanged.connect(self.pick_unit)

        head = QHBoxLayout()
        head.setContentsMargins(6, 2, 6, 0)
        head.addWidget(self.title, 1)
        for w in (self.sample_box, self.layer_box, self.direction_box, self.unit_box):
            head.addWidget(w)
        head.addWidget(self.export_buttons())
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.setSpacing(2)
        box.addLayout(head)
        readout = QHBoxLayout()
        readout.setContentsMargins(6, 0, 6, 0)
        readout.addWidget(self.hover_label)
        box.addLayout(readout)
        box.addWidget(self.hint, 1)
        box.addWidget(self.scroll, 6)
        self._restyle()
        self.reset(None)

    # --- the contract ------------------------------------------------------------------------------

    def set_recurrent_note(self, note: str | None) -> None:
        """Why the selected block's states are missing (shown instead of the wait message); None: none."""
        self.set_note(note)

    def on_event(self, event) -> None:
        if isinstance(event, RecurrentInside) and self.block is not None and event.block == self.block:
            self.frame = event  # drawn on the next timer tick, or when the view is shown
            self._changed()

    @property
    def recurrent(self) -> bool:
        """Whether the selected block may be recurrent (an unknown type is given the benefit of the doubt)."""
        return self.block is not None and (self.block_type is None or self.block_type in RECURRENT)

    def pick_unit(self, unit: int) -> None:
        """Show this unit's lines (what the spin box and a click on a heat-map row do)."""
        unit = int(unit)
        if self.unit_box.value() != unit:
            self.unit_box.setValue(unit)  # comes back here through valueChanged
            return
        self.unit = unit
        if self.frame is not None and self.kind is not None:
            self._draw_lines()
            self.hover_at(self.hover_step)

    def hover_at(self, step: int | None) -> None:
        """Read every quantity of the picked unit at this step (None: clear); what hovering does."""
        self.hover_step = step
        frame = self.frame
        marks = [self.hidden, *self.gate_panels.values()]
        if frame is None or step is None or not 0 <= step < frame.trace.steps:
            self.hover_label.setText("")
            self.unit_time.setVisible(False)
            for panel in marks:
                panel.mark(self.unit, None)
            return
        lines = unit_lines(frame.trace, self.layer, self.direction, self.unit)
        values = " · ".join(f"{name} {fmt(lines[name][step], 3)}" for name in LINES[frame.trace.kind])
        self.hover_label.setText(f"step {step + 1} “{html.escape(self._labels()[step])}” · unit {self.unit} · "
                                 f"{values}")
        self.unit_time.setPos(step)
        self.unit_time.setVisible(True)
        for panel in marks:
            panel.mark(self.unit, step)

    # --- drawing ------------------------------------------------------------------------------------

    def _restyle(self) -> None:
        for g in (self.state_graphics, self.gate_graphics, self.unit_graphics):
            g.setBackground(plot_colors()["background"])
        for panel in (self.hidden, *self.gate_panels.values()):
            panel.restyle()
        style_plot(self.unit_plot, left="value", bottom="time step")
        self._unit_title = ""
        style_legend(self.legend)
        self.unit_time.setPen(pg.mkPen(plot_colors()["subtle"], width=1))
        for name, curve in self.curves.items():
            curve.setPen(pg.mkPen(series_color(COLORS[name]), width=2))

    def _redraw(self) -> None:
        ev = self.frame
        show = self.recurrent and ev is not None
        self.hint.setVisible(not show)
        self.scroll.setVisible(show)
        if not show:
            for w in (self.layer_box, self.direction_box, self.unit_box):
                w.setVisible(False)
            self.hover_label.setText("")
            if not self.recurrent:
                self.title.setText(self.block_title())
                self.hint.setText(NOT_RECURRENT)
            else:
                self.title.setText(self.block_title())
                self.hint.setText(self.note or f"Waiting for {self.block}'s states on the probe sample: they are "
                                  "computed while training runs, about twice a second.")
            return
        trace = ev.trace
        if trace.kind != self.kind:
            self._build(trace.kind)
        self._pickers(trace)
        self.title.setText(self._frame_title(ev))
        d = trace.trace(self.layer, self.direction)
        where = self._where(trace)
        self.hidden.show(d.h, trace.value_range("h"), trace.quantity("h").scale,
                         f"hidden state h of {where} — one row per unit, one column per step")
        labels = self._labels()
        self.hidden.set_ticks(time_ticks(labels, self._width(self.hidden.plot)))
        for name, panel in self.gate_panels.items():
            panel.show(d[name], trace.value_range(name), trace.quantity(name).scale, TITLES[name])
            panel.set_ticks(time_ticks(labels, self._width(panel.plot)))
        self._draw_lines()
        self.hover_at(self.hover_step if self.hover_step is not None and self.hover_step < trace.steps else None)

    def _build(self, kind: str) -> None:
        """The gate panels and unit-line curves of a block kind (made when the kind changes, then reused)."""
        self.gate_graphics.clear()
        self.gate_panels = {}
        cols = GATE_COLUMNS[kind]
        for k, name in enumerate(GATES[kind]):
            self.gate_panels[name] = HeatPanel(self.gate_graphics, k // cols, k % cols)
        self.gate_graphics.setVisible(bool(GATES[kind]))
        rows = -(-len(GATES[kind]) // cols)
        self.gate_graphics.setMinimumHeight(rows * MIN_HEIGHT["gate_row"])
        for curve in self.curves.values():
            self.unit_plot.removeItem(curve)
        self.legend.clear()
        self.curves = {}
        for name in LINES[kind]:
            curve = self.unit_plot.plot([], [], name=f"{name} ({TITLES[name].split(' — ')[0].rsplit(' ', 1)[0]})",
                                        pen=pg.mkPen(series_color(COLORS[name]), width=2))
            self.curves[name] = curve
        style_legend(self.legend)
        self.kind = kind

    def _pickers(self, trace) -> None:
        if self.layer_box.count() != trace.layers:
            self.layer_box.blockSignals(True)
            self.layer_box.clear()
            self.layer_box.addItems([f"layer {k + 1}" for k in range(trace.layers)])
            self.layer_box.blockSignals(False)
        self.layer = min(self.layer, trace.layers - 1)
        self.direction = min(self.direction, trace.directions - 1)
        for box, value in ((self.layer_box, self.layer), (self.direction_box, self.direction)):
            box.blockSignals(True)
            box.setCurrentIndex(value)
            box.blockSignals(False)
        self.layer_box.setVisible(trace.layers > 1)
        self.direction_box.setVisible(trace.directions > 1)
        self.unit_box.setVisible(True)
        if self.unit_box.maximum() != trace.hidden_size - 1:  # (a new range re-lays out the view's whole dock)
            self.unit_box.blockSignals(True)
            self.unit_box.setRange(0, trace.hidden_size - 1)
            self.unit_box.blockSignals(False)
        self.unit = self.unit_box.value()

    def _draw_lines(self) -> None:
        trace = self.frame.trace
        lines = unit_lines(trace, self.layer, self.direction, self.unit)
        x = np.arange(trace.steps)
        for name, curve in self.curves.items():
            curve.setData(x, lines[name])
        if self._unit_range != trace.steps:
            self._unit_range = trace.steps
            self.unit_plot.setXRange(-0.5, trace.steps - 0.5, padding=0)
        ticks = time_ticks(self._labels(), self._width(self.unit_plot))
        if ticks != self._unit_ticks:
            self._unit_ticks = ticks
            self.unit_plot.getAxis("bottom").setTicks([ticks, []])
        title = f"unit {self.unit} of {self._where(trace)} over time"
        if title != self._unit_title:
            self._unit_title = title
            self.unit_plot.setTitle(title, color=plot_colors()["foreground"].name(), size="9pt")
        fit_legend(self.legend, max(200, self.unit_graphics.width()))
        for panel in (self.hidden, *self.gate_panels.values()):
            panel.mark(self.unit, self.hover_step)

    def _labels(self) -> tuple[str, ...]:
        ev = self.frame
        steps = ev.trace.steps
        labels = tuple(str(s) for s in ev.time_labels)
        return labels if len(labels) == steps else tuple(str(t + 1) for t in range(steps))

    def _where(self, trace) -> str:
        parts = []
        if trace.layers > 1:
            parts.append(f"layer {self.layer + 1}")
        if trace.directions > 1:
            parts.append(("forward", "backward")[self.direction])
        return f"{self.block}" + (f" ({', '.join(parts)})" if parts else "")

    def _frame_title(self, ev: RecurrentInside) -> str:
        t = ev.trace
        shape = f"{t.layers} layer{'s' if t.layers > 1 else ''}"
        if t.directions > 1:
            shape += ", both directions"
        return " · ".join([self.block_title(), f"{shape}, {t.hidden_size} units, {t.steps} steps",
                           self.sample_text(ev.sample_index, ev.label), f"step {ev.step:,}"])

    @staticmethod
    def _width(plot) -> float:
        w = plot.vb.width()
        return w if w > 10 else 600.0

    # --- the mouse ---------------------------------------------------------------------------------

    def _panels(self, scene):
        return [p for p in (self.hidden, *self.gate_panels.values()) if p.plot.scene() is scene]

    def _mouse_moved(self, pos, scene) -> None:
        if self.frame is None:
            return
        for panel in self._panels(scene):
            step = panel.step_at(pos)
            if step is not None:
                self.hover_at(step)
                return
        if scene is self.unit_plot.scene() and self.unit_plot.sceneBoundingRect().contains(pos):
            step = round(self.unit_plot.vb.mapSceneToView(pos).x())
            if 0 <= step < self.frame.trace.steps:
                self.hover_at(step)

    def _mouse_clicked(self, ev, scene) -> None:
        if self.frame is None or ev.button() != Qt.MouseButton.LeftButton:
            return
        for panel in self._panels(scene):
            row = panel.row_at(ev.scenePos())
            if row is not None:
                self.pick_unit(row)
                return

    def _pick_layer(self, index: int) -> None:
        if index >= 0:
            self.layer = index
            self._changed()

    def _pick_direction(self, index: int) -> None:
        if index >= 0:
            self.direction = index
            self._changed()

    # --- export -------------------------------------------------------------------------------------

    def export_csv(self, path: str) -> None:
        """Every value of the trace: one row per layer, direction, step and unit, one column per quantity."""
        ev = self.frame
        if ev is None:
            write_csv(path, ["layer", "direction", "step", "time_label", "unit", "h"], [])
            return
        trace = ev.trace
        names = [q.name for q in trace.quantities]
        labels = self._labels()

        def rows():
            for d in trace.traces:
                stacked = np.stack([d.values[n] for n in names], axis=-1)  # T × units × quantities
                for t in range(trace.steps):
                    for u, values in enumerate(stacked[t].tolist()):
                        yield [d.layer + 1, d.direction_name, t + 1, labels[t], u, *values]

        write_csv(path, ["layer", "direction", "step", "time_label", "unit", *names], rows())
