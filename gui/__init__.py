"""Layerloom's window (PySide6): a view and controller over layerloom.core.

    from layerloom.gui import MainWindow

Importing this package is light: the window's modules (and PySide6) load on first use of MainWindow
or `main`, and torch is never imported here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from layerloom.gui.app import main
    from layerloom.gui.main_window import MainWindow

__all__ = ["MainWindow", "main"]


def __getattr__(name: str) -> Any:
    if name == "MainWindow":
        from layerloom.gui.main_window import MainWindow

        return MainWindow
    if name == "main":
        from layerloom.gui.app import main

        return main
    raise AttributeError(f"module 'layerloom.gui' has no attribute {name!r}")
