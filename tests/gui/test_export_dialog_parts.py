"""The export dialog's Part choice (offscreen): a VAE offers its decoder alone, chosen with the keyboard; the
file name and the texts say so; the ONNX and Python files written take a latent code z and give what the
trained VAE's decoder gives; a GAN offers its generator alone the same way, its ONNX file taking noise and
giving the live GAN's samples; a classifier shows no Part choice. available_parts (core/export/decoder.py)."""

from __future__ import annotations

import importlib.util
import os

import numpy as np
import onnxruntime as ort
import PySide6  # noqa: F401  (a hard test dependency: fail loudly if missing)
import pytest
import torch
from PySide6.QtCore import Qt

from layerloom.core import Graph
from layerloom.core.export.decoder import available_parts, decoder_source
from layerloom.core.export.source import source_from
from layerloom.core.project import Project
from layerloom.core.templates import load_template
from layerloom.gui.export_dialog import ExportDialog


@pytest.fixture(scope="module")
def vae():
    """vae_digits with weights moved off their seeded start (as training would), and the Source they make."""
    project = load_template("vae_digits")
    start = source_from(project).state
    gen = torch.Generator().manual_seed(5)
    weights = {k: v + 0.05 * torch.randn(v.shape, generator=gen) for k, v in start.items()}
    return project, weights, source_from(project, weights)


def expected_decoding(source, z: torch.Tensor) -> torch.Tensor:
    """The trained VAE's decoder on z: its decoder Source, checked against the whole VAE with z put in place
    of the Sample block's output."""
    with torch.no_grad():
        dec = decoder_source(source).live_model()(z)
    full = source.live_model()
    hook = full.get_submodule("z").register_forward_hook(lambda module, args, out: z)
    try:
        with torch.no_grad():
            whole = full(torch.rand(len(z), 1, 28, 28))
    finally:
        hook.remove()
    torch.testing.assert_close(dec, whole, rtol=0, atol=1e-6)
    return dec


def classifier() -> Project:
    g = Graph()
    x = g.add("Input", shape=[6])
    d = g.add("Dense", out_features=3)
    g.connect(x, d)
    g.connect(d, g.add("Output"))
    return Project(g, meta={"name": "Tiny Net"})


def test_available_parts():
    assert available_parts(classifier().graph) == ["model"]
    assert available_parts(load_template("vae_digits").graph) == ["model", "decoder"]
    g = load_template("vae_digits").graph
    g.add("Sample")  # a second Sample block: no single decoder
    assert available_parts(g) == ["model"]
    g = Graph()
    n = g.add("Input", shape=[4])
    assert available_parts(g) == ["model"]
    g.node(n).type = "Noise"  # the type id of a GAN's noise block (counted by type, nothing else read)
    assert g.node(n).type == "Noise" and available_parts(g) == ["model", "generator"]


def choose_decoder(qtbot, dialog) -> None:
    dialog.part_box.setFocus()
    assert dialog.part == "model"  # the whole model unless asked
    qtbot.keyClick(dialog.part_box, Qt.Key.Key_Down)
    assert dialog.part == "decoder"


