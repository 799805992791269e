"""The live views of gui/plots, fed with synthetic events (pytest-qt, offscreen)."""

from __future__ import annotations

import csv
import types

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QImage

from layerloom.core.training.events import EpochEnd, FeatureMaps, GradientStats, Steps
from layerloom.gui.plots import (
    ConfusionView,
    CurvesView,
    FeatureMapView,
    GradientFlowView,
    PredictionView,
    demo,
)
from layerloom.gui.plots.common import EMA, GrowingArray, ema


def _view(qtbot, cls, w=800, h=480):
    view = cls()
    qtbot.addWidget(view)
    view.resize(w, h)
    view.show()
    return view


def _ema_reference(values, w):
    out, m = [], 0.0
    for t, v in enumerate(values, 1):
        m = w * m + (1 - w) * v
        out.append(m / (1 - w ** t))
    return np.array(out)


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))


def _steps(events):
    return [e for e in events if isinstance(e, Steps)]


def test_growing_array_doubles_and_keeps_values():
    a = GrowingArray(np.float64, capacity=4)
    for i in range(10):
        a.append([i, i + 0.5])
    assert len(a) == 20
    assert a.values[-1] == 9.5 and a.values[0] == 0.0


def test_ema_matches_reference_and_is_incremental():
    rng = np.random.default_rng(0)
    x = rng.random(300)
    ref = _ema_reference(x, 0.9)
    assert np.allclose(ema(x, 0.9), ref)
    e = EMA(0.9)
    parts = np.concatenate([e.update(x[:7]), e.update(x[7:100]), e.update(x[100:])])
    assert np.allclose(parts, ref)
    assert np.allclose(ema(x, 0.0), x)
    with_nan = x.copy()
    with_nan[5] = np.nan
    out = ema(with_nan, 0.9)
    assert np.isfinite(out).all()
    long = rng.normal(3.0, 2.0, 5000)  # long runs in blocks, any weight: no overflow, no drift
    for w in (1e-6, 0.3, 0.99, 0.9999):
        assert np.allclose(ema(long, w), _ema_reference(long, w), rtol=1e-9, atol=1e-9)


def _small_loss_events(scale=1e-3):
    """The demo run with losses a thousand times smaller (a well-trained model's losses)."""
    import dataclasses

    out = []
    for e in demo.run_events(epochs=3, steps_per_epoch=50):
        if isinstance(e, Steps):
            e = dataclasses.replace(e, loss=e.loss * scale)
        elif isinstance(e, EpochEnd):
            e = dataclasses.replace(e, train_loss=e.train_loss * scale, val_loss=e.val_loss * scale)
        out.append(e)
    return out


def test_curve_axes_show_plain_values_without_a_scale_factor(qtbot):
    view = _view(qtbot, CurvesView)
    for e in _small_loss_events():
        view.on_event(e)
    view.refresh()
    box = view.loss_plot.getViewBox()
    qtbot.waitUntil(lambda: box.viewRange()[1][1] < 0.01, timeout=3000)  # auto-range applies at a paint
    axis = view.loss_plot.getAxis("left")
    assert "loss" in axis.labelString() and "x0.001" not in axis.labelString()
    for plot in (view.metric_plot, view.lr_plot):
        assert "(x" not in plot.getAxis("left").labelString()
    assert axis.autoSIPrefixScale == 1.0  # the ticks read 0.001, 0.002…, as the readout does


def test_legends_sit_above_the_plots_not_over_the_curves(qtbot):
    view = _view(qtbot, CurvesView)
    for e in demo.run_events(epochs=3, steps_per_epoch=50):
        view.on_event(e)
    view.refresh()
    pairs = list(zip(view._legends, (view.loss_plot, view.metric_plot), strict=True))

    def laid_out():
        return all(not legend.sceneBoundingRect().intersects(plot.getViewBox().sceneBoundingRect())
                   for legend, plot in pairs)

    qtbot.waitUntil(laid_out, timeout=3000)
    names = [label.text for _sample, label in view._legends[0].items]
    assert names == ["loss (each step)", "loss (smoothed)", "validation loss", "training loss (epoch mean)"]
    assert [label.text for _s, label in view._legends[1].items] == ["validation accuracy", "training accuracy (epoch)"]
    for legend, plot in pairs:
        assert legend.sceneBoundingRect().bottom() <= plot.getViewBox().sceneBoundingRect().top()
    assert view._legends[0].columnCount == 4  # one line in a wide view
    view.resize(380, 480)  # a narrow dock: the entries wrap and stay inside the view
    qtbot.waitUntil(lambda: view._legends[0].columnCount < 4 and laid_out(), timeout=3000)
    assert view._legends[0].sceneBoundingRect().right() <= view.graphics.width()


