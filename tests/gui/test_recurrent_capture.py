"""The controller's side of looking inside a recurrent block: the run's control is asked for the selected block
only while capture is on and the block is recurrent; after a run the views get a RecurrentInside computed with the
trained model (equal to the trace recomputed by hand), and a note when something is missing."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("LAYERLOOM_NO_PRELOAD", "1")

import numpy as np
import pytest
import pytestqt  # noqa: F401  (a hard test dependency: fail loudly if missing)
from PySide6.QtCore import Qt
from windows import Windows

from layerloom.core.recurrent.capture import block_input
from layerloom.core.recurrent.trace import trace_block
from layerloom.core.templates import load_template

TIMEOUT = 120_000


class Recorder:
    """A view that keeps the events and recurrent notes it is given."""

    def __init__(self):
        self.events, self.notes = [], []

    def on_event(self, event):
        self.events.append(event)

    def set_recurrent_note(self, note):
        self.notes.append(note)

    def looks(self, block="lstm"):
        return [e for e in self.events if e.kind == "recurrent_inside" and e.block == block]


@pytest.fixture
def make_window(qtbot, tmp_path):
    with Windows(qtbot, tmp_path) as windows:
        yield windows.make


def lstm_project(epochs: int):
    project = load_template("lstm_text")
    project.data.options["n"] = 160
    project.training.epochs = epochs
    project.training.threads = 1
    return project


def select(w, name):
    w.editor.select([w.document.graph.find(name)])


def train(qtbot, w, *, to_the_end: bool = False):
    """Click Train; wait until it runs (a short run may end between two looks: then until it has ended)."""
    qtbot.mouseClick(w.training_panel.start_button, Qt.MouseButton.LeftButton)
    assert w.training.running
    if to_the_end:
        qtbot.waitUntil(lambda: not w.training.running and w.training.last is not None, timeout=TIMEOUT)
        return
    qtbot.waitUntil(lambda: w.training.control is not None and w.training.state == "running", timeout=TIMEOUT)


def test_the_run_is_asked_for_the_selected_recurrent_block_only_while_capture_is_on(qtbot, make_window):
    w = make_window(lstm_project(epochs=200))
    rec = Recorder()
    w.training.add_view(rec)
    select(w, "lstm")
    train(qtbot, w)
    control = w.training.control
    assert control.recurrent_block is None  # no view shows it
    w.training.set_recurrent_capture(True)
    assert control.recurrent_block == "lstm"
    qtbot.waitUntil(lambda: bool(rec.looks()), timeout=TIMEOUT)
    look = rec.looks()[-1]
    assert look.trace.kind == "lstm" and look.trace.steps == 64 and look.gradients.norms.shape == (1, 1, 64)
    select(w, "logits")  # a Dense block: nothing to look inside
    assert control.recurrent_block is None
    select(w, "lstm")
    assert control.recurrent_block == "lstm"
    w.training.set_recurrent_capture(False)
    assert control.recurrent_block is None
    w.training.stop_and_wait()
    assert w.training.control is None


def test_after_a_run_the_views_get_the_trained_lstm_and_a_note_without_data(qtbot, make_window):
    w = make_window(lstm_project(epochs=1))
    rec = Recorder()
    w.training.add_view(rec)
    select(w, "logits")
    train(qtbot, w, to_the_end=True)
    assert w.training.last.kind == "finished"
    assert not rec.looks()  # not asked for during the run

    w.training.set_recurrent_capture(True)  # a view shows it: Dense is not recurrent
    assert "logits is a Dense, not a recurrent block" in rec.notes[-1]
    select(w, "lstm")
    (look,) = rec.looks()
    assert rec.notes[-1] is None
    model, prepared = w.training.model, w.training._prepared
    (x,), _ys = next(prepared.val.batches(1, indices=[0]))
    expected = trace_block(model.get_submodule("lstm"), block_input(model, "lstm", (x,)))
    for name, values in expected.trace(0, 0).values.items():
        np.testing.assert_allclose(look.trace.trace(0, 0).values[name], values, atol=1e-6)
    vocabulary = prepared.info.vocabulary
    assert look.time_labels[-1] == vocabulary[int(x[0, -1])] and look.sample_index == 0
    (y,) = _ys
    assert look.label == prepared.info.class_names[int(y[0])]  # named: a reopened model has no run to name it
    assert look.gradients is not None and look.gradients.norms.shape == (1, 1, 64)
    w.training.set_recurrent_capture(False)
    w.training.set_recurrent_capture(True)
    assert len(rec.looks()) == 1  # computed once for this model, block and data

    # the trained model opened in another window with no data loaded: a note says so
    other = make_window(lstm_project(epochs=1))
    rec2 = Recorder()
    other.training.add_view(rec2)
    other.training.adopt_trained(w.training.trained_source)
    select(other, "lstm")
    other.training.set_recurrent_capture(True)
    assert not rec2.looks()
    assert rec2.notes[-1].startswith("Load the data") and "inside lstm" in rec2.notes[-1]
