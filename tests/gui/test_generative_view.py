"""The Generative tab (gui/plots/generative.py, vae_view.py): a VAE trained in the window shows its input and
reconstruction pairs, samples, latent scatter (one colour per class, a legend naming them) and traversal grid,
computed live and, after the run, from the trained weights; the tab asks for looks only while shown; a model that
is not generative gets the empty state; the curves plot the reconstruction and KL terms apart."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
import pytest
import pytestqt  # noqa: F401  (a hard test dependency: fail loudly if missing)
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox
from windows import Windows

from layerloom.core.templates import load_template
from layerloom.gui.plots.generative import GenerativeView
from layerloom.gui.plots.vae_view import VAEPanels
from layerloom.gui.training.generative_probe import EMPTY

TIMEOUT = 120_000


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


def small_vae():
    project = load_template("vae_digits")
    project.training.epochs = 1
    project.training.batch_size = 128
    project.training.threads = 1
    return project


def test_a_vae_trained_in_the_window_shows_its_looks(qtbot, make_window):
    w = make_window(small_vae())
    click_tab(qtbot, w, "Generative")
    view = w.live_views.view("generative")
    assert isinstance(view, GenerativeView) and w.training.generative_capture
    drained: list = []
    w.training.events_drained.connect(lambda events: drained.extend(e.kind for e in events))
    qtbot.mouseClick(w.training_panel.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: w.training.control is not None and w.training.control.generative_looks, timeout=TIMEOUT)
    qtbot.waitUntil(lambda: not w.training.running, timeout=TIMEOUT)
    assert w.training.last.kind == "finished", getattr(w.training.last, "message", w.training.last)
    assert "vae_look" in drained  # looks came live, while the run trained
    view.refresh()
    panels = view.stack.currentWidget()
    assert isinstance(panels, VAEPanels)
    look = view.look
    assert look.step == w.training.last.step  # the trained model's look (after the run: its final weights)
    # pixels: 2 rows of 8 digits with one-pixel gaps; 4×4 samples; 8×8 traversal
    assert panels.pairs_image.image.shape == (2 * 29 - 1, 8 * 29 - 1)
    assert panels.samples_image.image.shape == (4 * 29 - 1, 4 * 29 - 1)
    assert panels.traversal_image.image.shape == (8 * 29 - 1, 8 * 29 - 1)
    assert np.ptp(panels.samples_image.image) > 0 and np.ptp(panels.pairs_image.image) > 0
    rect = panels.traversal_image.mapRectToParent(panels.traversal_image.boundingRect())
    step = 5 / 7
    assert rect.left() == pytest.approx(-2.5 - step / 2, abs=1e-4)
    assert rect.right() == pytest.approx(2.5 + step / 2, abs=1e-4)
    assert rect.top() == pytest.approx(-2.5 - step / 2, abs=1e-4)
    # the scatter: one item per class, its points the latent means of that class, a legend naming the classes
    assert len(panels.scatters) == 10
    names = [label.text for _sample, label in panels.legend.items]
    assert names == [str(i) for i in range(10)]
    points = panels.scatters[3].data
    expected = look.latent[look.labels == 3]
    np.testing.assert_allclose(np.column_stack([points["x"], points["y"]]), expected, rtol=1e-6)
    assert sum(len(s.data) for s in panels.scatters) == len(look.latent) == 359
    # the curves: reconstruction and KL as separate, labelled curves
    curves = w.live_views.view("curves")
    curves.refresh()
    assert set(curves.metric_curves) == {"val_reconstruction", "val_kl"}
    assert curves.metric_curves["val_reconstruction"] in curves.loss_plot.items
    assert curves.metric_curves["val_kl"] in curves.metric_plot.items
    kl = curves.metric_curves["val_kl"].getData()[1]
    assert kl[0] == pytest.approx(curves.epochs[0]["val_kl"])


def test_the_tab_asks_for_looks_only_while_shown(qtbot, make_window):
    w = make_window(small_vae())
    calls: list[bool] = []
    real = w.training.set_generative_capture
    w.training.set_generative_capture = lambda on: (calls.append(on), real(on))
    click_tab(qtbot, w, "Generative")
    assert calls[-1] is True
    view = w.live_views.view("generative")
    view.refresh()
    assert "Train the network" in view.message.text()  # a VAE not trained yet
    click_tab(qtbot, w, "Curves")
    assert calls[-1] is False


def test_a_model_that_is_not_generative_gets_the_empty_state(qtbot, make_window):
    w = make_window(load_template("mlp"))
    click_tab(qtbot, w, "Generative")
    view = w.live_views.view("generative")
    view.refresh()
    assert view.message.text() == EMPTY
    assert view.stack.currentWidget() is view.message
    assert EMPTY == "Generative views show a VAE's or a GAN's samples; this model has no Sample or Noise block."