def test_a_constant_learning_rate_sits_mid_axis_and_a_changing_one_is_followed(qtbot):
    view = _view(qtbot, CurvesView)
    events = demo.run_events(epochs=5, steps_per_epoch=20)  # lr 1e-3 for three epochs, then 5e-4
    cut = next(i for i, e in enumerate(events) if isinstance(e, Steps) and e.epoch == 3)
    for e in events[:cut]:
        view.on_event(e)
    view.refresh()
    box = view.lr_plot.getViewBox()
    qtbot.waitUntil(lambda: 1.9e-3 < box.viewRange()[1][1] < 1e-2, timeout=3000)  # auto-range applies at a paint
    lo, hi = box.viewRange()[1]
    assert lo <= 0.0 and (lo + hi) / 2 == pytest.approx(1e-3)  # 1e-3 mid-axis, 0 on it
    for e in events[cut:]:
        view.on_event(e)
    view.refresh()
    qtbot.waitUntil(lambda: box.viewRange()[1][1] < 1.5e-3, timeout=3000)
    lo, hi = box.viewRange()[1]
    assert lo <= 5e-4 < 1e-3 <= hi < 1.5e-3  # the axis follows the data again
    x0, x1 = view.loss_plot.getViewBox().viewRange()[0]  # and the step axis spans the whole run (5 × 20 steps)
    assert x0 == pytest.approx(-1.0) and x1 == pytest.approx(101.0)


def test_a_paced_view_waits_for_its_redraw_gap_and_redraws_soon_when_the_gap_shrinks(qtbot):
    """While training, the controller's pace (gui/training/pacing.py) spaces a heavy view's redraws; at the run's
    end the gap goes back to 0 and the last data is drawn at once."""
    view = _view(qtbot, CurvesView)
    events = demo.run_events(epochs=1, steps_per_epoch=20)
    view.reset(events[0])
    view.refresh()
    before = view.redraws
    view.set_redraw_gap(3000)
    view.on_event(next(e for e in events if isinstance(e, Steps)))
    qtbot.wait(400)
    assert view.redraws == before and len(view.step) == 10  # taken in, not drawn yet (the curves' least gap: 0.1 s)
    view.set_redraw_gap(0)
    qtbot.waitUntil(lambda: view.redraws == before + 1, timeout=500)
    assert view.raw_curve.xData.max() == 10


def test_curves_hold_the_data_fed(qtbot):
    view = _view(qtbot, CurvesView)
    events = demo.run_events(epochs=3, steps_per_epoch=50)
    for e in events:
        view.on_event(e)
    view.refresh()
    steps = _steps(events)
    losses = np.concatenate([s.loss for s in steps]).astype(np.float64)
    assert len(view.step) == len(losses) == 150
    assert np.allclose(view.loss.values, losses)
    assert np.allclose(view.raw_curve.xData, np.arange(1, 151))
    assert np.allclose(view.raw_curve.yData, losses)
    assert np.allclose(view.smoothed.values, _ema_reference(losses, 0.9))
    assert np.allclose(view.smooth_curve.yData, _ema_reference(losses, 0.9))
    assert len(view.val_curve.xData) == 3
    ends = [e for e in events if isinstance(e, EpochEnd)]
    assert np.allclose(view.val_curve.yData, [e.val_loss for e in ends])
    assert set(view.metric_curves) == {"val_accuracy", "train_accuracy"}
    assert np.allclose(view.metric_curves["val_accuracy"].yData, [e.metrics["val_accuracy"] * 100 for e in ends])
    assert len(view.lr_curve.yData) == 150
    view.set_smoothing(0.5)
    assert np.allclose(view.smoothed.values, _ema_reference(losses, 0.5))
    view.hover_at(75.2)
    assert "step 75" in view.readout.text().replace("\u00a0", " ")
    view.reset(None)
    view.refresh()
    assert len(view.step) == 0 and (view.raw_curve.xData is None or len(view.raw_curve.xData) == 0)


def test_curves_redraw_once_per_tick_not_per_event(qtbot):
    view = _view(qtbot, CurvesView)
    before = view.redraws
    for e in demo.run_events(epochs=1, steps_per_epoch=40):
        view.on_event(e)
    assert view.redraws == before  # on_event only appends
    qtbot.waitUntil(lambda: view.redraws == before + 1, timeout=2000)
    qtbot.wait(30)
    assert view.redraws == before + 1


