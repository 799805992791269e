"""Python's cyclic garbage collector on the GUI thread only, while worker threads run.

A collection runs in whichever thread happens to allocate when the counts pass their thresholds. If that is
a worker thread and the garbage holds Qt objects of the GUI thread (a closed dialog's wrappers in a reference
cycle), PySide6 deletes them from the wrong thread and the process dies (seen here: a segfault in a training
thread, "Garbage-collecting"). So while any worker thread lives, automatic collection is off and a timer on
the GUI thread collects as the thresholds would; once the last worker has ended, automatic collection is back.

    guard_thread(thread)   # on the GUI thread, just before thread.start()
"""

from __future__ import annotations

import gc
import threading
import time

from PySide6.QtCore import QCoreApplication, QObject, QTimer

COLLECT_INTERVAL_MS = 200
FULL_INTERVAL_S = 600.0  # the whole heap (a pause of 50–100 ms that stalls training) at most this often

_guard: _Guard | None = None
_last_full = time.monotonic()  # a full collection "happened" at start: the next one FULL_INTERVAL_S later


class _Guard(QObject):
    def __init__(self, app: QObject):
        super().__init__(app)
        self.threads: list[threading.Thread] = []
        self.restore = False  # automatic collection was on when the first worker came
        self.timer = QTimer(self)
        self.timer.setInterval(COLLECT_INTERVAL_MS)
        self.timer.timeout.connect(self.tick)

    def add(self, thread: threading.Thread) -> None:
        self.threads.append(thread)
        if not self.timer.isActive():
            self.restore = gc.isenabled()
            gc.disable()
            # what exists now (torch, Qt, the window: a million objects) is left out of the collections until
            # the workers are done, so that a collection costs what the workers made, not the whole heap
            gc.freeze()
            self.timer.start()

    def tick(self) -> None:
        collect_if_due()
        self.threads = [t for t in self.threads if t.is_alive() or t.ident is None]  # (None: not started yet)
        if not self.threads:
            self.timer.stop()
            gc.unfreeze()
            if self.restore:
                gc.enable()


def guard_thread(thread: threading.Thread) -> None:
    """Keep garbage collection on the GUI thread for as long as `thread` lives. Call it on the GUI thread
    before starting `thread`; without a Qt application (the command line) it does nothing."""
    global _guard
    app = QCoreApplication.instance()
    if app is None or threading.current_thread() is not threading.main_thread():
        return
    if _guard is None or _guard.parent() is not app:
        _guard = _Guard(app)
    _guard.add(thread)


def collect_if_due() -> int:
    """Collect the young generations when their counts pass the thresholds, as the automatic collector
    would; the whole heap (a pause of 50–100 ms with torch and Qt loaded, which holds the GIL and so stalls
    the training thread) at most every FULL_INTERVAL_S: cyclic garbage that lives long enough to need one
    is rare while training. Returns the number of objects found unreachable."""
    global _last_full
    c0, c1, c2 = gc.get_count()
    t0, t1, t2 = gc.get_threshold()
    if c0 <= t0:
        return 0
    if c1 <= t1:
        return gc.collect(0)
    now = time.monotonic()
    if c2 > t2 and now - _last_full >= FULL_INTERVAL_S:
        _last_full = now
        return gc.collect(2)
    return gc.collect(1)


def guarding() -> bool:
    """Whether worker threads are being guarded now (automatic collection off)."""
    return _guard is not None and _guard.timer.isActive()
