"""A GAN's generator exported alone (part="generator"): the blocks after the Noise block with an Input "noise",
every format loaded back with torch or onnxruntime alone against the live generator, model.py's sample(n) in a
fresh Python, the CLI's export and predict; the whole GAN as an ONNX model of two inputs and as a bundle that
trains on; the refusals."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import onnxruntime as ort
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file
from torch import nn

from layerloom.app.cli import main
from layerloom.core.data import load_data
from layerloom.core.data.base import PreparedData, TensorSplit
from layerloom.core.export import ExportError, export, open_source, source_from
from layerloom.core.export.bundle import save_bundle
from layerloom.core.export.decoder import decoder_source
from layerloom.core.predict.grid import GAP
from layerloom.core.templates import load_template
from layerloom.core.training import Trainer

FORMATS = {"python": "gen", "onnx": "gen.onnx", "torchscript": "gen.pt", "torch-export": "gen.pt2",
           "safetensors": "gen.safetensors", "bundle": "gen.layerloom"}
GENERATOR_BLOCKS = ["noise", "g_project", "batch_norm_1", "relu_1", "reshape_1", "g_up1", "batch_norm_2", "relu_2",
                    "g_up2", "sigmoid_1", "fake"]


@pytest.fixture(scope="module")
def gan():
    """The dcgan_digits template with its weights and BatchNorm statistics moved off their initial values."""
    project = load_template("dcgan_digits")
    gen = torch.Generator().manual_seed(7)
    state = {}
    for k, v in source_from(project).state.items():
        if k.endswith("running_var"):
            state[k] = 0.5 + torch.rand(v.shape, generator=gen)
        elif v.is_floating_point():
            state[k] = v + 0.05 * torch.randn(v.shape, generator=gen)
        else:
            state[k] = v + 3
    return source_from(project, state)


def noise(n: int, seed: int = 3) -> torch.Tensor:
    return torch.randn(n, 64, generator=torch.Generator().manual_seed(seed))


def live(gan, z: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return decoder_source(gan, "generator").live_model()(z)


def hand_generator(state: dict) -> nn.Module:
    """The template's generator in plain PyTorch, loaded with the weights `state` names as the blocks."""
    g = nn.Sequential(nn.Linear(64, 3136), nn.BatchNorm1d(3136), nn.ReLU(), nn.Unflatten(1, (64, 7, 7)),
                      nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.BatchNorm2d(32), nn.ReLU(),
                      nn.ConvTranspose2d(32, 1, 4, 2, 1), nn.Sigmoid())
    where = {"g_project": "0", "batch_norm_1": "1", "g_up1": "4", "batch_norm_2": "5", "g_up2": "7"}
    g.load_state_dict({f"{where[k.split('.')[0]]}.{k.split('.', 1)[1]}": v for k, v in state.items()})
    return g.eval()


def test_the_generator_is_the_blocks_after_noise_and_computes_the_whole_models_samples(gan):
    part = decoder_source(gan, "generator")
    assert part.part == "generator" and part.name == "DCGAN, digits (generator)"
    assert [n.name for n in part.graph] == GENERATOR_BLOCKS
    z_node = part.graph.node(part.graph.find("noise"))
    assert z_node.type == "Input" and z_node.params == {"shape": [64], "dtype": "float32"}
    assert not any(k.startswith(("d_", "batch_norm_3")) for k in part.state)
    z = noise(5)
    got = live(gan, z)
    with torch.no_grad():
        fake, _ = gan.live_model()(z, torch.rand(5, 1, 28, 28))
        by_hand = hand_generator(part.state)(z)
    assert got.shape == (5, 1, 28, 28)
    torch.testing.assert_close(got, fake, rtol=0, atol=1e-6)
    torch.testing.assert_close(got, by_hand, rtol=0, atol=1e-6)
    assert float(got.std()) > 0.01  # samples, not a constant