def test_curves_export_csv_and_png(qtbot, tmp_path):
    view = _view(qtbot, CurvesView)
    events = demo.run_events(epochs=2, steps_per_epoch=30)
    for e in events:
        view.on_event(e)
    path = tmp_path / "curves.csv"
    view.export_csv(str(path))
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 60
    losses = np.concatenate([s.loss for s in _steps(events)])
    assert np.allclose([float(r["loss"]) for r in rows], losses)
    ends = [r for r in rows if r["val_loss"]]
    assert [int(r["step"]) for r in ends] == [30, 60]
    assert float(ends[-1]["val_accuracy"]) == pytest.approx(events[-1].metrics["val_accuracy"])
    png = tmp_path / "curves.png"
    assert view.export_png(str(png))
    image = QImage(str(png))
    assert not image.isNull() and image.width() > 100 and png.stat().st_size > 2000


def test_gradient_view_names_vanishing_and_exploding_layers(qtbot, tmp_path):
    view = _view(qtbot, GradientFlowView)
    layers = ("conv2d_1", "dense_1", "dense_2")
    for step in range(1, 6):
        view.on_event(GradientStats(step=step * 25, epoch=0, layers=layers,
                                    grad_norms=np.array([1e-8, 0.3, 2e3], np.float32),
                                    weight_norms=np.ones(3, np.float32), vanishing=("conv2d_1",),
                                    exploding=("dense_2",)))
    view.refresh()
    text = view.banner.text()
    assert "Vanishing" in text and "conv2d_1" in text
    assert "Exploding" in text and "dense_2" in text
    assert "dense_1" not in text
    assert view.norms.shape == (3, 5)
    path = tmp_path / "g.csv"
    view.export_csv(str(path))
    rows = _rows(path)
    assert rows[0] == ["step", *layers] and len(rows) == 6
    assert view.export_png(str(tmp_path / "g.png"))


def test_gradient_view_healthy_message(qtbot):
    view = _view(qtbot, GradientFlowView)
    view.on_event(GradientStats(step=1, epoch=0, layers=("a",), grad_norms=np.array([0.1], np.float32),
                                weight_norms=np.ones(1, np.float32), vanishing=(), exploding=()))
    view.refresh()
    assert "useful gradient" in view.banner.text()


@pytest.mark.parametrize("channels", [6, 16, 1])
def test_feature_map_view_shows_a_tile_per_channel(qtbot, channels):
    view = _view(qtbot, FeatureMapView)
    view.set_block("conv2d_1", "Conv2d")
    view.on_event(demo.feature_maps(channels=channels, size=12, filters=channels == 6))
    view.refresh()
    assert view.mode == "tiles"
    assert view.tile_count == channels
    rows, cols = view._grid
    assert rows * cols >= channels and (rows - 1) * cols < channels
    assert "conv2d_1" in view.title.text()
    assert view.filter_count == (6 if channels == 6 else 0)


def test_feature_map_view_heat_map_bars_hint_and_other_blocks(qtbot):
    view = _view(qtbot, FeatureMapView)
    view.refresh()
    assert view.mode == "none" and not view.hint.isHidden()
    view.set_block("lstm_1", "LSTM")
    view.on_event(demo.feature_maps())  # another block's frame: ignored
    view.refresh()
    assert view.frame is None and view.mode == "none"
    view.on_event(demo.hidden_states(steps=30, units=8))
    view.refresh()
    assert view.mode == "heatmap" and view.tile_count == 0
    assert view.image.image.shape == (8, 30)  # hidden units down, time across
    assert "Inside RNN tab" in view.title.text()  # where the gates are
    view.set_block("dense_1", "Dense")
    view.on_event(FeatureMaps(step=1, epoch=0, block="dense_1", sample_index=0,
                              maps=np.linspace(-1, 1, 10).astype(np.float16), shape=(10,)))
    view.refresh()
    assert view.mode == "bars"
    view.set_block(None)
    view.refresh()
    assert view.mode == "none" and "Select a block" in view.hint.text()


def _draw(qtbot, pad, points):
    qtbot.mousePress(pad, Qt.MouseButton.LeftButton, pos=points[0])
    for p in points[1:]:
        qtbot.mouseMove(pad, p)
    qtbot.mouseRelease(pad, Qt.MouseButton.LeftButton, pos=points[-1])


