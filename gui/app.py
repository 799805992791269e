"""Start-up: the QApplication (names for QSettings, Fusion with a dark or light palette that follows the
system, high-DPI), the main window on the `lenet5` template (or the given file), the offer to recover
after a crash, a dialog for unexpected errors instead of a dead app, and torch imported in the
background once the window is up.

    layerloom                     # app/cli.py → open_window() → main()
    layerloom open FILE           # → main(path=FILE): a project or a .layerloom bundle
    python -m layerloom.gui.app [FILE]
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import traceback

from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication, QMessageBox

DEFAULT_TEMPLATE = "lenet5"
PRELOAD_DELAY_MS = 1200
_preload: threading.Thread | None = None


def create_app(argv: list[str] | None = None) -> QApplication:
    """The QApplication with Layerloom's names, style, palette and icon (reused if one exists)."""
    from layerloom import __version__
    from layerloom.core.training.threads import keep_freed_memory
    from layerloom.gui import theme

    keep_freed_memory()  # the training thread's activations stay allocated between steps (threads.py)
    app = QApplication.instance()
    if app is None:
        QGuiApplication.setHighDpiScaleFactorRoundingPolicy(Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
        app = QApplication(list(argv) if argv else [sys.argv[0] if sys.argv and sys.argv[0] else "layerloom"])
    app.setApplicationName("Layerloom")
    app.setApplicationDisplayName("Layerloom")
    app.setOrganizationName("Layerloom")
    app.setOrganizationDomain("layerloom.org")
    app.setApplicationVersion(__version__)
    app.setDesktopFileName("io.github.layerloom.Layerloom")  # matches packaging/linux's desktop entry
    choice = os.environ.get("LAYERLOOM_THEME") or QSettings().value("theme", "system")
    theme.apply_theme(app, choice if choice in theme.THEMES else "system")
    app.setWindowIcon(theme.app_icon())
    return app


# --- unexpected errors ----------------------------------------------------------------------------

_showing_error = False


def show_error(exc_type, exc, tb, parent=None) -> None:
    """A dialog for an error nobody caught: what happened in a sentence, the traceback under Details."""
    global _showing_error
    if _showing_error or QApplication.instance() is None:
        return
    from layerloom.core.errors import LayerloomError

    _showing_error = True
    try:
        box = QMessageBox(parent or QApplication.activeWindow())
        box.setIcon(QMessageBox.Icon.Critical)
        box.setWindowTitle("Layerloom")
        if isinstance(exc, LayerloomError):
            box.setText(str(exc))
        else:
            box.setText("Something went wrong, but your project is still open.")
            box.setInformativeText(f"{exc_type.__name__}: {exc}\n\nSave your work to be safe. If this keeps "
                                   "happening, please report it with the details below.")
            box.setDetailedText("".join(traceback.format_exception(exc_type, exc, tb)))
        box.setStandardButtons(QMessageBox.StandardButton.Ok)
        box.exec()
    finally:
        _showing_error = False


def install_excepthook() -> None:
    """Show uncaught errors (in slots, timers, event handlers) in a dialog instead of ending the app."""
    previous = sys.excepthook
    if getattr(previous, "_layerloom", False):
        return

    def hook(exc_type, exc, tb):
        if issubclass(exc_type, KeyboardInterrupt | SystemExit):
            previous(exc_type, exc, tb)
            return
        traceback.print_exception(exc_type, exc, tb, file=sys.stderr)  # for bug reports
        with contextlib.suppress(Exception):  # if the dialog fails, the traceback above is all we can give
            show_error(exc_type, exc, tb)

    hook._layerloom = True
    sys.excepthook = hook


# --- torch in the background ----------------------------------------------------------------------


def _import_torch() -> None:
    with contextlib.suppress(Exception):  # reported when something actually needs torch
        import torch  # noqa: F401


def _when_torch_is_loaded() -> None:
    """On the GUI thread, once the preload is done: keep this thread's tensor work serial (see
    core/training/threads.py), before anything here can start a pool of OpenMP threads."""
    if _preload is not None and _preload.is_alive():
        QTimer.singleShot(100, _when_torch_is_loaded)
        return
    if "torch" in sys.modules:
        from layerloom.core.training.threads import keep_this_thread_serial

        with contextlib.suppress(Exception):
            keep_this_thread_serial()


def preload_torch() -> threading.Thread | None:
    """Import torch on a background thread (after the window is up) so Train and Export start at once."""
    global _preload
    if os.environ.get("LAYERLOOM_NO_PRELOAD") or "torch" in sys.modules or _preload is not None:
        return _preload
    _preload = threading.Thread(target=_import_torch, name="layerloom-torch-preload", daemon=True)
    from layerloom.gui.gc_guard import guard_thread

    guard_thread(_preload)  # no garbage collection in the importing thread (gc_guard.py)
    _preload.start()
    QTimer.singleShot(100, _when_torch_is_loaded)
    return _preload


# --- the window -----------------------------------------------------------------------------------


def create_window(path: str | os.PathLike | None = None, *, offer_recovery: bool = True):
    """The main window on `path` (a project or a bundle, told apart by content; else the lenet5 template),
    shown. Returns (window, deferred) where `deferred` is run once the event loop turns: a broken file's
    problems, why its trained weights were not loaded, or the recovery offer."""
    from layerloom.core.cleanup import cleanup_stale
    from layerloom.core.errors import LayerloomError, ProjectError
    from layerloom.core.opening import problems_of
    from layerloom.gui.main_window import MainWindow

    window = MainWindow()
    cleanup_stale(window.training.runs_root)  # what runs and exports killed in the middle left behind
    problems: list[str] | None = None
    trouble: str | None = None
    opened = False
    if path:
        path = os.path.abspath(os.fspath(path))
        try:
            trouble = window.show_opened(window.read_file(path, report=False))
            opened = True
        except LayerloomError as err:
            problems = problems_of(err, path)
    if not opened:
        from layerloom.core.templates import load_template

        with contextlib.suppress(ProjectError):  # an empty canvas rather than no window
            window.set_project(load_template(DEFAULT_TEMPLATE), None)
    window.show()

    def deferred() -> None:
        if problems is not None:
            window.show_file_problems(os.fspath(path), problems)
        elif trouble:
            window.show_weights_problem(trouble)
        elif offer_recovery and not opened:
            window.offer_recovery()

    return window, deferred


def start(argv: list[str] | None = None, path: str | os.PathLike | None = None):
    """Everything `main` does before the event loop: (app, window)."""
    app = create_app(argv)
    install_excepthook()
    if path is None and argv:
        files = [a for a in app.arguments()[1:] if not a.startswith("-")]
        path = files[0] if files else None
    window, deferred = create_window(path)
    QTimer.singleShot(0, deferred)
    QTimer.singleShot(PRELOAD_DELAY_MS, preload_torch)
    return app, window


def main(argv: list[str] | None = None, path: str | os.PathLike | None = None) -> int:
    """Run the window until it closes; returns the exit status.

    `argv` holds the program name and Qt options (and, when given, a project file); `path` opens a
    project. `main("file.json")` is read as `main(path="file.json")`."""
    if isinstance(argv, str | os.PathLike):
        argv, path = None, argv
    app, window = start(argv, path)
    code = app.exec()
    if _preload is not None:
        _preload.join(timeout=30)  # never end the interpreter in the middle of importing torch
    del window
    return int(code)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
