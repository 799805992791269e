"""The trainer: reproducibility, faults, stop and resume, optimizers and schedules, instrumentation,
events and control. Tiny models on generated tensors, so the whole file runs in a few seconds."""

from __future__ import annotations

import math
import os
import platform
import sys
import threading

import pytest
import torch

from layerloom.core import Graph
from layerloom.core.data.base import DataInfo, PreparedData, TensorSplit
from layerloom.core.settings import OPTIMIZERS, SCHEDULERS, TrainingSettings
from layerloom.core.training import (
    CheckpointError,
    EventBuffer,
    TrainControl,
    Trainer,
    load_checkpoint,
)
from layerloom.core.training import events as ev
from layerloom.core.training.checkpoint import atomic_write, save_checkpoint


def chain(input_shape, *blocks, loss="cross_entropy"):
    g = Graph()
    prev = g.add("Input", shape=list(input_shape))
    for type_id, params in blocks:
        nid = g.add(type_id, **params)
        g.connect(prev, nid)
        prev = nid
    out = g.add("Output", loss=loss)
    g.connect(prev, out)
    return g


def mlp(dropout=0.0):
    blocks = [("Dense", {"out_features": 16}), ("ReLU", {})]
    if dropout:
        blocks.append(("Dropout", {"p": dropout}))
    return chain([8], *blocks, ("Dense", {"out_features": 3}))


def classes(n=96, n_val=32, features=8, k=3, seed=0, transform=None):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n + n_val, features, generator=gen)
    y = (x @ torch.randn(features, k, generator=gen)).argmax(1)
    info = DataInfo("generated", "classification", [(features,)], ["float32"], [()], num_classes=k,
                    train_size=n, val_size=n_val)
    return PreparedData(info, TensorSplit((x[:n],), (y[:n],), transform), TensorSplit((x[n:],), (y[n:],)))


def settings(**kw):
    base = {"epochs": 2, "batch_size": 16, "device": "cpu", "threads": 1}  # 1: tiny ops, shared cores
    base.update(kw)
    return TrainingSettings(**base)


def run(graph, data, sink=None, control=None, **kw):
    s = kw.pop("settings", None) or settings(**{k: kw.pop(k) for k in list(kw) if hasattr(TrainingSettings(), k)})
    kw.setdefault("run_root", None)
    trainer = Trainer(graph, data, settings=s, **kw)
    result = trainer.run(sink, control)
    return trainer, result


def weights(trainer):
    return {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}


def same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# --- reproducibility ---------------------------------------------------------------------------------


def test_same_seed_gives_identical_weights_and_another_seed_does_not():
    data = classes()
    t1, r1 = run(mlp(dropout=0.2), data, seed=3)
    t2, r2 = run(mlp(dropout=0.2), data, seed=3)
    t3, _ = run(mlp(dropout=0.2), data, seed=4)
    assert r1.status == r2.status == "finished", r1.message
    assert same(weights(t1), weights(t2))
    assert r1.final == r2.final
    assert not same(weights(t1), weights(t3))


# --- events --------------------------------------------------------------------------------------------


def test_events_come_in_order_with_batched_steps_and_epoch_metrics(tmp_path):
    got = []
    trainer, result = run(mlp(), classes(), got.append, run_root=str(tmp_path), epochs=3, grad_every=2)
    assert result.status == "finished"
    kinds = [e.kind for e in got]
    assert kinds[0] == "run_started" and kinds[-1] == "finished"
    started = got[0]
    assert (started.train_size, started.val_size, started.steps_per_epoch) == (96, 32, 6)
    assert started.param_count == sum(p.numel() for p in trainer.model.parameters())
    steps = [e for e in got if isinstance(e, ev.Steps)]
    all_steps = [int(s) for e in steps for s in e.step]
    assert all_steps == list(range(1, 19))  # every step exactly once, in order
    assert all(e.loss.dtype.name == "float32" and len(e.lr) == len(e.step) == len(e.time) for e in steps)
    ends = [e for e in got if isinstance(e, ev.EpochEnd)]
    assert [e.epoch for e in ends] == [0, 1, 2]
    assert ends[-1].confusion.shape == (3, 3) and ends[-1].confusion.sum() == 32
    assert 0 <= ends[-1].metrics["val_accuracy"] <= 1
    assert math.isclose(ends[-1].metrics["val_accuracy"], ends[-1].confusion.trace() / 32)
    assert ends[-1].train_loss < ends[0].train_loss
    assert any(isinstance(e, ev.GradientStats) for e in got)
    saved = [e for e in got if isinstance(e, ev.CheckpointSaved)]
    assert {e.role for e in saved} >= {"last", "best"}
    finished = got[-1]
    assert finished.epochs == 3 and finished.best == ends[finished.best_epoch].metrics["val_accuracy"]
    for e in got:  # every event turns into plain JSON data
        assert isinstance(e.to_dict(), dict)
    folder = result.run_dir
    for name in ("project.json", "settings.json", "epochs.jsonl", "epochs.csv", "steps.csv", "last.safetensors",
                 "best.safetensors"):
        assert os.path.exists(os.path.join(folder, name)), name
    assert any(n.startswith("events.out.tfevents") for n in os.listdir(folder))
    with open(os.path.join(folder, "steps.csv")) as f:
        assert len(f.read().strip().splitlines()) == 1 + 18


