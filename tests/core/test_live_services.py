"""LiveServices: what the loop calls between steps for the control (pause, predictions, a new learning rate)
and for gradient norms, without running a loop."""

from __future__ import annotations

import threading
import time

import pytest
import torch

from layerloom.core import Graph, build_model
from layerloom.core.data.base import DataInfo, PreparedData, TensorSplit
from layerloom.core.training import TrainControl
from layerloom.core.training import events as ev
from layerloom.core.training.device import choose_precision
from layerloom.core.training.live import LiveServices
from layerloom.core.training.recipe import SupervisedRecipe
from layerloom.core.training.state import RunParts


def _services(control, emitted, grad_every=0):
    g = Graph()
    ids = [g.add("Input", shape=[4]), g.add("Dense", out_features=3), g.add("Output", loss="cross_entropy")]
    g.connect(ids[0], ids[1])
    g.connect(ids[1], ids[2])
    model = build_model(g, seed=0)
    info = DataInfo("generated", "classification", [(4,)], ["float32"], [()], num_classes=3)
    split = TensorSplit((torch.randn(8, 4),), (torch.zeros(8, dtype=torch.long),))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    cpu = torch.device("cpu")
    parts = RunParts(device=cpu, model=model, forward=model, recipe=SupervisedRecipe(g, model, info), optimizer=opt,
                     scheduler=None, scheduler_per_step=False, precision=choose_precision("fp32", cpu), train=split,
                     val=split, generator=torch.Generator(), seed=0, world=1, batch_size=4, steps_per_epoch=2,
                     epochs=1, metric="val_loss", mode="min")
    live = LiveServices(control, parts, PreparedData(info, split, split), emitted.append, None, main=True,
                        grad_every=grad_every, grad_interval=0.1, feature_interval=0.5, lr=0.1)
    return live, model, opt


def test_a_pause_waits_serving_predictions_and_says_how_long_it_lasted():
    control, emitted, flushed = TrainControl(), [], []
    live, model, _opt = _services(control, emitted)
    control.pause()
    answer = {}

    def from_another_thread():
        answer["outputs"] = control.request_prediction((torch.ones(1, 4),)).result(timeout=10)
        control.resume()

    helper = threading.Thread(target=from_another_thread)
    helper.start()
    lr, paused = live.serve_requests(7, 0.1, flushed.append)
    helper.join(10)
    assert lr == 0.1 and paused > 0 and len(flushed) == 1
    assert [(e.state, e.step) for e in emitted] == [("paused", 7), ("running", 7)]
    with torch.no_grad():
        assert answer["outputs"] == pytest.approx(model(torch.ones(1, 4)).numpy())
    assert model.training


def test_a_new_learning_rate_reaches_the_optimizer():
    control, emitted = TrainControl(), []
    live, _model, opt = _services(control, emitted)
    control.set_lr(0.02)
    lr, paused = live.serve_requests(3, 0.1, lambda now: None)
    assert lr == pytest.approx(0.02) and opt.param_groups[0]["lr"] == pytest.approx(0.02) and paused == 0.0
    assert emitted == [] and live.base_lr == pytest.approx(0.02)


def test_gradient_norms_are_emitted_and_throttled_by_the_clock():
    control, emitted = TrainControl(), []
    live, model, _opt = _services(control, emitted, grad_every=5)
    model(torch.randn(4, 4)).sum().backward()
    assert live.grad_every == 5
    live.gradient_stats(100.0, 5, 0)
    (stats,) = emitted
    assert isinstance(stats, ev.GradientStats) and stats.step == 5 and len(stats.grad_norms) == len(stats.layers)
    assert live.next_grad_time == pytest.approx(100.1)


def test_looks_come_no_sooner_than_the_window_shows_them():
    """The control's look interval (the window's redraw pace) spaces the feature-map captures and a recurrent or
    generative look's schedule; 0 leaves them at their own rate (0.5 s here)."""
    control, emitted = TrainControl(), []
    live, _model, _opt = _services(control, emitted)
    assert live.tap.known(["dense_1"]) == ("dense_1",)
    control.set_feature_blocks(["dense_1"])
    now = time.perf_counter()
    live.at_check(now, 1, 0)
    assert [type(e) for e in emitted] == [ev.FeatureMaps] and live.next_feature <= time.perf_counter() + 0.5
    control.set_look_interval(3.0)
    live.at_check(live.next_feature, 2, 0)  # due by its own rate: captured, the next one 3 s on
    assert len(emitted) == 2 and live.next_feature >= time.perf_counter() + 2.9
    live.at_check(time.perf_counter() + 1.0, 3, 0)  # a second later: the window would not show it yet
    assert len(emitted) == 2
    assert live.looks.interval == 3.0  # a recurrent look's schedule too
    control.set_look_interval(0.0)
    live.at_check(live.next_feature, 4, 0)
    assert len(emitted) == 3 and live.looks.interval == 0.5
