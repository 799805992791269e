"""The GAN recipe: two networks on one canvas (their problems named on the blocks), the alternating
non-saturating steps against a hand-written PyTorch loop, the run's metrics and looks, exact resume, and the
dcgan_digits template."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from data_fixtures import small_classification
from torch import nn

from layerloom.core import Graph, build_model, infer
from layerloom.core.gan import gan_layout, network_graph
from layerloom.core.settings import TrainingSettings
from layerloom.core.templates import load_template
from layerloom.core.training import EpochEnd, Trainer
from layerloom.core.training.events import GANLook
from layerloom.core.training.gan_look import gan_look, health_warning
from layerloom.core.training.gan_recipe import GANRecipe
from layerloom.core.training.optim import build_optimizer
from layerloom.core.training.recipe import recipe_for


def tiny_gan(sample_width: int = 8, logit_width: int = 1, fake_loss: str = "mse") -> Graph:
    g = Graph()
    z = g.add("Noise", name="noise", shape=[4])
    h = g.add("Dense", name="g_hidden", out_features=8)
    a = g.add("ReLU", name="g_relu")
    o = g.add("Dense", name="g_out", out_features=sample_width)
    fake = g.add("Output", name="fake", loss=fake_loss)
    for s, d in ((z, h), (h, a), (a, o), (o, fake)):
        g.connect(s, d)
    x = g.add("Input", name="x", shape=[8])
    d1 = g.add("Dense", name="d_hidden", out_features=5)
    act = g.add("LeakyReLU", name="d_act", negative_slope=0.2)
    d2 = g.add("Dense", name="d_logit", out_features=logit_width)
    real = g.add("Output", name="real", loss="bce_with_logits")
    for s, d in ((x, d1), (d1, act), (act, d2), (d2, real)):
        g.connect(s, d)
    return g


def errors_on(graph: Graph, name: str) -> str:
    return infer(graph)[graph.find(name)].error or ""


def test_the_two_networks_are_told_apart_and_a_sound_gan_has_no_problems():
    g = tiny_gan()
    report = infer(g)
    assert report.ok, [p.message for p in report.problems]
    layout = gan_layout(g)
    names = lambda ids: {g.node(i).name for i in ids}  # noqa: E731
    assert names(layout.generator) == {"noise", "g_hidden", "g_relu", "g_out", "fake"}
    assert names(layout.discriminator) == {"x", "d_hidden", "d_act", "d_logit", "real"}
    assert g.node(layout.fake).name == "fake" and g.node(layout.real).name == "real"
    model = build_model(g)
    assert model.input_names == ["noise", "x"] and model.output_names == ["fake", "real"]


def test_shape_problems_of_a_two_network_project_are_named_on_the_blocks():
    wrong_size = tiny_gan(sample_width=6)
    message = errors_on(wrong_size, "fake")
    assert "Output 'fake'" in message and "6" in message and "'x'" in message and "8" in message
    assert not infer(wrong_size).ok
    many_logits = tiny_gan(logit_width=10)
    message = errors_on(many_logits, "real")
    assert "one number" in message and "10" in message
    default_loss = tiny_gan(sample_width=1, fake_loss="cross_entropy")
    message = errors_on(default_loss, "fake")
    assert "generator's samples" in message and "mse" in message


def test_structural_problems_of_a_gan_are_named():
    g = tiny_gan()
    second = g.add("Noise", name="noise_2", shape=[4])
    g.connect(second, g.add("Dense", name="extra", out_features=8))
    assert "second Noise block" in errors_on(g, "noise_2")

    g = tiny_gan()
    g.connect(g.find("x"), g.add("Add", name="mix"))
    g.connect(g.find("g_out"), g.find("mix"))
    assert "in the discriminator" in errors_on(g, "mix")

    g = tiny_gan()
    for name in ("x", "d_hidden", "d_act", "d_logit", "real"):
        g.remove(g.find(name))
    problems = [p.message for p in infer(g).problems]
    assert any("has no discriminator" in m for m in problems)


def hand_networks(model):
    """The tiny GAN written out in plain PyTorch, with the model's starting weights."""
    G = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 8))
    D = nn.Sequential(nn.Linear(8, 5), nn.LeakyReLU(0.2), nn.Linear(5, 1))
    for mine, name in ((G[0], "g_hidden"), (G[2], "g_out"), (D[0], "d_hidden"), (D[2], "d_logit")):
        block = getattr(model, name)
        mine.weight.data.copy_(block.weight.data)
        mine.bias.data.copy_(block.bias.data)
    return G, D


