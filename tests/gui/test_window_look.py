"""The look: Fusion with a dark and a light palette, the SVG icons (one per block category, in the
category's colour; one per toolbar action), and the app icon."""

from __future__ import annotations

import os
import re

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
import pytestqt  # noqa: F401  (a hard test dependency: fail loudly if missing)
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QApplication

from layerloom.core.blocks import CATEGORIES, all_specs
from layerloom.gui import theme
from layerloom.gui.colors import CATEGORY_COLORS


@pytest.fixture
def restore_theme(qapp):
    yield qapp
    theme.apply_theme(qapp, "light")


def test_dark_and_light_palettes(restore_theme):
    app = restore_theme
    assert theme.apply_theme(app, "dark") is True
    assert theme.style_name(app) == "fusion"
    assert theme.is_dark()
    window = app.palette().color(QPalette.ColorRole.Window)
    text = app.palette().color(QPalette.ColorRole.WindowText)
    assert text.lightness() - window.lightness() > 150  # readable
    assert theme.apply_theme(app, "light") is False
    assert not theme.is_dark()
    # "system" follows the desktop's colour scheme (Qt 6.5+), light when it says nothing
    assert theme.apply_theme(app, "system") == theme.system_prefers_dark()


def test_category_icons_exist_and_wear_the_category_colour(qapp):
    for category in CATEGORIES:
        slug = theme.CATEGORY_ICON[category]
        svg = theme.icon_path(f"category-{slug}").read_text(encoding="utf-8")
        fill = re.search(r'<rect [^>]*fill="(#[0-9a-fA-F]{6})"', svg).group(1)
        assert fill.lower() == CATEGORY_COLORS[category].lower(), category
        assert not theme.category_icon(category).isNull()
    for spec in all_specs():
        assert not theme.block_icon(spec.type_id).isNull()


def test_toolbar_icons_render_crisp_at_high_dpi(qapp):
    for name in ("new", "open", "save", "undo", "redo", "cut", "copy", "paste", "duplicate", "delete", "zoom-in",
                 "zoom-out", "fit", "auto-layout", "book", "add-block", "link", "error", "warning", "ok"):
        assert theme.icon_path(name).exists(), name
        ico = theme.icon(name)
        assert not ico.isNull()
        assert not ico.pixmap(20, 20).isNull()
        assert ico.pixmap(40, 40).width() == 40  # a real 40-px rendering exists for 2× screens
    pm = theme.render_svg(theme.icon_path("app").read_bytes(), 64, device_pixel_ratio=2.0)
    assert pm.width() == 128 and pm.devicePixelRatio() == 2.0
    assert not theme.app_icon().isNull()
    assert QApplication.instance() is qapp
