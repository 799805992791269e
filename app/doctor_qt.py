"""The Qt half of `layerloom doctor`, run in child processes so that a platform plugin that cannot start is
reported rather than ending the doctor (app/doctor.py starts them through core/child_process.py):

    probe()                 # `layerloom doctor --qt-probe`: a QApplication, then gui/system_info.qt_info()
    open_window_once()      # `layerloom doctor --open-window`: the main window opened and closed, with the
                            # user's settings and autosaves left alone (both go to a temporary folder)

Each returns a dict the child prints as one JSON line.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

from PySide6.QtCore import QElapsedTimer, QSettings, QTimer
from PySide6.QtWidgets import QApplication

from layerloom.gui import recovery
from layerloom.gui.app import create_app, create_window
from layerloom.gui.system_info import qt_info

WINDOW_TIMEOUT_S = 30.0
DIALOG_TIMEOUT_S = 5.0  # a question shown while closing (unsaved changes?) is answered No after this


def probe() -> dict[str, Any]:
    """`layerloom doctor --qt-probe`: start Qt as the window would, and report what it found."""
    create_app()
    return {**qt_info(), "ok": True}


def open_window_once(timeout: float = WINDOW_TIMEOUT_S) -> dict[str, Any]:
    """Open the main window on the lenet5 template, let it settle, close it; a dict with ok, title and
    the time it was shown (time.time()), or ok False with the error. Settings and autosaves go to a
    temporary folder, so the user's recent files, layout and crash recovery are not touched."""
    errors: list[str] = []
    tmp = tempfile.mkdtemp(prefix="layerloom-window-check-")
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, tmp)
    recovery.default_folder = lambda: Path(tmp) / "recovery"
    previous_hook = sys.excepthook

    def hook(exc_type, exc, tb):
        errors.append("".join(traceback.format_exception_only(exc_type, exc)).strip())
        traceback.print_exception(exc_type, exc, tb, file=sys.stderr)

    sys.excepthook = hook
    try:
        app = create_app()
        window, _deferred = create_window(None, offer_recovery=False)
        clock = QElapsedTimer()
        clock.start()
        while clock.elapsed() < timeout * 1000:
            app.processEvents()
            handle = window.windowHandle()
            if window.isVisible() and handle is not None and handle.isExposed():
                break
            time.sleep(0.005)
        else:
            return {"ok": False, "error": f"the window was not shown within {timeout:.0f} s"}
        shown_at = time.time()
        settle = QElapsedTimer()
        settle.start()
        while settle.elapsed() < 300:  # let the deferred work run: inference, layout, first paint
            app.processEvents()
            time.sleep(0.005)
        title = window.windowTitle().replace("[*]", "")
        import pyqtgraph  # the plots' library: it must load with this Qt

        plots = getattr(pyqtgraph, "__version__", "?")
        questions: list[str] = []

        def answer_dialog() -> None:
            modal = QApplication.activeModalWidget()
            if modal is not None:
                questions.append(getattr(modal, "text", lambda: modal.windowTitle())())
                modal.reject()

        watchdog = QTimer()
        watchdog.setInterval(int(DIALOG_TIMEOUT_S * 1000))
        watchdog.timeout.connect(answer_dialog)
        watchdog.start()
        closed = window.close()
        watchdog.stop()
        app.processEvents()
        if questions:
            return {"ok": False, "error": f"closing the window asked a question: {questions[0]}"}
        if not closed or window.isVisible():
            return {"ok": False, "error": "the window refused to close"}
        window.deleteLater()
        app.processEvents()
        if errors:
            return {"ok": False, "error": f"an error happened in the window: {errors[0]}"}
        return {"ok": True, "title": title, "shown_at": shown_at, "platform": app.platformName(), "pyqtgraph": plots}
    except Exception as err:
        traceback.print_exc()
        return {"ok": False, "error": f"{type(err).__name__}: {err}"}
    finally:
        sys.excepthook = previous_hook
        shutil.rmtree(tmp, ignore_errors=True)
