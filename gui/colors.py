"""Colours shared by the palette, the canvas and the legend: one per block category, and the
status colours of badges. Defined once so that a category looks the same everywhere."""

from __future__ import annotations

from PySide6.QtGui import QColor

CATEGORY_COLORS: dict[str, str] = {
    "Inputs": "#3f8efc",
    "Convolution": "#e0803a",
    "Pooling": "#d9b23a",
    "Dense & shape": "#5aa469",
    "Recurrent": "#a36cd8",
    "Composite": "#d05c8e",
    "Merge": "#3aa8a8",
    "Normalization & regularization": "#8a94a6",
    "Activations": "#c9c24a",
    "Outputs": "#e05555",
}

ERROR_COLOR = "#e5484d"
WARNING_COLOR = "#f5a524"
WAITING_COLOR = "#8b8d98"
OK_COLOR = "#46a758"


def category_color(category: str) -> QColor:
    """The colour of a block category (grey for an unknown one)."""
    return QColor(CATEGORY_COLORS.get(category, "#888888"))
