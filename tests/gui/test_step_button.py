"""Stepping a paused run from the window: the Training panel's Step button and F10 train exactly one batch,
Ctrl+F10 the rest of the epoch; the curves mark the stepped batches; Step is refused unless paused. The mlp
template on the built-in 8×8 digits, offscreen."""

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
    """A view that keeps every event it is given."""

    def __init__(self):
        self.events = []

    def reset(self, run):
        self.events.clear()

    def on_event(self, event):
        self.events.append(event)

    def kinds(self, kind):
        return [e for e in self.events if e.kind == kind]

    def steps(self):
        return [int(s) for e in self.kinds("steps") for s in e.step]


@pytest.fixture
def window(qtbot, tmp_path):
    project = load_template("mlp")
    project.training.epochs = 2000  # still running when the test pauses it, however slow the machine is
    project.training.batch_size = 256  # about 6 steps an epoch
    project.training.device = "cpu"
    project.training.threads = 1
    with Windows(qtbot, tmp_path) as windows:
        w = windows.make(project)
        w.activateWindow()
        qtbot.waitUntil(w.isActiveWindow, timeout=2000)  # shortcuts go to the active window only
        w.recorder = Recorder()
        w.training.add_view(w.recorder)
        yield w


def wait_stepped(qtbot, w, count):
    qtbot.waitUntil(lambda: len(w.recorder.kinds("stepped")) == count and w.training.state == "paused",
                    timeout=TIMEOUT)
    return w.recorder.kinds("stepped")[-1]


def test_step_button_and_shortcuts_step_a_paused_run(qtbot, window):
    w = window
    panel, curves = w.training_panel, w.live_views.view("curves")
    w.commands["train"].trigger()
    qtbot.waitUntil(lambda: w.training.state == "running" and bool(w.recorder.kinds("steps")), timeout=TIMEOUT)
    assert not panel.step_button.isEnabled() and not w.commands["step_batch"].isEnabled()
    w.commands["pause"].trigger()
    qtbot.waitUntil(lambda: w.training.state == "paused", timeout=TIMEOUT)
    assert panel.step_button.isEnabled() and w.commands["step_batch"].isEnabled()
    assert w.commands["step_epoch"].isEnabled() and "F10" in panel.step_button.toolTip()
    before = w.recorder.steps()
    n = before[-1]
    assert before == list(range(1, n + 1)) and len(curves.stepped_points()[0]) == 0

    qtbot.mouseClick(panel.step_button, Qt.MouseButton.LeftButton)  # one batch
    stepped = wait_stepped(qtbot, w, 1)
    assert (stepped.step_from, stepped.step_to, stepped.unit) == (n, n + 1, "batch")
    assert w.recorder.steps() == list(range(1, n + 2)) and list(curves.step.values)[-1] == n + 1
    xs, ys = curves.stepped_points()
    assert list(xs) == [n + 1] and ys[0] == curves.loss.values[-1]
    assert "stepped" in [label.text for _sample, label in curves._legends[0].items]

    qtbot.keyClick(w, Qt.Key.Key_F10)  # one more batch
    stepped = wait_stepped(qtbot, w, 2)
    assert (stepped.step_from, stepped.step_to) == (n + 1, n + 2)
    assert w.recorder.steps() == list(range(1, n + 3))
    curves.refresh()  # the marks survive a redraw
    assert list(curves.stepped_points()[0]) == [n + 1, n + 2]
    assert list(curves.stepped_marks.getData()[0]) == [n + 1, n + 2]

    ends = len(w.recorder.kinds("epoch_end"))
    qtbot.keyClick(w, Qt.Key.Key_F10, Qt.KeyboardModifier.ControlModifier)  # the rest of the epoch
    stepped = wait_stepped(qtbot, w, 3)
    run = w.training.run
    assert stepped.unit == "epoch" and stepped.step_from == n + 2 and stepped.step_to % run.steps_per_epoch == 0
    assert len(w.recorder.kinds("epoch_end")) == ends + 1
    assert w.recorder.kinds("epoch_end")[-1].step == stepped.step_to
    assert w.recorder.steps() == list(range(1, stepped.step_to + 1))
    assert list(curves.stepped_points()[0]) == [n + 1, n + 2, stepped.step_to]

    # the panel's menu steps an epoch too; then running again, a step is refused with a note
    epoch_action = panel.step_menu.actions()[1]
    assert "epoch" in epoch_action.text()
    epoch_action.trigger()
    stepped = wait_stepped(qtbot, w, 4)
    assert stepped.unit == "epoch" and stepped.step_to - stepped.step_from == run.steps_per_epoch
    w.commands["pause"].trigger()  # resume
    qtbot.waitUntil(lambda: w.training.state == "running", timeout=TIMEOUT)
    assert not panel.step_button.isEnabled() and not w.commands["step_epoch"].isEnabled()
    assert w.training.step() is False
    assert "pause the training first" in w.statusBar().currentMessage()
    assert len(w.recorder.kinds("stepped")) == 4

    # a new run starts without marks
    assert w.training.stop_and_wait()
    w.commands["train"].trigger()
    qtbot.waitUntil(lambda: w.training.run is not None and w.training.run is not run, timeout=TIMEOUT)
    assert len(curves.stepped) == 0 and len(curves.stepped_points()[0]) == 0
    assert "stepped" not in [label.text for _sample, label in curves._legends[0].items]
