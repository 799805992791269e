"""Help → System Information names the window's runs folder (the same folder training writes to)."""

from __future__ import annotations

import os


def test_the_report_names_the_runs_folder(qapp, monkeypatch, tmp_path):
    from layerloom.gui.system_info import qt_info

    monkeypatch.setenv("LAYERLOOM_RUNS_DIR", str(tmp_path / "my runs"))
    assert qt_info()["runs folder"] == os.path.abspath(tmp_path / "my runs")
