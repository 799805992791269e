"""The look: Fusion with a dark and a light palette that follow the
system, a small style sheet, and the SVG icons of `resources/icons/` (tinted to the palette's text
colour, crisp on high-DPI screens).

    apply_theme(app)              # "system" (default), "dark" or "light"
    icon("save")                  # a toolbar icon in the current text colour
    category_icon("Convolution")  # the coloured icon of a block category
"""

from __future__ import annotations

import contextlib
import importlib.resources
from functools import cache
from pathlib import Path

from PySide6.QtCore import QByteArray, QObject, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QGuiApplication, QIcon, QImage, QPainter, QPalette, QPixmap
from PySide6.QtWidgets import QApplication, QProxyStyle, QStyle, QToolTip

# Icons are package data of layerloom.resources (found through importlib.resources, so a wheel and a frozen
# app work as the repo does); they are plain files on disk in every supported installation.
ICON_DIR = Path(str(importlib.resources.files("layerloom.resources") / "icons"))
THEMES = ("system", "dark", "light")

# File names of the category icons (`category-<slug>.svg`).
CATEGORY_ICON = {
    "Inputs": "inputs",
    "Convolution": "convolution",
    "Pooling": "pooling",
    "Dense & shape": "dense",
    "Recurrent": "recurrent",
    "Composite": "composite",
    "Merge": "merge",
    "Normalization & regularization": "norm",
    "Activations": "activations",
    "Outputs": "outputs",
}

_ICON_SIZES = (16, 18, 20, 22, 24, 28, 32, 36, 40, 48, 56, 64, 80, 96, 128)

DARK = {
    "window": "#1e2126",
    "window_text": "#e3e6ea",
    "base": "#25282e",
    "alternate_base": "#2a2d34",
    "text": "#e3e6ea",
    "button": "#2e323a",
    "button_text": "#e3e6ea",
    "bright_text": "#ffffff",
    "highlight": "#3b82f6",
    "highlighted_text": "#ffffff",
    "link": "#6aa8ff",
    "tooltip_base": "#2a2e35",
    "tooltip_text": "#e3e6ea",
    "placeholder": "#7b818b",
    "light": "#3a3f47",
    "midlight": "#30343b",
    "mid": "#24272d",
    "dark": "#121417",
    "shadow": "#08090a",
    "disabled_text": "#6a7079",
    "border": "#383c45",
    "canvas": "#1a1c20",
    "subtle_text": "#9aa1ab",
}

LIGHT = {
    "window": "#f2f3f5",
    "window_text": "#1d2025",
    "base": "#ffffff",
    "alternate_base": "#f6f7f9",
    "text": "#1d2025",
    "button": "#e8eaee",
    "button_text": "#1d2025",
    "bright_text": "#000000",
    "highlight": "#2f6fe4",
    "highlighted_text": "#ffffff",
    "link": "#1f5fd1",
    "tooltip_base": "#ffffff",
    "tooltip_text": "#1d2025",
    "placeholder": "#8a9099",
    "light": "#ffffff",
    "midlight": "#eceef1",
    "mid": "#c9cdd4",
    "dark": "#a4a9b2",
    "shadow": "#6e737b",
    "disabled_text": "#a0a5ad",
    "border": "#d4d7dd",
    "canvas": "#fafbfc",
    "subtle_text": "#5f6670",
}


def colors(dark: bool | None = None) -> dict[str, str]:
    """The colour table of the current (or the given) scheme."""
    if dark is None:
        dark = is_dark()
    return DARK if dark else LIGHT


def system_prefers_dark() -> bool:
    """True when the desktop asks for a dark scheme (Qt 6.5+ `QStyleHints.colorScheme()`)."""
    app = QGuiApplication.instance()
    if app is None:
        return False
    try:
        return app.styleHints().colorScheme() == Qt.ColorScheme.Dark
    except AttributeError:  # Qt < 6.5
        return False


def is_dark(palette: QPalette | None = None) -> bool:
    """Whether `palette` (default: the application's) is a dark one."""
    if palette is None:
        app = QGuiApplication.instance()
        if app is None:
            return False
        palette = app.palette()
    return palette.color(QPalette.ColorRole.Window).lightness() < 128


