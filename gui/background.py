"""Run a slow job (an export, an import) off the GUI thread without sharing Qt objects with it.

The job runs in a plain Python thread and touches no Qt object; a QTimer on the GUI thread notices when it
is done and hands the outcome to plain callbacks. No signal is emitted from the worker and no Python-made
QObject is involved (deleting one, or a QThread subclass, from the wrong moment crashed PySide6 here)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QTimer

POLL_MS = 30


def error_text(err: BaseException) -> str:
    """A user-facing message: Layerloom's own errors as they are, others with their type."""
    from layerloom.core.errors import LayerloomError

    return str(err) if isinstance(err, LayerloomError) else f"{type(err).__name__}: {err}"


def import_heavy_modules(*names: str) -> None:
    """Import modules on the GUI thread before a worker needs them. Importing torch's export machinery
    (torch._dynamo, sympy) for the first time inside a worker thread while the Qt event loop runs crashed
    or hung the app here; imported once up front, the worker only uses them."""
    import importlib

    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication

    missing = [n for n in names if n not in __import__("sys").modules]
    if not missing:
        return
    QGuiApplication.setOverrideCursor(Qt.CursorShape.BusyCursor)
    try:
        for name in missing:
            importlib.import_module(name)
    finally:
        QGuiApplication.restoreOverrideCursor()


class BackgroundTask:
    """`job()` in a worker thread; later, on the GUI thread, `on_done(result)` or `on_error(message)`, then
    `on_finished()`."""

    def __init__(self, job: Callable[[], Any], on_done: Callable[[Any], None], on_error: Callable[[str], None],
                 parent: QObject, on_finished: Callable[[], None] | None = None,
                 on_progress: Callable[..., None] | None = None):
        self._job, self._on_done, self._on_error, self._on_finished = job, on_done, on_error, on_finished
        self._on_progress = on_progress
        self._progress: tuple | None = None  # the latest report_progress(...) arguments, not yet shown
        self._outcome: tuple[bool, Any] | None = None
        self._delivered = False
        self._thread = threading.Thread(target=self._run, name="layerloom-task", daemon=True)
        self._timer = QTimer(parent)  # a plain Qt timer owned by the dialog: Qt deletes it with the dialog
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self._poll)

    def start(self) -> None:
        from layerloom.gui.gc_guard import guard_thread

        guard_thread(self._thread)  # no garbage collection in the worker (gc_guard.py)
        self._thread.start()
        self._timer.start()

    def is_running(self) -> bool:
        return not self._delivered

    def wait(self, ms: int = 120_000) -> bool:
        """Block until the job ends (tests, closing a dialog), then deliver its outcome; True if it ended."""
        self._thread.join(ms / 1000)
        self._poll()
        return self._delivered

    def report_progress(self, *args) -> None:
        """Called by the job (any thread): the GUI shows the latest report at its next poll."""
        self._progress = args

    def _run(self) -> None:
        try:
            self._outcome = (True, self._job())
        except Exception as err:  # every failure becomes a message, never a crash
            self._outcome = (False, error_text(err))

    def _poll(self) -> None:
        progress, self._progress = self._progress, None
        if progress is not None and self._on_progress is not None and not self._delivered:
            self._on_progress(*progress)
        if self._delivered or self._thread.is_alive() or self._outcome is None:
            return
        self._delivered = True
        self._timer.stop()
        ok, value = self._outcome
        (self._on_done if ok else self._on_error)(value)
        if self._on_finished is not None:
            self._on_finished()
