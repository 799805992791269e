"""Geometry, fonts, colours, text formatting and small painting helpers shared by the canvas items.

The canvas follows the application palette: a dark canvas under a dark palette, a light one under a
light palette. Category colours and status colours come from `layerloom.gui.colors`, so a block looks
the same in the palette, on the canvas and in the legend.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QGuiApplication, QPainter, QPalette, QPen
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem

from layerloom.gui.colors import ERROR_COLOR, OK_COLOR, WAITING_COLOR, WARNING_COLOR

# --- geometry (scene units = pixels at 100 % zoom) --------------------------------------------------

NODE_W = 164.0
PAD_X = 10.0  # text inset from the node's sides
HEADER_H = 38.0
ROW_H = 17.0
BODY_PAD = 7.0
FOOTER_H = 26.0
RADIUS = 8.0
PORT_R = 6.0
PORT_Y = HEADER_H / 2  # ports sit on the header line, so wires between blocks of one row stay straight
ARC_SPAN = 2 * NODE_W + 40  # a wire longer than this between blocks of one row arcs over the row
ARC_LIFT = 70.0
PORT_HIT_R = 11.0
MULTI_SLOT = 11.0  # spacing of the wires that arrive at one multi-input port (Add, Concat, Multiply)
MAX_ROWS = 4
BADGE_R = 10.0
GRID_MINOR = 20
GRID_MAJOR = 100
LOW_DETAIL = 0.36  # below this zoom, nodes are drawn without text (a block's title is under 4 px high)
OVERVIEW_ZOOM = 0.22  # below this, the view draws the graph as plain boxes and straight wires (overview.py)


def node_height(rows: int) -> float:
    body = (2 * BODY_PAD + rows * ROW_H) if rows else 4.0
    return HEADER_H + body + FOOTER_H


# --- colours --------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class CanvasTheme:
    dark: bool
    background: QColor
    grid_minor: QColor
    grid_major: QColor
    node_body: QColor
    node_footer: QColor
    node_border: QColor
    node_shadow: QColor
    text: QColor
    muted: QColor
    edge: QColor
    edge_active: QColor
    label_bg: QColor
    label_text: QColor
    selection: QColor
    hover: QColor
    waiting_header: QColor
    error: QColor = field(default_factory=lambda: QColor(ERROR_COLOR))
    warning: QColor = field(default_factory=lambda: QColor(WARNING_COLOR))
    waiting: QColor = field(default_factory=lambda: QColor(WAITING_COLOR))
    ok: QColor = field(default_factory=lambda: QColor(OK_COLOR))


def _c(text: str, alpha: int = 255) -> QColor:
    color = QColor(text)
    color.setAlpha(alpha)
    return color


DARK = CanvasTheme(
    dark=True,
    background=_c("#1a1c20"),
    grid_minor=_c("#22252a"),
    grid_major=_c("#2a2e34"),
    node_body=_c("#262a30"),
    node_footer=_c("#1f2227"),
    node_border=_c("#3a3f48"),
    node_shadow=_c("#000000", 90),
    text=_c("#e6e9ee"),
    muted=_c("#939aa5"),
    edge=_c("#6f7784"),
    edge_active=_c("#8fb6ff"),
    label_bg=_c("#2b3038"),
    label_text=_c("#d4d9e1"),
    selection=_c("#4c9aff"),
    hover=_c("#5d6470"),
    waiting_header=_c("#4a4e57"),
)

LIGHT = CanvasTheme(
    dark=False,
    background=_c("#f5f6f8"),
    grid_minor=_c("#eaecf0"),
    grid_major=_c("#dcdfe5"),
    node_body=_c("#ffffff"),
    node_footer=_c("#f3f4f7"),
    node_border=_c("#cdd1d8"),
    node_shadow=_c("#1b2330", 40),
    text=_c("#1d2025"),
    muted=_c("#646b76"),
    edge=_c("#9aa1ac"),
    edge_active=_c("#2f6fe4"),
    label_bg=_c("#ffffff"),
    label_text=_c("#30363f"),
    selection=_c("#2f6fe4"),
    hover=_c("#a9b0bb"),
    waiting_header=_c("#b4b8c0"),
)


def theme_for_palette(palette: QPalette | None = None) -> CanvasTheme:
    """The dark theme under a dark palette (Window lightness < 128), else the light one."""
    if palette is None:
        app = QGuiApplication.instance()
        if app is None:
            return DARK
        palette = app.palette()
    return DARK if palette.color(QPalette.ColorRole.Window).lightness() < 128 else LIGHT


def theme_of(item: QGraphicsItem) -> CanvasTheme:
    """The theme of the scene an item is in (the dark one while it is in none)."""
    scene = item.scene()
    return getattr(scene, "theme", DARK) if scene is not None else DARK


def level_of_detail(painter: QPainter) -> float:
    """The zoom a painter draws at (1.0 at 100 %): below LOW_DETAIL, items leave out their text."""
    return QStyleOptionGraphicsItem.levelOfDetailFromTransform(painter.worldTransform())


def detail_for(zoom: float) -> str:
    """How much the canvas draws at a zoom: "full" (text, labels, badges), "plain" (cards, ports and
    badges without text: unreadable below LOW_DETAIL) or "overview" (boxes and straight wires only)."""
    if zoom >= LOW_DETAIL:
        return "full"
    return "plain" if zoom >= OVERVIEW_ZOOM else "overview"


NO_PEN = QPen(Qt.PenStyle.NoPen)


def header_text_color(color: QColor) -> QColor:
    """White or near-black, whichever reads better on `color`."""
    r, g, b = color.redF(), color.greenF(), color.blueF()
    luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b
    return QColor("#15171a") if luminance > 0.55 else QColor("#ffffff")


def header_fill(category_color: QColor, dark: bool) -> QColor:
    """The header colour: the category colour, a little deeper on a dark canvas."""
    return category_color.darker(112) if dark else QColor(category_color)


def frozen_header_fill(category_color: QColor, dark: bool) -> QColor:
    """The header of a frozen block: its usual colour, mostly desaturated and dimmed, then cooled a little
    towards an icy slate, so it still hints at its category but reads as "set aside"."""
    base = header_fill(category_color, dark)
    h, s, lightness, a = base.getHslF()
    muted = QColor.fromHslF(max(h, 0.0), s * 0.5, lightness * 0.8 + (0.1 if not dark else 0.0), a)
    ice = QColor("#52627a") if dark else QColor("#c3d0e0")
    t = 0.3
    return QColor.fromRgbF(muted.redF() * (1 - t) + ice.redF() * t, muted.greenF() * (1 - t) + ice.greenF() * t,
                           muted.blueF() * (1 - t) + ice.blueF() * t, a)


# --- fonts ----------------------------------------------------------------------------------------


class Fonts:
    """Fonts in pixel sizes, so that text scales with the scene like everything else."""

    _ready = False
    title: QFont
    subtitle: QFont
    type: QFont
    key: QFont
    value: QFont
    footer: QFont
    count: QFont
    label: QFont
    badge: QFont

    @classmethod
    def ensure(cls) -> None:
        if cls._ready:
            return
        base = QGuiApplication.font() if QGuiApplication.instance() else QFont()

        def make(px: int, bold: bool = False, family: str | None = None) -> QFont:
            f = QFont(base)
            if family:
                f.setFamily(family)
            f.setPixelSize(px)
            f.setBold(bold)
            f.setHintingPreference(QFont.HintingPreference.PreferNoHinting)
            return f

        cls.title = make(13, bold=True)
        cls.subtitle = make(10)
        cls.type = make(11)
        cls.key = make(11)
        cls.value = make(11, bold=True)
        cls.footer = make(11, bold=True)
        cls.count = make(10)
        cls.label = make(10)
        cls.badge = make(12, bold=True)
        cls.metrics = {name: QFontMetricsF(getattr(cls, name))
                       for name in ("title", "subtitle", "type", "key", "value", "footer", "count", "label")}
        cls._ready = True


# --- text -----------------------------------------------------------------------------------------


def fmt_count(n: int) -> str:
    """61706 → `61,706 params`."""
    return f"{n:,} param" + ("" if n == 1 else "s")


def fmt_count_short(n: int) -> str:
    """61706 → `61.7k params`, 1180160 → `1.18M params` (where the full count does not fit)."""
    if n >= 1_000_000:
        return f"{n / 1e6:.3g}M params"
    if n >= 1_000:
        return f"{n / 1e3:.3g}k params"
    return fmt_count(n)


def fmt_value(value: Any, kind: str = "") -> str:
    """A parameter value the way a lecture writes it: `5`, `3×3`, `same`, `1×28×28`, `yes`."""
    if value is None:
        return "auto"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list | tuple):
        if kind == "dims":
            return "(" + ", ".join(str(v) for v in value) + ")"
        return "×".join(str(v) for v in value)
    return str(value)