def make_palette(dark: bool) -> QPalette:
    c = DARK if dark else LIGHT
    p = QPalette()
    role = QPalette.ColorRole
    group = QPalette.ColorGroup
    pairs = {
        role.Window: "window",
        role.WindowText: "window_text",
        role.Base: "base",
        role.AlternateBase: "alternate_base",
        role.Text: "text",
        role.Button: "button",
        role.ButtonText: "button_text",
        role.BrightText: "bright_text",
        role.Highlight: "highlight",
        role.HighlightedText: "highlighted_text",
        role.Link: "link",
        role.LinkVisited: "link",
        role.ToolTipBase: "tooltip_base",
        role.ToolTipText: "tooltip_text",
        role.PlaceholderText: "placeholder",
        role.Light: "light",
        role.Midlight: "midlight",
        role.Mid: "mid",
        role.Dark: "dark",
        role.Shadow: "shadow",
    }
    for r, key in pairs.items():
        p.setColor(r, QColor(c[key]))
    for r in (role.WindowText, role.Text, role.ButtonText):
        p.setColor(group.Disabled, r, QColor(c["disabled_text"]))
    p.setColor(group.Disabled, role.Highlight, QColor(c["mid"]))
    p.setColor(group.Disabled, role.HighlightedText, QColor(c["disabled_text"]))
    p.setColor(group.Inactive, role.Highlight, QColor(c["highlight"]).darker(125) if dark
               else QColor(c["highlight"]).lighter(120))
    if hasattr(role, "Accent"):  # Qt 6.6+
        p.setColor(role.Accent, QColor(c["highlight"]))
    return p


def style_sheet(dark: bool) -> str:
    """A small style sheet on top of Fusion: flat toolbars, quiet dock titles, rounded search fields."""
    c = DARK if dark else LIGHT
    return f"""
QToolBar {{ border: none; spacing: 2px; padding: 3px 6px; }}
QToolBar::separator {{ width: 1px; margin: 5px 6px; background: {c['border']}; }}
QToolButton {{ border: 1px solid transparent; border-radius: 6px; padding: 3px; }}
QToolButton:hover {{ background: {c['button']}; border-color: {c['border']}; }}
QToolButton:pressed, QToolButton:checked {{ background: {c['midlight']}; }}
QDockWidget {{ titlebar-close-icon: none; }}
QDockWidget::title {{ padding: 6px 8px; background: {c['window']}; color: {c['subtle_text']};
    border-bottom: 1px solid {c['border']}; text-align: left; }}
QLineEdit#searchField {{ border: 1px solid {c['border']}; border-radius: 7px; padding: 4px 8px;
    background: {c['base']}; }}
QLineEdit#searchField:focus {{ border-color: {c['highlight']}; }}
QStatusBar {{ border-top: 1px solid {c['border']}; }}
QStatusBar::item {{ border: none; }}
QLabel#statusChip {{ padding: 1px 8px; color: {c['subtle_text']}; }}
QLabel#fieldError {{ color: #e5484d; }}
QLabel#subtle, QuietText#subtle {{ color: {c['subtle_text']}; }}
QLabel#sectionTitle {{ color: {c['subtle_text']}; font-weight: 600; padding-top: 6px; }}
QFrame#inspectorHeader {{ border: none; border-bottom: 1px solid {c['border']}; }}
QTreeView, QListView, QTextBrowser {{ border: none; }}
QScrollArea {{ border: none; }}
QToolTip {{ color: {c['tooltip_text']}; background-color: {c['tooltip_base']}; border: 1px solid {c['border']};
    padding: 4px 6px; }}
QMenu::separator {{ height: 1px; margin: 4px 8px; background: {c['border']}; }}
QDialogButtonBox {{ dialogbuttonbox-buttons-have-icons: 0; }}
"""


def style_name(app: QApplication | None = None) -> str:
    """The name of the style under the style sheet ("fusion")."""
    app = app or QApplication.instance()
    style = app.style()
    if isinstance(style, QProxyStyle):
        style = style.baseStyle()
    if not style.name():  # the style sheet's own style: the style under it is one of the app's children
        style = next((s for s in app.findChildren(QStyle) if s.name()), style)
    return style.name().lower()


