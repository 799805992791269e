"""Garbage collection stays on the GUI thread while worker threads run (gui/gc_guard.py): a collection in
a worker could delete the GUI's Qt objects from the wrong thread."""

from __future__ import annotations

import gc
import threading

import pytestqt  # noqa: F401  (a hard test dependency: fail loudly if missing)

from layerloom.gui.gc_guard import guard_thread, guarding


class _Cycle:
    """Garbage that only the cyclic collector frees; remembers the thread that freed it."""

    freed_in: list[str] = []

    def __init__(self):
        self.me = self

    def __del__(self):
        _Cycle.freed_in.append(threading.current_thread().name)


def test_cycles_made_while_a_worker_runs_are_collected_on_the_gui_thread(qtbot, qapp):
    assert gc.isenabled()
    go, made = threading.Event(), threading.Event()

    def work():
        go.wait(5)
        for _ in range(3000):  # unreachable at once, cycles only the collector frees: well past its threshold
            _Cycle()
        made.set()

    worker = threading.Thread(target=work, name="worker")
    guard_thread(worker)
    worker.start()
    assert guarding() and not gc.isenabled()
    _Cycle.freed_in.clear()
    go.set()
    assert made.wait(10)
    worker.join(10)
    assert _Cycle.freed_in == []  # nothing collected in the worker
    qtbot.waitUntil(lambda: len(_Cycle.freed_in) == 3000, timeout=5000)
    assert set(_Cycle.freed_in) == {threading.main_thread().name}
    qtbot.waitUntil(lambda: gc.isenabled() and not guarding(), timeout=5000)  # the last worker ended