def load_back(fmt: str, path: str, z: torch.Tensor) -> torch.Tensor:
    """The exported generator on z, read with torch, safetensors or onnxruntime alone (a bundle: Layerloom)."""
    if fmt == "onnx":
        session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        assert [i.name for i in session.get_inputs()] == ["noise"]
        (out,) = session.run(None, {"noise": z.numpy()})
        return torch.from_numpy(out)
    if fmt == "safetensors":
        return hand_generator(load_file(path))(z)
    if fmt == "torchscript":
        return torch.jit.load(path)(z)
    if fmt == "torch-export":
        return torch.export.load(path).module()(z)
    reopened = open_source(path)
    assert reopened.part == "generator" and any(n.type == "Input" and n.name == "noise" for n in reopened.graph)
    return reopened.live_model()(z)


@pytest.mark.parametrize("fmt", [f for f in FORMATS if f != "python"])
def test_every_format_exports_the_generator_and_loads_back_alike(gan, fmt, tmp_path):
    result = export(gan, fmt, tmp_path / FORMATS[fmt], part="generator")
    assert result.ok and result.difference <= 1e-4 and not result.baked
    assert any("generator alone" in n for n in result.notes), result.notes
    z = noise(6)
    with torch.no_grad():
        got = load_back(fmt, str(result.path), z)
    assert got.shape == (6, 1, 28, 28)
    torch.testing.assert_close(got, live(gan, z), rtol=0, atol=1e-5)
    if fmt == "onnx":
        import onnx

        meta = {p.key: p.value for p in onnx.load(str(result.path)).metadata_props}
        assert meta["layerloom.part"] == "generator"


def test_model_py_loads_and_samples_the_generator_in_a_fresh_python(gan, tmp_path):
    result = export(gan, "python", tmp_path / "gen", part="generator")
    assert result.ok
    code = textwrap.dedent(f"""
        import sys, json
        sys.modules["layerloom"] = None
        sys.path.insert(0, {str(tmp_path / 'gen')!r})
        import torch, model
        a, b, c = model.sample(4, seed=5), model.sample(4, seed=5), model.sample(4, seed=6)
        z = torch.randn(4, 64, generator=torch.Generator().manual_seed(3))
        with torch.no_grad():
            direct = model.load_model().eval()(z)
        print(json.dumps({{"shape": list(a.shape), "min": a.min().item(), "max": a.max().item(),
                           "same": torch.equal(a, b), "other": torch.equal(a, c),
                           "a": a.flatten().tolist(), "direct": direct.flatten().tolist()}}))
    """)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    assert got["shape"] == [4, 1, 28, 28] and got["min"] >= 0 and got["max"] <= 1
    assert got["same"] and not got["other"]
    np.testing.assert_allclose(got["direct"], live(gan, noise(4)).flatten().numpy(), atol=1e-5)
    np.testing.assert_allclose(got["a"], live(gan, noise(4, seed=5)).flatten().numpy(), atol=1e-5)


def test_the_command_line_exports_the_generator_and_predict_draws_a_grid(gan, tmp_path, capsys):
    bundle = str(tmp_path / "gan.layerloom")
    save_bundle(gan, bundle)
    target = tmp_path / "gen.layerloom"
    assert main(["export", bundle, "-f", "bundle", "-o", str(target), "--part", "generator"]) == 0
    assert "generator alone" in capsys.readouterr().out and target.is_file()
    onnx_target = tmp_path / "gen.onnx"
    assert main(["export", bundle, "-f", "onnx", "-o", str(onnx_target), "--part", "generator"]) == 0
    capsys.readouterr()
    session = ort.InferenceSession(str(onnx_target), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].name == "noise" and session.get_inputs()[0].shape[1] == 64

    png = tmp_path / "grid.png"
    assert main(["predict", str(target), "--samples", "16", "--seed", "1", "-o", str(png)]) == 0
    assert "16 samples (4 × 4 grid, 122 × 122 pixels, seed 1)" in capsys.readouterr().out
    with Image.open(png) as im:
        assert im.format == "PNG" and im.mode == "L" and im.size == (GAP + 4 * 30, GAP + 4 * 30)
        pixels = np.asarray(im, dtype=np.float64)
    expected = live(gan, noise(16, seed=1)).numpy()[:, 0] * 255.0  # sample(16, seed=1) draws these z
    for i in range(16):
        r, k = divmod(i, 4)
        tile = pixels[GAP + r * 30:GAP + r * 30 + 28, GAP + k * 30:GAP + k * 30 + 28]
        assert np.abs(tile - expected[i]).max() <= 0.5 + 1e-3, i
    assert pixels[0, :].tolist() == [128.0] * 122  # the gap


