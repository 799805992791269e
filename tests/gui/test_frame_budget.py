"""A GUI thread that keeps its frame and long runs that stay small (issue 16 points 3 and 4): long curves are
decimated for display with their envelope kept, what the views keep is capped however long a run goes, big
feature-map pictures are made in a worker thread, and the confusion gallery never waits on the training thread."""

from __future__ import annotations

import threading
from concurrent.futures import Future

import numpy as np

from layerloom.core.templates import load_template
from layerloom.core.training.events import EpochEnd, GradientStats, Steps
from layerloom.gui.plots import ConfusionView, CurvesView, FeatureMapView, GradientFlowView, demo
from layerloom.gui.plots import features as features_module
from layerloom.gui.plots.curve_history import STEP_CAP
from layerloom.gui.plots.curves import SYMBOL_MAX
from layerloom.gui.plots.decimate import compact_indices, envelope, visible_slice
from layerloom.gui.plots.gradients import GRADIENT_CAP
from layerloom.gui.training.predictor import Predictor


def _view(qtbot, cls, w=900, h=500):
    view = cls()
    qtbot.addWidget(view)
    view.resize(w, h)
    view.show()
    return view


def _steps(first: int, losses: np.ndarray, epoch: int) -> Steps:
    n = len(losses)
    s = np.arange(first, first + n, dtype=np.int64)
    return Steps(epoch=epoch, step=s, loss=losses, lr=np.full(n, 1e-3), time=s.astype(np.float64),
                 samples_per_s=np.full(n, 100.0), batch=0, batches_per_epoch=n, accuracy=0.5, eta_s=None)


def _epoch_end(epoch: int, step: int) -> EpochEnd:
    return EpochEnd(epoch=epoch, epochs=epoch + 1, step=step, train_loss=1.0 / (epoch + 1), val_loss=1.2 / (epoch + 1),
                    metrics={"val_accuracy": 0.5}, confusion=None, misclassified=None, lr=1e-3, seconds=1.0,
                    samples_per_s=10.0, best=None, is_best=False)


