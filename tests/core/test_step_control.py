"""Stepping a paused run: TrainControl.step trains exactly the batches asked for and pauses again, step_epoch
trains the rest of the epoch through its EpochEnd; a stepped run saved and resumed ends where an unstepped one
does. Tiny models on generated tensors, each run in a worker thread steered from the test."""

from __future__ import annotations

import os
import threading
from itertools import pairwise
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from layerloom.core import Graph, build_model
from layerloom.core.data.base import DataInfo, PreparedData, TensorSplit
from layerloom.core.settings import TrainingSettings
from layerloom.core.training import Stepped, TrainControl, Trainer
from layerloom.core.training.loop import EpochLoop

TIMEOUT = 60.0


def mlp(dropout=0.0):
    g = Graph()
    ids = [g.add("Input", shape=[8]), g.add("Dense", out_features=16), g.add("ReLU")]
    if dropout:
        ids.append(g.add("Dropout", p=dropout))
    ids += [g.add("Dense", out_features=3), g.add("Output", loss="cross_entropy")]
    for a, b in pairwise(ids):
        g.connect(a, b)
    return g


def classes(n=96, n_val=32):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(n + n_val, 8, generator=gen)
    y = (x @ torch.randn(8, 3, generator=gen)).argmax(1)
    info = DataInfo("generated", "classification", [(8,)], ["float32"], [()], num_classes=3, train_size=n,
                    val_size=n_val)
    return PreparedData(info, TensorSplit((x[:n],), (y[:n],)), TensorSplit((x[n:],), (y[n:],)))


def settings(**kw):
    base = {"epochs": 3, "batch_size": 16, "device": "cpu", "threads": 1}  # 96 samples: 6 steps an epoch
    base.update(kw)
    return TrainingSettings(**base)


class Events:
    """A sink the trainer calls from its thread; the test waits on it."""

    def __init__(self):
        self.items: list = []
        self.cond = threading.Condition()

    def __call__(self, event) -> None:
        with self.cond:
            self.items.append(event)
            self.cond.notify_all()

    def wait(self, pred, what: str) -> None:
        with self.cond:
            assert self.cond.wait_for(lambda: pred(self.items), TIMEOUT), f"no {what} within {TIMEOUT} s"

    def of(self, kind: str) -> list:
        with self.cond:
            return [e for e in self.items if e.kind == kind]

    def paused_count(self) -> int:
        return len([e for e in self.of("state_changed") if e.state == "paused"])

    def wait_paused(self, count: int) -> None:
        self.wait(lambda items: sum(e.kind == "state_changed" and e.state == "paused" for e in items) >= count,
                  f"pause number {count}")

    def steps(self) -> list[int]:
        return [int(s) for e in self.of("steps") for s in e.step]


def start(graph, data, s, control, sink, **kw):
    trainer = Trainer(graph, data, settings=s, run_root=kw.pop("run_root", None), **kw)
    worker = threading.Thread(target=trainer.run, args=(sink, control), daemon=True)
    worker.start()
    return trainer, worker


def step_and_wait(control, events, stepped_before: int, **kw) -> Stepped:
    paused = events.paused_count()
    assert (control.step_epoch() if kw.get("epoch") else control.step(kw.get("batches", 1))) is True
    events.wait(lambda items: sum(e.kind == "stepped" for e in items) > stepped_before, "Stepped")
    events.wait_paused(paused + 1)
    return events.of("stepped")[stepped_before]


def weights(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def hand_made(graph, data, steps: int, seed: int, momentum: float):
    """The trainer's first `steps` SGD steps, written out by hand (same initial weights, same shuffling)."""
    model = build_model(graph, seed=seed)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=momentum)
    gen = torch.Generator().manual_seed(seed)
    (x,), (y,) = data.train.inputs, data.train.targets
    done = 0
    while done < steps:
        for idx in torch.randperm(len(x), generator=gen).split(16):
            if done == steps:
                break
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            done += 1
    return weights(model)