def test_the_whole_gan_exports_to_onnx_with_two_inputs_and_two_outputs(gan, tmp_path):
    result = export(gan, "onnx", tmp_path / "gan.onnx")
    assert result.ok and result.difference <= 1e-4
    session = ort.InferenceSession(str(result.path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["noise", "image"]
    assert [o.name for o in session.get_outputs()] == ["fake", "real"]
    z, x = noise(3), torch.rand(3, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    fake, real = session.run(None, {"noise": z.numpy(), "image": x.numpy()})
    with torch.no_grad():
        live_fake, live_real = gan.live_model()(z, x)
    assert fake.shape == (3, 1, 28, 28) and real.shape == (3, 1)
    np.testing.assert_allclose(fake, live_fake.numpy(), atol=1e-5)
    np.testing.assert_allclose(real, live_real.numpy(), atol=1e-5)


def few_digits() -> PreparedData:
    data = load_data("digits", {"resize": [28, 28], "task": "classification", "normalize": False},
                     val_fraction=0.2, seed=0)

    def cut(split, n):
        return TensorSplit(tuple(x[:n] for x in split.inputs), tuple(y[:n] for y in split.targets), split.transform)

    return PreparedData(dataclasses.replace(data.info, train_size=64, val_size=32), cut(data.train, 64),
                        cut(data.val, 32))


def test_the_whole_gans_bundle_reopens_with_its_noise_block_and_trains_on_from_its_weights(gan, tmp_path):
    path = export(gan, "bundle", tmp_path / "gan.layerloom").path
    reopened = open_source(path)
    assert reopened.part == "model"
    assert [n.name for n in reopened.graph if n.type == "Noise"] == ["noise"]
    assert reopened.live_model().input_names == ["noise", "image"]
    settings = dataclasses.replace(reopened.project.training, epochs=1, batch_size=32, threads=1, device="cpu",
                                   seed=2)

    def fine_tune(project, state):
        trainer = Trainer(project, few_digits(), settings=settings, run_root=None, weights=state)
        result = trainer.run()
        assert result.status == "finished", result.message
        assert "val_g_loss" in result.final
        return trainer.model.state_dict()

    from_bundle = fine_tune(reopened.project, reopened.state)
    from_live = fine_tune(gan.project, gan.state)
    fresh = fine_tune(gan.project, None)
    assert from_bundle.keys() == from_live.keys()
    for k in from_bundle:
        assert torch.equal(from_bundle[k], from_live[k]), k
    assert not torch.equal(from_bundle["g_project.weight"], fresh["g_project.weight"])
    assert not torch.equal(from_bundle["g_project.weight"], gan.state["g_project.weight"])  # it trained

    resumed = Trainer(reopened.project, few_digits(), settings=settings, run_root=str(tmp_path / "runs"),
                      resume=str(path))
    result = resumed.run()
    assert result.status == "finished" and result.epochs == 1, result.message


def test_the_wrong_part_is_refused_plainly(gan, tmp_path):
    mlp = source_from(load_template("mlp"))
    with pytest.raises(ExportError, match=r"has no Noise block: only a GAN's generator can be exported"):
        export(mlp, "onnx", tmp_path / "g.onnx", part="generator")
    with pytest.raises(ExportError, match=r"has no Sample block: only a VAE's decoder can be exported alone"):
        export(gan, "onnx", tmp_path / "d.onnx", part="decoder")
    assert not os.listdir(tmp_path)
    bundle = str(tmp_path / "mlp.layerloom")
    save_bundle(mlp, bundle)
    assert main(["export", bundle, "-f", "onnx", "-o", str(tmp_path / "m.onnx"), "--part", "generator"]) == 1
    assert not (tmp_path / "m.onnx").exists()
