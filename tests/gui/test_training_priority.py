"""A window's training thread steps back for the GUI thread (core/training/threads.py run_in_background): its nice
value is 5 above the GUI thread's, and threads it starts (OpenMP's pool) inherit that."""

from __future__ import annotations

import os
import sys
import threading

import pytest

from layerloom.core.training.control import TrainControl
from layerloom.core.training.threads import BACKGROUND_NICE, run_in_background
from layerloom.gui.training.worker import TrainWorker

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice values are Linux's")


def _nice(tid: int) -> int:
    return os.getpriority(os.PRIO_PROCESS, tid)


@linux_only
def test_run_in_background_lowers_only_the_calling_thread_and_what_it_starts():
    base = _nice(threading.get_native_id())
    seen = {}

    def child():
        seen["child"] = _nice(threading.get_native_id())

    def training():
        seen["done"] = run_in_background()
        seen["self"] = _nice(threading.get_native_id())
        inner = threading.Thread(target=child)
        inner.start()
        inner.join()

    t = threading.Thread(target=training)
    t.start()
    t.join()
    assert seen == {"done": True, "self": min(19, base + BACKGROUND_NICE), "child": min(19, base + BACKGROUND_NICE)}
    assert _nice(threading.get_native_id()) == base  # the calling (GUI) thread is untouched


@linux_only
def test_the_window_trains_in_a_thread_that_steps_back(tmp_path):
    from layerloom.core.templates import load_template

    project = load_template("mlp")
    project.training.epochs = 1
    base = _nice(threading.get_native_id())
    niceness = []

    def buffer(event):
        niceness.append(_nice(threading.get_native_id()))

    worker = TrainWorker(project, project.training, buffer, TrainControl(), run_root=str(tmp_path))
    thread = threading.Thread(target=worker.run)
    thread.start()
    thread.join(timeout=120)
    assert worker.done and worker.result is not None and worker.result.status == "finished"
    assert niceness and set(niceness) == {min(19, base + BACKGROUND_NICE)}
    assert _nice(threading.get_native_id()) == base
