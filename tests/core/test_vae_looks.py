"""A VAE's live look (core/training/vae_look.py, generative_looks.py): reconstructions, samples from a fixed z,
latent means and the traversal grid against hand-built PyTorch; the decoder cut from the fx graph against the
exported decoder graph; labels kept for a reconstruction task; pacing; the VAELook in a real run's stream."""

from __future__ import annotations

import threading
from itertools import pairwise

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from layerloom.core import Graph, build_model
from layerloom.core.data import load_data
from layerloom.core.export.decoder import decoder_graph
from layerloom.core.settings import TrainingSettings
from layerloom.core.templates import load_template
from layerloom.core.training import EventBuffer, TrainControl, Trainer, VAELook, generative_looks
from layerloom.core.training.generative_looks import GenerativeLooks
from layerloom.core.training.recipe import SupervisedRecipe, recipe_for
from layerloom.core.training.vae_look import VAELooker, decoder_module, fixed_batch, label_names, lattice, vae_look


@pytest.fixture(scope="module")
def prepared():
    project = load_template("vae_digits")
    return load_data(project.data.source, dict(project.data.options), val_fraction=0.2, seed=0)


def vae_model():
    project = load_template("vae_digits")
    model = build_model(project.graph, seed=0)
    with torch.no_grad():  # a trained-looking decoder: not all-near-zero weights
        for p in model.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel())))
    return project, model.eval()


def hand_decode(model, z):
    dec1, dec2 = model.get_submodule("dec_hidden"), model.get_submodule("dec_pixels")
    return torch.sigmoid(F.linear(F.relu(F.linear(z, dec1.weight, dec1.bias)), dec2.weight, dec2.bias)) \
        .reshape(-1, 1, 28, 28)


def hand_mean(model, x):
    enc, mean = model.get_submodule("enc_hidden"), model.get_submodule("mean")
    return F.linear(F.relu(F.linear(x.flatten(1), enc.weight, enc.bias)), mean.weight, mean.bias)


def test_a_reconstruction_task_keeps_the_class_labels_of_its_samples(prepared):
    classified = load_data("digits", {"resize": [28, 28]}, val_fraction=0.2, seed=0)
    assert prepared.info.task == "reconstruction" and prepared.info.class_names is None
    np.testing.assert_array_equal(prepared.val.labels, classified.val.targets[0].numpy())
    np.testing.assert_array_equal(prepared.train.labels, classified.train.targets[0].numpy())
    assert label_names(prepared) == [str(i) for i in range(10)]
    xs, labels = fixed_batch(prepared, 100)
    assert xs[0].shape == (100, 1, 28, 28) and torch.equal(xs[0], prepared.val.inputs[0][:100])
    np.testing.assert_array_equal(labels, classified.val.targets[0][:100].numpy())
    xs, labels = fixed_batch(classified, 50)  # a classification task: its targets are the labels
    np.testing.assert_array_equal(labels, classified.val.targets[0][:50].numpy())