def test_regression_reports_mae_and_r2():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(160, 4, generator=gen)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]])
    info = DataInfo("lin", "regression", [(4,)], ["float32"], [(1,)], train_size=128, val_size=32)
    data = PreparedData(info, TensorSplit((x[:128],), (y[:128],)), TensorSplit((x[128:],), (y[128:],)))
    g = chain([4], ("Dense", {"out_features": 1}), loss="mse")
    got = []
    _, result = run(g, data, got.append, epochs=30, lr=0.05, batch_size=32)
    assert result.status == "finished" and result.metric == "val_loss"
    assert result.final["val_r2"] > 0.95 and result.final["val_mae"] < 0.5
    ends = [e for e in got if isinstance(e, ev.EpochEnd)]
    assert ends[0].confusion is None and "val_accuracy" not in ends[0].metrics


def test_event_buffer_is_bounded_and_keeps_what_matters():
    buf = EventBuffer(max_events=16)
    import numpy as np

    def steps(i):
        return ev.Steps(epoch=0, step=np.array([i]), loss=np.array([1.0], np.float32), lr=np.array([0.1], np.float32),
                        time=np.array([0.0]), samples_per_s=np.array([1.0], np.float32), batch=i, batches_per_epoch=999,
                        accuracy=None, eta_s=None)

    buf(ev.StateChanged("paused", 0))
    for i in range(1, 501):
        buf(steps(i))
        if i % 50 == 0:
            buf(ev.FeatureMaps(step=i, epoch=0, block="conv", sample_index=0, maps=np.zeros((2, 2, 2)),
                               shape=(2, 2, 2)))
    assert len(buf) <= 16
    drained = buf.drain()
    assert drained[0].kind == "state_changed"
    got_steps = [int(s) for e in drained if isinstance(e, ev.Steps) for s in e.step]
    assert got_steps == list(range(1, 501))  # merged, none lost
    maps = [e for e in drained if isinstance(e, ev.FeatureMaps)]
    assert len(maps) == 1 and maps[0].step == 500  # only the latest frame
    assert buf.drain() == []


# --- faults ----------------------------------------------------------------------------------------------


class _PoisonAfter:
    """A batch transform that makes the inputs NaN from its n-th call on."""

    def __init__(self, n):
        self.n, self.calls = n, 0

    def __call__(self, xs, generator=None):
        self.calls += 1
        return (xs[0] * float("nan"),) if self.calls >= self.n else xs


def test_nan_loss_stops_with_the_step_and_keeps_a_usable_checkpoint(tmp_path):
    data = classes(transform=_PoisonAfter(9))  # 6 steps per epoch: step 9 is epoch 2, batch 3
    got = []
    trainer, result = run(mlp(), data, got.append, run_root=str(tmp_path), epochs=4, event_interval=0)
    assert result.status == "failed" and result.reason == "nan"
    assert "step 9" in result.message and "epoch 2" in result.message and "NaN" in result.message
    assert got[-1].kind == "failed" and got[-1].message == result.message
    assert result.checkpoint and os.path.exists(result.checkpoint)
    ckpt = load_checkpoint(result.checkpoint)
    assert ckpt.meta["epoch"] == 1 and ckpt.meta["step"] == 6  # the last good one: end of epoch 1
    assert all(torch.isfinite(v).all() for v in ckpt.model.values())
    trainer.model.load_state_dict(ckpt.model)  # usable as it is
    # and a run resumes from it (with clean data)
    _t2, r2 = run(mlp(), classes(), run_root=str(tmp_path), resume=result.run_dir, epochs=2)
    assert r2.status == "finished" and r2.epochs == 2, r2.message


