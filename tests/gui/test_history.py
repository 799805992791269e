"""Run history: reading run folders (core/training/history.py) and the RunHistoryView."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from layerloom.core.training.history import list_runs, load_run, settings_summary
from layerloom.core.training.run_folder import RunFolder


def _write_run(root, name, accs, *, lr=1e-3, steps_per_epoch=5):
    path = os.path.join(root, name)
    folder = RunFolder(path, tensorboard=False)
    folder.write_settings({"training": {"optimizer": "adam", "lr": lr, "batch_size": 32, "epochs": len(accs)},
                           "metric": "val_accuracy", "device_name": "CPU", "data": {"name": "digits"}})
    step = 0
    for epoch, acc in enumerate(accs):
        s = np.arange(step + 1, step + steps_per_epoch + 1)
        step += steps_per_epoch
        folder.log_steps(epoch, s, np.linspace(2, 1, steps_per_epoch) / (epoch + 1), np.full(steps_per_epoch, lr),
                         s * 0.1)
        folder.log_epoch({"epoch": epoch, "step": step, "train_loss": 1.0 / (epoch + 1), "val_loss": 0.9 / (epoch + 1),
                          "val_accuracy": acc, "lr": lr, "seconds": 1.0, "samples_per_s": 100.0})
    folder.close()
    return path


@pytest.fixture
def runs_root(tmp_path):
    root = str(tmp_path / "runs")
    _write_run(root, "lenet5-20240101-100000", [0.5, 0.8, 0.7])
    _write_run(root, "lenet5-20240102-090000", [0.6, 0.9], lr=0.01)
    _write_run(root, "other-20240103-090000", [0.1])
    os.makedirs(os.path.join(root, "lenet5-20240104-090000"))  # empty: not a run folder
    return root


def test_list_runs_of_a_project_newest_first(runs_root):
    runs = list_runs(runs_root, "lenet5")
    assert [r.name for r in runs] == ["lenet5-20240102-090000", "lenet5-20240101-100000"]
    newest, oldest = runs
    assert newest.started.day == 2 and newest.epochs_done == 2 and newest.epochs_planned == 2
    assert newest.best == pytest.approx(0.9) and newest.best_epoch == 1
    assert oldest.best == pytest.approx(0.8) and oldest.best_epoch == 1
    assert newest.settings_text == "adam · lr 0.01 · batch 32 · 2 epochs"
    assert newest.best_text == "val accuracy 90.0 %"  # as the training panel and the status bar write it
    assert len(list_runs(runs_root)) == 3
    assert list_runs(os.path.join(runs_root, "missing")) == []


def test_load_run_curves(runs_root):
    c = load_run(os.path.join(runs_root, "lenet5-20240101-100000"))
    assert len(c.step) == 15 and c.step[-1] == 15
    assert c.epoch.tolist() == [0] * 5 + [1] * 5 + [2] * 5
    assert c.loss[0] == pytest.approx(2.0)
    assert [r["val_accuracy"] for r in c.epochs] == [0.5, 0.8, 0.7]


def test_settings_summary_options():
    assert settings_summary({}) == ""
    text = settings_summary({"optimizer": "sgd", "lr": 0.1, "scheduler": "cosine", "weight_decay": 1e-4,
                             "grad_clip": 1.0})
    assert text == "sgd · lr 0.1 · cosine · decay 0.0001 · clip 1"


def test_metric_text_writes_accuracies_as_percentages_and_losses_as_plain_numbers():
    from layerloom.core.training.metric_text import metric_text, metric_value

    assert metric_text("val_accuracy", 0.9106) == "val accuracy 91.1 %"
    assert metric_text("train_accuracy", 1.0) == "train accuracy 100.0 %"
    assert metric_text("val_loss", 0.05169) == "val loss 0.0517"
    assert metric_value("train_loss", 2.302585) == "2.3026"
    assert metric_value("val_loss", 0.000293) == "0.000293"  # not 0.0003, nor 2.93e-04
    assert metric_value("val_mae", 123456.0) == "1.235e+05"
    assert metric_value("val_accuracy", None) == "–" and metric_text("val_loss", None) == "–"


def test_run_history_view_lists_and_overlays_two_runs(qtbot, runs_root, tmp_path):
    from layerloom.core.training.events import Finished
    from layerloom.gui.plots import RunHistoryView

    view = RunHistoryView()
    qtbot.addWidget(view)
    view.resize(900, 500)
    view.show()
    view.set_runs_root(runs_root, "lenet5")
    assert view.table.topLevelItemCount() == 2
    first = view.table.topLevelItem(0)
    assert first.text(0) == "lenet5-20240102-090000" and "90.0 %" in first.text(4) and first.text(2) == "2/2"
    assert not view.open_button.isEnabled()
    paths = [r.path for r in view.runs]
    view.table.topLevelItem(0).setSelected(True)
    view.table.topLevelItem(1).setSelected(True)
    assert view.selected == paths
    view.refresh()
    assert view.open_button.isEnabled()
    assert len(view.metric_plot.listDataItems()) == 2
    assert len(view.loss_plot.listDataItems()) == 6  # raw + smoothed + validation, per run
    # a new run finishes: listed again
    _write_run(runs_root, "lenet5-20240105-090000", [0.95])
    view.on_event(Finished(status="finished", reason="completed", epochs=1, step=5, metric="val_accuracy",
                           best=0.95, best_epoch=0))
    assert view.table.topLevelItemCount() == 3
    assert view.selected == paths  # the selection survives
    path = tmp_path / "runs.csv"
    view.export_csv(str(path))
    assert path.read_text().count("\n") == 4
    assert view.export_png(str(tmp_path / "runs.png"))
    assert not view.open_folder(os.path.join(runs_root, "missing"))


def test_a_hidden_history_view_reads_the_run_folders_when_it_shows(qtbot):
    """A run's start and end ask the view to reload; behind another tab it waits, so the GUI thread reads no
    run folders while training."""
    from layerloom.gui.plots import RunHistoryView

    view = RunHistoryView()
    qtbot.addWidget(view)
    reloads = []
    view.reload = lambda: reloads.append(1)
    view.reload_when_shown()
    assert reloads == []
    view.show()
    qtbot.waitUntil(lambda: reloads == [1], timeout=2000)
    view.reload_when_shown()  # on screen: at once
    assert reloads == [1, 1]


def _say(path, state, **fields):
    from layerloom.core.training.run_status import STATUS, this_process

    with open(os.path.join(path, STATUS), "w", encoding="utf-8") as f:
        json.dump({"state": state, **this_process(), "checkpoints": {}, **fields}, f)


def _click_row(qtbot, view, name):
    from PySide6.QtCore import Qt

    for i in range(view.table.topLevelItemCount()):
        item = view.table.topLevelItem(i)
        if item.text(0) == name:
            rect = view.table.visualItemRect(item)
            qtbot.mouseClick(view.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
            return item
    raise AssertionError(f"{name} is not listed")


def _answer_next_box(qtbot, text):
    """Click the button `text` of the next modal message box, as a person would."""
    from PySide6.QtCore import Qt, QTimer
    from PySide6.QtWidgets import QApplication, QMessageBox

    seen = []

    def click():
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            QTimer.singleShot(20, click)
            return
        seen.append(box.text())
        button = next(b for b in box.buttons() if b.text().replace("&", "") == text)
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)

    QTimer.singleShot(0, click)
    return seen


def test_runs_tab_shows_statuses_and_deletes_a_failed_run(qtbot, runs_root):
    import subprocess
    import sys

    from PySide6.QtCore import Qt

    from layerloom.gui.plots import RunHistoryView
    from layerloom.gui.plots.history import STATUS_COLUMN

    failed = os.path.join(runs_root, "lenet5-20240101-100000")
    running = os.path.join(runs_root, "lenet5-20240102-090000")
    gone = _write_run(runs_root, "lenet5-20240103-090000", [0.4])
    _say(failed, "failed", reason="nan", message="the training loss became NaN at step 9")
    _say(running, "running")  # this process: alive
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    _say(gone, "running", pid=child.pid)  # says running, but its process is gone

    view = RunHistoryView()
    qtbot.addWidget(view)
    view.resize(900, 500)
    view.show()
    qtbot.waitExposed(view)
    view.set_runs_root(runs_root, "lenet5")
    statuses = {view.table.topLevelItem(i).text(0): view.table.topLevelItem(i).text(STATUS_COLUMN)
                for i in range(view.table.topLevelItemCount())}
    assert statuses == {"lenet5-20240101-100000": "failed", "lenet5-20240102-090000": "running",
                        "lenet5-20240103-090000": "interrupted"}
    item = _click_row(qtbot, view, "lenet5-20240101-100000")
    assert "NaN at step 9" in item.toolTip(STATUS_COLUMN)
    assert view.delete_button.isEnabled()
    _click_row(qtbot, view, "lenet5-20240102-090000")
    assert view.selected == [running] and not view.delete_button.isEnabled()  # never a running run
    assert view.delete_runs([running]) == [] and os.path.isdir(running)

    _click_row(qtbot, view, "lenet5-20240101-100000")
    seen = _answer_next_box(qtbot, "Cancel")
    qtbot.mouseClick(view.delete_button, Qt.MouseButton.LeftButton)
    assert seen == ["Delete lenet5-20240101-100000?"] and os.path.isdir(failed)  # cancelled: kept

    seen = _answer_next_box(qtbot, "Delete")
    qtbot.mouseClick(view.delete_button, Qt.MouseButton.LeftButton)
    assert seen and not os.path.exists(failed)
    names = [view.table.topLevelItem(i).text(0) for i in range(view.table.topLevelItemCount())]
    assert names == ["lenet5-20240103-090000", "lenet5-20240102-090000"]
    assert os.path.isdir(gone) and os.path.isdir(running)
