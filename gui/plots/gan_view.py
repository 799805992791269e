"""A GAN's panels in the Generative tab (gui/plots/generative.py), drawn from its GANLooks and epoch ends: the
discriminator's and the generator's losses, the mean D(real) and D(fake) (0 to 1, a dashed line at 0.5), the 8×8
grid of samples from the fixed noise batch, a strip of the first samples of each look (one row per look, newest
at the bottom, at most STRIP_ROWS kept evenly spaced over the run), the diversity as text and, when a look has
one, its warning in a coloured banner.

    panels = GANPanels(parent); panels.reset(); panels.show_look(look); panels.on_epoch_end(epoch_end)
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QGraphicsItem, QLabel, QVBoxLayout, QWidget

from layerloom.gui.colors import WARNING_COLOR
from layerloom.gui.plots.common import graphics_widget, plot_colors, series_color, style_plot
from layerloom.gui.plots.follow_range import AxisFollower, step_span, value_span
from layerloom.gui.plots.mosaic import mosaic
from layerloom.gui.quiet_text import QuietText

STRIP_ROWS = 12  # looks kept in the strip over time
STRIP_SAMPLES = 8  # samples of each look in the strip
GRID_COLS = 8
STATS = ("d_loss", "g_loss", "d_real", "d_fake")
EPOCH_KEYS = ("train_d_loss", "train_g_loss", "val_d_loss", "val_g_loss", "d_real", "d_fake", "val_d_real",
              "val_d_fake")
D_COLOR, G_COLOR = "loss", "val"  # series colours: the discriminator blue, the generator orange


def thin(steps: list[int], keep: int) -> int | None:
    """Which row to drop so that `keep` rows stay evenly spaced over the run: the inner row (never the first or
    the newest) whose neighbours are closest together; None while there are no more than `keep`."""
    if len(steps) <= keep:
        return None
    return min(range(1, len(steps) - 1), key=lambda i: (steps[i + 1] - steps[i - 1], i))


class GANPanels(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.look = None
        self.points: list[tuple[int, float, float, float, float]] = []  # step, d_loss, g_loss, d_real, d_fake
        self.epochs: list[tuple[int, dict]] = []  # (step, the GAN metrics of an EpochEnd)
        self.strip: list[tuple[int, np.ndarray]] = []  # (step, the first samples of a look)
        self.banner = QLabel(self)
        self.banner.setObjectName("ganWarning")
        self.banner.setWordWrap(True)
        self.banner.setContentsMargins(10, 6, 10, 6)
        self.banner.hide()
        self.info = QuietText(self)  # changes with every look: repaints itself alone (gui/quiet_text.py)
        self.info.setObjectName("subtle")
        self.info.setContentsMargins(8, 0, 8, 0)
        self.graphics = graphics_widget()
        g = self.graphics
        self.loss_plot = g.addPlot(row=0, col=0)
        self.samples_plot = g.addPlot(row=0, col=1)
        self.d_plot = g.addPlot(row=1, col=0)
        self.strip_plot = g.addPlot(row=1, col=1)
        self.samples_image = pg.ImageItem(axisOrder="row-major")
        self.strip_image = pg.ImageItem(axisOrder="row-major")
        for plot, image in ((self.samples_plot, self.samples_image), (self.strip_plot, self.strip_image)):
            plot.addItem(image)
            plot.invertY(True)
            plot.setAspectLocked(True)
            plot.hideAxis("left")
            plot.hideAxis("bottom")
            plot.setMouseEnabled(False, False)
        g.ci.layout.setColumnStretchFactor(0, 1)
        g.ci.layout.setColumnStretchFactor(1, 1)
        self.curves: dict[str, pg.PlotDataItem] = {}  # named by their titles' colours (no legend over the data)
        for key, plot in (("d_loss", self.loss_plot), ("g_loss", self.loss_plot), ("val_d_loss", self.loss_plot),
                          ("val_g_loss", self.loss_plot), ("d_real", self.d_plot), ("d_fake", self.d_plot)):
            self.curves[key] = plot.plot([], [])
        for plot in (self.loss_plot, self.d_plot):  # an axis is painted again only when it changed
            for side in ("left", "bottom"):
                plot.getAxis(side).setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        # the step axes run from 0 to a round number and the loss axis from 0 to one: they move only when the
        # curves outgrow them (follow_range.py), not at every look
        self.loss_axes = AxisFollower(self.loss_plot.vb, padding=0.02)
        self.d_axes = AxisFollower(self.d_plot.vb, padding=0.02)
        self.d_plot.setYRange(0, 1, padding=0.02)
        self.d_plot.setMouseEnabled(True, False)
        self.half = pg.InfiniteLine(pos=0.5, angle=0)
        self.d_plot.addItem(self.half)
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.setSpacing(2)
        box.addWidget(self.banner)
        box.addWidget(self.info)
        box.addWidget(self.graphics, 1)
        self.restyle()

    # --- the contract of a Generative page ------------------------------------------------------------

    def set_class_names(self, names) -> None:
        """A GAN's samples have no classes."""

    def reset(self) -> None:
        """A new run: no curves, no strip, no warning."""
        self.look = None
        self.points, self.epochs, self.strip = [], [], []
        self.samples_image.clear()
        self.strip_image.clear()
        self.info.setText("")
        self._warning(None)
        self._curves()

    def restyle(self) -> None:
        c = plot_colors()
        self.graphics.setBackground(c["background"])
        d, g, real = series_color(D_COLOR), series_color(G_COLOR), series_color("accuracy")

        def word(text: str, color: QColor) -> str:
            return f"<span style='color:{color.name()}'>{text}</span>"

        style_plot(self.loss_plot, title=f"losses: {word('discriminator', d)}, {word('generator', g)} "
                                         "(▼ dashed: validation)", left="loss", bottom="step")
        style_plot(self.d_plot, title=f"mean {word('D(real)', real)} and {word('D(fake)', g)}", left="D(x)",
                   bottom="step")
        style_plot(self.samples_plot, title="samples, fixed noise", grid=False)
        style_plot(self.strip_plot, title="over time (newest last)", grid=False)
        pens = {"d_loss": pg.mkPen(d, width=2), "g_loss": pg.mkPen(g, width=2),
                "val_d_loss": pg.mkPen(d, width=1.5, style=Qt.PenStyle.DashLine),
                "val_g_loss": pg.mkPen(g, width=1.5, style=Qt.PenStyle.DashLine),
                "d_real": pg.mkPen(real, width=2), "d_fake": pg.mkPen(g, width=2)}
        for key, curve in self.curves.items():
            curve.setPen(pens[key])
            symbol = "t" if key.startswith("val_") else None
            curve.setSymbol(symbol)
            curve.setSymbolSize(7)
            curve.setSymbolBrush(pens[key].color())
            curve.setSymbolPen(None)
        self.half.setPen(pg.mkPen(c["subtle"], width=1, style=Qt.PenStyle.DashLine))
        warn = QColor(WARNING_COLOR)
        self.banner.setStyleSheet(f"QLabel#ganWarning {{ background: {warn.name()}; color: #1b1b1b; "
                                  "border-radius: 4px; font-weight: 600; }")

    def on_epoch_end(self, event) -> None:
        metrics = {k: float(v) for k, v in event.metrics.items() if k in EPOCH_KEYS and v is not None}
        self.epochs.append((int(event.step), metrics))
        self._curves()

    def take_look(self, look) -> None:
        """Keep what the curves and the strip need of a look as it comes (its training means, its first samples),
        drawn or not: while training the view redraws at its pace (gui/training/pacing.py), not at every look.
        Taking the same look again changes nothing."""
        step = int(look.step)
        if look.train:
            point = (step, *(float(look.train.get(k, np.nan)) for k in STATS))
            if self.points and self.points[-1][0] == step:
                self.points[-1] = point
            elif not self.points or self.points[-1][0] < step:
                self.points.append(point)
        samples = np.asarray(look.samples, dtype=np.float32)
        if not self.strip or self.strip[-1][0] < step:
            self.strip.append((step, samples[:STRIP_SAMPLES]))
            drop = thin([s for s, _ in self.strip], STRIP_ROWS)
            if drop is not None:
                del self.strip[drop]
        elif self.strip[-1][0] == step:
            self.strip[-1] = (step, samples[:STRIP_SAMPLES])

    def show_look(self, look) -> None:
        self.look = look
        step = int(look.step)
        self.take_look(look)
        samples = np.asarray(look.samples, dtype=np.float32)
        picture, levels = mosaic(samples, cols=GRID_COLS)
        self.samples_image.setImage(picture, levels=levels)
        rows = np.concatenate([row for _, row in self.strip])
        picture, levels = mosaic(rows, cols=STRIP_SAMPLES)
        self.strip_image.setImage(picture, levels=levels)
        diversity = "" if look.diversity is None else \
            f" · diversity {look.diversity:.0%} (the samples' spread against the real samples')"
        self.info.setText(f"On fixed batches at step {step:,}: D(real) {look.d_real:.2f} · D(fake) "
                          f"{look.d_fake:.2f}{diversity}")
        self._warning(look.warning)
        self._curves()

    def csv_rows(self) -> tuple[list[str], list[list]]:
        """The curves: one row per look (step and the training means since the previous look) and one per
        epoch end (its epoch metrics)."""
        header = ["step", "source", *STATS, *EPOCH_KEYS]
        rows = [[s, "look", *vals, *[""] * len(EPOCH_KEYS)] for s, *vals in self.points]
        rows += [[s, "epoch", *[""] * len(STATS), *(m.get(k, "") for k in EPOCH_KEYS)] for s, m in self.epochs]
        rows.sort(key=lambda r: (r[0], r[1] == "epoch"))
        return header, rows

    # --- drawing ------------------------------------------------------------------------------------

    def _warning(self, text: str | None) -> None:
        self.banner.setText(f"⚠ {text}" if text else "")
        self.banner.setVisible(bool(text))

    def _curves(self) -> None:
        pts = np.array(self.points, dtype=np.float64).reshape(-1, 5)
        steps = pts[:, 0]
        for i, key in enumerate(STATS, start=1):
            self.curves[key].setData(steps, pts[:, i])
        by_epoch = not len(steps) and bool(self.epochs)  # no look came (the tab was not open): epoch means
        if by_epoch:
            e_steps = np.array([s for s, _ in self.epochs], dtype=np.float64)
            for key, name in (("d_loss", "train_d_loss"), ("g_loss", "train_g_loss"), ("d_real", "d_real"),
                              ("d_fake", "d_fake")):
                self.curves[key].setData(e_steps, [m.get(name, np.nan) for _, m in self.epochs])
        for key in STATS:
            self.curves[key].setSymbol("o" if by_epoch else None)
        for key in ("val_d_loss", "val_g_loss"):
            have = [(s, m[key]) for s, m in self.epochs if key in m]
            self.curves[key].setData([s for s, _ in have], [v for _, v in have])
        self._follow()

    def _follow(self) -> None:
        data = [self.curves[k].getData() for k in ("d_loss", "g_loss", "val_d_loss", "val_g_loss")]
        xs = [np.asarray(x, dtype=np.float64) for x, _y in data if x is not None and len(x)]
        ys = [np.asarray(y, dtype=np.float64) for _x, y in data if y is not None and len(y)]
        if xs:
            last = max(float(np.nanmax(x)) for x in xs)
            span = step_span(None, 0.0, last)
            self.loss_axes.apply(0, span)
            self.d_axes.apply(0, span)
        self.loss_axes.apply(1, value_span(ys))