def test_nan_in_the_first_epoch_keeps_the_starting_weights(tmp_path):
    _, result = run(mlp(), classes(transform=_PoisonAfter(2)), run_root=str(tmp_path))
    assert result.status == "failed" and "step 2" in result.message and "epoch 1" in result.message
    ckpt = load_checkpoint(result.checkpoint)
    assert ckpt.meta["step"] == 0 and all(torch.isfinite(v).all() for v in ckpt.model.values())


def test_data_that_does_not_fit_the_model_fails_with_a_message():
    g = chain([5], ("Dense", {"out_features": 3}))
    got = []
    _, result = run(g, classes(), got.append)
    assert result.status == "failed" and result.reason == "data"
    assert "5" in result.message and "8" in result.message
    assert got[-1].kind == "failed"


def test_bad_settings_and_missing_device_fail_with_a_message():
    _, result = run(mlp(), classes(), settings=TrainingSettings(device="cpu", lr=-1.0))
    assert result.status == "failed" and "lr" in result.message
    if not torch.cuda.is_available():
        _, result = run(mlp(), classes(), settings=TrainingSettings(device="cuda"))
        assert result.status == "failed" and "no CUDA GPU" in result.message


def test_checkpoints_are_written_atomically(tmp_path, monkeypatch):
    path = str(tmp_path / "last.safetensors")
    save_checkpoint(path, model_state={"w": torch.ones(3)}, meta={"epoch": 1})

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(CheckpointError, match="No space left"):
        save_checkpoint(path, model_state={"w": torch.zeros(3)}, meta={"epoch": 2})
    monkeypatch.undo()
    ckpt = load_checkpoint(path)  # the old one, whole
    assert ckpt.meta["epoch"] == 1 and torch.equal(ckpt.model["w"], torch.ones(3))
    assert os.listdir(tmp_path) == ["last.safetensors"]  # no temporary file left behind
    atomic_write(str(tmp_path / "junk.safetensors"), b"not a checkpoint")
    with pytest.raises(CheckpointError, match=r"junk\.safetensors"):
        load_checkpoint(str(tmp_path / "junk.safetensors"))


# --- stop, pause, resume -----------------------------------------------------------------------------------


def test_stop_then_resume_continues_exactly(tmp_path):
    """Stopped in the middle of epoch 2 and resumed, a run ends with the same weights as one never stopped:
    model, optimizer and schedule state, random generators and the position in the epoch all come back."""
    kw = {"epochs": 3, "optimizer": "adam", "scheduler": "step", "step_size": 1, "gamma": 0.5, "seed": 1}
    ref, r_ref = run(mlp(dropout=0.3), classes(), **kw)

    control = TrainControl()

    def stop_at_step_8(e):
        if isinstance(e, ev.Steps) and e.step[-1] >= 8:
            control.stop()

    got = []
    _, r1 = run(mlp(dropout=0.3), classes(), lambda e: (got.append(e), stop_at_step_8(e)), control,
                run_root=str(tmp_path), event_interval=0, **kw)
    assert r1.status == "stopped" and r1.reason == "stopped"
    assert got[-1].kind == "finished" and got[-1].status == "stopped"
    assert any(isinstance(e, ev.CheckpointSaved) and e.role == "stop" for e in got)
    ckpt = load_checkpoint(os.path.join(r1.run_dir, "last.safetensors"))
    stopped_at = ckpt.meta["step"]
    assert 8 <= stopped_at < 12 and ckpt.meta["epoch"] == 1 and ckpt.meta["batch"] == stopped_at - 6
    assert ckpt.optimizer["state"][0]["exp_avg"].shape == (16, 8)  # Adam's moments are in it
    assert ckpt.scheduler["last_epoch"] == 1

    got2 = []
    resumed, r2 = run(mlp(dropout=0.3), classes(), got2.append, run_root=str(tmp_path), resume=r1.run_dir, **kw)
    assert r2.status == "finished" and r2.epochs == 3 and r2.run_dir == r1.run_dir
    assert got2[0].start_step == stopped_at and got2[0].start_epoch == 1
    first = next(e for e in got2 if isinstance(e, ev.Steps))
    assert first.step[0] == stopped_at + 1
    assert same(weights(resumed), weights(ref))
    assert r2.final == pytest.approx(r_ref.final)
    with open(os.path.join(r1.run_dir, "steps.csv")) as f:
        assert len(f.read().strip().splitlines()) == 1 + 18  # no step logged twice