def test_the_decoder_cut_from_the_graph_equals_the_exported_decoder_and_hand_built_torch():
    project, model = vae_model()
    decoder, index = decoder_module(model)
    assert index == 0
    assert all(a is b for a, b in zip(decoder.get_submodule("dec_pixels").parameters(),
                                      model.get_submodule("dec_pixels").parameters(), strict=True))  # no copy
    exported = build_model(decoder_graph(project.graph))
    exported.load_state_dict({k: v for k, v in model.state_dict().items() if k in exported.state_dict()})
    z = torch.randn(10, 2, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        out = decoder(z)
        torch.testing.assert_close(out, exported.eval()(z), rtol=0, atol=0)
        torch.testing.assert_close(out, hand_decode(model, z), rtol=1e-6, atol=1e-6)


def test_the_look_equals_hand_built_torch(prepared):
    _project, model = vae_model()
    xs, labels = fixed_batch(prepared)
    looker = VAELooker(model)
    with torch.no_grad():
        look = looker(xs, labels, 7, 2)
        again = looker(xs, labels, 8, 2)
        x = xs[0]
        assert look.step == 7 and look.epoch == 2 and look.note == ""
        assert look.inputs.shape == (8, 1, 28, 28) and look.reconstructions.shape == (8, 1, 28, 28)
        np.testing.assert_array_equal(look.inputs, x[:8].numpy())
        np.testing.assert_allclose(look.reconstructions, model(x[:8]).numpy(), rtol=1e-6, atol=1e-6)
        assert look.latent.shape == (359, 2) and look.latent.dtype == np.float32  # all 359 validation samples
        np.testing.assert_allclose(look.latent, hand_mean(model, x).numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(look.labels, prepared.val.labels)
        z = torch.randn(16, 2, generator=torch.Generator().manual_seed(0))  # the fixed, seeded z
        assert look.samples.shape == (16, 1, 28, 28)
        np.testing.assert_allclose(look.samples, hand_decode(model, z).numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(again.samples, look.samples)  # the same z at every look
        grid = np.linspace(-2.5, 2.5, 8, dtype=np.float32)
        assert look.traversal.shape == (8, 8, 1, 28, 28) and look.traversal_extent == (-2.5, 2.5, -2.5, 2.5)
        assert lattice()[0, 7].tolist() == [2.5, -2.5] and lattice()[7, 0].tolist() == [-2.5, 2.5]
        for r, c in ((0, 0), (2, 5), (7, 3), (7, 7)):
            code = torch.tensor([[grid[c], grid[r]]])
            np.testing.assert_allclose(look.traversal[r, c], hand_decode(model, code)[0].numpy(), rtol=1e-5,
                                       atol=1e-6)


def flat_vae(latent: int) -> Graph:
    """64 features → a `latent`-dim Sample → 64 features: neither an image nor a 2-D latent space."""
    g = Graph()
    x = g.add("Input", name="x", shape=[64])
    mean, log_var = g.add("Dense", name="mean", out_features=latent), g.add("Dense", name="lv", out_features=latent)
    z = g.add("Sample", name="z", beta=1.0)
    g.connect(x, mean)
    g.connect(x, log_var)
    g.connect(mean, (z, "mean"))
    g.connect(log_var, (z, "log_var"))
    ids = [z, g.add("Dense", name="out", out_features=64), g.add("Output", loss="mse")]
    for a, b in pairwise(ids):
        g.connect(a, b)
    return g


def test_a_one_dimensional_latent_and_a_vector_output_are_said_in_plain_words():
    model = build_model(flat_vae(1), seed=0).eval()
    x = torch.randn(20, 64, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        look = VAELooker(model)((x,), None, 1, 0)
        assert "not an image" in look.note and "1 dimension" in look.note
        assert look.latent.shape == (20, 1) and look.labels is None
        assert look.samples.shape == (16, 64) and look.traversal.shape == (1, 8, 64)
        assert look.traversal_extent == (-2.5, 2.5, 0.0, 0.0)
        out = model.get_submodule("out")
        grid = torch.linspace(-2.5, 2.5, 8).reshape(8, 1)
        np.testing.assert_allclose(look.traversal[0], F.linear(grid, out.weight, out.bias).numpy(), rtol=1e-5,
                                   atol=1e-6)


def test_the_buffer_keeps_only_the_latest_look():
    buffer = EventBuffer()
    looks = [VAELook(step=s, epoch=0, inputs=np.zeros(1), reconstructions=np.zeros(1), samples=None,
                     latent=np.zeros((1, 2)), labels=None, traversal=None, traversal_extent=(0, 0, 0, 0))
             for s in (1, 2, 3)]
    for look in looks:
        buffer(look)
    assert buffer.drain() == [looks[-1]]


def test_pacing_by_cost_and_at_once_when_asked_anew(monkeypatch, prepared):
    clock = [100.0]
    costs = iter([0.3, 0.05, 0.2, 0.04, 0.3, 0.3])

    def fake_look(xs, labels, step, epoch):
        clock[0] += next(costs)
        return ("look", step)

    monkeypatch.setattr(generative_looks.time, "perf_counter", lambda: clock[0])
    looks = GenerativeLooks(fake_look, prepared, torch.device("cpu"), interval=0.5, budget=0.02)
    assert not looks.due(clock[0], False)
    waits = []
    for step in range(5):
        assert looks.due(clock[0], True)
        assert looks.look(torch.nn.Identity(), step, 0) == ("look", step)
        waits.append(round(looks.next_time - clock[0], 6))
        clock[0] = looks.next_time - 0.01
        assert not looks.due(clock[0], True)
        clock[0] = looks.next_time
    assert waits == [0.5, 2.5, 2.5, 2.0, 2.0]  # cold first look: the interval; then min of the last three / 2 %
    assert not looks.due(clock[0] - 1.0, True) and not looks.due(clock[0] - 1.0, False)
    assert looks.due(clock[0] - 1.0, True)  # turned off and on again: at once


def test_a_look_that_fails_gives_one_note(prepared):
    def broken(*_args):
        raise RuntimeError("no decoder here")

    looks = GenerativeLooks(broken, prepared, torch.device("cpu"))
    note = looks.look(torch.nn.Identity(), 3, 0)
    assert note.kind == "generative_note" and "no decoder here" in note.message and note.step == 3
    assert not looks.due(1e9, True)


def run(prepared, control, events, epochs=1):
    project = load_template("vae_digits")
    settings = TrainingSettings(epochs=epochs, batch_size=128, lr=1e-3, device="cpu", threads=1, seed=0)
    trainer = Trainer(project, prepared, settings=settings, run_root=None, grad_every=0, event_interval=0.0,
                      feature_interval=0.0)
    return trainer, trainer.run(events.append, control)


def test_looks_in_a_real_run_equal_the_trained_model_and_leave_training_unchanged(monkeypatch, prepared):
    monkeypatch.setattr(generative_looks, "BUDGET", 1e12)  # a look at every check
    control = TrainControl()
    control.set_generative_looks(True)
    events: list = []
    trainer, result = run(prepared, control, events)
    assert result.status == "finished", result.message
    looks = [e for e in events if isinstance(e, VAELook)]
    assert len(looks) >= 3
    last = looks[-1]
    assert last.step == max(int(e.step[-1]) for e in events if e.kind == "steps")  # the final weights
    again = vae_look(trainer.model, prepared, step=last.step)  # the idle path: the same look from the weights
    for name in ("inputs", "reconstructions", "samples", "latent", "labels", "traversal"):
        np.testing.assert_allclose(getattr(again, name), getattr(last, name), rtol=1e-5, atol=1e-6, err_msg=name)
    plain: list = []
    _trainer, plain_result = run(prepared, TrainControl(), plain)
    assert plain_result.status == "finished"
    assert not [e for e in plain if isinstance(e, VAELook)]  # none when not asked for
    steps = lambda evs: np.concatenate([e.loss for e in evs if e.kind == "steps"])  # noqa: E731
    np.testing.assert_array_equal(steps(events), steps(plain))  # the looks leave training as it was


def test_a_supervised_recipe_has_no_look(prepared):
    mlp = load_template("mlp")
    assert SupervisedRecipe(mlp.graph, build_model(mlp.graph), prepared.info).look is None
    project, model = vae_model()
    assert isinstance(recipe_for(project.graph, model, prepared.info).look, VAELooker)


def test_a_paused_run_answers_a_look_asked_for_while_paused(prepared):
    control = TrainControl()
    control.pause()  # pauses after its first step
    events: list = []
    project = load_template("vae_digits")
    settings = TrainingSettings(epochs=50, batch_size=128, device="cpu", threads=1, seed=0)
    trainer = Trainer(project, prepared, settings=settings, run_root=None, grad_every=0)
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
        assert not [e for e in list(events) if e.kind == "vae_look"]
        control.set_generative_looks(True)
        wait_for(lambda: any(e.kind == "vae_look" for e in list(events)), "look while paused")
        look = next(e for e in list(events) if e.kind == "vae_look")
        assert look.step == 1 and control.paused
        assert [e.kind for e in list(events)].count("steps") == 1  # nothing trained meanwhile
    finally:
        control.stop()
        worker.join(30)
    assert not worker.is_alive()
