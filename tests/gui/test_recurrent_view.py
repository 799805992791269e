"""The Inside RNN view (gui/plots/recurrent.py) and the gradient-through-time plot of the Gradients tab, fed with
real `RecurrentInside` events: `look_inside` on small hand-made RNN / LSTM / GRU word classifiers (stacked and
bidirectional). Offscreen, driven with real clicks and mouse moves."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
import pytest
import pytestqt  # noqa: F401  (a hard test dependency: fail loudly if missing)
import torch
from PySide6.QtCore import QPointF, Qt
from torch import nn
from windows import shown

from layerloom.core.recurrent.inside import look_inside
from layerloom.core.recurrent.trace import unit_lines
from layerloom.core.training.events import RecurrentInside
from layerloom.gui.plots.gradients import GradientFlowView
from layerloom.gui.plots.recurrent import NOT_RECURRENT, RecurrentView
from layerloom.gui.plots.time_gradients import NOT_RECURRENT as NO_TIME_GRADIENT

WORDS = ("<pad>", "a", "slow", "start", "but", "great", "end")
SENTENCE = ("a", "slow", "start", "but", "a", "great", "end")


class Words(nn.Module):
    def __init__(self, kind: str, layers: int, bidirectional: bool, hidden: int = 6):
        super().__init__()
        cls = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[kind]
        self.embedding = nn.Embedding(len(WORDS), 4)
        self.rnn = cls(4, hidden, num_layers=layers, bidirectional=bidirectional, batch_first=True)
        self.head = nn.Linear(hidden * (2 if bidirectional else 1), 2)

    def forward(self, x):
        return self.head(self.rnn(self.embedding(x))[0][:, -1])


def inside(kind="lstm", layers=2, bidirectional=True, block="rnn", seed=0) -> RecurrentInside:
    torch.manual_seed(seed)
    model = Words(kind, layers, bidirectional)
    x = torch.tensor([[WORDS.index(w) for w in SENTENCE]])
    look = look_inside(model, "rnn", (x,), torch.tensor([1]), nn.functional.cross_entropy, vocabulary=WORDS)
    return RecurrentInside(step=7, epoch=0, block=block, sample_index=2, trace=look.trace, gradients=look.gradients,
                           time_labels=look.time_labels, label=1, gradient_note=look.gradient_note)




def fed(qtbot, event, block_type="LSTM") -> RecurrentView:
    view = shown(qtbot, RecurrentView)
    view.set_block(event.block, block_type)
    view.on_event(event)
    view.refresh()
    return view


def viewport_point(graphics, plot, x: float, y: float):
    """Where the data point (x, y) of `plot` is on the viewport of `graphics`."""
    scene = plot.vb.mapViewToScene(QPointF(x, y))
    return graphics.mapFromScene(scene)


def test_the_heat_map_is_the_hidden_state_of_the_picked_layer_and_direction(qtbot):
    ev = inside("lstm", layers=2, bidirectional=True)
    view = fed(qtbot, ev)
    assert view.body.isVisible() and not view.hint.isVisible()
    np.testing.assert_array_equal(view.hidden.image.image, ev.trace.trace(0, 0).h.T)  # units down, time across
    assert view.hidden.image.image.shape == (6, len(SENTENCE))
    assert view.layer_box.isVisible() and view.direction_box.isVisible()
    assert [label for _t, label in view.hidden.ticks][:2] == ["a", "slow"]  # the words along the time axis
    view.layer_box.setCurrentIndex(1)
    view.refresh()
    np.testing.assert_array_equal(view.hidden.image.image, ev.trace.trace(1, 0).h.T)
    view.direction_box.setCurrentIndex(1)
    view.refresh()
    np.testing.assert_array_equal(view.hidden.image.image, ev.trace.trace(1, 1).h.T)
    assert not np.array_equal(ev.trace.trace(1, 1).h, ev.trace.trace(1, 0).h)
    assert "layer 2, backward" in view.hidden.title


def test_lstm_gate_panels_with_their_ranges(qtbot):
    ev = inside("lstm", layers=1, bidirectional=False)
    view = fed(qtbot, ev)
    assert list(view.gate_panels) == ["i", "f", "g", "o", "c", "h"]  # c = f·c + i·g, h = o·tanh(c)
    d = ev.trace.trace(0, 0)
    for name, panel in view.gate_panels.items():
        np.testing.assert_array_equal(panel.image.image, d[name].T)
    for name in "ifo":
        assert tuple(view.gate_panels[name].image.levels) == (0.0, 1.0)
        assert view.gate_panels[name].scale == "gate"
    for name in "gh":
        assert tuple(view.gate_panels[name].image.levels) == (-1.0, 1.0)
    top = float(np.abs(d["c"]).max())
    assert tuple(view.gate_panels["c"].image.levels) == pytest.approx((-top, top))
    assert tuple(view.gate_panels["c"].bar.levels()) == pytest.approx((-top, top))
    assert "0 forgets, 1 keeps" in view.gate_panels["f"].title
    assert not view.layer_box.isVisible() and not view.direction_box.isVisible()  # one layer, one direction


def test_gru_panels_and_an_rnn_shows_only_its_hidden_state(qtbot):
    ev = inside("gru", layers=1, bidirectional=True)
    view = fed(qtbot, ev, "GRU")
    assert set(view.gate_panels) == {"z", "r", "n", "h"}
    assert tuple(view.gate_panels["z"].image.levels) == (0.0, 1.0)
    assert tuple(view.gate_panels["r"].image.levels) == (0.0, 1.0)
    assert tuple(view.gate_panels["n"].image.levels) == (-1.0, 1.0)
    np.testing.assert_array_equal(view.gate_panels["r"].image.image, ev.trace.trace(0, 0)["r"].T)
    assert set(view.curves) == {"r", "z", "n", "h"}
    rnn = inside("rnn", layers=2, bidirectional=False)
    view.on_event(rnn)
    view.refresh()
    assert view.gate_panels == {} and not view.gate_graphics.isVisible()
    np.testing.assert_array_equal(view.hidden.image.image, rnn.trace.trace(0, 0).h.T)
    assert set(view.curves) == {"h"}


def test_clicking_a_row_or_the_spin_box_picks_the_unit_lines(qtbot):
    ev = inside("lstm", layers=2, bidirectional=True)
    view = fed(qtbot, ev)
    graphics = view.state_graphics
    qtbot.mouseClick(graphics.viewport(), Qt.MouseButton.LeftButton,
                     pos=viewport_point(graphics, view.hidden.plot, 3, 4))
    assert view.unit == 4 and view.unit_box.value() == 4
    lines = unit_lines(ev.trace, 0, 0, 4)
    assert set(view.curves) == {"i", "f", "o", "c", "h"}
    for name, curve in view.curves.items():
        np.testing.assert_array_equal(curve.yData, lines[name])
        np.testing.assert_array_equal(curve.xData, np.arange(len(SENTENCE)))
    # a row of a gate panel picks too
    gates = view.gate_graphics
    qtbot.mouseClick(gates.viewport(), Qt.MouseButton.LeftButton,
                     pos=viewport_point(gates, view.gate_panels["f"].plot, 2, 1))
    assert view.unit == 1
    view.direction_box.setCurrentIndex(1)
    view.unit_box.setValue(5)
    view.refresh()
    lines = unit_lines(ev.trace, 0, 1, 5)
    for name, curve in view.curves.items():
        np.testing.assert_array_equal(curve.yData, lines[name])


def test_hovering_a_step_reads_the_unit_there(qtbot):
    ev = inside("lstm", layers=1, bidirectional=False)
    view = fed(qtbot, ev)
    view.unit_box.setValue(2)
    graphics = view.state_graphics
    qtbot.mouseMove(graphics.viewport(), viewport_point(graphics, view.hidden.plot, 5, 1))
    qtbot.waitUntil(lambda: view.hover_label.text() != "")
    text = view.hover_label.text()
    lines = unit_lines(ev.trace, 0, 0, 2)
    assert text.startswith("step 6 “great”")
    assert "unit 2" in text and f"f {lines['f'][5]:.3g}" in text
    assert view.unit_time.isVisible() and view.unit_time.value() == 5


def test_other_blocks_are_ignored_and_notes_show(qtbot):
    view = shown(qtbot, RecurrentView)
    view.set_block("rnn", "LSTM")
    view.refresh()
    assert view.hint.isVisible() and "Waiting for rnn" in view.hint.text()
    view.set_recurrent_note("Train the network to see inside rnn.")
    view.refresh()
    assert view.hint.isVisible() and view.hint.text() == "Train the network to see inside rnn."
    view.on_event(inside("lstm", block="other_lstm"))
    assert view.frame is None
    view.set_block("dense_1", "Dense")
    view.refresh()
    assert view.hint.text() == NOT_RECURRENT and not view.body.isVisible()


def test_a_hidden_view_keeps_the_event_and_draws_when_shown(qtbot):
    view = fed(qtbot, inside("gru", layers=1, bidirectional=False), "GRU")
    view.hide()
    before = view.redraws
    ev = inside("gru", layers=1, bidirectional=False, seed=3)
    view.on_event(ev)
    qtbot.wait(50)
    assert view.redraws == before and view.frame is ev
    view.show()
    qtbot.waitUntil(lambda: view.redraws > before)
    np.testing.assert_array_equal(view.hidden.image.image, ev.trace.trace(0, 0).h.T)


def test_csv_export_has_every_value(qtbot, tmp_path):
    ev = inside("gru", layers=1, bidirectional=True)
    view = fed(qtbot, ev, "GRU")
    path = tmp_path / "inside.csv"
    view.export_csv(str(path))
    rows = path.read_text().splitlines()
    assert rows[0] == "layer,direction,step,time_label,unit,h,r,z,n"
    assert len(rows) == 1 + 2 * len(SENTENCE) * 6
    first = rows[1].split(",")
    assert first[:5] == ["1", "forward", "1", "a", "0"]
    assert float(first[5]) == pytest.approx(float(ev.trace.trace(0, 0).h[0, 0]))


def test_gradient_through_time_beside_the_layer_flow(qtbot):
    view = shown(qtbot, GradientFlowView, 1000, 420)
    panel = view.through_time
    view.refresh()
    assert panel.hint.isVisible() and panel.hint.text() == NO_TIME_GRADIENT
    ev = inside("lstm", layers=2, bidirectional=True)
    view.set_block("rnn", "LSTM")
    view.on_event(inside("lstm", block="another"))
    view.refresh()
    assert panel.frame is None and "Waiting for rnn" in panel.hint.text()
    view.on_event(ev)
    view.refresh()
    assert panel.graphics.isVisible() and not panel.hint.isVisible()
    assert len(panel.curves) == 4
    norms = ev.gradients.norms
    assert (norms[1, 1, :-1] == 0).all()  # the head reads the last step only: layer 2 backward's first one
    for curve, (layer, d) in zip(panel.curves, [(0, 0), (0, 1), (1, 0), (1, 1)]):
        expected = np.where(norms[layer, d] > 0, norms[layer, d], np.nan)  # a log axis leaves zeros out
        np.testing.assert_array_equal(curve.yData, expected)
    np.testing.assert_array_equal(panel.curves[0].yData, norms[0, 0])  # all positive: drawn as they are
    assert [item[1].text for item in panel.legend.items] == ["layer 1 forward", "layer 1 backward",
                                                            "layer 2 forward", "layer 2 backward"]
    assert panel.plot.getAxis("left").logMode and panel.plot.ctrl.logYCheck.isChecked()
    assert "rnn" in panel.plot.titleLabel.text
    no_grads = RecurrentInside(step=8, epoch=0, block="rnn", sample_index=2, trace=ev.trace, gradients=None,
                               time_labels=ev.time_labels, gradient_note="the gradient through time needs the "
                               "sample's target")
    view.on_event(no_grads)
    view.refresh()
    assert panel.hint.isVisible() and panel.hint.text() == no_grads.gradient_note


def test_the_live_views_tab_asks_for_recurrent_capture(qtbot, tmp_path):
    from windows import Windows

    with Windows(qtbot, tmp_path) as windows:
        w = windows.make()
        calls: list[bool] = []
        real = w.training.set_recurrent_capture
        w.training.set_recurrent_capture = lambda on: (calls.append(on), real(on))
        tabs = w.live_views
        assert isinstance(tabs.view("recurrent"), RecurrentView)
        assert "Inside RNN" in [tabs.tabText(i) for i in range(tabs.count())]
        tabs.show_view("curves")
        calls.clear()
        tabs.show_view("recurrent")
        assert calls[-1] is True
        tabs.show_view("curves")
        assert calls[-1] is False
        tabs.show_view("gradients")
        assert calls[-1] is True