def test_pause_resume_and_stop_from_another_thread():
    data = classes(n=512)
    buffer, control = EventBuffer(), TrainControl()
    trainer = Trainer(mlp(), data, settings=settings(epochs=1000, batch_size=8), run_root=None)
    worker = threading.Thread(target=trainer.run, args=(buffer, control), daemon=True)
    worker.start()
    try:
        _steer(worker, trainer, buffer, control)
    finally:
        control.stop()
        worker.join(20)


def _steer(worker, trainer, buffer, control):
    seen = []

    def wait_for(pred, timeout=20.0):
        import time

        end = time.monotonic() + timeout
        while time.monotonic() < end:
            seen.extend(buffer.drain())
            if pred():
                return True
            time.sleep(0.01)
        return False

    assert wait_for(lambda: any(e.kind == "steps" for e in seen))
    control.pause()
    assert wait_for(lambda: any(e.kind == "state_changed" and e.state == "paused" for e in seen))
    paused_at = max(int(e.step[-1]) for e in seen if e.kind == "steps")
    future = control.request_prediction((torch.zeros(2, 8),))  # served while paused
    assert future.result(timeout=10).shape == (2, 3)
    assert not [e for e in buffer.drain() if e.kind == "steps" and e.step[-1] > paused_at + 1]
    control.set_lr(0.5)
    control.resume()
    assert wait_for(lambda: any(e.kind == "steps" and e.step[-1] > paused_at + 5 for e in seen))
    assert any(e.kind == "steps" and float(e.lr[-1]) == pytest.approx(0.5) for e in seen)
    control.stop()
    worker.join(20)
    assert not worker.is_alive()
    seen.extend(buffer.drain())
    assert seen[-1].kind == "finished" and seen[-1].status == "stopped"
    assert trainer.result.status == "stopped"


def test_early_stopping_ends_the_run_when_the_metric_stops_improving():
    data = classes(n=64, n_val=4)
    got = []
    _, result = run(mlp(), data, got.append, epochs=60, early_stopping=True, early_stopping_metric="val_accuracy",
                    patience=2)
    assert result.status == "finished" and result.reason == "early_stopping"
    assert result.epochs < 60 and result.epochs - 1 - result.best_epoch == 2
    assert got[-1].reason == "early_stopping"


# --- optimizers, schedules, initialisation ------------------------------------------------------------------


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_every_optimizer_and_schedule_trains(optimizer):
    for scheduler in SCHEDULERS:
        got = []
        _, result = run(mlp(), classes(n=48), got.append, optimizer=optimizer, scheduler=scheduler, epochs=2,
                        step_size=1, lr=0.01, nesterov=optimizer == "sgd", grad_clip=1.0)
        assert result.status == "finished", f"{optimizer}/{scheduler}: {result.message}"
        lrs = [float(x) for e in got if isinstance(e, ev.Steps) for x in e.lr]
        if scheduler == "step":
            assert lrs[-1] == pytest.approx(0.001)
        if scheduler == "one_cycle":
            assert max(lrs) > 5 * lrs[0]


@pytest.mark.parametrize("init", ["default", "xavier", "kaiming"])
def test_weight_initialisations(init):
    _trainer, result = run(mlp(), classes(n=32), init=init, epochs=1)
    assert result.status == "finished"


# --- instrumentation ------------------------------------------------------------------------------------------