def test_the_decoder_alone_exports_as_onnx_from_the_dialog(qtbot, tmp_path, vae):
    project, weights, source = vae
    dialog = ExportDialog(project, weights=weights, folder=str(tmp_path), runs_root=str(tmp_path / "runs"))
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.part_box.isVisible()
    assert [dialog.part_box.itemText(i) for i in range(dialog.part_box.count())] == \
        ["The whole model", "The decoder only"]
    assert "latent code" in dialog.part_box.toolTip() and "random noise" in dialog.part_box.toolTip()
    dialog.set_format("onnx")
    assert dialog.bake_box.isVisible()  # the whole model takes pixels: the bake choice is there
    choose_decoder(qtbot, dialog)
    assert dialog.path_edit.text() == str(tmp_path / "Variational-autoencoder-digits-decoder.onnx")
    assert not dialog.bake_box.isVisible()  # the decoder takes z: nothing to bake
    assert "after the Sample block" in dialog.preprocessing_label.text()
    assert "latent codes z" in dialog.usage_label.text()
    with qtbot.waitSignal(dialog.exported, timeout=120_000) as signal:
        qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    dialog.wait()
    result = signal.args[0]
    assert result.path == dialog.path_edit.text() and result.difference <= 1e-4
    qtbot.waitUntil(lambda: "of the decoder alone matches" in dialog.status.text())

    z = np.random.default_rng(1).standard_normal((4, 2)).astype(np.float32)
    session = ort.InferenceSession(result.path, providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["z"]
    (out,) = session.run(None, {"z": z})
    expected = expected_decoding(source, torch.from_numpy(z))
    assert out.shape == (4, 1, 28, 28)
    np.testing.assert_allclose(out, expected.numpy(), rtol=0, atol=1e-5)


def test_the_decoder_alone_exports_as_python_from_the_dialog(qtbot, tmp_path, vae):
    project, weights, source = vae
    dialog = ExportDialog(project, weights=weights, folder=str(tmp_path), runs_root=str(tmp_path / "runs"))
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.set_format("python")
    assert dialog.path_edit.text().endswith("Variational-autoencoder-digits-python")
    choose_decoder(qtbot, dialog)
    assert dialog.path_edit.text() == str(tmp_path / "Variational-autoencoder-digits-decoder-python")
    assert "sample(16, model" in dialog.usage_label.text()
    with qtbot.waitSignal(dialog.exported, timeout=120_000) as signal:
        qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    dialog.wait()
    folder = signal.args[0].path if os.path.isdir(signal.args[0].path) else os.path.dirname(signal.args[0].path)
    spec = importlib.util.spec_from_file_location("dialog_decoder_model", os.path.join(folder, "model.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.load_model()
    z = torch.randn(3, 2, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        got = model.eval()(z)
    torch.testing.assert_close(got, expected_decoding(source, z), rtol=0, atol=1e-6)
    torch.manual_seed(0)
    drawn = module.sample(5, model, seed=3)  # z ~ N(0, 1) from its own seeded generator
    z3 = torch.randn(5, 2, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(drawn, expected_decoding(source, z3), rtol=0, atol=1e-6)


def test_a_classifier_has_no_part_choice(qtbot, tmp_path):
    dialog = ExportDialog(classifier(), folder=str(tmp_path), runs_root=str(tmp_path / "runs"))
    qtbot.addWidget(dialog)
    dialog.show()
    assert not dialog.part_box.isVisible() and dialog.part == "model" and dialog.part_box.count() == 1
    dialog.set_format("onnx")
    assert dialog.path_edit.text() == str(tmp_path / "Tiny-Net.onnx")


@pytest.fixture(scope="module")
def gan():
    """dcgan_digits with weights and BatchNorm statistics moved off their seeded start, and their Source."""
    project = load_template("dcgan_digits")
    gen = torch.Generator().manual_seed(6)
    weights = {}
    for k, v in source_from(project).state.items():
        if k.endswith("running_var"):
            weights[k] = 0.5 + torch.rand(v.shape, generator=gen)
        elif v.is_floating_point():
            weights[k] = v + 0.05 * torch.randn(v.shape, generator=gen)
        else:
            weights[k] = v
    return project, weights, source_from(project, weights)


def test_the_generator_alone_exports_as_onnx_from_the_dialog(qtbot, tmp_path, gan):
    project, weights, source = gan
    assert available_parts(project.graph) == ["model", "generator"]
    dialog = ExportDialog(project, weights=weights, folder=str(tmp_path), runs_root=str(tmp_path / "runs"))
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.part_box.isVisible()
    assert [dialog.part_box.itemText(i) for i in range(dialog.part_box.count())] == \
        ["The whole model", "The generator only"]
    dialog.set_format("onnx")
    assert dialog.path_edit.text() == str(tmp_path / "DCGAN-digits.onnx")
    dialog.part_box.setFocus()
    assert dialog.part == "model"
    qtbot.keyClick(dialog.part_box, Qt.Key.Key_Down)
    assert dialog.part == "generator"
    assert dialog.path_edit.text() == str(tmp_path / "DCGAN-digits-generator.onnx")
    assert not dialog.bake_box.isVisible()  # the generator takes noise: nothing to bake
    assert "after the Noise block" in dialog.preprocessing_label.text()
    assert "noise, float32, drawn from N(0, 1)" in dialog.usage_label.text()
    with qtbot.waitSignal(dialog.exported, timeout=120_000) as signal:
        qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    dialog.wait()
    result = signal.args[0]
    assert result.path == dialog.path_edit.text() and result.difference <= 1e-4
    qtbot.waitUntil(lambda: "of the generator alone matches" in dialog.status.text())

    z = np.random.default_rng(2).standard_normal((4, 64)).astype(np.float32)
    session = ort.InferenceSession(result.path, providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["noise"]
    (out,) = session.run(None, {"noise": z})
    with torch.no_grad():  # the live GAN's generated samples for this noise (its discriminator's input ignored)
        expected, _ = source.live_model()(torch.from_numpy(z), torch.zeros(4, 1, 28, 28))
    assert out.shape == (4, 1, 28, 28)
    np.testing.assert_allclose(out, expected.numpy(), rtol=0, atol=1e-5)