def test_one_step_is_exactly_one_optimizer_step():
    graph, data = mlp(), classes()
    s = settings(optimizer="sgd", lr=0.05, seed=5)
    control, events = TrainControl(), Events()
    control.pause()  # the run pauses after its first step
    trainer, worker = start(graph, data, s, control, events, event_interval=1e9)
    try:
        events.wait_paused(1)
        assert events.steps() == [1]  # everything before a pause reaches the sink
        for k in (2, 3, 4):
            stepped = step_and_wait(control, events, k - 2)
            assert (stepped.step_from, stepped.step_to, stepped.epoch, stepped.unit) == (k - 1, k, 0, "batch")
            assert events.steps() == list(range(1, k + 1))  # the step's loss came at once, exactly one
            assert events.of("state_changed")[-1].state == "paused" and events.of("state_changed")[-1].step == k
            want = hand_made(graph, data, k, seed=5, momentum=s.momentum)
            got = weights(trainer.model)
            for name, value in want.items():
                assert torch.allclose(got[name], value, rtol=1e-5, atol=1e-6), (k, name)
        stepped = step_and_wait(control, events, 3, batches=4)  # over the end of epoch 0 (6 steps)
        assert (stepped.step_from, stepped.step_to, stepped.epoch) == (4, 8, 1)
        assert [e.epoch for e in events.of("epoch_end")] == [0]
        assert events.steps() == list(range(1, 9))
        for name, value in hand_made(graph, data, 8, seed=5, momentum=s.momentum).items():
            assert torch.allclose(weights(trainer.model)[name], value, rtol=1e-5, atol=1e-6), name
    finally:
        control.stop()
        worker.join(TIMEOUT)
    assert not worker.is_alive() and trainer.result.status == "stopped"


def test_an_epoch_step_ends_the_epoch_then_pauses_and_a_stop_after_steps_keeps_a_checkpoint(tmp_path):
    control, events = TrainControl(), Events()
    control.pause()
    trainer, worker = start(mlp(), classes(), settings(seed=2), control, events, run_root=str(tmp_path))
    try:
        events.wait_paused(1)
        stepped = step_and_wait(control, events, 0, epoch=True)
        assert (stepped.step_from, stepped.step_to, stepped.epoch, stepped.unit) == (1, 6, 0, "epoch")
        kinds = [e.kind for e in events.items]
        assert kinds.index("epoch_end") < kinds.index("stepped") < len(kinds) - 1
        assert events.items[-1].kind == "state_changed" and events.items[-1].state == "paused"
        assert events.items[-1].step == 6 and events.steps() == list(range(1, 7))
        stepped = step_and_wait(control, events, 1, epoch=True)  # a whole epoch, from its first batch
        assert (stepped.step_from, stepped.step_to, stepped.epoch) == (6, 12, 1)
        assert [e.epoch for e in events.of("epoch_end")] == [0, 1]
        stepped = step_and_wait(control, events, 2)
        assert (stepped.step_from, stepped.step_to, stepped.epoch) == (12, 13, 2)
        # a paused run serves predictions
        assert control.request_prediction((torch.zeros(2, 8),)).result(timeout=TIMEOUT).shape == (2, 3)
    finally:
        control.stop()
        worker.join(TIMEOUT)
    assert not worker.is_alive()
    assert trainer.result.status == "stopped" and events.items[-1].kind == "finished"
    stop = [e for e in events.of("checkpoint_saved") if e.role == "stop"]
    assert len(stop) == 1 and stop[0].step == 13 and os.path.exists(stop[0].path)
    assert events.steps() == list(range(1, 14))


def test_a_batch_step_that_ends_its_epoch_validates_it_before_pausing():
    """The pause after a batch step comes after its epoch's validation when the step took the epoch's last batch,
    so that an epoch step then trains a whole epoch (not an empty rest)."""
    control, events = TrainControl(), Events()
    control.pause()
    trainer, worker = start(mlp(), classes(), settings(seed=3), control, events)
    try:
        events.wait_paused(1)
        stepped = step_and_wait(control, events, 0, batches=5)  # steps 2–6: the last of epoch 0
        assert (stepped.step_from, stepped.step_to, stepped.epoch, stepped.unit) == (1, 6, 0, "batch")
        kinds = [e.kind for e in events.items]
        assert kinds.index("epoch_end") < kinds.index("stepped")
        assert events.items[-1].kind == "state_changed" and events.items[-1].state == "paused"
        stepped = step_and_wait(control, events, 1, epoch=True)
        assert (stepped.step_from, stepped.step_to, stepped.epoch, stepped.unit) == (6, 12, 1, "epoch")
        assert [e.epoch for e in events.of("epoch_end")] == [0, 1] and events.steps() == list(range(1, 13))
    finally:
        control.stop()
        worker.join(TIMEOUT)
    assert not worker.is_alive() and trainer.result.status == "stopped"