def test_gradient_stats_name_vanishing_layers_of_a_deep_sigmoid_stack():
    blocks = []
    for _ in range(8):
        blocks += [("Dense", {"out_features": 16}), ("Sigmoid", {})]
    g = chain([8], *blocks, ("Dense", {"out_features": 3}))
    got = []
    run(g, classes(n=32), got.append, epochs=1, grad_every=1)
    stats = [e for e in got if isinstance(e, ev.GradientStats)]
    assert stats
    first = stats[0]
    assert first.layers[0] == "dense_1" and len(first.layers) == 9
    assert "dense_1" in first.vanishing and "dense_9" not in first.vanishing
    assert first.grad_norms[0] < 1e-6 < first.grad_norms[-1]
    assert first.exploding == ()
    assert all(w > 0 for w in first.weight_norms)


def test_feature_maps_of_requested_blocks_have_their_channels():
    g = Graph()
    i = g.add("Input", shape=[1, 12, 12])
    c = g.add("Conv2d", out_channels=5, kernel_size=3)
    r = g.add("ReLU")
    f = g.add("Flatten")
    d = g.add("Dense", out_features=3)
    o = g.add("Output")
    for a, b in ((i, c), (c, r), (r, f), (f, d), (d, o)):
        g.connect(a, b)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(64, 1, 12, 12, generator=gen)
    y = torch.randint(0, 3, (64,), generator=gen)
    info = DataInfo("img", "classification", [(1, 12, 12)], ["float32"], [()], num_classes=3)
    data = PreparedData(info, TensorSplit((x[:48],), (y[:48],)), TensorSplit((x[48:],), (y[48:],)))
    control = TrainControl()
    control.set_feature_blocks(["conv2d_1", "relu_1", "no_such_block"])
    got = []
    run(g, data, got.append, control, epochs=2, feature_interval=0.0)
    maps = [e for e in got if isinstance(e, ev.FeatureMaps)]
    conv = [e for e in maps if e.block == "conv2d_1"]
    assert conv and {e.block for e in maps} == {"conv2d_1", "relu_1"}
    assert conv[0].maps.shape == (5, 10, 10) and conv[0].shape == (5, 10, 10)
    assert conv[0].maps.dtype.name == "float16" and conv[0].filters.shape == (5, 1, 3, 3)
    relu = next(e for e in maps if e.block == "relu_1")
    assert (relu.maps >= 0).all()


def test_feature_maps_are_throttled():
    control = TrainControl()
    control.set_feature_blocks(["dense_1"])
    got = []
    run(mlp(), classes(n=256), got.append, control, epochs=1, batch_size=4, feature_interval=10.0)
    assert len([e for e in got if isinstance(e, ev.FeatureMaps)]) == 1


