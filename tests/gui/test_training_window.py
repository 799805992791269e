"""Training in the window: lenet5 on the built-in digits through the window's own controls, the live views
fed by the controller, feature maps of the selected block, pause/resume/stop, closing while training, a
failing run, predictions, training twice, and the structural-edit lock. Offscreen, temporary settings and
run folders; dialogs are answered by a stand-in."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("LAYERLOOM_NO_PRELOAD", "1")

import glob

import numpy as np
import pytest
import pytestqt  # noqa: F401  (a hard test dependency: fail loudly if missing)
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QMessageBox, QTabBar

from layerloom.core.edits import Move, SetParams
from layerloom.core.templates import load_template
from layerloom.gui.main_window import MainWindow
from layerloom.gui.recovery import Recovery

TIMEOUT = 120_000


class Recorder:
    """A view that keeps every event it is given."""

    def __init__(self):
        self.events, self.resets = [], 0

    def reset(self, run):
        self.resets += 1

    def on_event(self, event):
        self.events.append(event)

    def kinds(self, kind):
        return [e for e in self.events if e.kind == kind]


@pytest.fixture
def answers(monkeypatch):
    class Answers(list):
        seen: list[str]

    queue = Answers()
    seen: list[str] = []

    def exec_(box):
        seen.append(box.text())
        if not queue:
            raise AssertionError(f"unexpected dialog: {box.text()!r}")
        return queue.pop(0)

    monkeypatch.setattr(QMessageBox, "exec", exec_)
    queue.seen = seen
    return queue


@pytest.fixture
def window(qtbot, tmp_path, answers):
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    settings.setValue("training/runs_dir", str(tmp_path / "runs"))
    project = load_template("lenet5")
    project.training.epochs = 1
    w = MainWindow(settings=settings, recovery=Recovery(tmp_path / "recovery"))
    w.set_project(project, None)
    w.recorder = Recorder()
    w.training.add_view(w.recorder)
    w.show()
    qtbot.waitExposed(w)
    yield w
    if w.training.running:
        w.training.stop_and_wait()
    w.document.undo_stack.setClean()
    w.close()
    w.deleteLater()


def wait_idle(qtbot, w, timeout=TIMEOUT):
    qtbot.waitUntil(lambda: not w.training.running, timeout=timeout)


def select(w, name):
    nid = w.document.graph.find(name)
    w.editor.select([nid])
    return nid


def test_one_epoch_through_the_window_feeds_the_views(qtbot, window, tmp_path):
    w = window
    select(w, "conv1")
    w.live_views.show_view("features")
    qtbot.mouseClick(w.training_panel.start_button, Qt.MouseButton.LeftButton)
    assert w.training.running
    assert not w.commands["train"].isEnabled()
    wait_idle(qtbot, w)
    last = w.training.last
    assert last.kind == "finished", getattr(last, "message", last)
    assert last.status == "finished" and last.epochs == 1
    rec = w.recorder
    assert rec.resets == 1
    assert rec.kinds("steps") and rec.kinds("epoch_end")
    curves = w.live_views.view("curves")
    assert len(curves.loss) > 0 and len(curves.epochs) == 1
    maps = [e for e in rec.kinds("feature_maps") if e.block == "conv1"]
    assert maps and maps[-1].maps.shape[0] == 6
    feature_view = w.live_views.view("features")
    qtbot.waitUntil(lambda: feature_view.mode == "tiles" and feature_view.tile_count == 6, timeout=5000)
    assert w.training_panel.progress.value() == 1000
    assert "samples/s" in w.training_panel.status.text()
    assert glob.glob(str(tmp_path / "runs" / "*" / "*.safetensors"))
    assert w.commands["train"].isEnabled() and w.document.locked is None

    # predictions on the trained model: a drawn digit (0..1 pixels) gives probabilities summing to 1
    p = w.training.predictor
    assert p.input_shape == (1, 28, 28)
    digit = np.zeros((28, 28), np.float32)
    digit[6:22, 13:16] = 1.0
    probs = p.predict(digit)
    assert probs.shape == (1, 10) and abs(float(probs.sum()) - 1) < 1e-5

    # the GUI thread computed serially (threads.py): the run's OpenMP pool was the only one
    from layerloom.core.training.threads import is_serial

    assert is_serial()

    # a second run in a row just works (after an edit too)
    assert w.document.do(SetParams(w.document.graph.find("conv1"), {"out_channels": 8}))
    w.commands["train"].trigger()
    wait_idle(qtbot, w)
    assert w.training.last.kind == "finished"
    assert w.recorder.resets == 2


def test_the_status_bar_writes_results_as_the_training_panel_does(qtbot, window):
    w = window
    w.document.project.training.early_stopping_metric = "val_accuracy"  # the run's best is an accuracy
    qtbot.mouseClick(w.training_panel.start_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, w)
    last = w.training.last
    assert last.kind == "finished" and last.metric == "val_accuracy", getattr(last, "message", last)
    best, final = last.best, last.final["val_accuracy"]
    assert f"best val accuracy {best * 100:.1f} %" in w.statusBar().currentMessage()  # not "best val accuracy 0.9106"
    assert f"val accuracy {final * 100:.1f} %" in w.training_panel.status.text()


def test_pause_resume_stop_and_live_predictions(qtbot, window):
    w = window
    w.document.project.training.epochs = 50
    w.commands["train"].trigger()
    qtbot.waitUntil(lambda: w.training.state == "running" and bool(w.recorder.kinds("steps")), timeout=TIMEOUT)
    w.commands["pause"].trigger()
    qtbot.waitUntil(lambda: w.training.state == "paused", timeout=TIMEOUT)
    assert w.training_panel.pause_button.text() == "Resume"
    probs = w.training.predictor.predict(np.random.default_rng(0).random((2, 1, 28, 28), dtype=np.float32))
    assert probs.shape == (2, 10) and np.allclose(probs.sum(axis=1), 1, atol=1e-5)
    w.training_panel.pause_button.click()
    qtbot.waitUntil(lambda: w.training.state == "running", timeout=TIMEOUT)
    # the learning rate changes live
    editor = w.training_panel.editors["lr"]
    assert editor.isEnabled() and not w.training_panel.editors["epochs"].isEnabled()
    editor.setText("0.0005")
    editor.editingFinished.emit()
    assert w.document.project.training.lr == 0.0005
    qtbot.waitUntil(lambda: any(abs(float(e.lr[-1]) - 0.0005) < 1e-9 for e in w.recorder.kinds("steps")),
                    timeout=TIMEOUT)
    w.commands["stop"].trigger()
    wait_idle(qtbot, w)
    assert w.training.last.kind == "finished" and w.training.last.status == "stopped"
    assert w.training.last.checkpoint and os.path.exists(w.training.last.checkpoint)


def test_structural_edits_are_refused_while_training(qtbot, window):
    w = window
    w.document.project.training.epochs = 50
    w.commands["train"].trigger()
    qtbot.waitUntil(lambda: w.training.state == "running", timeout=TIMEOUT)
    nid = w.document.graph.find("conv1")
    outcome = w.document.do(SetParams(nid, {"out_channels": 3}))
    assert not outcome and "training" in outcome.reason
    assert w.document.graph.node(nid).params["out_channels"] == 6
    assert w.document.do(Move({nid: (10.0, 20.0)}))  # moving blocks stays allowed
    assert not w.commands["delete"].isEnabled() and not w.commands["undo"].isEnabled()
    w.training.stop_and_wait()
    assert w.document.locked is None
    assert w.document.do(SetParams(nid, {"out_channels": 3}))


def test_closing_while_training_asks_then_stops_with_a_checkpoint(qtbot, window, answers, tmp_path):
    w = window
    w.document.project.training.epochs = 50
    w.commands["train"].trigger()
    qtbot.waitUntil(lambda: w.training.state == "running" and bool(w.recorder.kinds("steps")), timeout=TIMEOUT)
    answers.append(QMessageBox.StandardButton.Cancel)  # first: keep training
    assert not w.close()
    assert w.training.running
    w.document.undo_stack.setClean()
    answers.append(QMessageBox.StandardButton.Yes)
    answers.append(QMessageBox.StandardButton.Discard)  # the stopped run's weights: not kept in a project file
    assert w.close()
    assert not w.training.running
    assert "training" in answers.seen[-2]
    assert "Save the changes to “LeNet-5” before closing?" in answers.seen[-1]
    last = w.training.last
    assert last.kind == "finished" and last.status == "stopped"
    assert last.checkpoint and os.path.exists(last.checkpoint)
    assert os.path.dirname(last.checkpoint).startswith(str(tmp_path / "runs"))


def test_a_failing_run_shows_its_message_and_the_window_keeps_working(qtbot, window):
    w = window
    w.document.project.training.lr = 1e30
    w.document.project.training.optimizer = "sgd"
    w.commands["train"].trigger()
    wait_idle(qtbot, w)
    last = w.training.last
    assert last.kind == "failed" and last.reason == "nan"
    assert "NaN" in w.training_panel.status.text() or "infinite" in w.training_panel.status.text()
    assert "Training failed" in w.statusBar().currentMessage()
    # data that does not fit: flattened digits into a conv net
    w.document.project.training.lr = 1e-3
    w.document.project.data.options = {"resize": [28, 28], "flatten": True}
    w.commands["train"].trigger()
    wait_idle(qtbot, w)
    assert w.training.last.kind == "failed" and "Input" in w.training.last.message
    # the window still trains
    w.document.project.data.options = {"resize": [28, 28]}
    w.commands["train"].trigger()
    wait_idle(qtbot, w)
    assert w.training.last.kind == "finished"


def test_data_panel_previews_and_checks_the_data(qtbot, window):
    w = window
    panel = w.data_panel
    assert panel.prepared is None and not panel.loading  # behind the Inspector tab: nothing loaded yet
    tabs = next(b for b in w.findChildren(QTabBar) if "Data" in [b.tabText(i) for i in range(b.count())])
    data_tab = next(i for i in range(tabs.count()) if tabs.tabText(i) == "Data")
    qtbot.mouseClick(tabs, Qt.MouseButton.LeftButton, pos=tabs.tabRect(data_tab).center())
    # a built-in data set previews as soon as its panel shows, without Load
    qtbot.waitUntil(lambda: panel.prepared is not None and not panel.loading, timeout=TIMEOUT)
    assert panel.preview.grid.count() > 0
    assert panel.preview.histogram.counts and len(panel.preview.histogram.counts) == 10
    assert "Fits" in panel.check_label.text()
    # options edit the project (undoably) and the check asks for a new load
    panel._fill_options({"resize": [28, 28], "flatten": True})
    panel._options_edited()
    assert w.document.project.data.options["flatten"] is True and w.document.modified
    w.document.undo_stack.undo()
    assert "flatten" not in w.document.project.data.options


def test_training_settings_form_edits_the_project(qtbot, window):
    w = window
    form = w.training_panel
    form.editors["batch_size"].setValue(32)
    assert w.document.project.training.batch_size == 32 and w.document.modified
    form.editors["lr"].setText("-1")
    form.editors["lr"].editingFinished.emit()
    assert w.document.project.training.lr == 1e-3 and "lr" in form.problem_label.text()
    w.document.undo_stack.undo()
    assert w.document.project.training.batch_size == 64
    assert form.editors["batch_size"].value() == 64


def test_live_updates_slow_down_when_the_gui_thread_is_busy_and_speed_up_again(qtbot, window):
    """The pace keeps the GUI thread's share of a core near GUI_CPU_BUDGET while training: the drain slows to once
    a second, then the views' redraws spread further apart; an idle GUI thread brings both back."""
    import time

    from layerloom.core.training import TrainControl
    from layerloom.gui.training import controller as ctl
    from layerloom.gui.training import pacing

    c = window.training
    curves = window.live_views.view("curves")
    c._control = TrainControl()
    c._set_state(ctl.RUNNING)  # as while a run trains
    c.pacer = pacing.UpdatePacer()  # the first run: ~30 Hz until the costs are known
    c.pacer.start()
    c._timer.setInterval(c.pacer.drain_interval_ms)
    c._pace()
    for _ in range(4):
        end = time.thread_time() + 0.03
        while time.thread_time() < end:  # 30 ms of GUI-thread work between two drains
            pass
        c._pace()
    assert c._timer.interval() == pacing.DRAIN_INTERVAL_MAX_MS
    assert curves._redraw_gap_ms == c.pacer.period_ms == pacing.REDRAW_GAP_MAX_MS
    assert c._control.look_interval == 1.0  # the run computes no look the buffer would drop: one a drain
    for _ in range(40):  # an idle GUI thread (drains of well under a millisecond): back to ~30 Hz
        time.sleep(0.1)
        c._pace()
        if c._timer.interval() == pacing.DRAIN_INTERVAL_MS:
            break
    assert c._timer.interval() < pacing.DRAIN_INTERVAL_MAX_MS / 2
    assert curves._redraw_gap_ms == 0 and c._control.look_interval < 0.5
    c._set_state(ctl.IDLE)
    c._control = None