def test_a_hidden_prediction_view_predicts_only_once_shown(qtbot):
    """A run's start hands every view the new model: one behind another tab costs no forward pass then."""
    view = _view(qtbot, PredictionView, 900, 420)
    view.reset(demo.run_started())
    samples = np.random.default_rng(0).random((4, 1, 8, 8)).astype(np.float32)
    view.set_samples(types.SimpleNamespace(samples=samples, labels=[0, 1, 2, 3]))
    view.hide()
    predictor = demo.FakePredictor((1, 8, 8))
    view.set_predictor(predictor)
    assert predictor.calls == []
    view.show()
    qtbot.waitUntil(lambda: len(predictor.calls) > 0, timeout=2000)  # shown: the pending prediction runs
    assert predictor.calls[-1].shape == (1, 1, 8, 8)


@pytest.mark.parametrize("shape", [(1, 28, 28), (1, 8, 8), (64,)])
def test_drawing_a_digit_gives_an_input_of_the_model_shape(qtbot, shape):
    view = _view(qtbot, PredictionView, 900, 420)
    view.reset(demo.run_started())
    predictor = demo.FakePredictor(shape)
    view.set_predictor(predictor)
    assert view.pad_available() and view.pad.isVisible()
    assert view.probabilities is None  # nothing drawn, no samples
    s = view.pad.width()
    _draw(qtbot, view.pad, [QPoint(s // 4, s // 5), QPoint(s // 2, s // 5), QPoint(3 * s // 4, s // 5),
                            QPoint(s // 2, s // 2), QPoint(s // 3, 4 * s // 5)])
    assert not view.pad.is_empty() and view.pad.strokes == 1
    qtbot.waitUntil(lambda: view.probabilities is not None, timeout=2000)
    assert view.draw_radio.isChecked()
    x = predictor.calls[-1]
    assert x.shape == (1, *shape) and x.dtype == np.float32
    assert x.min() >= 0.0 and x.max() <= 1.0 and x.max() > 0.5
    assert view.probabilities.sum() == pytest.approx(1.0, abs=1e-6)
    assert len(view.bars.items) == 10
    view.clear_button.click()
    assert view.pad.is_empty()


def test_prediction_of_a_preview_sample_and_csv(qtbot, tmp_path):
    from layerloom.core.data.preview import Preview

    view = _view(qtbot, PredictionView, 900, 420)
    view.reset(demo.run_started())
    images = demo.demo_images(4)
    view.set_samples(Preview(samples=images, labels=["7", "7", "1", "7"], class_counts={d: 1 for d in demo.DIGITS},
                             sample_shapes=[(1, 28, 28)], kind="image", task="classification"))
    assert view.probabilities is None and "Train" in view.status.text()
    predictor = demo.FakePredictor((1, 28, 28))
    view.set_predictor(predictor)
    assert np.allclose(predictor.calls[-1][0, 0], images[0] / 255.0)
    view.sample_spin.setValue(2)
    assert np.allclose(predictor.calls[-1][0, 0], images[2] / 255.0)
    assert view.probabilities.sum() == pytest.approx(1.0)
    assert "label 1" in view.status.text()
    path = tmp_path / "p.csv"
    view.export_csv(str(path))
    rows = _rows(path)
    assert len(rows) == 11 and sum(float(r[1]) for r in rows[1:]) == pytest.approx(1.0)


def test_prediction_failure_shows_the_message(qtbot):
    class Broken:
        input_shape = (1, 8, 8)

        def predict(self, x):
            raise RuntimeError("model is busy")

    view = _view(qtbot, PredictionView)
    view.reset(demo.run_started())
    view.set_predictor(Broken())
    view.draw_demo_digit()
    assert "model is busy" in view.status.text()


def test_confusion_view_shows_counts_and_gallery(qtbot, tmp_path):
    view = _view(qtbot, ConfusionView, 900, 500)
    view.reset(demo.run_started())
    conf = np.array([[5, 1, 0], [2, 7, 0], [0, 0, 9]], np.int64)
    view.set_validation_samples(demo.demo_images(10, size=8), [0, 1, 2, 0, 1, 2, 0, 1, 2, 0], ["cat", "dog", "eel"])
    view.on_event(EpochEnd(epoch=0, epochs=2, step=10, train_loss=1.0, val_loss=0.9, metrics={"val_accuracy": 0.875},
                           confusion=conf, misclassified=np.array([1, 3, 4]), lr=1e-3, seconds=1.0,
                           samples_per_s=10.0, best=0.875, is_best=True))
    view.refresh()
    texts = sorted(t.textItem.toPlainText() for t in view._texts)
    assert texts == sorted(["5", "1", "2", "7", "9"])
    assert "87.5 %" in view.title.text() and "21 of 24" in view.title.text()
    assert view.gallery.count() == 3
    assert "true dog" in view.gallery.item(0).text()
    assert not view.gallery.item(0).icon().isNull()
    names = [t[1] for t in view.plot.getAxis("left")._tickLevels[0]]
    assert names == ["cat", "dog", "eel"]
    view.set_predictor(demo.FakePredictor((1, 8, 8), num_classes=3))
    view.refresh()
    assert "→" in view.gallery.item(0).text()
    path = tmp_path / "c.csv"
    view.export_csv(str(path))
    rows = _rows(path)
    assert rows[0] == ["true \\ predicted", "cat", "dog", "eel"] and rows[2] == ["dog", "2", "7", "0"]
    assert view.export_png(str(tmp_path / "c.png"))
    # a second epoch: the latest shows; the slider goes back
    view.on_event(EpochEnd(epoch=1, epochs=2, step=20, train_loss=0.5, val_loss=0.4, metrics={}, confusion=conf * 2,
                           misclassified=np.array([1]), lr=1e-3, seconds=1.0, samples_per_s=1.0, best=0.9,
                           is_best=True))
    view.refresh()
    assert int(view.counts[2, 2]) == 18 and "Epoch 2" in view.title.text()
    view.epoch_slider.setValue(0)
    view.refresh()
    assert int(view.counts[2, 2]) == 9


def test_confusion_view_changes_only_the_labels_and_gallery_that_differ(qtbot, monkeypatch):
    """A redraw with the same matrix sets no label and fills no gallery again; a new matrix changes what differs
    and hides the labels of cells that became empty; row % rewrites every label."""
    view = _view(qtbot, ConfusionView, 900, 500)
    view.reset(demo.run_started())
    view.set_validation_samples(demo.demo_images(10, size=8), [0, 1, 2, 0, 1, 2, 0, 1, 2, 0], ["cat", "dog", "eel"])

    def epoch_end(epoch, conf, wrong):
        view.on_event(EpochEnd(epoch=epoch, epochs=3, step=10 * (epoch + 1), train_loss=1.0, val_loss=0.9,
                               metrics={}, confusion=np.array(conf, np.int64), misclassified=np.array(wrong),
                               lr=1e-3, seconds=1.0, samples_per_s=10.0, best=0.9, is_best=True))
        view.refresh()

    def shown():
        return sorted((round(t.pos().y()), round(t.pos().x()), t.textItem.toPlainText())
                      for t in view._text_pool if t.isVisible())

    epoch_end(0, [[5, 1, 0], [2, 7, 0], [0, 0, 9]], [1, 3, 4])
    assert shown() == [(0, 0, "5"), (0, 1, "1"), (1, 0, "2"), (1, 1, "7"), (2, 2, "9")]
    set_texts, cleared = [], []
    monkeypatch.setattr(pg.TextItem, "setText", lambda item, text, *a: set_texts.append(text))
    monkeypatch.setattr(view.gallery, "clear", lambda: cleared.append(1))
    view._changed()
    view.refresh()
    assert set_texts == [] and cleared == [] and view.gallery.count() == 3
    monkeypatch.undo()

    epoch_end(1, [[6, 0, 0], [2, 7, 0], [0, 1, 8]], [3, 4])  # (0, 1) is empty now, (2, 1) is new
    assert shown() == [(0, 0, "6"), (1, 0, "2"), (1, 1, "7"), (2, 1, "1"), (2, 2, "8")]
    assert view.gallery.count() == 2 and "#3" in view.gallery.item(0).text()
    bold = {(round(t.pos().y()), round(t.pos().x())): t.textItem.font().bold() for t in view._text_pool
            if t.isVisible()}
    assert bold == {(0, 0): True, (1, 0): False, (1, 1): True, (2, 1): False, (2, 2): True}

    view.normalize_box.setChecked(True)
    view.refresh()
    assert [text for *_, text in shown()] == ["100", "0", "0", "22", "78", "0", "0", "11", "89"]


def test_views_follow_a_palette_change(qtbot):
    from PySide6.QtWidgets import QApplication

    from layerloom.gui import theme

    views = [_view(qtbot, cls) for cls in (CurvesView, GradientFlowView, FeatureMapView, ConfusionView)]
    app = QApplication.instance()
    old = app.palette()
    try:
        theme.apply_theme(app, "dark")
        qtbot.wait(20)
        assert views[0].graphics.backgroundBrush().color().name() == theme.DARK["base"]
        theme.apply_theme(app, "light")
        qtbot.wait(20)
        assert views[0].graphics.backgroundBrush().color().name() == theme.LIGHT["base"]
    finally:
        app.setPalette(old)
        app.setStyleSheet("")
