"""Feature maps: what the selected block computes for the probe sample, updating live.

C×H×W outputs show as a grid of tiles, one per channel, each scaled to its own range (so a weak edge
detector is as visible as a strong one); T×F outputs of recurrent blocks show the hidden state over time as
a heat map (time across, hidden units down); vectors show as bars. When the event carries a Conv2d
block's `filters`, they show below as small images (blue negative, red positive).

    view.set_block("conv2d_1", "Conv2d")   # the controller does this when the canvas selection changes
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout

from layerloom.core.training.events import FeatureMaps
from layerloom.gui.plots.block_view import SelectedBlockView
from layerloom.gui.plots.common import (
    colormap_lut,
    fmt,
    graphics_widget,
    plot_colors,
    series_color,
    style_plot,
    write_csv,
)
from layerloom.gui.plots.offthread import LatestJob
from layerloom.gui.quiet_text import QuietText

RECURRENT = ("RNN", "LSTM", "GRU")
MAP_LUT = "inferno"
SIGNED_LUT = "CET-D1"  # blue – white – red
HINT = ("Select a block on the canvas to see what it computes for a sample: live while training, with the trained "
        "model afterwards.")


def tile_grid(count: int, aspect: float) -> tuple[int, int]:
    """(rows, columns) for `count` square tiles in an area `aspect` = width / height wide."""
    if count <= 0:
        return 0, 0
    cols = max(1, min(count, math.ceil(math.sqrt(count * max(aspect, 0.1)))))
    rows = math.ceil(count / cols)
    cols = math.ceil(count / rows)  # as few empty tiles as possible
    return rows, cols


def mosaic(tiles: np.ndarray, cols: int, lut: np.ndarray, background, *, signed: bool = False,
           gap: int = 1) -> np.ndarray:
    """N×H×W values → one RGB uint8 image of the tiles in a grid, each tile scaled to its own range
    (signed: symmetric around 0, so that 0 is the middle of a diverging map)."""
    n, h, w = tiles.shape
    rows = math.ceil(n / cols)
    out = np.empty((rows * (h + gap) - gap, cols * (w + gap) - gap, 3), np.uint8)
    out[:] = background if isinstance(background, tuple) else (background.red(), background.green(), background.blue())
    t = np.nan_to_num(tiles.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    flat = t.reshape(n, -1)
    if signed:
        scale = np.abs(flat).max(1)
        scale[scale == 0] = 1.0
        unit = 0.5 + 0.5 * t / scale[:, None, None]
    else:
        lo, hi = flat.min(1), flat.max(1)
        span = hi - lo
        flat_tiles = span <= 1e-12
        span[flat_tiles] = 1.0
        unit = (t - lo[:, None, None]) / span[:, None, None]
        unit[flat_tiles] = 0.0
    idx = np.clip(np.round(unit * (len(lut) - 1)), 0, len(lut) - 1).astype(np.intp)
    rgb = lut[idx]  # N×H×W×3
    for i in range(n):
        r, c = divmod(i, cols)
        out[r * (h + gap):r * (h + gap) + h, c * (w + gap):c * (w + gap) + w] = rgb[i]
    return out


def _tile_mosaic(maps: np.ndarray, cols: int, lut: np.ndarray, rgb: tuple, gap: int) -> np.ndarray:
    """mosaic() with plain arguments only (it may run in a worker thread)."""
    return mosaic(maps, cols, lut, rgb, gap=gap)


class FeatureMapView(SelectedBlockView):
    EXPORT_NAME = "feature_maps"
    MIN_INTERVAL_MS = 100
    # Maps with at least this many values are made into a picture in a worker thread (gui/plots/offthread.py): a
    # big convolution's 64×112×112 mosaic costs the GUI thread tens of ms; LeNet's 6×28×28 under one.
    OFF_THREAD_VALUES = 100_000

    def __init__(self, parent=None):
        super().__init__(parent)
        self.mode = "none"  # "none", "tiles", "heatmap", "bars"
        self.tile_count = 0
        self.filter_count = 0
        self._grid = (0, 0)
        self._tile_shape = (0, 0)
        self._jobs = LatestJob(self)
        self._generation = 0  # counts redraws: a picture made in the worker for an older one is dropped

        self.title = QuietText(self)  # changes with every look: repaints itself alone (gui/quiet_text.py)
        self.hint = QLabel(HINT, self)
        self.hint.setObjectName("subtle")
        self.hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.hint.setWordWrap(True)
        self.hover_label = QLabel(self)
        self.hover_label.setObjectName("subtle")
        self.graphics = graphics_widget()
        self.maps_plot = self.graphics.addPlot(row=0, col=0)
        self.filters_plot = self.graphics.addPlot(row=1, col=0)
        self.graphics.ci.layout.setRowStretchFactor(0, 4)
        self.graphics.ci.layout.setRowStretchFactor(1, 1)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.maps_plot.addItem(self.image)
        self.bars = pg.BarGraphItem(x=[], height=[], width=0.8)
        self.maps_plot.addItem(self.bars)
        self.filter_image = pg.ImageItem(axisOrder="row-major")
        self.filters_plot.addItem(self.filter_image)
        for p in (self.maps_plot, self.filters_plot):
            p.invertY(True)
        self.filters_plot.hideAxis("left")
        self.filters_plot.hideAxis("bottom")
        self.filters_plot.setAspectLocked(True)
        self.filters_plot.setMouseEnabled(x=False, y=False)
        self._mouse = pg.SignalProxy(self.graphics.scene().sigMouseMoved, rateLimit=30, slot=self._hover)

        head = QHBoxLayout()
        head.setContentsMargins(6, 2, 6, 0)
        head.addWidget(self.title, 1)
        head.addWidget(self.hover_label)
        head.addWidget(self.sample_box)
        head.addWidget(self.export_buttons())
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.setSpacing(2)
        box.addLayout(head)
        box.addWidget(self.hint, 1)
        box.addWidget(self.graphics, 4)
        self._restyle()
        self.reset(None)

    # --- the contract ------------------------------------------------------------------------------

    def set_feature_note(self, note: str | None) -> None:
        """Why the selected block's maps are missing (no model, no data…); None: waiting for a run's."""
        self.set_note(note)

    def on_event(self, event) -> None:
        if isinstance(event, FeatureMaps):
            if self.block is not None and event.block != self.block:
                return
            self.frame = event
            self._changed()

    # --- drawing ------------------------------------------------------------------------------------

    def _restyle(self) -> None:
        self.graphics.setBackground(plot_colors()["background"])
        self._map_lut = colormap_lut(MAP_LUT)
        self._signed_lut = colormap_lut(SIGNED_LUT)
        style_plot(self.maps_plot, grid=False)
        style_plot(self.filters_plot, grid=False)
        self.bars.setOpts(brush=pg.mkBrush(series_color("loss", 220)), pen=pg.mkPen(None))

    def _redraw(self) -> None:
        self._generation += 1
        ev = self.frame
        has = self.block is not None and ev is not None
        self.hint.setVisible(not has)
        self.graphics.setVisible(has)
        if self.block is None:
            self.hint.setText(HINT)
            self.title.setText("")
            self.mode, self.tile_count = "none", 0
            return
        if ev is None:
            self.title.setText(self.block_title())
            self.hint.setText(self.note or f"Waiting for {self.block}'s output on the probe sample: it is "
                              "captured while training runs, about twice a second.")
            self.mode, self.tile_count = "none", 0
            return
        self._title(ev)
        maps = np.asarray(ev.maps)
        self.image.setVisible(maps.ndim >= 2)
        self.bars.setVisible(maps.ndim == 1)
        if maps.ndim == 3:
            self._tiles(maps)
        elif maps.ndim == 2:
            self._heatmap(maps)
        else:
            self._bars(maps.reshape(-1))
        self._filters(ev.filters)

    def _title(self, ev: FeatureMaps) -> None:
        shape = " × ".join(str(s) for s in ev.shape)
        shown = " × ".join(str(s) for s in np.shape(ev.maps))
        parts = [self.block_title(), f"output {shape}"]
        if shown != shape:
            parts.append(f"shown {shown}")
        parts += [self.sample_text(ev.sample_index, ev.label), f"step {ev.step:,}"]
        if self.block_type in RECURRENT:
            parts.append("its states and gates over time: the Inside RNN tab")
        self.title.setText(" · ".join(parts))

    def _tiles(self, maps: np.ndarray) -> None:
        c, h, w = maps.shape
        size = self.graphics.size()
        aspect = (size.width() / max(1, size.height() * (0.8 if self.filter_count else 1.0))) * (h / max(1, w))
        rows, cols = tile_grid(c, aspect)
        bg = plot_colors()["background"]
        args = (maps, cols, self._map_lut, (bg.red(), bg.green(), bg.blue()), max(1, h // 12))
        self.mode, self.tile_count, self._grid, self._tile_shape = "tiles", c, (rows, cols), (h, w)
        if maps.size < self.OFF_THREAD_VALUES:
            self._show_tiles(_tile_mosaic(*args))
            return
        generation = self._generation
        self._jobs.submit(_tile_mosaic, args, lambda image: self._show_tiles(image, generation))

    def _show_tiles(self, image: np.ndarray, generation: int | None = None) -> None:
        """The tiles' picture (made here or in the worker) on show, unless a later redraw drew something else."""
        if generation is not None and (generation != self._generation or self.mode != "tiles"):
            return
        self.image.setLookupTable(None)
        self.image.setImage(image, autoLevels=False, levels=(0, 255))
        self.image.setRect(0, 0, image.shape[1], image.shape[0])
        self.maps_plot.hideAxis("left")
        self.maps_plot.hideAxis("bottom")
        self.maps_plot.setAspectLocked(True)
        self.maps_plot.autoRange(padding=0.01)

    def _heatmap(self, maps: np.ndarray) -> None:
        rows_are_time = self.block_type in RECURRENT or self.block_type is None or "1d" not in self.block_type
        data = maps.astype(np.float32)
        image = data.T if rows_are_time else data  # rows: hidden units (or channels), columns: time (or position)
        bound = float(np.nanmax(np.abs(image))) if image.size else 1.0
        bound = bound if bound > 0 and math.isfinite(bound) else 1.0
        self.image.setLookupTable(self._signed_lut)
        self.image.setImage(image, autoLevels=False, levels=(-bound, bound))
        self.image.setRect(-0.5, -0.5, image.shape[1], image.shape[0])
        self.maps_plot.showAxis("left")
        self.maps_plot.showAxis("bottom")
        self.maps_plot.setAspectLocked(False)
        style_plot(self.maps_plot, left="hidden unit" if rows_are_time else "channel",
                   bottom="time step" if rows_are_time else "position", grid=False)
        self.maps_plot.autoRange(padding=0)
        self.mode, self.tile_count = "heatmap", 0

    def _bars(self, values: np.ndarray) -> None:
        v = np.nan_to_num(values.astype(np.float32))
        self.image.clear()
        self.bars.setOpts(x=np.arange(len(v)), height=v, width=0.8)
        self.maps_plot.showAxis("left")
        self.maps_plot.showAxis("bottom")
        self.maps_plot.setAspectLocked(False)
        self.maps_plot.invertY(False)  # bars grow upwards
        style_plot(self.maps_plot, left="value", bottom="feature", grid=True)
        self.maps_plot.autoRange()
        self.mode, self.tile_count = "bars", 0

    def _filters(self, filters) -> None:
        if filters is None or np.ndim(filters) != 4:
            self.filters_plot.setVisible(False)
            self.filter_count = 0
            return
        f = np.asarray(filters, np.float32)
        out, cin = f.shape[:2]
        if cin == 3:  # RGB filters as colour pictures
            scale = np.abs(f).reshape(out, -1).max(1)
            scale[scale == 0] = 1
            unit = 0.5 + 0.5 * f / scale[:, None, None, None]
            kh, kw = f.shape[2:]
            cols = min(out, 16)
            rows = math.ceil(out / cols)
            bg = plot_colors()["background"]
            image = np.empty((rows * (kh + 1) - 1, cols * (kw + 1) - 1, 3), np.uint8)
            image[:] = (bg.red(), bg.green(), bg.blue())
            for i in range(out):
                r, c = divmod(i, cols)
                image[r * (kh + 1):r * (kh + 1) + kh, c * (kw + 1):c * (kw + 1) + kw] = \
                    np.clip(unit[i].transpose(1, 2, 0) * 255, 0, 255).astype(np.uint8)
        else:
            tiles = f[:, 0] if cin == 1 else f.mean(1)
            cols = min(out, 16 if out > 8 else out)
            image = mosaic(tiles, cols, self._signed_lut, plot_colors()["background"], signed=True)
        self.filter_image.setImage(image, autoLevels=False, levels=(0, 255))
        self.filter_image.setRect(0, 0, image.shape[1], image.shape[0])
        shape = " × ".join(str(s) for s in f.shape)
        self.filters_plot.setTitle(f"filters ({shape}; blue −, red +)", color=plot_colors()["subtle"].name(),
                                   size="9pt")
        self.filters_plot.setVisible(True)
        self.filters_plot.autoRange(padding=0.02)
        self.filter_count = out

    def _hover(self, args) -> None:
        pos = args[0]
        ev = self.frame
        if ev is None or not self.maps_plot.sceneBoundingRect().contains(pos):
            self.hover_label.setText("")
            return
        p = self.maps_plot.vb.mapSceneToView(pos)
        maps = np.asarray(ev.maps, np.float32)
        if self.mode == "tiles":
            h, w = self._tile_shape
            gap = max(1, h // 12)
            col, row = int(p.x() // (w + gap)), int(p.y() // (h + gap))
            i = row * self._grid[1] + col
            if 0 <= col < self._grid[1] and 0 <= i < self.tile_count:
                m = maps[i]
                self.hover_label.setText(f"channel {i} · {fmt(m.min(), 3)} … {fmt(m.max(), 3)}")
                return
        elif self.mode == "heatmap":
            x, y = round(p.x()), round(p.y())
            img = maps.T if (self.block_type in RECURRENT or self.block_type is None
                             or "1d" not in self.block_type) else maps
            if 0 <= y < img.shape[0] and 0 <= x < img.shape[1]:
                self.hover_label.setText(f"({y}, {x}) = {fmt(img[y, x], 3)}")
                return
        self.hover_label.setText("")

    def export_png(self, path: str) -> bool:
        if self._dirty:
            self.refresh()
        self._jobs.wait()  # a picture under way in the worker
        return super().export_png(path)

    def export_csv(self, path: str) -> None:
        """The values shown: one row per value with its index (channel, row, column / time, unit / feature)."""
        if self.frame is None:
            write_csv(path, ["index", "value"], [])
            return
        maps = np.asarray(self.frame.maps, np.float32)
        names = {3: ["channel", "row", "column"], 2: ["time", "unit"], 1: ["feature"]}.get(maps.ndim, ["index"])
        idx = np.indices(maps.shape).reshape(maps.ndim, -1).T if maps.ndim else np.zeros((1, 0), int)
        write_csv(path, [*names, "value"], ([*map(int, i), float(v)] for i, v in zip(idx, maps.reshape(-1))))