def test_the_progress_bar_stops_its_loading_animation_when_the_run_starts(qtbot, window):
    """While the data loads the bar shows Fusion's busy animation (~60 repaints a second); once the run has started
    it holds still until the first steps come, which the pace may bring a second later."""
    from PySide6.QtCore import QEvent, QObject

    from layerloom.gui.plots import demo
    from layerloom.gui.training import controller as ctl

    bar = window.training_panel.progress
    window.training_dock.raise_()  # in front of the Inspector, as a run brings it

    class Paints(QObject):
        count = 0

        def eventFilter(self, obj, event):
            if event.type() == QEvent.Type.Paint:
                Paints.count += 1
            return False

    paints = Paints()
    bar.installEventFilter(paints)
    c = window.training
    c._set_state(ctl.LOADING)
    qtbot.wait(300)
    assert Paints.count >= 5 and bar.maximum() == 0  # the busy animation
    c._set_state(ctl.RUNNING)
    c.run_started.emit(demo.run_started(steps_per_epoch=20, epochs=5))
    qtbot.wait(100)
    Paints.count = 0
    qtbot.wait(400)
    assert Paints.count <= 1 and bar.maximum() == 1000 and bar.format() == "Epoch 1/5"
    bar.removeEventFilter(paints)
    c._set_state(ctl.IDLE)


