"""Autosave within seconds of an edit (graph or settings), and a window killed for real keeps its edits."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import pytestqt  # noqa: F401  (a hard test dependency: fail loudly if missing)
from PySide6.QtCore import QSettings

from layerloom.core.edits import SetParams, SetSettings
from layerloom.core.errors import LayerloomError
from layerloom.core.project import load_project
from layerloom.core.templates import load_template
from layerloom.gui import recovery as recovery_module
from layerloom.gui.main_window import MainWindow
from layerloom.gui.recovery import AUTOSAVE_MAX_DELAY_MS, Recovery


@pytest.fixture
def window(qtbot, tmp_path):
    w = MainWindow(settings=QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat),
                   recovery=Recovery(tmp_path / "recovery"))
    w.set_project(load_template("mlp"), None)
    yield w
    w.document.undo_stack.setClean()  # closed without the "save changes?" question
    w.close()
    w.recovery.clean_exit()
    w.deleteLater()


def _saved(window):
    """The project in the recovery file, None while there is none."""
    try:
        return load_project(window.recovery.project_file)
    except LayerloomError:
        return None


def _dense(graph):
    return next(n for n in graph if n.type == "Dense")


def test_an_edit_is_autosaved_within_seconds(qtbot, window):
    assert window.autosave_timer.interval() == 60_000  # the slow clock stays as a fallback
    dense = _dense(window.document.graph)
    t0 = time.monotonic()
    window.document.do(SetParams(dense.id, {"out_features": 77}))
    qtbot.waitUntil(lambda: _saved(window) is not None and _dense(_saved(window).graph).params["out_features"] == 77,
                    timeout=4000)
    assert time.monotonic() - t0 < AUTOSAVE_MAX_DELAY_MS / 1000
    # a change of the training settings alone (the graph's revision does not move) is saved too
    window.document.do(SetSettings("training", {"lr": 0.123}))
    qtbot.waitUntil(lambda: _saved(window).training.lr == 0.123, timeout=4000)
    # saved: the autosave goes
    window.document.undo_stack.setClean()
    assert window.autosave_now() is None and not window.recovery.project_file.exists()


def test_a_long_burst_of_edits_is_saved_before_it_ends(qtbot, window, monkeypatch):
    monkeypatch.setattr(recovery_module, "AUTOSAVE_DELAY_MS", 300)
    monkeypatch.setattr(recovery_module, "AUTOSAVE_MAX_DELAY_MS", 800)
    dense = _dense(window.document.graph)
    for k in range(12):  # an edit every 100 ms for 1.2 s: the 300 ms quiet never comes
        window.document.do(SetParams(dense.id, {"out_features": 10 + k}))
        qtbot.wait(100)
        if window.recovery.project_file.exists():
            break
    assert window.recovery.project_file.exists() and k < 11


WINDOW_SCRIPT = textwrap.dedent("""
    import sys
    from PySide6.QtCore import QSettings, QTimer
    from PySide6.QtWidgets import QApplication
    from layerloom.core.edits import SetParams
    from layerloom.gui.main_window import MainWindow
    from layerloom.gui.recovery import Recovery
    from layerloom.core.templates import load_template

    app = QApplication([])
    folder = sys.argv[1]
    w = MainWindow(settings=QSettings(folder + "/settings.ini", QSettings.Format.IniFormat),
                   recovery=Recovery(folder + "/recovery"))
    w.set_project(load_template("mlp"), None)
    w.show()
    dense = next(n for n in w.document.graph if n.type == "Dense")
    QTimer.singleShot(0, lambda: w.document.do(SetParams(dense.id, {"out_features": 55})))
    print("edited", flush=True)
    app.exec()
""")


def test_a_window_killed_for_memory_keeps_its_unsaved_edit(tmp_path):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "LAYERLOOM_NO_PRELOAD": "1"}
    proc = subprocess.Popen([sys.executable, "-c", WINDOW_SCRIPT, str(tmp_path)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    folder = tmp_path / "recovery"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            if any(p.suffix == ".json" and not p.name.endswith(".meta.json") for p in folder.glob("*.json")):
                break
            time.sleep(0.05)
        assert proc.poll() is None, proc.communicate()[1]
        os.kill(proc.pid, signal.SIGKILL)  # as the kernel's OOM killer does: no clean exit
    finally:
        proc.kill()
        proc.communicate()
    pending = Recovery(folder).pending()
    assert len(pending) == 1
    project = Recovery(folder).restore(pending[0])
    assert _dense(project.graph).params["out_features"] == 55
