"""`layerloom doctor`: the report a bug report needs, the self-check on the CPU, failures reported as
such (never a traceback), and Help → System information showing the same report."""

from __future__ import annotations

import json
import re
from importlib import metadata

import pytest

from layerloom.app import doctor
from layerloom.app.cli import main
from layerloom.core import self_check, system_report


@pytest.fixture(scope="module")
def report_json(tmp_path_factory):
    """`layerloom doctor --json` run once for the module (Qt facts from an offscreen child)."""
    import os
    import subprocess
    import sys

    data_dir = tmp_path_factory.mktemp("datasets")
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "LAYERLOOM_DATA_DIR": str(data_dir)}
    proc = subprocess.run([sys.executable, "-m", "layerloom", "doctor", "--json"], capture_output=True,
                          text=True, env=env, timeout=120, cwd=tmp_path_factory.mktemp("cwd"))
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)["report"], str(data_dir)


def test_report_has_versions_devices_qt_and_folders(report_json):
    import layerloom

    report, data_dir = report_json
    assert list(report) == ["Layerloom", "Python", "Packages", "Devices", "Qt", "Folders"]
    assert report["Layerloom"]["version"] == layerloom.__version__
    packages = report["Packages"]
    assert packages["torch"] == metadata.version("torch")
    assert packages["torchvision"] == metadata.version("torchvision")
    assert packages["pyqtgraph"] == metadata.version("pyqtgraph")
    import PySide6

    assert packages["PySide6"] == PySide6.__version__
    devices = report["Devices"]
    assert devices["cuda"].startswith(("available", "not available"))
    assert "threads used by torch" in devices["cpu"]
    assert devices["best device"].split()[0] in ("cpu", "cuda", "cuda:0", "mps")
    qt = report["Qt"]
    assert qt["platform plugin"].startswith("offscreen")
    assert "offscreen" in qt["available plugins"]
    assert qt["OpenGL"]  # available or not, it says which
    folders = report["Folders"]
    assert folders["downloads"].startswith(data_dir)
    assert "Layerloom" in folders["settings"]
    assert folders["autosaves"].endswith("recovery")
    assert "runs" in folders["runs"] and "(the window" in folders["runs"]
    assert folders["runs (command line)"].split(" (")[0].endswith("runs")
    assert folders["resources"].endswith("resources")


def test_text_report_is_readable(monkeypatch, capsys):
    monkeypatch.setattr(doctor, "qt_probe", lambda timeout=0: {"Qt": "6.x", "platform plugin": "offscreen",
                                                               "settings file": "/s.conf", "autosave folder": "/r"})
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    for heading in ("Layerloom", "Python", "Packages", "Devices", "Qt", "Folders"):
        assert f"\n{heading}\n" in f"\n{out}"
    assert "  torch:" in out and "  best device:" in out
    assert "  settings:" in out and "/s.conf" in out and "  autosaves:" in out and "  downloads:" in out
    assert "Checks" not in out


def test_qt_that_cannot_start_is_reported_not_fatal(monkeypatch):
    monkeypatch.setenv("QT_QPA_PLATFORM", "no-such-platform")
    qt = doctor.qt_probe(timeout=60)
    assert qt["platform plugin"].startswith("cannot start:")
    assert "no-such-platform" in qt["platform plugin"]
    folders = system_report.folders_section(qt)
    assert folders["settings"].startswith("unknown")


def test_check_passes_on_the_cpu(capsys):
    """The whole chain: template, a few training steps on the digits, ONNX export and run, the window."""
    assert main(["doctor", "--check", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    checks = out.split("\nChecks\n", 1)[1]
    for step in self_check.STEP_NAMES:
        assert f"  passed  {step}" in checks
    assert "FAILED" not in checks
    assert "All 5 checks passed" in checks
    assert "steps on CPU" in checks and "loss" in checks
    assert "opened and closed offscreen" in checks


def test_a_failed_step_fails_the_check_with_its_reason(monkeypatch, capsys):
    monkeypatch.setattr(self_check, "CHECK_TEMPLATE", "no_such_template")
    assert main(["doctor", "--check", "--no-window", "--device", "cpu"]) == 1
    out = capsys.readouterr().out
    assert "  passed  libraries torch" in out
    assert "  FAILED  template  the no_such_template template is not installed" in out
    assert "  FAILED  training  skipped: the template did not load" in out
    assert "  FAILED  export    skipped" in out
    assert "window" not in out.split("\nChecks\n", 1)[1]
    assert "3 of 4 checks failed: template, training, export." in out
    assert "Traceback" not in out


def test_unexpected_errors_in_a_step_become_its_reason(monkeypatch):
    def broken(state):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(self_check, "_check_export", broken)
    results = self_check.run_checks("cpu", window=False)
    assert [(r.name, r.passed) for r in results] == [("libraries", True), ("template", True), ("training", True),
                                                     ("export", False)]
    assert results[-1].detail == "RuntimeError: disk on fire"
    assert results[-1].line().startswith("  FAILED  export    RuntimeError: disk on fire (")


def test_unknown_device_fails_the_training_step():
    results = self_check.run_checks("tpu", window=False)
    training = results[2]
    assert not training.passed and "tpu" in training.detail


def test_json_check_output(monkeypatch, capsys):
    monkeypatch.setattr(doctor, "qt_probe", lambda timeout=0: {"platform plugin": "offscreen"})
    monkeypatch.setattr(self_check, "_check_training", lambda state, device: "trained")
    monkeypatch.setattr(self_check, "_check_export", lambda state: "exported")
    assert main(["doctor", "--check", "--no-window", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] is True
    assert [c["name"] for c in doc["checks"]] == ["libraries", "template", "training", "export"]
    assert doc["checks"][2]["detail"] == "trained"
    assert "Devices" in doc["report"]


# --- Help → System information ------------------------------------------------------------------------


def test_system_info_dialog_shows_and_copies_the_report(qtbot):
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QWidget

    from layerloom.gui.system_info import SystemInfoDialog, show_system_info

    parent = QWidget()
    qtbot.addWidget(parent)
    dialog = show_system_info(parent)
    assert isinstance(dialog, SystemInfoDialog) and dialog.isVisible()
    assert show_system_info(parent) is dialog  # one dialog per window
    qtbot.waitUntil(lambda: "Folders" in dialog.plain_text(), timeout=60_000)
    text = dialog.plain_text()
    assert "Devices" in text and re.search(r"platform plugin: +offscreen", text) and "OpenGL:" in text
    assert dialog.check_button.isEnabled()
    dialog.copy()
    assert QGuiApplication.clipboard().text() == text
    dialog.close()


def test_system_info_self_check_shows_each_step(qtbot, monkeypatch):
    from layerloom.gui.system_info import SystemInfoDialog

    def fake_checks(device="auto", *, window=True, progress=None):
        results = [self_check.CheckResult("template", True, "lenet5 built", 0.1),
                   self_check.CheckResult("training", False, "the loss did not go down", 0.2)]
        for r in results:
            progress(r)
        return results

    monkeypatch.setattr(self_check, "run_checks", fake_checks)
    dialog = SystemInfoDialog()
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: dialog.check_button.isEnabled(), timeout=60_000)
    dialog.check_button.click()
    qtbot.waitUntil(lambda: "Some checks failed" in dialog.plain_text(), timeout=10_000)
    text = dialog.plain_text()
    assert "  passed  template  lenet5 built (0.1 s)" in text
    assert "  FAILED  training  the loss did not go down (0.2 s)" in text
    assert "running…" not in text and dialog.check_button.isEnabled()
