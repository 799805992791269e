"""core/runs.py: run folders found wherever they were written (the per-user folder and ./runs), newest first,
only those of the project asked for and only those with a checkpoint; no Qt."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from layerloom.core import runs


def make_run(root, name, checkpoint="last.safetensors", age=0.0):
    path = root / name
    path.mkdir(parents=True)
    (path / "settings.json").write_text("{}", encoding="utf-8")
    if checkpoint:
        file = path / checkpoint
        file.write_bytes(b"x")
        stamp = time.time() - age
        os.utime(file, (stamp, stamp))
    return str(path)


def test_the_per_user_folder_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("LAYERLOOM_RUNS_DIR", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("LOCALAPPDATA", str(tmp_path / "data"))
    monkeypatch.setenv("HOME", str(tmp_path))
    root = runs.default_runs_root()
    assert root.startswith(str(tmp_path)) and root.endswith(os.path.join("Layerloom", "Layerloom", "runs"))
    monkeypatch.setenv("LAYERLOOM_RUNS_DIR", str(tmp_path / "mine"))
    assert runs.default_runs_root() == str(tmp_path / "mine")


def test_roots_are_listed_once_each_extra_first(monkeypatch, tmp_path):
    monkeypatch.setenv("LAYERLOOM_RUNS_DIR", str(tmp_path / "user"))
    monkeypatch.chdir(tmp_path)
    assert runs.run_roots(str(tmp_path / "extra"), None, str(tmp_path / "user")) == [
        str(tmp_path / "extra"), str(tmp_path / "user"), str(tmp_path / "runs")]


def test_runs_are_found_in_every_root_newest_first(monkeypatch, tmp_path):
    monkeypatch.setenv("LAYERLOOM_RUNS_DIR", str(tmp_path / "user"))
    monkeypatch.chdir(tmp_path)
    old = make_run(tmp_path / "runs", "LeNet-5-20240101-100000", age=100)
    new = make_run(tmp_path / "user", "LeNet-5-20240101-090000", "best.safetensors", age=10)
    make_run(tmp_path / "user", "LeNet-5-20240102-090000", checkpoint=None)  # no checkpoint yet
    make_run(tmp_path / "user", "LeNet-5-big-20240103-090000", age=0)  # another project
    assert runs.find_runs("LeNet-5") == [new, old]
    assert runs.latest_run("LeNet-5") == new
    assert runs.latest_run("LeNet-5", [str(tmp_path / "runs")]) == old
    assert runs.latest_run("Unknown") is None
    assert runs.find_runs("LeNet-5", [str(tmp_path / "missing")]) == []


def test_the_export_helper_takes_one_folder_or_several(tmp_path):
    from layerloom.core.export.reading import latest_run

    run = make_run(tmp_path / "a", "net-20240101-100000")
    assert latest_run("net", str(tmp_path / "a")) == run
    assert latest_run("net", [str(tmp_path / "b"), str(tmp_path / "a")]) == run
    assert latest_run("net", str(tmp_path / "b")) is None


def test_run_summaries_from_several_roots(tmp_path):
    make_run(tmp_path / "a", "net-20240101-100000")
    make_run(tmp_path / "b", "net-20240102-100000")
    found = runs.list_project_runs("net", [str(tmp_path / "a"), str(tmp_path / "b")])
    assert [r.name for r in found] == ["net-20240102-100000", "net-20240101-100000"]


def test_runs_needs_no_qt():
    code = ("import sys\nimport layerloom.core.runs as r\nr.find_runs('x')\n"
            "assert 'PySide6' not in sys.modules and 'torch' not in sys.modules\nprint('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "ok", out.stderr
