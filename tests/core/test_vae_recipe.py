"""The Sample block (reparameterization, KL term, eval mode), the VAE recipe picked for graphs with one, the
vae_digits template against a hand-built PyTorch VAE, and a short training run."""

from __future__ import annotations

import copy
import tempfile

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from layerloom.core import Graph, build_model, infer
from layerloom.core.blocks.sample_module import SampleModule
from layerloom.core.data import load_data
from layerloom.core.templates import load_template
from layerloom.core.training import EpochEnd, TrainControl, Trainer
from layerloom.core.training.recipe import SupervisedRecipe, recipe_for
from layerloom.core.training.vae_recipe import VAERecipe


def hand_kl(mean, log_var):
    return (-0.5 * (1 + log_var - mean ** 2 - torch.exp(log_var)).sum(dim=1)).mean()


def test_sample_is_the_reparameterization_in_training_and_the_mean_in_eval():
    gen = torch.Generator().manual_seed(3)
    mean, log_var = torch.randn(5, 4, generator=gen), torch.randn(5, 4, generator=gen)
    m = SampleModule(beta=0.5).train()
    torch.manual_seed(11)
    z = m(mean, log_var)
    torch.manual_seed(11)
    eps = torch.randn(5, 4)
    torch.testing.assert_close(z, mean + torch.exp(0.5 * log_var) * eps, rtol=0, atol=1e-6)
    torch.testing.assert_close(m.kl, hand_kl(mean, log_var), rtol=0, atol=1e-6)
    m.eval()
    assert torch.equal(m(mean, log_var), mean)
    torch.testing.assert_close(m.kl, hand_kl(mean, log_var), rtol=0, atol=1e-6)  # still counted in eval mode


def test_kl_is_the_closed_form_and_zero_for_a_standard_normal():
    mean = torch.tensor([[1.0, -2.0], [0.0, 0.5]])
    log_var = torch.tensor([[0.0, 1.0], [-1.0, 0.0]])
    m = SampleModule()
    m(mean, log_var)
    by_hand = 0.0
    for i in range(2):  # KL(N(μ, σ²) ‖ N(0, 1)) = ½ Σ (σ² + μ² − 1 − log σ²), averaged over the batch
        by_hand += 0.5 * sum(float(torch.exp(log_var[i, d]) + mean[i, d] ** 2 - 1 - log_var[i, d]) for d in range(2))
    assert float(m.kl) == pytest.approx(by_hand / 2, abs=1e-6)
    m(torch.zeros(3, 2), torch.zeros(3, 2))
    assert float(m.kl) == 0.0


def test_a_copied_module_starts_without_the_per_forward_kl():
    m = SampleModule()
    m(torch.randn(2, 2, requires_grad=True), torch.randn(2, 2))
    assert m.kl.requires_grad
    c = copy.deepcopy(m)
    assert c.kl is None and c.beta == m.beta


def two_heads(width_mean: int, width_log_var: int) -> tuple[Graph, str]:
    g = Graph()
    x = g.add("Input", shape=[6])
    mean = g.add("Dense", name="mean", out_features=width_mean)
    log_var = g.add("Dense", name="log_var", out_features=width_log_var)
    z = g.add("Sample", name="z")
    g.connect(x, mean)
    g.connect(x, log_var)
    g.connect(mean, (z, "mean"))
    g.connect(log_var, (z, "log_var"))
    out = g.add("Output", loss="mse")
    g.connect(z, out)
    return g, z


def test_sample_infers_the_shape_of_its_inputs_and_matches_torch():
    g, z = two_heads(3, 3)
    report = infer(g)
    assert report.ok and report[z].output_shape == (3,) and report[z].param_count == 0
    model = build_model(g, seed=0).eval()
    assert model(torch.randn(4, 6)).shape == (4, 3)
    assert "z = self.z(mean, log_var)" in model.code


def test_shape_mismatch_is_a_plain_words_problem_on_the_block():
    g, z = two_heads(2, 3)
    report = infer(g)
    assert not report.ok
    assert report[z].status == "error"
    assert report[z].error == ("Sample 'z' gets a mean of shape 2 and a log-variance of shape 3; they must have "
                               "the same shape (give both heads the same width)")


def test_recipe_for_picks_the_vae_recipe_only_with_a_sample_block():
    project = load_template("vae_digits")
    model = build_model(project.graph, seed=0)
    info = load_data("digits", {"flatten": True}, val_fraction=0.2, seed=0).info
    recipe = recipe_for(project.graph, model, info)
    assert isinstance(recipe, VAERecipe) and recipe.val_metrics == ("val_reconstruction", "val_kl")
    assert recipe.sample(None, None) is None and not recipe.classifier
    mlp = load_template("mlp")
    assert isinstance(recipe_for(mlp.graph, build_model(mlp.graph), info), SupervisedRecipe)


class HandVAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc, self.mean, self.log_var = nn.Linear(784, 256), nn.Linear(256, 2), nn.Linear(256, 2)
        self.dec1, self.dec2 = nn.Linear(2, 256), nn.Linear(256, 784)

    def forward(self, x):
        h = F.relu(self.enc(x.flatten(1)))
        mean, log_var = self.mean(h), self.log_var(h)
        z = mean + torch.exp(0.5 * log_var) * torch.randn_like(mean)
        return torch.sigmoid(self.dec2(F.relu(self.dec1(z)))).reshape(-1, 1, 28, 28), mean, log_var


def copied_hand_vae(model) -> HandVAE:
    hand = HandVAE()
    for mine, theirs in (("enc", "enc_hidden"), ("mean", "mean"), ("log_var", "log_var"), ("dec1", "dec_hidden"),
                         ("dec2", "dec_pixels")):
        getattr(hand, mine).load_state_dict(model.get_submodule(theirs).state_dict())
    return hand


@pytest.mark.parametrize("beta", [0.002, 1.0, 0.0])
def test_vae_digits_training_loss_equals_a_hand_built_vae(beta):
    project = load_template("vae_digits")
    (z,) = [n for n in project.graph if n.type == "Sample"]
    assert z.params["beta"] == 0.002  # the template's weight (see templates_build.VAE_BETA)
    project.graph.set_params(z.id, beta=beta)
    prepared = load_data(project.data.source, dict(project.data.options), val_fraction=0.2, seed=0)
    (x,), (y,) = next(prepared.train.batches(32))
    assert torch.equal(x, y)  # a reconstruction task: the target is the input
    model = build_model(project.graph, seed=0).train()
    recipe = recipe_for(project.graph, model, prepared.info)
    hand = copied_hand_vae(model).train()

    torch.manual_seed(5)
    loss = recipe.loss_fn(model(x), (y,))
    torch.manual_seed(5)
    out, mean, log_var = hand(x)
    recon = F.mse_loss(out, y)
    expected = recon + beta * hand_kl(mean, log_var)
    assert loss.item() == pytest.approx(expected.item(), abs=1e-6)
    if beta == 0.0:  # no KL weight: the plain autoencoder's loss
        assert loss.item() == pytest.approx(recon.item(), abs=1e-7)
    loss.backward()
    expected.backward()
    torch.testing.assert_close(model.get_submodule("log_var").weight.grad, hand.log_var.weight.grad,
                               rtol=1e-4, atol=1e-7)


def test_a_short_training_run_lowers_the_loss_and_reports_reconstruction_and_kl():
    project = load_template("vae_digits")
    prepared = load_data(project.data.source, dict(project.data.options), val_fraction=0.2, seed=0)
    settings = type(project.training)(**{**project.training.to_dict(), "epochs": 2, "threads": 1,
                                         "device": "cpu"})
    events = []
    with tempfile.TemporaryDirectory() as root:
        result = Trainer(project, prepared, settings=settings, run_root=root).run(events.append, TrainControl())
    assert result.status == "finished", result.message
    ends = [e for e in events if isinstance(e, EpochEnd)]
    assert len(ends) == 2
    assert ends[1].train_loss < ends[0].train_loss
    for e in ends:
        assert set(e.metrics) == {"val_reconstruction", "val_kl"}  # no accuracy: not a classifier
        assert 0 < e.metrics["val_reconstruction"] < 0.2 and e.metrics["val_kl"] > 0
        assert e.val_loss == pytest.approx(e.metrics["val_reconstruction"] + 0.002 * e.metrics["val_kl"], rel=1e-5)
        assert e.confusion is None
    assert ends[1].metrics["val_reconstruction"] < ends[0].metrics["val_reconstruction"]


@pytest.mark.parametrize("fmt", ["python", "onnx", "torchscript"])
def test_the_vae_exports_with_its_sample_block(fmt, tmp_path):
    """Every format writes a VAE (parity-checked on export); the Python export carries SampleModule's own source,
    deterministic (the mean) in eval mode and sampling in training mode."""
    import importlib.util

    from layerloom.core.export import export
    from layerloom.core.export.source import source_from

    source = source_from(load_template("vae_digits"))
    path = tmp_path / ("vae" if fmt == "python" else f"vae.{fmt}")
    result = export(source, fmt, str(path))
    assert result.ok and result.difference <= 1e-4
    if fmt != "python":
        return
    spec = importlib.util.spec_from_file_location("vae_model", path / "model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.load_model()
    x = torch.rand(3, 1, 28, 28)
    live = source.live_model()
    with torch.no_grad():
        torch.testing.assert_close(model(x), live(x), rtol=0, atol=1e-6)
        model.train()
        assert not torch.allclose(model(x), model(x))  # z is drawn anew each forward
    assert isinstance(model.z, module.SampleModule) and model.z.beta == pytest.approx(0.002)
