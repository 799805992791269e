"""Help → About: the app, its version, and the versions it runs on (torch's read from its metadata, so
opening the dialog never imports torch)."""

from __future__ import annotations

import html
import platform
import sys

from PySide6.QtCore import Qt, qVersion
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QHBoxLayout, QLabel, QVBoxLayout

from layerloom.gui import theme


def _version(dist: str) -> str:
    module = sys.modules.get(dist)
    if module is not None and hasattr(module, "__version__"):
        return str(module.__version__)
    try:
        from importlib.metadata import version

        return version(dist)
    except Exception:
        return "not installed"


def about_html() -> str:
    from layerloom import __version__

    rows = [("Python", platform.python_version()), ("Qt", qVersion()), ("PySide6", _version("PySide6")),
            ("PyTorch", _version("torch")), ("Platform", f"{platform.system()} {platform.machine()}")]
    table = "".join(f"<tr><td style='padding-right:12px;color:gray'>{k}</td><td>{html.escape(v)}</td></tr>"
                    for k, v in rows)
    return (f"<h2 style='margin-bottom:0'>Layerloom</h2><p style='color:gray;margin-top:2px'>version "
            f"{html.escape(__version__)}</p>"
            "<p>Design neural networks by drag and drop, train them live, export them.</p>"
            f"<table>{table}</table><p style='color:gray'>MIT licence</p>")


class AboutDialog(QDialog):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setWindowTitle("About Layerloom")
        logo = QLabel(self)
        logo.setPixmap(theme.app_icon().pixmap(96, 96))
        logo.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.text = QLabel(about_html(), self)
        self.text.setTextFormat(Qt.TextFormat.RichText)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        buttons.accepted.connect(self.accept)
        row = QHBoxLayout()
        row.addWidget(logo)
        row.addSpacing(12)
        row.addWidget(self.text, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(buttons)
