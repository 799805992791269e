"""Looks inside a recurrent block while a run trains: RecurrentInside events asked for through the control, equal
to the trace and gradients through time recomputed by hand from the trained weights, that leave training as it
would have been; none when not asked; one note for a block that is not recurrent."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest
import torch

from layerloom.core import Graph, build_model
from layerloom.core.data.base import DataInfo, PreparedData, TensorSplit
from layerloom.core.recurrent.capture import block_input
from layerloom.core.recurrent.gradients import gradients_through_time
from layerloom.core.recurrent.trace import trace_block
from layerloom.core.settings import TrainingSettings
from layerloom.core.training import TrainControl, Trainer, recurrent_looks
from layerloom.core.training.recipe import SupervisedRecipe
from layerloom.core.training.recurrent_looks import RecurrentLooks

VOCAB = ["<pad>"] + [f"w{i}" for i in range(1, 20)]
STEPS = 7


def graph(cell: str) -> Graph:
    g = Graph()
    ids = [g.add("Input", name="tokens", shape=[STEPS], dtype="int64"),
           g.add("Embedding", num_embeddings=len(VOCAB), embedding_dim=5),
           g.add(cell, name="cell", hidden_size=6, num_layers=2, bidirectional=True, dropout=0.0,
                 return_sequences=False),
           g.add("Dense", name="logits", out_features=2), g.add("Output", loss="cross_entropy")]
    for a, b in pairwise(ids):
        g.connect(a, b)
    return g


def data() -> PreparedData:
    gen = torch.Generator().manual_seed(3)
    x = torch.randint(1, len(VOCAB), (40, STEPS), generator=gen)
    y = (x[:, 0] > 10).long()
    info = DataInfo("generated", "classification", [(STEPS,)], ["int64"], [()], num_classes=2, vocabulary=VOCAB)
    return PreparedData(info, TensorSplit((x[:32],), (y[:32],)), TensorSplit((x[32:],), (y[32:],)))


def train(cell: str, block: str | None, prepared: PreparedData, epochs: int = 2):
    control = TrainControl()
    control.set_recurrent_block(block)
    settings = TrainingSettings(epochs=epochs, batch_size=8, device="cpu", threads=1, seed=0)
    events: list = []
    trainer = Trainer(graph(cell), prepared, settings=settings, run_root=None, grad_every=0, event_interval=0.0,
                      feature_interval=0.0)
    result = trainer.run(events.append, control)
    assert result.status == "finished", result.message
    return trainer, events


@pytest.fixture
def every_check(monkeypatch):
    """A look at every check (every step with event_interval 0), whatever it costs."""
    monkeypatch.setattr(recurrent_looks, "BUDGET", 1e12)


def losses(events) -> np.ndarray:
    return np.concatenate([e.loss for e in events if e.kind == "steps"])


@pytest.mark.parametrize("cell", ["LSTM", "GRU"])
def test_looks_while_training_equal_a_recomputation_and_leave_training_unchanged(cell, every_check):
    prepared = data()
    trainer, events = train(cell, "cell", prepared)
    looks = [e for e in events if e.kind == "recurrent_inside"]
    assert len(looks) >= 8  # 2 epochs of 4 steps, a check after each
    assert [e.block for e in looks] == ["cell"] * len(looks)
    last = looks[-1]
    assert last.step == 8 and last.epoch == 1 and last.sample_index == 0 and last.label == prepared.val.targets[0][0]

    model = trainer.model  # the weights of step 8, the last step: the last look was taken after it
    (x,), (y,) = next(prepared.val.batches(1, indices=[0]))
    expected = trace_block(model.get_submodule("cell"), block_input(model, "cell", (x,)))
    assert last.trace.kind == cell.lower() and last.trace.steps == STEPS
    assert (last.trace.layers, last.trace.directions) == (2, 2)
    for layer in range(2):
        for d in range(2):
            for name, values in expected.trace(layer, d).values.items():
                np.testing.assert_allclose(last.trace.trace(layer, d).values[name], values, atol=1e-6)
    loss_fn = SupervisedRecipe(graph(cell), model, prepared.info).loss_fn
    grads = gradients_through_time(model, (x,), (y,), loss_fn, "cell")
    np.testing.assert_allclose(last.gradients.norms, grads.norms, rtol=1e-5, atol=1e-12)
    assert last.gradient_note == "" and last.gradients.norms.shape == (2, 2, STEPS)
    assert last.time_labels == tuple(VOCAB[i] for i in x[0].tolist())

    # the same run without looks: the same losses at every step (no gradient, mode or random state disturbed)
    _plain, plain_events = train(cell, None, prepared)
    assert not [e for e in plain_events if e.kind in ("recurrent_inside", "recurrent_note")]
    np.testing.assert_array_equal(losses(events), losses(plain_events))


def test_a_block_that_is_not_recurrent_gets_one_note_and_the_run_goes_on(every_check):
    _trainer, events = train("LSTM", "logits", data())
    notes = [e for e in events if e.kind == "recurrent_note"]
    assert [(n.block, n.message) for n in notes] == [
        ("logits", "Cannot look inside logits: block 'logits' is a Linear, not an RNN, LSTM or GRU")]
    assert not [e for e in events if e.kind == "recurrent_inside"]
    assert events[-1].kind == "finished"


def test_a_look_leaves_the_parameters_gradients_and_modes_as_they_were():
    prepared = data()
    g = graph("GRU")
    model = build_model(g, seed=0)
    model.train()
    loss_fn = SupervisedRecipe(g, model, prepared.info).loss_fn
    (x,), (y,) = next(prepared.train.batches(8))
    loss_fn(model(x), (y,)).backward()
    before = {n: p.grad.clone() for n, p in model.named_parameters()}
    looks = RecurrentLooks(model, loss_fn, vocabulary=VOCAB, interval=0.5)
    assert looks.due(10.0, "cell")
    event = looks.look("cell", (0, (x[:1],), (y[:1],), int(y[0])), 3, 0)
    assert event.kind == "recurrent_inside" and event.gradients is not None
    for n, p in model.named_parameters():
        assert torch.equal(p.grad, before[n]), n
    assert all(m.training for m in model.modules())
    # paced: not again before the interval (nor before cost / BUDGET), again when asked for another block
    assert looks.next_time >= looks.last_cost / recurrent_looks.BUDGET
    assert not looks.due(looks.next_time - 0.01, "cell") and looks.due(looks.next_time, "cell")
    assert looks.due(0.0, "embedding")
    note = looks.look("embedding", (0, (x[:1],), (y[:1],), None), 4, 0)
    assert note.kind == "recurrent_note" and "embedding" in note.message
    assert not looks.due(1e9, "embedding")  # one note, no more tries for that block


def test_pacing_trusts_neither_a_cold_first_look_nor_one_slow_look(monkeypatch):
    """The next look waits cost / BUDGET (at least the interval), the cost being the least of the last three looks;
    the first look of a block (one-off set-up) only waits the interval."""
    import layerloom.core.recurrent.inside as inside

    clock = [100.0]
    costs = iter([0.3, 0.05, 0.2, 0.04, 0.3, 0.3, 0.3, 0.3])

    def fake_look(*_args, **_kwargs):
        clock[0] += next(costs)
        return inside.Inside(trace=None, gradients=None, time_labels=())

    monkeypatch.setattr(recurrent_looks.time, "perf_counter", lambda: clock[0])
    monkeypatch.setattr(inside, "look_inside", fake_look)
    looks = RecurrentLooks(torch.nn.Identity(), None, interval=0.5, budget=0.02)
    waits = []
    for _ in range(8):
        assert looks.due(clock[0], "cell")
        looks.look("cell", (0, (), (), None), 1, 0)
        waits.append(round(looks.next_time - clock[0], 6))
        clock[0] = looks.next_time
    # cold 0.3 s → the interval; then the least of the last three looks' costs / 0.02
    assert waits == [0.5, 2.5, 2.5, 2.0, 2.0, 2.0, 15.0, 15.0]
    assert looks.due(clock[0], "other") and looks.costs == []  # another block starts afresh


def test_a_probe_sample_changed_mid_run_is_looked_at_with_its_own_targets(every_check):
    """The control's probe index changes after the first look: the next looks are of that sample, its words, its
    label and its gradient through time (its own targets, not the first sample's)."""
    prepared = data()
    control = TrainControl()
    control.set_recurrent_block("cell")
    events: list = []

    def emit(event):
        events.append(event)
        if event.kind == "recurrent_inside" and control.probe_index == 0:
            control.set_probe_index(2)

    settings = TrainingSettings(epochs=1, batch_size=8, device="cpu", threads=1, seed=0)
    trainer = Trainer(graph("LSTM"), prepared, settings=settings, run_root=None, grad_every=0, event_interval=0.0,
                      feature_interval=0.0)
    assert trainer.run(emit, control).status == "finished"
    looks = [e for e in events if e.kind == "recurrent_inside"]
    assert looks[0].sample_index == 0 and len(looks) >= 3
    assert {e.sample_index for e in looks[1:]} == {2}
    last = looks[-1]
    assert last.step == 4  # 1 epoch of 4 steps: the final weights
    (x,), (y,) = next(prepared.val.batches(1, indices=[2]))
    (y0,) = next(prepared.val.batches(1, indices=[0]))[1]
    assert int(y[0]) != int(y0[0])  # sample 2's target differs from sample 0's: stale targets would show
    assert last.label == int(y[0]) and last.time_labels == tuple(VOCAB[i] for i in x[0].tolist())
    model = trainer.model
    loss_fn = SupervisedRecipe(graph("LSTM"), model, prepared.info).loss_fn
    grads = gradients_through_time(model, (x,), (y,), loss_fn, "cell")
    np.testing.assert_allclose(last.gradients.norms, grads.norms, rtol=1e-5, atol=1e-12)
    stale = gradients_through_time(model, (x,), (y0,), loss_fn, "cell")
    assert not np.allclose(last.gradients.norms, stale.norms, rtol=1e-3)


def test_a_paused_run_shows_a_block_asked_for_while_paused():
    """Selecting another block while paused: its feature maps and its look come at once, with the paused weights,
    without a step."""
    import threading

    prepared = data()
    control = TrainControl()
    control.pause()  # pauses after its first step
    settings = TrainingSettings(epochs=50, batch_size=8, device="cpu", threads=1, seed=0)
    events: list = []
    trainer = Trainer(graph("GRU"), prepared, settings=settings, run_root=None, grad_every=0)
    worker = threading.Thread(target=trainer.run, args=(events.append, control), daemon=True)
    worker.start()

    def wait_for(pred, what):
        for _ in range(600):
            if pred():
                return
            threading.Event().wait(0.05)
        raise AssertionError(f"no {what} within 30 s")

    try:
        wait_for(lambda: any(e.kind == "state_changed" and e.state == "paused" for e in list(events)), "pause")
        assert not [e for e in list(events) if e.kind in ("recurrent_inside", "feature_maps")]
        control.set_recurrent_block("cell")
        control.set_feature_blocks(["cell"])
        wait_for(lambda: {e.kind for e in list(events)} >= {"recurrent_inside", "feature_maps"}, "look while paused")
        look = next(e for e in list(events) if e.kind == "recurrent_inside")
        assert look.block == "cell" and look.step == 1 and control.paused
        assert [e.kind for e in list(events)].count("steps") == 1  # nothing trained meanwhile
    finally:
        control.stop()
        worker.join(30)
    assert not worker.is_alive()