def test_envelope_of_a_million_points_keeps_its_extremes():
    rng = np.random.default_rng(0)
    x = np.arange(1_000_000, dtype=np.float64)
    y = rng.normal(size=len(x))
    y[123_457], y[876_543] = 50.0, -40.0  # one spike up, one down
    width = 800
    xs, ys = envelope(x, y, width)
    assert len(xs) <= 4 * width
    assert ys.max() == 50.0 and xs[ys.argmax()] == 123_457
    assert ys.min() == -40.0 and xs[ys.argmin()] == 876_543
    assert xs[0] == 0 and xs[-1] == 999_999 and np.all(np.diff(xs) > 0)
    # every bucket's lowest and highest are kept: the decimated curve spans what the raw one does in each
    per = -(-len(y) // width)
    for b in (0, 400, 799):
        raw = y[b * per:(b + 1) * per]
        shown = ys[(xs >= b * per) & (xs < (b + 1) * per)]
        assert shown.max() == raw.max() and shown.min() == raw.min()
    short = np.arange(10.0)
    assert np.array_equal(envelope(short, short, width)[1], short)


def test_compaction_halves_and_keeps_the_envelope():
    y = np.array([3.0, 1.0, 2.0, 9.0, 4.0, 4.5, 0.5, 5.0, 7.0])
    keep = compact_indices(y)
    assert list(keep) == [1, 3, 6, 7, 8]  # the low and high of [3 1 2 9], of [4 4.5 .5 5], then the last point
    assert visible_slice(np.arange(100.0), 10.5, 20.2) == (10, 22)


def test_a_long_stream_of_steps_keeps_the_curves_view_bounded(qtbot):
    """100,000 Steps events (300,000 optimizer steps, 2,000 epochs): the kept arrays stay under the cap, the
    extremes of the loss survive, and what is drawn is about two points per pixel."""
    view = _view(qtbot, CurvesView, 1000, 600)
    view.reset(demo.run_started())
    rng = np.random.default_rng(1)
    step = 1
    for i in range(100_000):
        losses = rng.random(3) + 1.0
        if i == 31_234:
            losses[1] = 99.0  # a spike early in the run
        if i == 77_777:
            losses[2] = -5.0
        view.on_event(_steps(step, losses, i // 50))
        step += 3
        if i % 50 == 49:
            view.on_event(_epoch_end(i // 50, step - 1))
    arrays = (view.step, view.epoch_of_step, view.loss, view.smoothed, view.lr, view.acc_step, view.acc_value)
    assert all(len(a) <= STEP_CAP for a in arrays)
    assert len({len(a) for a in arrays[:5]}) == 1  # the step series stay row for row
    assert len(view.step) > STEP_CAP // 2
    assert view.loss.values.max() == 99.0 and view.loss.values.min() == -5.0
    assert view.step.values[-1] == step - 1 and np.all(np.diff(view.step.values) > 0)
    assert len(view.epochs) == 2000 and view.epoch_table.rows == 2000
    view.refresh()
    width = view.loss_plot.vb.width()
    assert len(view.raw_curve.xData) <= 4 * max(100, width)
    assert 99.0 in view.raw_curve.yData and -5.0 in view.raw_curve.yData
    assert len(view.val_curve.xData) <= 4 * max(100, width)
    assert len(view.epochs) > SYMBOL_MAX and view.val_curve.opts["symbol"] is None  # markers cost more than they show
    view.hover_at(1_000.0)
    text = view.readout.text().replace("\u00a0", " ")
    assert "step 1,0" in text and "epoch 7" in text  # a kept step near 1,000, in epoch 7 (steps 901–1,050)
    assert "val loss 0.2" in text  # from the epoch that ended last before it: epoch 6, 1.2 / 6


def test_a_zoomed_curve_draws_the_steps_in_view(qtbot):
    view = _view(qtbot, CurvesView, 1000, 600)
    view.reset(demo.run_started())
    rng = np.random.default_rng(2)
    view.on_event(_steps(1, rng.random(50_000), 0))
    view.on_event(_epoch_end(0, 50_000))
    view.refresh()
    assert view.val_curve.opts["symbol"] == "o"  # one epoch: its marker shows
    view.loss_plot.setXRange(20_000, 20_300, padding=0)
    view.refresh()
    xs = view.raw_curve.xData
    assert xs.min() >= 19_999 and xs.max() <= 20_301
    assert len(xs) >= 300  # every step in view (fewer than two per pixel)


def test_gradient_history_is_capped(qtbot):
    view = _view(qtbot, GradientFlowView)
    for s in range(3 * GRADIENT_CAP):
        norm = 100.0 if s == 777 else 0.1
        view.on_event(GradientStats(step=s, epoch=0, layers=("a", "b"), grad_norms=np.array([norm, 0.2], np.float32),
                                    weight_norms=np.ones(2, np.float32), vanishing=(), exploding=()))
    assert view.norms.shape[0] == 2 and view.norms.shape[1] <= GRADIENT_CAP
    assert view.norms[0].max() == 100.0  # merged pairs keep the larger norm
    assert view.steps[-1] == 3 * GRADIENT_CAP - 1 and np.all(np.diff(view.steps) > 0)
    view.refresh()


def test_big_feature_maps_are_made_in_a_worker_thread(qtbot, monkeypatch):
    made_in: list[threading.Thread] = []
    real = features_module._tile_mosaic

    def recording(*args):
        made_in.append(threading.current_thread())
        return real(*args)

    monkeypatch.setattr(features_module, "_tile_mosaic", recording)
    view = _view(qtbot, FeatureMapView)
    view.set_block("conv2d_1", "Conv2d")
    small = demo.feature_maps(channels=6, size=12)
    view.on_event(small)
    view.refresh()
    assert made_in == [threading.main_thread()] and view.image.image is not None  # small: at once, here
    big = demo.feature_maps(channels=64, size=48)
    assert np.asarray(big.maps).size >= view.OFF_THREAD_VALUES
    view.on_event(big)
    view.refresh()
    assert view.mode == "tiles" and view.tile_count == 64
    qtbot.waitUntil(lambda: len(made_in) == 2 and not view._jobs.busy, timeout=10_000)
    assert made_in[1] is not threading.main_thread()
    rows, cols = view._grid
    gap = max(1, 48 // 12)
    assert view.image.image.shape[:2] == (rows * (48 + gap) - gap, cols * (48 + gap) - gap)


class _LatePredictor:
    """A predictor whose answer comes later (as the trainer's does, between two steps)."""

    input_shape = (1, 8, 8)

    def __init__(self):
        self.future: Future = Future()

    def predict_later(self, inputs):
        self.inputs = np.asarray(inputs)
        return self.future


def test_the_confusion_gallery_never_waits_for_the_trainer(qtbot):
    view = _view(qtbot, ConfusionView)
    view.reset(demo.run_started())
    view.set_validation_samples(demo.demo_images(10, size=8), [0, 1, 2, 0, 1, 2, 0, 1, 2, 0], ["cat", "dog", "eel"])
    predictor = _LatePredictor()
    view.set_predictor(predictor)
    conf = np.array([[5, 1, 0], [2, 7, 0], [0, 0, 9]], np.int64)
    view.on_event(EpochEnd(epoch=0, epochs=2, step=10, train_loss=1.0, val_loss=0.9, metrics={}, confusion=conf,
                           misclassified=np.array([1, 3, 4]), lr=1e-3, seconds=1.0, samples_per_s=10.0, best=None,
                           is_best=False))
    view.refresh()  # returns with the question asked, not answered
    assert predictor.inputs.shape == (3, 1, 8, 8)
    assert "true dog" in view.gallery.item(0).text() and "→" not in view.gallery.item(0).text()
    probs = np.zeros((3, 3), np.float32)
    probs[:, 2] = 1.0
    threading.Thread(target=predictor.future.set_result, args=(probs,)).start()  # the trainer's thread answers
    qtbot.waitUntil(lambda: "→" in view.gallery.item(0).text(), timeout=5_000)
    assert "dog → eel" in view.gallery.item(0).text()


class _Control:
    def __init__(self):
        self.asked: list[tuple] = []

    def request_prediction(self, inputs):
        future: Future = Future()
        self.asked.append((inputs, future))
        return future


class _Controller:
    """What Predictor reads of the training controller, with a run going."""

    def __init__(self):
        self.running, self.control, self.run, self.model = True, _Control(), object(), None
        self._graph = load_template("mlp").graph

    def model_graph(self):
        return self._graph

    def preprocessing(self):
        return None


def test_predict_later_during_a_run_does_not_block():
    controller = _Controller()
    predictor = Predictor(controller)
    future = predictor.predict_later(np.zeros((2, 64), np.float32), normalized=True)
    assert not future.done() and len(controller.control.asked) == 1
    (x,), served = controller.control.asked[0]
    assert tuple(x.shape) == (2, 64)
    logits = np.array([[0.0] * 9 + [3.0], [1.0] + [0.0] * 9], np.float32)
    threading.Thread(target=served.set_result, args=(logits,)).start()
    probs = future.result(timeout=5)
    expected = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    assert np.allclose(probs, expected, atol=1e-6)


def test_the_confusion_counts_are_drawn_in_slices_and_reused(qtbot):
    from layerloom.gui.plots.confusion import TEXTS_PER_FRAME

    view = _view(qtbot, ConfusionView)
    view.reset(demo.run_started())
    n = 12
    conf = np.arange(1, n * n + 1, dtype=np.int64).reshape(n, n)  # no zero cell: every cell has its count
    view.on_event(EpochEnd(epoch=0, epochs=2, step=10, train_loss=1.0, val_loss=0.9, metrics={}, confusion=conf,
                           misclassified=None, lr=1e-3, seconds=1.0, samples_per_s=10.0, best=None, is_best=False))
    view.refresh()
    assert len(view._texts) == TEXTS_PER_FRAME < n * n  # the first frame draws a slice, the rest follow
    qtbot.waitUntil(lambda: len(view._texts) == n * n, timeout=10_000)
    shown = {(round(t.pos().y()), round(t.pos().x())): t.textItem.toPlainText() for t in view._texts}
    assert shown[(0, 0)] == "1" and shown[(n - 1, n - 1)] == str(n * n) and shown[(2, 5)] == str(2 * n + 6)
    pool = list(view._text_pool)
    view.on_event(EpochEnd(epoch=1, epochs=2, step=20, train_loss=1.0, val_loss=0.9, metrics={}, confusion=conf * 2,
                           misclassified=None, lr=1e-3, seconds=1.0, samples_per_s=10.0, best=None, is_best=False))
    view.refresh()
    assert view._text_pool == pool and len(view._texts) == n * n  # the next epoch reuses every label at once
    assert {t.textItem.toPlainText() for t in view._texts} == {str(2 * v) for v in range(1, n * n + 1)}


def _look(rng, labels):
    from types import SimpleNamespace

    return SimpleNamespace(inputs=rng.random((4, 1, 8, 8)), reconstructions=rng.random((4, 1, 8, 8)), samples=None,
                           latent=rng.normal(size=(len(labels), 2)).astype(np.float32), labels=labels, traversal=None,
                           traversal_extent=None)


def test_the_latent_scatter_moves_its_points_without_making_new_items(qtbot):
    from layerloom.gui.plots.vae_view import VAEPanels

    panels = VAEPanels()
    qtbot.addWidget(panels)
    rng = np.random.default_rng(3)
    labels = np.array([0, 1, 2, 1, 0, 2, 2])
    panels.show_look(_look(rng, labels))
    items = list(panels.scatters)
    assert len(items) == 3
    later = _look(rng, labels)
    panels.show_look(later)  # the next epoch's look: the same classes
    assert panels.scatters == items
    points = items[2].data
    np.testing.assert_allclose(np.column_stack([points["x"], points["y"]]), later.latent[labels == 2])
    panels.show_look(_look(rng, np.array([0, 1, 1, 3])))  # other classes: new items, the legend names them
    assert len(panels.scatters) == 3 and panels.scatters[0] is not items[0]
    assert [label.text for _sample, label in panels.legend.items] == ["0", "1", "3"]


def test_back_to_auto_range_after_a_zoom_draws_every_step_again(qtbot):
    view = _view(qtbot, CurvesView, 1000, 600)
    view.reset(demo.run_started())
    view.on_event(_steps(1, np.random.default_rng(4).random(5_000), 0))
    view.refresh()
    view.loss_plot.setXRange(1_000, 1_100, padding=0)
    view.refresh()
    assert view.raw_curve.xData.max() <= 1_101
    view.loss_plot.enableAutoRange()  # pyqtgraph's "A" button
    qtbot.waitUntil(lambda: view.raw_curve.xData.max() == 5_000 and view.raw_curve.xData.min() == 1, timeout=5_000)
