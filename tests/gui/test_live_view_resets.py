"""A run start resets each live view exactly once (the training controller calls `reset(run_started)`; a view's
own `on_event` leaves the RunStarted alone). lenet5 on the built-in digits through the window's Train command,
stopped as soon as the run has started. Offscreen, temporary settings and run folders."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("LAYERLOOM_NO_PRELOAD", "1")

import pytest
import pytestqt  # noqa: F401  (a hard test dependency: fail loudly if missing)
from windows import Windows

from layerloom.core.templates import load_template
from layerloom.core.training.events import RunStarted

TIMEOUT = 120_000


@pytest.fixture
def make_window(qtbot, tmp_path):
    with Windows(qtbot, tmp_path) as windows:
        yield windows.make


def test_one_run_start_resets_each_live_view_once(qtbot, make_window):
    project = load_template("lenet5")
    project.training.epochs = 1
    w = make_window(project)
    starts: dict[str, list] = {key: [] for key in w.live_views.views}

    def counting(key, reset):
        def wrapped(run=None):
            if isinstance(run, RunStarted):  # a view may also clear itself (reset(None)) for its own reasons
                starts[key].append(run)
            return reset(run)

        return wrapped

    for key, view in w.live_views.views.items():
        view.reset = counting(key, view.reset)
    assert set(starts) == {"curves", "gradients", "features", "recurrent", "generative", "predictions", "confusion",
                           "runs"}
    w.commands["train"].trigger()
    qtbot.waitUntil(lambda: w.training.run is not None or not w.training.running, timeout=TIMEOUT)
    run = w.training.run
    assert run is not None, getattr(w.training.last, "message", w.training.last)
    assert {key: len(runs) for key, runs in starts.items()} == dict.fromkeys(starts, 1)
    assert all(runs[0] is run for runs in starts.values())
