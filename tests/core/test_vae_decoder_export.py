"""A VAE's decoder exported alone (core/export/decoder.py): the graph after the Sample block with an Input z,
its weights, every format parity-checked, model.py's sample(n) in a fresh Python, the refusals, the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import onnxruntime as ort
import pytest
import torch

from layerloom.core import Graph
from layerloom.core.export import ExportError, export, source_from
from layerloom.core.export.decoder import decoder_source
from layerloom.core.templates import load_template

FORMATS = {"python": "dec", "onnx": "dec.onnx", "torchscript": "dec.pt", "torch-export": "dec.pt2",
           "safetensors": "dec.safetensors", "bundle": "dec.layerloom"}


@pytest.fixture(scope="module")
def vae():
    """The vae_digits template with seeded weights, moved off their initial values."""
    project = load_template("vae_digits")
    source = source_from(project)
    gen = torch.Generator().manual_seed(7)
    state = {k: v + 0.05 * torch.randn(v.shape, generator=gen) for k, v in source.state.items()}
    return source_from(project, state)


def test_the_decoder_is_the_graph_after_the_sample_block_with_its_weights(vae):
    dec = decoder_source(vae)
    assert dec.name == "Variational autoencoder, digits (decoder)" and dec.part == "decoder"
    assert [n.name for n in dec.graph] == ["z", "dec_hidden", "relu_2", "dec_pixels", "sigmoid_1", "reshape_1",
                                            "reconstruction"]
    z_node = dec.graph.node(dec.graph.find("z"))
    assert z_node.type == "Input" and z_node.params == {"shape": [2], "dtype": "float32"}
    assert sorted(dec.state) == ["dec_hidden.bias", "dec_hidden.weight", "dec_pixels.bias", "dec_pixels.weight"]
    for k, v in dec.state.items():
        assert torch.equal(v, vae.state[k])
    assert dec.preprocessing is None and dec.checkpoint is None and dec.history == []
    assert vae.graph.find("mean") and len(vae.graph) == 13  # the source's graph is left as it was


def test_the_decoder_computes_the_full_models_second_half(vae):
    z = torch.randn(5, 2, generator=torch.Generator().manual_seed(3))
    full = vae.live_model()
    hook = full.get_submodule("z").register_forward_hook(lambda module, args, out: z)  # Sample gives our z
    try:
        with torch.no_grad():
            expected = full(torch.rand(5, 1, 28, 28))
    finally:
        hook.remove()
    with torch.no_grad():
        got = decoder_source(vae).live_model()(z)
        by_hand = torch.sigmoid(torch.relu(z @ vae.state["dec_hidden.weight"].T + vae.state["dec_hidden.bias"])
                                @ vae.state["dec_pixels.weight"].T + vae.state["dec_pixels.bias"]).reshape(5, 1, 28, 28)
    assert got.shape == (5, 1, 28, 28)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)
    torch.testing.assert_close(got, by_hand, rtol=0, atol=1e-6)


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_every_format_exports_the_decoder_with_parity(vae, fmt, tmp_path):
    result = export(vae, fmt, tmp_path / FORMATS[fmt], part="decoder")
    assert result.ok and result.difference <= 1e-4
    assert any("decoder alone" in n for n in result.notes) and not result.baked
    assert all(os.path.exists(f) for f in result.files)
    if fmt == "onnx":  # takes a latent code z and gives the decoded images
        z = np.random.default_rng(0).standard_normal((3, 2)).astype(np.float32)
        session = ort.InferenceSession(result.path, providers=["CPUExecutionProvider"])
        assert [i.name for i in session.get_inputs()] == ["z"]
        (out,) = session.run(None, {"z": z})
        with torch.no_grad():
            live = decoder_source(vae).live_model()(torch.from_numpy(z)).numpy()
        np.testing.assert_allclose(out, live, atol=1e-5)


def test_model_py_samples_digits_in_a_fresh_python(vae, tmp_path):
    export(vae, "python", tmp_path / "dec", part="decoder")
    code = textwrap.dedent(f"""
        import sys, json
        sys.modules["layerloom"] = None
        sys.path.insert(0, {str(tmp_path / 'dec')!r})
        import torch, model
        a, b, c = model.sample(4, seed=0), model.sample(4, seed=0), model.sample(4, seed=1)
        z = torch.randn(4, 2, generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            direct = model.load_model()(z)
        print(json.dumps({{"shape": list(a.shape), "min": a.min().item(), "max": a.max().item(),
                           "same": torch.equal(a, b), "other": torch.equal(a, c), "direct": torch.equal(a, direct),
                           "doc": "sample(" in model.__doc__, "values": a.flatten()[:50].tolist()}}))
    """)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    assert got["shape"] == [4, 1, 28, 28] and got["min"] >= 0 and got["max"] <= 1
    assert got["same"] and not got["other"] and got["direct"] and got["doc"]
    z = torch.randn(4, 2, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = decoder_source(vae).live_model()(z).flatten()[:50]
    np.testing.assert_allclose(got["values"], expected.numpy(), atol=1e-6)


def test_refusals_name_the_problem(vae, tmp_path):
    mlp = source_from(load_template("mlp"))
    with pytest.raises(ExportError, match=r"has no Sample block: only a VAE's decoder can be exported alone"):
        decoder_source(mlp)
    with pytest.raises(ExportError, match="no Sample block"):
        export(mlp, "onnx", tmp_path / "x.onnx", part="decoder")
    assert not os.path.exists(tmp_path / "x.onnx")
    with pytest.raises(ExportError, match="unknown part 'encoder'"):
        export(vae, "onnx", tmp_path / "x.onnx", part="encoder")
    # a skip connection from the encoder into the decoder: the decoder cannot run on z alone
    g = Graph()
    x = g.add("Input", shape=[4])
    mean, log_var = g.add("Dense", name="mean", out_features=4), g.add("Dense", name="log_var", out_features=4)
    z = g.add("Sample", name="z")
    add = g.add("Add", name="skip")
    out = g.add("Output", loss="mse")
    for a, b in ((x, mean), (x, log_var), (mean, (z, "mean")), (log_var, (z, "log_var")), (z, add), (x, add),
                 (add, out)):
        g.connect(a, b)
    with pytest.raises(ExportError, match=r"Add 'skip' also takes the output of Input 'input_1'.*z alone"):
        decoder_source(source_from(g))
    g.remove(add)
    g.connect(z, out)
    g.add("Sample", name="z2")
    g.connect(mean, (g.find("z2"), "mean"))
    g.connect(log_var, (g.find("z2"), "log_var"))
    with pytest.raises(ExportError, match=r"several Sample blocks \('z', 'z2'\)"):
        decoder_source(source_from(g))


def test_command_line_exports_the_decoder(vae, tmp_path, capsys):
    from layerloom.app.cli import main
    from layerloom.core.export.bundle import save_bundle

    bundle = str(tmp_path / "vae.layerloom")
    save_bundle(vae, bundle)
    target = tmp_path / "dec.onnx"
    assert main(["export", bundle, "-f", "onnx", "-o", str(target), "--part", "decoder"]) == 0
    text = capsys.readouterr().out
    assert "Exported onnx" in text and "decoder alone" in text and target.is_file()
    session = ort.InferenceSession(str(target), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].name == "z" and session.get_inputs()[0].shape[1] == 2
    mlp_bundle = str(tmp_path / "mlp.layerloom")
    save_bundle(source_from(load_template("mlp")), mlp_bundle)
    assert main(["export", mlp_bundle, "-f", "onnx", "-o", str(tmp_path / "m.onnx"), "--part", "decoder"]) == 1
    assert "has no Sample block" in capsys.readouterr().err
    assert not (tmp_path / "m.onnx").exists()