class _Follower(QObject):
    """Re-applies the palette when the system switches between dark and light (theme "system")."""

    def __init__(self, app: QApplication):
        super().__init__(app)
        self.theme = "system"
        with contextlib.suppress(AttributeError):  # Qt < 6.5 has no colorSchemeChanged
            app.styleHints().colorSchemeChanged.connect(self._changed)

    def _changed(self, *_args) -> None:
        if self.theme == "system":
            apply_theme(QApplication.instance(), "system")


def apply_theme(app: QApplication, theme: str = "system") -> bool:
    """Fusion with the dark or light palette ("system" follows the desktop); returns True when dark."""
    if theme not in THEMES:
        theme = "system"
    dark = system_prefers_dark() if theme == "system" else theme == "dark"
    # plain Fusion, no Python proxy style: Qt asks a style for hints thousands of times a repaint, and a
    # Python override would take the GIL for each, away from a training thread
    if style_name(app) != "fusion":
        app.setStyle("Fusion")
    app.setPalette(make_palette(dark))
    app.setStyleSheet(style_sheet(dark))
    QToolTip.setPalette(app.palette())
    follower = app.findChild(_Follower)
    if follower is None:
        follower = _Follower(app)
    follower.theme = theme
    _tinted.cache_clear()
    return dark


# --- icons --------------------------------------------------------------------------------------


def icon_path(name: str) -> Path:
    return ICON_DIR / f"{name}.svg"


def icon(name: str, color: QColor | str | None = None) -> QIcon:
    """A monochrome toolbar icon drawn in `color` (default: the palette's text colour)."""
    if color is None:
        app = QGuiApplication.instance()
        color = app.palette().color(QPalette.ColorRole.WindowText) if app else QColor("#202020")
    return _tinted(name, QColor(color).name())


@cache
def _tinted(name: str, color: str) -> QIcon:
    path = icon_path(name)
    if not path.exists():
        return QIcon()
    svg = path.read_text(encoding="utf-8").replace("currentColor", color)
    result = QIcon()
    for size in _ICON_SIZES:
        normal = render_svg(svg, size)
        result.addPixmap(normal, QIcon.Mode.Normal)
        result.addPixmap(_faded(normal, 0.35), QIcon.Mode.Disabled)
    return result


def _faded(pixmap: QPixmap, opacity: float) -> QPixmap:
    out = QPixmap(pixmap.size())
    out.setDevicePixelRatio(pixmap.devicePixelRatio())
    out.fill(Qt.GlobalColor.transparent)
    p = QPainter(out)
    p.setOpacity(opacity)
    p.drawPixmap(0, 0, pixmap)
    p.end()
    return out


def render_svg(svg: str | bytes, size: int | QSize, device_pixel_ratio: float = 1.0) -> QPixmap:
    """Render SVG text into a transparent pixmap of `size` logical pixels."""
    from PySide6.QtSvg import QSvgRenderer

    if isinstance(size, int):
        size = QSize(size, size)
    data = svg.encode("utf-8") if isinstance(svg, str) else svg
    renderer = QSvgRenderer(QByteArray(data))
    w, h = round(size.width() * device_pixel_ratio), round(size.height() * device_pixel_ratio)
    image = QImage(w, h, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter, QRectF(0, 0, w, h))
    painter.end()
    pixmap = QPixmap.fromImage(image)
    pixmap.setDevicePixelRatio(device_pixel_ratio)
    return pixmap


@cache
def category_icon(category: str) -> QIcon:
    """The coloured icon of a block category (its colour is the category's, as on the canvas)."""
    slug = CATEGORY_ICON.get(category)
    path = icon_path(f"category-{slug}") if slug else None
    return QIcon(str(path)) if path and path.exists() else QIcon()


def block_icon(type_id: str) -> QIcon:
    """The icon of a block type: its category's."""
    from layerloom.core.blocks import get_spec

    return category_icon(get_spec(type_id).category)


@cache
def app_icon() -> QIcon:
    """The application icon (SVG, rendered crisp at every size)."""
    path = icon_path("app")
    ico = QIcon(str(path))
    for size in (16, 24, 32, 48, 64, 128, 256):  # for platforms that want bitmaps
        ico.addPixmap(render_svg(path.read_bytes(), size))
    return ico