# --- against a hand-written loop ----------------------------------------------------------------------


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "adamw", "rmsprop"])
def test_the_trainer_computes_what_a_hand_written_loop_computes(optimizer):
    """Same initial weights, same shuffling, plain torch.optim with its default (for-loop) kernels: the
    step losses, the epoch losses and metrics, and the final weights agree."""
    import torch.nn.functional as F

    from layerloom.core import build_model

    graph, data = mlp(), classes(n=100, n_val=30)
    s = settings(epochs=3, batch_size=16, optimizer=optimizer, lr=0.01, weight_decay=0.01, seed=5)
    got = []
    trainer = Trainer(graph, data, settings=s, run_root=None, event_interval=1e9)  # one Steps event an epoch
    assert trainer.run(got.append).status == "finished"

    model = build_model(graph, seed=5)
    opts = {"sgd": lambda p: torch.optim.SGD(p, lr=0.01, momentum=s.momentum, weight_decay=0.01),
            "adam": lambda p: torch.optim.Adam(p, lr=0.01, weight_decay=0.01),
            "adamw": lambda p: torch.optim.AdamW(p, lr=0.01, weight_decay=0.01),
            "rmsprop": lambda p: torch.optim.RMSprop(p, lr=0.01, momentum=s.momentum, weight_decay=0.01)}
    opt = opts[optimizer](model.parameters())
    gen = torch.Generator().manual_seed(5)
    (x,), (y,) = data.train.inputs, data.train.targets
    (xv,), (yv,) = data.val.inputs, data.val.targets
    step_losses, epoch_rows = [], []
    for _ in range(3):
        model.train()
        losses = []
        for idx in torch.randperm(100, generator=gen).split(16):
            out = model(x[idx])
            loss = F.cross_entropy(out, y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        last_batch_acc = (out.argmax(1) == y[idx]).float().mean().item()
        model.eval()
        with torch.no_grad():
            val_out = model(xv)
        epoch_rows.append((sum(losses) / len(losses), F.cross_entropy(val_out, yv).item(),
                           (val_out.argmax(1) == yv).float().mean().item(), last_batch_acc))
        step_losses += losses

    trained = [float(v) for e in got if isinstance(e, ev.Steps) for v in e.loss]
    assert trained == pytest.approx(step_losses, rel=1e-4, abs=1e-6)
    ends = [e for e in got if isinstance(e, ev.EpochEnd)]
    for end, (train_loss, val_loss, val_acc, batch_acc) in zip(ends, epoch_rows, strict=True):
        assert end.train_loss == pytest.approx(train_loss, rel=1e-4)
        assert end.val_loss == pytest.approx(val_loss, rel=1e-4)
        assert end.metrics["val_accuracy"] == pytest.approx(val_acc)
        assert end.metrics["train_accuracy"] == pytest.approx(batch_acc)  # sampled on the epoch's last batch
    for name, value in model.state_dict().items():
        assert torch.allclose(trainer.model.state_dict()[name], value, rtol=1e-4, atol=1e-6), name


def test_sgd_adam_and_adamw_use_fused_kernels_and_rmsprop_foreach():
    from layerloom.core.training.optim import build_optimizer

    params = list(torch.nn.Linear(3, 2).parameters())
    for name in ("sgd", "adam", "adamw"):
        assert build_optimizer(TrainingSettings(optimizer=name), params).defaults["fused"] is True, name
    assert build_optimizer(TrainingSettings(optimizer="rmsprop"), params).defaults["foreach"] is True
    mixed = [torch.nn.Parameter(torch.zeros(2, dtype=torch.float64)), *params]  # two float dtypes: still fused
    assert build_optimizer(TrainingSettings(optimizer="adam"), mixed).defaults["fused"] is True


def test_logs_are_never_behind_a_checkpoint(tmp_path):
    """The logs are written in batches (not after every epoch), but always before a checkpoint: a run that
    dies right after one can be resumed without losing the epochs' records."""
    lines_at_checkpoint = []

    def sink(e):
        if isinstance(e, ev.CheckpointSaved) and e.role == "last":
            with open(os.path.join(os.path.dirname(e.path), "epochs.jsonl")) as f:
                lines_at_checkpoint.append((e.epoch, len(f.read().splitlines())))

    _, result = run(mlp(), classes(), sink, run_root=str(tmp_path), epochs=4, checkpoint_interval=0.0)
    assert result.status == "finished"
    assert lines_at_checkpoint and all(lines >= epoch for epoch, lines in lines_at_checkpoint)
    assert lines_at_checkpoint[-1] == (4, 4)


# --- threads -------------------------------------------------------------------------------------------


def test_a_serial_thread_keeps_torch_threads_for_every_other_thread():
    """The GUI thread computes serially so that a training thread's OpenMP pool is the only one
    (core/training/threads.py); other threads, new ones included, keep torch's thread count."""
    from layerloom.core.training.threads import is_serial, keep_this_thread_serial

    seen = {}

    def in_thread(name, fn):
        t = threading.Thread(target=fn, name=name)
        t.start()
        t.join()

    def set_two():
        torch.set_num_threads(2)

    def serial():
        keep_this_thread_serial()
        keep_this_thread_serial()  # a second call changes nothing
        seen["serial"] = (torch.get_num_threads(), is_serial())
        x = torch.randn(300, 300)
        seen["product"] = torch.allclose(x @ x, (x.double() @ x.double()).float(), atol=1e-3)

    def other():
        seen["other"] = (torch.get_num_threads(), is_serial())

    saved = torch.get_num_threads()
    in_thread("set", set_two)
    try:
        in_thread("serial", serial)
        in_thread("other", other)
    finally:
        in_thread("restore", lambda: torch.set_num_threads(saved))
    assert seen["serial"] == (1, True) and seen["product"]
    assert seen["other"] == (2, False)


@pytest.mark.skipif(not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_freed_memory_is_kept_for_the_next_training_step():
    """glibc's mallopt takes the settings that keep a training thread's activations allocated between steps
    (returning them to the system cost a LeNet-5 step about 9 % in a worker thread)."""
    from layerloom.core.training.threads import keep_freed_memory

    assert keep_freed_memory() is True
