"""A GAN in the window: dcgan_digits trained in the window shows its panels in the Generative tab (the 8×8 sample
grid, the strip over time, loss and D(real)/D(fake) curves, the warning banner only for a look with a warning);
Predictions and Confusion say in plain words that they are not for a GAN; the canvas frames the generator and the
discriminator (enclosing exactly their blocks, following a dragged block, absent for other graphs, appearing when
a Noise block is added from the palette); the Training panel shows the GAN settings only for a GAN."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
import pytest
import pytestqt  # noqa: F401  (a hard test dependency: fail loudly if missing)
import torch
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtWidgets import QMessageBox
from windows import Windows

from layerloom.core.gan import gan_layout
from layerloom.core.settings import TrainingSettings, setting_help
from layerloom.core.templates import load_template
from layerloom.core.training.events import GANLook
from layerloom.gui.canvas.network_frames import LABEL_H, PAD, NetworkFrame
from layerloom.gui.canvas.style import HEADER_H, NODE_W
from layerloom.gui.plots.gan_view import STRIP_ROWS, GANPanels, thin
from layerloom.gui.plots.generative import GenerativeView
from layerloom.gui.training.live_views import GAN_NOTE
from layerloom.gui.training.training_panel import GAN_ONLY

TIMEOUT = 120_000
CELL = 29  # a 28×28 sample and its one-pixel gap


@pytest.fixture
def make_window(qtbot, tmp_path, monkeypatch):
    def unexpected(box):
        raise AssertionError(f"unexpected dialog: {box.text()!r}")

    monkeypatch.setattr(QMessageBox, "exec", unexpected)
    with Windows(qtbot, tmp_path) as windows:
        yield lambda project: windows.make(project, size=(1400, 900))


def click_tab(qtbot, w, title: str) -> None:
    tabs = w.live_views
    bar = tabs.tabBar()
    index = next(i for i in range(tabs.count()) if tabs.tabText(i) == title)
    qtbot.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.tabRect(index).center())
    assert tabs.currentIndex() == index


def small_gan():
    project = load_template("dcgan_digits")
    project.training.epochs = 1
    project.training.batch_size = 128
    project.training.threads = 1
    return project


def look(step: int, warning: str | None = None, value: float = 0.5) -> GANLook:
    samples = np.full((64, 1, 28, 28), value, np.float16)
    samples[:, 0, 0, 0] = np.arange(64) / 64  # not all alike
    return GANLook(step=step, epoch=0, samples=samples, d_real=0.8, d_fake=0.3,
                   train={"d_loss": 1.0 + step / 1000, "g_loss": 0.7, "d_real": 0.75, "d_fake": 0.25},
                   diversity=0.9, warning=warning)


def test_a_gan_trained_in_the_window_shows_its_panels(qtbot, make_window):
    w = make_window(small_gan())
    click_tab(qtbot, w, "Generative")
    view = w.live_views.view("generative")
    drained: list = []
    w.training.events_drained.connect(lambda events: drained.extend(e.kind for e in events))
    qtbot.mouseClick(w.training_panel.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not w.training.running, timeout=TIMEOUT)
    assert w.training.last.kind == "finished", getattr(w.training.last, "message", w.training.last)
    assert "gan_look" in drained  # looks came live, while the run trained
    view.refresh()
    panels = view.stack.currentWidget()
    assert isinstance(panels, GANPanels)
    assert view.look.kind == "gan_look" and view.look.step == w.training.last.step  # the trained model's look
    # the 8×8 grid of 28×28 samples, and the strip: the first 8 samples of each look, one row per look
    assert panels.samples_image.image.shape == (8 * CELL - 1, 8 * CELL - 1)
    assert np.ptp(panels.samples_image.image) > 0
    rows = len(panels.strip)
    assert 1 <= rows <= STRIP_ROWS and panels.strip[-1][0] == w.training.last.step
    assert panels.strip_image.image.shape == (rows * CELL - 1, 8 * CELL - 1)
    # curves: the training means of the live looks, the validation losses of the epoch end
    steps, d_loss = panels.curves["d_loss"].getData()
    assert len(steps) >= 1 and np.all(np.isfinite(d_loss))
    val_steps, val_g = panels.curves["val_g_loss"].getData()
    assert list(val_steps) == [w.training.last.step]
    assert val_g[0] == pytest.approx(w.training.last.final["val_g_loss"])
    assert len(panels.curves["d_real"].getData()[0]) == len(steps)
    assert panels.d_plot.viewRange()[1][0] == pytest.approx(0, abs=0.05)
    assert panels.d_plot.viewRange()[1][1] == pytest.approx(1, abs=0.05)
    assert "D(real)" in panels.info.text() and "diversity" in panels.info.text()
    assert not panels.banner.isVisible()  # too early for a warning
    header, csv = panels.csv_rows()
    assert header[:3] == ["step", "source", "d_loss"] and len(csv) == len(steps) + 1
    # a look with a warning: the banner shows its words; the next look without one hides it
    warned = "The samples look alike: they spread 10% as much as real samples do"
    view.on_event(look(10_000, warned))
    view.refresh()
    assert panels.banner.isVisible() and warned in panels.banner.text()
    view.on_event(look(10_100))
    view.refresh()
    assert not panels.banner.isVisible()
    # Predictions and Confusion say plainly that they are not for a GAN
    click_tab(qtbot, w, "Predictions")
    w.live_views.predictions.refresh()
    assert GAN_NOTE.split(".")[0] in w.live_views.predictions.status.text()
    click_tab(qtbot, w, "Confusion")
    w.live_views.confusion.refresh()
    assert "classifiers and regressors" in w.live_views.confusion.title.text()
    # feature maps after the run, of a block of each network: its value on the probe (and the seeded noise)
    features = w.live_views.view("features")
    click_tab(qtbot, w, "Feature maps")
    model = w.training.model
    xs, _ys = next(w.training._prepared.val.batches(1))
    z = torch.randn((1, 64), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        hidden = torch.relu(model.batch_norm_1(model.g_project(z))).reshape(1, 64, 7, 7)
        expected = {"g_up1": model.g_up1(hidden),
                    "d_conv1": model.d_conv1(xs[0])}
    for block, value in expected.items():
        w.editor.select([w.document.graph.find(block)])
        qtbot.waitUntil(lambda b=block: features.frame is not None and features.frame.block == b, timeout=TIMEOUT)
        assert np.allclose(features.frame.maps.astype(np.float32), value[0].numpy(), atol=2e-2), block


def test_the_strip_keeps_rows_evenly_spaced_over_the_run(qtbot):
    panels = GANPanels()
    qtbot.addWidget(panels)
    for step in range(0, 400, 10):
        panels.show_look(look(step))
    steps = [s for s, _ in panels.strip]
    assert len(steps) == STRIP_ROWS and steps[0] == 0 and steps[-1] == 390
    gaps = np.diff(steps)
    assert gaps.max() <= 2 * gaps.min()
    assert panels.strip_image.image.shape == (STRIP_ROWS * CELL - 1, 8 * CELL - 1)
    assert thin([0, 10, 20], 3) is None and thin([0, 10, 15, 40], 3) == 1
    assert len(panels.curves["g_loss"].getData()[0]) == 40
    panels.reset()
    assert panels.strip == [] and panels.curves["d_loss"].getData()[0] is None  # no points


def test_a_paced_view_keeps_every_looks_means_and_strip_row_between_two_redraws(qtbot):
    """While training the view redraws at the window's pace (every few seconds at the slowest), not at every look:
    the looks that came in between still give the curves a point and the strip a row each."""
    view = GenerativeView()
    qtbot.addWidget(view)
    view.show()
    view.refresh()
    view.set_redraw_gap(3000)
    for step in (10, 20, 30):
        view.on_event(look(step))
    qtbot.wait(200)
    panels = view.page("gan_look")
    assert view.redraws == 1 and [p[0] for p in panels.points] == [10, 20, 30]  # taken in, not drawn yet
    view.set_redraw_gap(0)
    qtbot.waitUntil(lambda: view.redraws == 2, timeout=1000)
    steps, d_loss = panels.curves["d_loss"].getData()
    assert list(steps) == [10, 20, 30] and d_loss == pytest.approx([1.01, 1.02, 1.03])
    assert [s for s, _ in panels.strip] == [10, 20, 30] and panels.look.step == 30


def frame_rects(w) -> dict:
    return {k: item.rect for k, item in w.canvas.canvas_scene.frames.items.items()}


def test_the_canvas_frames_the_two_networks_and_follows_a_drag(qtbot, make_window):
    w = make_window(load_template("dcgan_digits"))
    scene = w.canvas.canvas_scene
    layout = gan_layout(w.document.graph)
    frames = scene.frames.items
    assert set(frames) == {"generator", "discriminator"}
    assert {f.label.text() for f in frames.values() if f.label.isVisible()} == {"Generator", "Discriminator"}
    assert all(f.scene() is scene and f.zValue() < 0 for f in frames.values())
    for network, mine in (("generator", layout.generator), ("discriminator", layout.discriminator)):
        rect = frames[network].rect
        for nid, item in scene.nodes.items():
            inside = rect.contains(item.sceneBoundingRect())
            assert inside == (nid in mine), (network, w.document.graph.node(nid).name)
    assert not frames["generator"].rect.intersects(frames["discriminator"].rect)
    # the user drags the generator's Output 300 px to the right: its frame follows, the other stays
    fake = scene.nodes[layout.fake]
    before = frame_rects(w)
    old_x = fake.x()
    w.canvas.set_zoom(1.0)
    w.canvas.centerOn(fake)
    qtbot.wait(10)
    grip = fake.mapToScene(QPointF(NODE_W / 2, HEADER_H / 2))
    vp = w.canvas.viewport()
    start = w.canvas.mapFromScene(grip)
    qtbot.mousePress(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
    for dx in (100, 200, 300):
        qtbot.mouseMove(vp, start + QPoint(dx, 0))
    qtbot.mouseRelease(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start + QPoint(300, 0))
    assert w.document.graph.node(layout.fake).pos[0] == pytest.approx(old_x + 300, abs=2)
    qtbot.waitUntil(lambda: frames["generator"].rect.contains(fake.sceneBoundingRect()), timeout=2000)
    after = frame_rects(w)
    assert after["generator"] == scene.nodes_rect(layout.generator).adjusted(-PAD, -PAD - LABEL_H, PAD, PAD)
    assert after["generator"].right() == pytest.approx(fake.sceneBoundingRect().right() + PAD)
    assert after["generator"].right() > before["generator"].right()
    assert after["discriminator"] == before["discriminator"]
    # an undo puts the block back, and the frame with it
    w.document.undo_stack.undo()
    qtbot.waitUntil(lambda: frame_rects(w)["generator"] == before["generator"], timeout=2000)


def test_no_frames_for_other_graphs_until_a_noise_block_comes(qtbot, make_window):
    w = make_window(load_template("lenet5"))
    scene = w.canvas.canvas_scene
    assert scene.frames.items == {}
    assert not any(isinstance(i, NetworkFrame) for i in scene.items())
    # Noise sits in the palette's Inputs; a double-click adds it, and with it a generator of one block
    tree = w.palette_panel.tree
    item = w.palette_panel.item_for("Noise")
    assert item.parent().text(0) == "Inputs"
    tree.scrollToItem(item)
    rect = tree.visualItemRect(item)
    qtbot.mouseClick(tree.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, rect.center())
    qtbot.mouseDClick(tree.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, rect.center())
    noise = next(n for n in w.document.graph if n.type == "Noise")
    qtbot.waitUntil(lambda: set(scene.frames.items) == {"generator", "discriminator"}, timeout=2000)
    assert scene.frames.items["generator"].ids == {noise.id}
    w.document.infer_now()
    card = scene.nodes[noise.id]  # its shape, and an error badge saying what the generator lacks
    assert card.report.output.shape == (64,)
    assert card.status == "error" and "has no Output" in card.report.error
    w.document.undo_stack.undo()
    qtbot.waitUntil(lambda: scene.frames.items == {}, timeout=2000)
    assert not any(isinstance(i, NetworkFrame) for i in scene.items())


def test_the_training_panel_shows_the_gan_settings_only_for_a_gan(qtbot, make_window):
    w = make_window(load_template("lenet5"))
    panel = w.training_panel
    form = panel.form
    assert not any(form.isRowVisible(panel.editors[name]) for name in GAN_ONLY)
    assert form.labelForField(panel.editors["lr"]).text() == "Learning rate"
    w.set_project(load_template("dcgan_digits"), None)
    assert all(form.isRowVisible(panel.editors[name]) for name in GAN_ONLY)
    assert form.labelForField(panel.editors["lr"]).text() == "Generator learning rate"
    assert form.labelForField(panel.editors["d_steps"]).text() == "Discriminator steps"
    for name in GAN_ONLY:
        assert panel.editors[name].toolTip() == setting_help(TrainingSettings, name)
    assert panel.editors["beta1"].text() == "0.5"


def test_an_opened_gans_history_draws_its_curves_by_epoch(qtbot):
    from layerloom.gui.plots.generative import GenerativeView

    view = GenerativeView()
    qtbot.addWidget(view)
    history = [{"epoch": e, "step": 12 * (e + 1), "train_loss": 3.0, "train_d_loss": 0.5 - 0.1 * e,
                "train_g_loss": 2.0 + e, "d_real": 0.8, "d_fake": 0.2, "val_d_loss": 0.6, "val_g_loss": 1.5,
                "val_d_real": 0.7, "val_d_fake": 0.3} for e in range(3)]
    view.show_trained_history(history, None)
    opened = look(36)  # the look the window computes for an opened model: no training figures
    view.on_event(GANLook(step=36, epoch=2, samples=opened.samples, d_real=0.7, d_fake=0.3))
    view.refresh()
    panels = view.stack.currentWidget()
    assert isinstance(panels, GANPanels)
    steps, d_loss = panels.curves["d_loss"].getData()
    assert list(steps) == [12, 24, 36] and np.allclose(d_loss, [0.5, 0.4, 0.3])
    assert np.allclose(panels.curves["g_loss"].getData()[1], [2.0, 3.0, 4.0])
    assert list(panels.curves["val_g_loss"].getData()[0]) == [12, 24, 36]