def test_training_brings_the_live_views_forward_and_leaves_docks_in_view_alone(qtbot, window):
    """The Problems tab in front of Live views and the Inspector in front of Training: a run brings both
    forward. Once they are in front, the next run raises nothing, so the window is not repainted whole."""
    w = window
    w.show_problems()
    w.inspector_dock.raise_()
    qtbot.waitUntil(lambda: w.views_dock.visibleRegion().isEmpty() and w.training_dock.visibleRegion().isEmpty())
    qtbot.mouseClick(w.training_panel.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not w.views_dock.visibleRegion().isEmpty(), timeout=TIMEOUT)
    qtbot.waitUntil(lambda: not w.training_dock.visibleRegion().isEmpty(), timeout=TIMEOUT)
    assert w.problems_dock.visibleRegion().isEmpty() and w.inspector_dock.visibleRegion().isEmpty()
    wait_idle(qtbot, w)

    raised = []
    for dock in (w.views_dock, w.training_dock):
        original = dock.raise_
        dock.raise_ = lambda d=dock, o=original: (raised.append(d.objectName()), o())[1]
    w.commands["train"].trigger()
    wait_idle(qtbot, w)
    assert w.training.last.kind == "finished" and w.recorder.resets == 2
    assert raised == []
    assert not w.views_dock.visibleRegion().isEmpty() and not w.training_dock.visibleRegion().isEmpty()