def test_a_step_is_refused_unless_paused():
    control = TrainControl()
    assert control.step() is False and control.step_epoch() is False and not control.step_requested
    control.pause()
    assert control.step(2) is True and control.step_requested
    control.resume()  # a resume forgets a step not yet taken
    assert not control.step_requested and control.take_step() == (0, False)
    with pytest.raises(ValueError, match="one batch or more"):
        control.step(0)
    control.pause()
    control.stop()
    assert control.step() is False
    # a distributed run refuses to step, saying why (one process paused alone would hold the others)
    control = TrainControl()
    EpochLoop(None, None, None, SimpleNamespace(control=control), print, None, settings=None,
              dist=SimpleNamespace(world_size=2), val_batch_size=16)
    control.pause()
    assert control.step() is False and control.step_epoch() is False
    assert "distributed run (2 processes)" in control.steps_refused


def test_a_running_run_ignores_step_and_runs_on():
    control, events = TrainControl(), Events()
    trainer, worker = start(mlp(), classes(), settings(epochs=2), control, events)
    events.wait(lambda items: any(e.kind == "steps" for e in items), "steps")
    refused = control.step()
    worker.join(TIMEOUT)
    assert refused is False and trainer.result.status == "finished"
    assert not events.of("stepped") and not events.of("state_changed") and events.steps() == list(range(1, 13))


def _stepped_run(control, events):
    """Pause after the first step; 1 + 2 batches; the rest of epoch 0; one batch of epoch 1."""
    events.wait_paused(1)
    step_and_wait(control, events, 0)
    step_and_wait(control, events, 1, batches=2)
    step_and_wait(control, events, 2, epoch=True)
    step_and_wait(control, events, 3)
    assert [(e.step_from, e.step_to) for e in events.of("stepped")] == [(1, 2), (2, 4), (4, 6), (6, 7)]


KW = {"epochs": 3, "optimizer": "adam", "scheduler": "step", "step_size": 1, "gamma": 0.5, "seed": 1}


def test_a_stepped_run_resumed_or_saved_and_resumed_ends_as_an_unstepped_one(tmp_path):
    graph, data = mlp(dropout=0.3), classes()
    reference = Trainer(graph, data, settings=settings(**KW), run_root=None)
    assert reference.run().status == "finished"
    ref = weights(reference.model)

    # stepped, then resumed to the end
    control, events = TrainControl(), Events()
    control.pause()
    trainer, worker = start(mlp(dropout=0.3), classes(), settings(**KW), control, events)
    try:
        _stepped_run(control, events)
        control.resume()
    finally:
        worker.join(TIMEOUT)
    assert trainer.result.status == "finished" and events.steps() == list(range(1, 19))
    for name, value in weights(trainer.model).items():
        assert torch.allclose(value, ref[name], rtol=0, atol=1e-6), name

    # stepped, stopped (its checkpoint saved), resumed from the checkpoint in a new trainer
    control, events = TrainControl(), Events()
    control.pause()
    trainer, worker = start(mlp(dropout=0.3), classes(), settings(**KW), control, events, run_root=str(tmp_path))
    try:
        _stepped_run(control, events)
    finally:
        control.stop()
        worker.join(TIMEOUT)
    assert trainer.result.status == "stopped"
    resumed = Trainer(mlp(dropout=0.3), classes(), settings=settings(**KW), run_root=str(tmp_path),
                      resume=trainer.result.run_dir)
    again = Events()
    assert resumed.run(again).status == "finished" and again.steps() == list(range(8, 19))
    for name, value in weights(resumed.model).items():
        assert torch.allclose(value, ref[name], rtol=0, atol=1e-6), name