def hand_step(G, D, opt, x, turn, d_steps, g_steps):
    bce = F.binary_cross_entropy_with_logits
    with torch.no_grad():
        fake = G(torch.randn(x.shape[0], 4))
    real_logits, fake_logits = D(x), D(fake)
    d_loss = bce(real_logits, torch.ones_like(real_logits)) + bce(fake_logits, torch.zeros_like(fake_logits))
    opt.zero_grad(set_to_none=True)
    d_loss.backward()
    opt.step()
    if turn % d_steps == 0:
        for p in D.parameters():
            p.requires_grad_(False)
        for _ in range(g_steps):
            logits = D(G(torch.randn(x.shape[0], 4)))
            g_loss = bce(logits, torch.ones_like(logits))
            opt.zero_grad(set_to_none=True)
            g_loss.backward()
            opt.step()
        for p in D.parameters():
            p.requires_grad_(True)


class _Parts:
    def __init__(self, optimizer):
        from layerloom.core.training.device import choose_precision

        self.optimizer, self.device, self.precision = optimizer, torch.device("cpu"), choose_precision("fp32",
                                                                                                      torch.device("cpu"))


@pytest.mark.parametrize("d_steps,g_steps", [(1, 1), (2, 1), (1, 2)])
def test_the_recipe_steps_like_a_hand_written_gan_loop(d_steps, g_steps):
    g = tiny_gan()
    settings = TrainingSettings(lr=1e-2, discriminator_lr=3e-2, beta1=0.5, d_steps=d_steps, g_steps=g_steps)
    model = build_model(g, seed=1)
    recipe = recipe_for(g, model, small_classification().info, settings)
    assert isinstance(recipe, GANRecipe)
    opt = build_optimizer(settings, recipe.param_groups(settings))
    assert [grp["lr"] for grp in opt.param_groups] == [1e-2, 3e-2]
    assert opt.param_groups[0]["betas"] == (0.5, 0.999)
    recipe.bind(_Parts(opt), step=0)
    G, D = hand_networks(model)
    hand_opt = torch.optim.Adam([{"params": G.parameters(), "lr": 1e-2}, {"params": D.parameters(), "lr": 3e-2}],
                                betas=(0.5, 0.999))
    batches = torch.randn(5, 16, 8, generator=torch.Generator().manual_seed(4))
    for i, x in enumerate(batches, start=1):
        torch.manual_seed(100 + i)
        _out, loss = recipe.step((x,), ())
        assert torch.isfinite(loss)
        torch.manual_seed(100 + i)
        hand_step(G, D, hand_opt, x, i, d_steps, g_steps)
    for mine, name in ((G[0], "g_hidden"), (G[2], "g_out"), (D[0], "d_hidden"), (D[2], "d_logit")):
        torch.testing.assert_close(getattr(model, name).weight, mine.weight, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(getattr(model, name).bias, mine.bias, rtol=1e-5, atol=1e-6)
    metrics = recipe.epoch_metrics()
    assert set(metrics) == {"train_d_loss", "train_g_loss", "d_real", "d_fake"}
    assert 0 < metrics["d_real"] < 1 and 0 < metrics["d_fake"] < 1
    assert recipe.epoch_metrics() == {}  # the sums start again


def test_frozen_discriminator_blocks_stay_frozen_through_the_generator_steps():
    g = tiny_gan()
    g.set_frozen(g.find("d_hidden"), True)
    settings = TrainingSettings(epochs=1, batch_size=32)
    trainer = Trainer(g, small_classification(), settings=settings, run_root=None)
    model = build_model(g, seed=0)
    before = model.d_hidden.weight.detach().clone()
    result = trainer.run()
    assert result.status == "finished", result.message
    assert torch.equal(trainer.model.d_hidden.weight.detach(), before)
    assert not trainer.model.d_hidden.weight.requires_grad


def test_a_discriminator_frozen_whole_leaves_only_the_generator_to_learn():
    g = tiny_gan()
    for name in ("d_hidden", "d_logit"):
        g.set_frozen(g.find(name), True)
    trainer = Trainer(g, small_classification(), settings=TrainingSettings(epochs=1, batch_size=32), run_root=None)
    start = build_model(g, seed=0)
    result = trainer.run()
    assert result.status == "finished", result.message
    assert torch.equal(trainer.model.d_logit.weight.detach(), start.d_logit.weight)
    assert not torch.equal(trainer.model.g_out.weight.detach(), start.g_out.weight)


def test_a_run_reports_both_networks_and_resumes_exactly(tmp_path):
    g = tiny_gan()
    data = small_classification()
    settings = TrainingSettings(epochs=3, batch_size=16, seed=5, d_steps=2)
    events = []
    whole = Trainer(g, data, settings=settings, run_root=str(tmp_path / "a"))
    result = whole.run(sink=events.append)
    assert result.status == "finished", result.message
    ends = [e for e in events if isinstance(e, EpochEnd)]
    assert len(ends) == 3
    for key in ("train_d_loss", "train_g_loss", "d_real", "d_fake", "val_d_loss", "val_g_loss", "val_d_real",
                "val_d_fake"):
        assert key in ends[-1].metrics
    assert result.metric == "val_g_loss"
    # stopped after an epoch and resumed: the same weights as the run that went through
    first = Trainer(g, data, settings=TrainingSettings(epochs=1, batch_size=16, seed=5, d_steps=2),
                    run_root=str(tmp_path / "b"))
    assert first.run().status == "finished"
    resumed = Trainer(g, data, settings=settings, run_root=str(tmp_path / "b"), resume=first.run_dir)
    assert resumed.run().status == "finished"
    for (name, a), (_, b) in zip(whole.model.state_dict().items(), resumed.model.state_dict().items(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6, msg=name)


def test_a_nan_loss_stops_a_gan_run_and_keeps_the_last_checkpoint(tmp_path):
    g = tiny_gan()
    data = small_classification()
    data.train.inputs[0][40:48] = float("nan")
    result = Trainer(g, data, settings=TrainingSettings(epochs=2, batch_size=8), run_root=str(tmp_path)).run()
    assert result.status == "failed" and result.reason == "nan"
    assert "NaN" in result.message and result.checkpoint


def test_the_look_shows_the_generator_on_fixed_noise_and_the_discriminator_on_both():
    g = tiny_gan()
    model = build_model(g, seed=2)
    x = torch.randn(20, 8, generator=torch.Generator().manual_seed(0))
    look = gan_look(g, model, (x,), step=7, epoch=1)
    assert isinstance(look, GANLook) and look.samples.shape == (64, 8)
    G, D = hand_networks(model)
    from layerloom.core.training.gan_look import NOISE_SEED, SAMPLES

    z = torch.randn((SAMPLES, 4), generator=torch.Generator().manual_seed(NOISE_SEED))
    with torch.no_grad():
        torch.testing.assert_close(torch.from_numpy(look.samples.astype("float32")), G(z), rtol=2e-3, atol=2e-3)
        assert look.d_real == pytest.approx(float(torch.sigmoid(D(x)).mean()), abs=1e-5)
        assert look.d_fake == pytest.approx(float(torch.sigmoid(D(G(z))).mean()), abs=1e-3)
    assert model.training  # put back


def test_health_warnings_in_plain_words():
    assert health_warning(100, 0.01, {"d_real": 0.99, "d_fake": 0.01}) is None  # too early to tell
    wins = health_warning(1000, 0.8, {"d_real": 0.97, "d_fake": 0.02})
    assert "discriminator wins" in wins and "0.97" in wins and "discriminator_lr" in wins
    collapse = health_warning(1000, 0.1, {"d_real": 0.6, "d_fake": 0.4})
    assert "look alike" in collapse and "10%" in collapse
    assert health_warning(1000, 0.8, {"d_real": 0.6, "d_fake": 0.4}) is None


def test_the_dcgan_template_compiles_into_a_generator_of_digits_and_a_discriminator():
    project = load_template("dcgan_digits")
    assert infer(project.graph).ok
    assert project.training.beta1 == 0.5 and project.training.discriminator_lr == 2e-4
    gen = build_model(network_graph(project.graph, "generator"), seed=0).eval()
    dis = build_model(network_graph(project.graph, "discriminator"), seed=0).eval()
    with torch.no_grad():
        samples = gen(torch.randn(3, 64))
        assert samples.shape == (3, 1, 28, 28) and float(samples.min()) >= 0 and float(samples.max()) <= 1
        assert dis(samples).shape == (3, 1)
    whole = build_model(project.graph, seed=0)
    assert whole.input_names == ["noise", "image"]


def test_the_summary_says_which_network_each_block_is_in_and_how_they_take_turns():
    from layerloom.core.cli import format_summary, summarize

    project = load_template("dcgan_digits")
    summary = summarize(project)
    networks = {b["name"]: b["network"] for b in summary["blocks"]}
    assert networks["noise"] == networks["g_up2"] == networks["fake"] == "generator"
    assert networks["image"] == networks["d_logit"] == networks["real"] == "discriminator"
    generator = sum(b["params"] for b in summary["blocks"] if b["network"] == "generator")
    text = format_summary(summary)
    assert f"the generator has {generator:,} parameters" in text
    assert "d_steps 1, g_steps 1, Adam β1 0.5" in text
    assert all("network" not in b for b in summarize(load_template("lenet5"))["blocks"])
