"""Picking the probe sample: the "sample #" box of the Inside RNN and Feature maps tabs (kept in step) makes the
views look at that validation sample — with the trained model after a run, and through the run's control (looked at
again at once) while a run is paused."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("LAYERLOOM_NO_PRELOAD", "1")

import pytest
import pytestqt  # noqa: F401  (a hard test dependency: fail loudly if missing)
from PySide6.QtCore import Qt
from windows import Windows

from layerloom.core.templates import load_template

TIMEOUT = 120_000


class Recorder:
    """A view that keeps the recurrent looks it is given."""

    def __init__(self):
        self.looks = []

    def on_event(self, event):
        if event.kind == "recurrent_inside" and event.block == "lstm":
            self.looks.append(event)


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


def words(prepared, index: int) -> tuple[str, ...]:
    """The words of validation sample `index`, padding (id 0) as "·" (as the view labels time)."""
    (x,), _ys = next(prepared.val.batches(1, indices=[index]))
    return tuple(prepared.info.vocabulary[int(t)] if int(t) else "·" for t in x[0])


def test_after_a_run_the_sample_box_picks_the_sample_both_tabs_look_at(qtbot, make_window):
    w = make_window(lstm_project(epochs=1))
    rec = Recorder()
    w.training.add_view(rec)
    w.editor.select([w.document.graph.find("lstm")])
    qtbot.mouseClick(w.training_panel.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not w.training.running and w.training.last is not None, timeout=TIMEOUT)
    assert w.training.last.kind == "finished"
    views = w.live_views
    inside, features = views.view("recurrent"), views.view("features")
    views.show_view("recurrent")
    assert rec.looks[-1].sample_index == 0
    prepared = w.training._prepared
    box = inside.sample_box
    assert box.isVisible() and box.maximum() == len(prepared.val) - 1 and features.sample_box.maximum() == box.maximum()
    assert box.prefix() == "sample #" and "Predictions tab" in box.toolTip()

    box.setFocus()
    for _ in range(3):
        qtbot.keyClick(box, Qt.Key.Key_Up)
    assert box.value() == 3 and w.training.probe_index == 3
    look = rec.looks[-1]
    assert look.sample_index == 3 and look.time_labels == words(prepared, 3)
    assert inside.frame is look
    assert words(prepared, 3) != words(prepared, 0)
    assert features.sample_box.value() == 3  # kept in step
    views.show_view("features")
    assert features.frame is not None and features.frame.block == "lstm" and features.frame.sample_index == 3
    features.refresh()
    assert "probe sample #3" in features.title.text()

    # picked in the Feature maps tab: the Inside RNN tab follows
    features.sample_box.setFocus()
    qtbot.keyClick(features.sample_box, Qt.Key.Key_Down)
    assert inside.sample_box.value() == 2 and w.training.probe_index == 2 and features.frame.sample_index == 2
    views.show_view("recurrent")
    assert rec.looks[-1].sample_index == 2 and rec.looks[-1].time_labels == words(prepared, 2)


def test_during_a_paused_run_the_control_follows_the_sample_box(qtbot, make_window):
    w = make_window(lstm_project(epochs=200))
    rec = Recorder()
    w.training.add_view(rec)
    w.editor.select([w.document.graph.find("lstm")])
    w.live_views.show_view("recurrent")
    qtbot.mouseClick(w.training_panel.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: w.training.control is not None and w.training.state == "running", timeout=TIMEOUT)
    control = w.training.control
    assert control.probe_index == 0
    qtbot.mouseClick(w.training_panel.pause_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: w.training.state == "paused", timeout=TIMEOUT)

    inside = w.live_views.view("recurrent")
    box = inside.sample_box
    box.setFocus()
    box.selectAll()  # the number, not the prefix
    qtbot.keyClicks(box, "5")
    qtbot.keyClick(box, Qt.Key.Key_Return)
    assert box.value() == 5 and control.probe_index == 5
    assert w.live_views.view("features").sample_box.value() == 5
    # the paused run looks at the new sample at once, with the weights it paused with
    qtbot.waitUntil(lambda: bool(rec.looks) and rec.looks[-1].sample_index == 5, timeout=TIMEOUT)
    assert w.training.state == "paused"
    assert rec.looks[-1].time_labels == words(w.training._prepared, 5)
    w.training.stop_and_wait()
    # the next run starts with the sample picked
    qtbot.mouseClick(w.training_panel.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: w.training.control is not None, timeout=TIMEOUT)
    assert w.training.control.probe_index == 5
    w.training.stop_and_wait()
