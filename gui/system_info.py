"""Help → System information: the `layerloom doctor` report in a dialog, copyable, with the self-check.

    from layerloom.gui.system_info import show_system_info
    show_system_info(main_window)          # non-modal; reuses the open one

    qt_info()               # Qt, platform plugin, OpenGL, screens, settings file, autosave folder

The report and the self-check are core's (core/system_report.py, core/self_check.py); `qt_info` adds what
only a running Qt knows, here and in the doctor's child process (app/doctor_qt.py).
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from pathlib import Path
from typing import Any

from PySide6.QtCore import QLibraryInfo, QObject, QSettings, QTimer, Signal, qVersion
from PySide6.QtGui import QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from layerloom.gui.gc_guard import guard_thread

GL_VENDOR, GL_RENDERER, GL_VERSION = 0x1F00, 0x1F01, 0x1F02


# --- Qt facts -------------------------------------------------------------------------------------------


def platform_plugins() -> list[str]:
    """Names of the Qt platform plugins installed with this Qt (xcb, wayland, offscreen, windows, cocoa…)."""
    folder = Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath)) / "platforms"
    names = []
    with contextlib.suppress(OSError):
        for f in sorted(folder.iterdir()):
            stem = f.name.split(".")[0]
            stem = stem[3:] if stem.startswith("lib") else stem
            if stem.startswith("q") and f.suffix in (".so", ".dll", ".dylib"):
                names.append(stem[1:])
    return names


def opengl_info() -> str:
    """Whether an OpenGL context can be made here, and which (vendor, renderer, version)."""
    from PySide6.QtGui import QOffscreenSurface, QOpenGLContext

    ctx = QOpenGLContext()
    if not ctx.create():
        return "not available (no OpenGL context can be created on this platform)"
    surface = QOffscreenSurface()
    surface.setFormat(ctx.format())
    surface.create()
    try:
        if not ctx.makeCurrent(surface):
            return "a context was created but cannot be used"
        f = ctx.functions()
        vendor, renderer, version = (f.glGetString(c) for c in (GL_VENDOR, GL_RENDERER, GL_VERSION))
        kind = "OpenGL ES" if ctx.isOpenGLES() else "OpenGL"
        return f"available: {kind} {version} ({renderer}, {vendor})"
    except Exception as err:
        return f"a context was created but cannot be queried ({type(err).__name__}: {err})"
    finally:
        with contextlib.suppress(Exception):
            ctx.doneCurrent()
        surface.destroy()


def qt_info() -> dict[str, Any]:
    """What the running QGuiApplication knows: the part of the doctor report that needs Qt."""
    import PySide6

    from layerloom.gui.recovery import default_folder

    app = QGuiApplication.instance()
    out: dict[str, Any] = {"Qt": qVersion(), "PySide6": getattr(PySide6, "__version__", "?")}
    if app is None:
        out["platform plugin"] = "no QGuiApplication is running"
    else:
        name = app.platformName()
        env = os.environ.get("QT_QPA_PLATFORM")
        out["platform plugin"] = name + (f" (QT_QPA_PLATFORM={env})" if env else "")
        if sys.platform.startswith("linux"):
            session = os.environ.get("XDG_SESSION_TYPE") or "unknown"
            out["session"] = (f"{session}, DISPLAY={os.environ.get('DISPLAY') or 'unset'}, "
                              f"WAYLAND_DISPLAY={os.environ.get('WAYLAND_DISPLAY') or 'unset'}")
    out["available plugins"] = ", ".join(platform_plugins()) or "none found"
    if app is not None:
        try:
            out["OpenGL"] = opengl_info()
        except Exception as err:
            out["OpenGL"] = f"cannot be checked ({type(err).__name__}: {err})"
        screens = app.screens()
        primary = app.primaryScreen()
        if primary is not None:
            size = primary.size()
            out["screens"] = (f"{len(screens)}; primary {size.width()}×{size.height()}, scale "
                              f"{primary.devicePixelRatio():g}, {primary.logicalDotsPerInch():.0f} dpi")
    out["settings file"] = QSettings().fileName()
    out["autosave folder"] = str(default_folder())
    from layerloom.core.runs import default_runs_root

    out["runs folder"] = default_runs_root()
    return out


# --- the dialog ---------------------------------------------------------------------------------------


class _Relay(QObject):
    """Carries results from a worker thread to the dialog (queued across threads)."""

    report = Signal(object)
    check = Signal(object)
    checks_done = Signal(bool)


class SystemInfoDialog(QDialog):
    """The doctor report (collected in the background), a Copy button and the self-check."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("SystemInfoDialog")
        self.setWindowTitle("System information")
        self.resize(760, 560)
        intro = QLabel("What Layerloom runs on. Copy it into a bug report; <b>Run self-check</b> trains and "
                       "exports a small network to prove everything works on this machine.", self)
        intro.setWordWrap(True)
        self.text = QPlainTextEdit(self)
        self.text.setReadOnly(True)
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.text.setPlainText("Collecting…")
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        self.copy_button = QPushButton("&Copy", self)
        self.copy_button.setToolTip("Copy the whole report to the clipboard")
        self.check_button = QPushButton("Run &self-check", self)
        self.check_button.setToolTip("Build lenet5, train it a few steps, export ONNX, open a window offscreen")
        self.buttons.addButton(self.copy_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.buttons.addButton(self.check_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.buttons.rejected.connect(self.reject)
        self.copy_button.clicked.connect(self.copy)
        self.check_button.clicked.connect(self.run_checks)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.text, 1)
        layout.addWidget(self.buttons)

        self._copied = QTimer(self)
        self._copied.setSingleShot(True)
        self._copied.setInterval(1500)
        self._copied.timeout.connect(lambda: self.copy_button.setText("&Copy"))
        self._relay = _Relay(self)
        self._relay.report.connect(self._show_report)
        self._relay.check.connect(self._show_check)
        self._relay.checks_done.connect(self._checks_done)
        self.report_text = ""
        self.check_lines: list[str] = []
        self.collecting = False
        self.checking = False
        self.check_button.setEnabled(False)
        self.refresh()

    # --- report -------------------------------------------------------------------------------------

    def refresh(self) -> None:
        """Collect the report again (Qt facts here, the rest on a worker thread: torch may load)."""
        if self.collecting:
            return
        self.collecting = True
        qt = qt_info()
        relay = self._relay

        def work() -> None:
            from layerloom.core.system_report import collect, format_report

            try:
                text = format_report(collect(qt=qt))
            except Exception as err:
                text = f"The report could not be collected: {type(err).__name__}: {err}"
            with contextlib.suppress(RuntimeError):  # the dialog is gone
                relay.report.emit(text)

        thread = threading.Thread(target=work, name="layerloom-system-info", daemon=True)
        guard_thread(thread)  # no garbage collection in the worker (gc_guard.py)
        thread.start()

    def _show_report(self, text: str) -> None:
        self.collecting = False
        self.report_text = text
        self.check_button.setEnabled(not self.checking)
        self._render()

    def _render(self) -> None:
        parts = [self.report_text or "Collecting…"]
        if self.check_lines:
            parts.append("\n".join(["Checks", *self.check_lines]))
        self.text.setPlainText("\n\n".join(parts))

    def plain_text(self) -> str:
        return self.text.toPlainText()

    def copy(self) -> None:
        QGuiApplication.clipboard().setText(self.plain_text())
        self.copy_button.setText("Copied")
        self._copied.start()  # a child timer: it dies with the dialog

    # --- self-check --------------------------------------------------------------------------------------

    def run_checks(self, device: str = "auto") -> None:
        """The same steps as `layerloom doctor --check`, on a worker thread, shown as they finish."""
        if self.checking:
            return
        self.checking = True
        self.check_button.setEnabled(False)
        self.check_lines = ["  running…"]
        self._render()
        relay = self._relay

        def work() -> None:
            from layerloom.core.self_check import run_checks

            ok = False
            try:
                results = run_checks(device, progress=lambda r: relay.check.emit(r))
                ok = all(r.passed for r in results)
            except Exception as err:
                with contextlib.suppress(RuntimeError):
                    relay.check.emit(f"  FAILED  the self-check itself: {type(err).__name__}: {err}")
            with contextlib.suppress(RuntimeError):
                relay.checks_done.emit(ok)

        thread = threading.Thread(target=work, name="layerloom-self-check", daemon=True)
        guard_thread(thread)  # no garbage collection in the worker (gc_guard.py)
        thread.start()

    def _show_check(self, result) -> None:
        line = result if isinstance(result, str) else result.line()
        self.check_lines = [ln for ln in self.check_lines if ln != "  running…"] + [line, "  running…"]
        self._render()

    def _checks_done(self, ok: bool) -> None:
        self.checking = False
        self.check_lines = [ln for ln in self.check_lines if ln != "  running…"]
        self.check_lines.append("All checks passed." if ok else "Some checks failed (see above).")
        self.check_button.setEnabled(not self.collecting)
        self._render()


def show_system_info(parent: QWidget | None = None) -> SystemInfoDialog:
    """Show the System information dialog (non-modal), reusing the one already open on `parent`."""
    dialog = parent.findChild(SystemInfoDialog, "SystemInfoDialog") if parent is not None else None
    if dialog is None:
        dialog = SystemInfoDialog(parent)
    dialog.show()
    dialog.raise_()
    dialog.activateWindow()
    return dialog


__all__ = ["SystemInfoDialog", "qt_info", "show_system_info"]
