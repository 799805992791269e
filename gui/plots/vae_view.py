"""A VAE's panels in the Generative tab (gui/plots/generative.py), drawn from one VAELook: input and
reconstruction pairs, samples from a fixed z, the latent means as a scatter coloured by class (a legend names the
classes) and the traversal grid on axes in latent coordinates.

    panels = VAEPanels(parent); panels.set_class_names(["0", …]); panels.show_look(look)
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF
from PySide6.QtWidgets import QGraphicsItem, QVBoxLayout, QWidget

from layerloom.gui.plots.common import graphics_widget, plot_colors, style_legend, style_plot
from layerloom.gui.plots.follow_range import AxisFollower, symmetric_span
from layerloom.gui.plots.mosaic import mosaic

MAX_LEGEND = 20  # classes named in the legend at most (more share a few colours, unnamed)


def class_color(i: int, n: int) -> pg.QtGui.QColor:
    return pg.intColor(i, hues=max(n, 1), values=1, maxValue=230, minValue=150, sat=200)


class VAEPanels(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.class_names: list[str] | None = None
        self.look = None
        self.graphics = graphics_widget()
        g = self.graphics
        self.pairs_plot = g.addPlot(row=0, col=0)
        self.samples_plot = g.addPlot(row=0, col=1)
        self.latent_plot = g.addPlot(row=1, col=0)
        self.traversal_plot = g.addPlot(row=1, col=1)
        self.pairs_image = pg.ImageItem(axisOrder="row-major")
        self.samples_image = pg.ImageItem(axisOrder="row-major")
        self.traversal_image = pg.ImageItem(axisOrder="row-major")
        for plot, image in ((self.pairs_plot, self.pairs_image), (self.samples_plot, self.samples_image)):
            plot.addItem(image)
            plot.invertY(True)
            plot.setAspectLocked(True)
            plot.hideAxis("left")
            plot.hideAxis("bottom")
            plot.setMouseEnabled(False, False)
        self.traversal_plot.addItem(self.traversal_image)
        self.traversal_plot.setAspectLocked(True)
        for plot in (self.latent_plot, self.traversal_plot):  # an axis is painted again only when it changed
            for side in ("left", "bottom"):
                plot.getAxis(side).setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        # the latent axes move only when the points outgrow them (each look re-ranging them cost ~7 ms a paint)
        self.latent_axes = AxisFollower(self.latent_plot.vb, padding=0.05)
        self.traversal_axes = AxisFollower(self.traversal_plot.vb, padding=0.0)
        self.legend = self.latent_plot.addLegend(offset=(-4, 4), labelTextSize="8pt", colCount=2)
        self.scatters: list[pg.ScatterPlotItem] = []  # one per class (or one for unlabelled points)
        self._scatter_key: tuple | None = None  # the classes the scatters were made for
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(self.graphics)
        self.restyle()

    def set_class_names(self, names) -> None:
        self.class_names = list(names) if names else None
        self._scatter_key = None  # the legend's names: made again
        if self.look is not None:
            self.show_look(self.look)

    def restyle(self) -> None:
        self._scatter_key = None  # the scatters' colours: made again at the next look
        self.graphics.setBackground(plot_colors()["background"])
        style_plot(self.pairs_plot, title="inputs (top) · reconstructions (bottom)", grid=False)
        style_plot(self.samples_plot, title="samples decoded from a fixed random z", grid=False)
        style_plot(self.latent_plot, title="latent means of the validation samples", left="z[1]", bottom="z[0]")
        style_plot(self.traversal_plot, title="traversal: decodes across the latent space", left="z[1]",
                   bottom="z[0]", grid=False)
        style_legend(self.legend)

    def class_name(self, label: int) -> str:
        names = self.class_names
        return str(names[label]) if names and 0 <= label < len(names) else str(label)

    def show_look(self, look) -> None:
        self.look = look
        n = len(look.inputs)
        inputs, recon = look.inputs, look.reconstructions
        if inputs.shape[1:] != recon.shape[1:]:  # e.g. flattened inputs, image outputs: both as vectors
            inputs, recon = inputs.reshape(n, -1), recon.reshape(n, -1)
        pairs = np.concatenate([inputs, recon])
        picture, levels = mosaic(pairs, cols=n)
        self.pairs_image.setImage(picture, levels=levels)
        if look.samples is not None:
            picture, levels = mosaic(look.samples, cols=4)
            self.samples_image.setImage(picture, levels=levels)
        else:
            self.samples_image.clear()
        self._scatter(look)
        self._traversal(look)

    def _scatter(self, look) -> None:
        """One scatter per class. The items (and the legend) are made again only when the classes change; each
        epoch's look only moves their points (remaking ten items and the legend cost the GUI thread ~40 ms)."""
        latent = look.latent if look.latent.shape[1] >= 2 else \
            np.column_stack([look.latent[:, 0], np.zeros(len(look.latent), np.float32)])
        labels = look.labels
        groups = [(None, np.arange(len(latent)))] if labels is None else \
            [(int(c), np.flatnonzero(labels == c)) for c in np.unique(labels)]
        key = tuple(label for label, _rows in groups)
        if key != self._scatter_key or len(self.scatters) != len(groups):
            self._make_scatters(groups)
            self._scatter_key = key
        for item, (_label, rows) in zip(self.scatters, groups, strict=True):
            item.setData(latent[rows, 0], latent[rows, 1])
        span = symmetric_span([latent])  # the same scale on both latent axes, centred on the prior's 0
        self.latent_axes.apply(0, span)
        self.latent_axes.apply(1, span)

    def _make_scatters(self, groups) -> None:
        for item in self.scatters:
            self.latent_plot.removeItem(item)
        self.legend.clear()
        self.scatters = []
        count = len(groups)
        bg = plot_colors()["background"]
        for i, (label, _rows) in enumerate(groups):
            color = class_color(i, min(count, MAX_LEGEND)) if label is not None else plot_colors()["foreground"]
            item = pg.ScatterPlotItem(size=6, brush=pg.mkBrush(color), pen=pg.mkPen(bg, width=0.5))
            self.latent_plot.addItem(item)
            self.scatters.append(item)
            if label is not None and i < MAX_LEGEND:
                self.legend.addItem(item, self.class_name(label))

    def _traversal(self, look) -> None:
        t = look.traversal
        if t is None:
            self.traversal_image.clear()
            return
        rows, cols = t.shape[:2]
        # rows go up the second latent dimension: the top row of the picture is the highest, then flipped for
        # the plot's upward y axis (each decode stays upright)
        top_down, levels = mosaic(t[::-1].reshape(rows * cols, *t.shape[2:]), cols=cols)
        self.traversal_image.setImage(np.ascontiguousarray(top_down[::-1]), levels=levels)
        x0, x1, y0, y1 = look.traversal_extent
        dx = (x1 - x0) / max(cols - 1, 1)
        dy = (y1 - y0) / max(rows - 1, 1) if rows > 1 else dx
        self.traversal_image.setRect(QRectF(x0 - dx / 2, y0 - dy / 2, x1 - x0 + dx, y1 - y0 + dy))
        self.traversal_axes.apply(0, (x0 - dx / 2, x1 + dx / 2))
        self.traversal_axes.apply(1, (y0 - dy / 2, y1 + dy / 2))

    def csv_rows(self) -> tuple[list[str], list[list]]:
        """The latent means and their classes."""
        look = self.look
        if look is None:
            return ["z0", "z1", "class"], []
        rows = []
        for i, point in enumerate(look.latent):
            label = "" if look.labels is None else self.class_name(int(look.labels[i]))
            rows.append([*(float(v) for v in point), label])
        return [f"z{j}" for j in range(look.latent.shape[1])] + ["class"], rows
