"""Heavy numpy for a view in a worker thread, only the finished array handed to the GUI thread.

    jobs = LatestJob(view)                               # owned by the view (its timer is the view's child)
    jobs.submit(mosaic, (maps, cols, lut, rgb), show)    # mosaic(...) in a worker; show(image) on the GUI thread

The job runs in a plain `threading.Thread` and must touch no Qt object (arrays and tuples in, an array out: the
README's threading rules; gui/background.py). A timer on the GUI thread polls for the outcome and calls the
callback there. One job at a time: one submitted while another runs waits, and a newer one replaces it (a live
view only ever wants its latest picture).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QTimer

POLL_MS = 10


class LatestJob(QObject):
    """Runs the newest submitted job in a worker thread; its callback on the GUI thread."""

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._next: tuple | None = None  # (fn, args, on_done) waiting for the running job to end
        self._thread: threading.Thread | None = None
        self._outcome: tuple[bool, Any] | None = None
        self._on_done: Callable[[Any], None] | None = None
        self.last_error: Exception | None = None  # the latest job's failure (the view keeps its last picture)
        self.threads_used: list[str] = []  # names of the threads the jobs ran in (the latest few)
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self._poll)

    def submit(self, fn: Callable[..., Any], args: tuple, on_done: Callable[[Any], None]) -> None:
        self._next = (fn, args, on_done)
        if self._thread is None:
            self._start()
        if not self._timer.isActive():
            self._timer.start()

    @property
    def busy(self) -> bool:
        return self._thread is not None or self._next is not None

    def wait(self, ms: int = 10_000) -> bool:
        """Block until every submitted job has run and delivered (tests, export); True when they have."""
        while self.busy:
            thread = self._thread
            if thread is not None:
                thread.join(ms / 1000)
                if thread.is_alive():
                    return False
            self._poll()
        return True

    def _start(self) -> None:
        from layerloom.gui.gc_guard import guard_thread

        fn, args, on_done = self._next
        self._next, self._on_done, self._outcome = None, on_done, None
        thread = threading.Thread(target=self._run, args=(fn, args), name="layerloom-view-job", daemon=True)
        self._thread = thread
        guard_thread(thread)  # no garbage collection in the worker (gc_guard.py)
        thread.start()

    def _run(self, fn: Callable[..., Any], args: tuple) -> None:
        self.threads_used = [*self.threads_used[-7:], threading.current_thread().name]
        try:
            self._outcome = (True, fn(*args))
        except Exception as err:  # a failed picture: the view keeps the last one
            self._outcome = (False, err)

    def _poll(self) -> None:
        thread = self._thread
        if thread is not None:
            if thread.is_alive() or self._outcome is None:
                return
            self._thread = None
            (ok, value), on_done = self._outcome, self._on_done
            self._outcome = self._on_done = None
            if ok:
                self.last_error = None
                on_done(value)
            else:
                self.last_error = value
        if self._next is not None:
            self._start()
        elif self._thread is None:
            self._timer.stop()
