"""Exports carry their preprocessing: files beside every export, ONNX metadata, model.py's preprocess(),
and scaling/normalization baked into ONNX, TorchScript and torch.export so they take raw pixels — each
checked against Layerloom's own path from raw data (prepare, then the live model)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from data_fixtures import image_classifier, tabular_csv, text_classifier, text_tsv

from layerloom.core.data import load_data
from layerloom.core.data.preprocessing import Preprocessing
from layerloom.core.export.exporter import export
from layerloom.core.export.preprocessing_export import baked_source
from layerloom.core.export.source import source_from


def _image_source(tmp_path, channels=1):
    rng = np.random.default_rng(0)
    shape = (30, 16, 16) if channels == 1 else (30, 16, 16, 3)
    np.savez(tmp_path / "img.npz", x=rng.integers(0, 256, shape, dtype=np.uint8), y=np.arange(30) % 4)
    bundle = load_data(str(tmp_path / "img.npz"), {"resize": [12, 12]}, val_fraction=0.2, seed=0)
    pre = Preprocessing.from_info(bundle.info)
    return source_from(image_classifier((channels, 12, 12), classes=4), preprocessing=pre), pre


def _raw_pixels(channels=1, n=3):
    rng = np.random.default_rng(9)
    return rng.integers(0, 256, (n, 12, 12) if channels == 1 else (n, 12, 12, 3), dtype=np.uint8)


def _expected(source, pre, raw) -> np.ndarray:
    with torch.no_grad():
        return source.live_model()(pre.prepare(raw)).numpy()


def _nchw(raw) -> np.ndarray:
    x = raw.astype(np.float32)
    return x[:, None] if x.ndim == 3 else x.transpose(0, 3, 1, 2).copy()


@pytest.mark.parametrize("channels", [1, 3])
def test_baked_onnx_takes_raw_pixels(tmp_path, channels):
    source, pre = _image_source(tmp_path, channels)
    result = export(source, "onnx", tmp_path / "m.onnx")
    assert result.baked and result.ok
    raw = _raw_pixels(channels)
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    got = session.run(None, {"image": _nchw(raw)})[0]
    np.testing.assert_allclose(got, _expected(source, pre, raw), atol=1e-4)
    meta = {p.key: p.value for p in onnx.load(str(tmp_path / "m.onnx")).metadata_props}
    facts = json.loads(meta["layerloom.preprocessing"])
    assert facts["baked"] is True and facts["image"]["mean"] == pre.facts["image"]["mean"]
    side = json.loads((tmp_path / "m.onnx.preprocessing.json").read_text())
    assert side["baked"] is True and side["model_file"] == "m.onnx" and side["model_inputs"] == ["image"]
    assert Preprocessing.from_dict(side).facts["image"] == pre.facts["image"]
    assert any("0–255" in line for line in [side["model_takes"]])


def test_unbaked_onnx_takes_the_normalized_input(tmp_path):
    source, pre = _image_source(tmp_path)
    result = export(source, "onnx", tmp_path / "m.onnx", bake_preprocessing=False)
    assert not result.baked
    raw = _raw_pixels()
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    got = session.run(None, {"image": pre.prepare(raw).numpy()})[0]
    np.testing.assert_allclose(got, _expected(source, pre, raw), atol=1e-4)
    assert json.loads((tmp_path / "m.onnx.preprocessing.json").read_text())["baked"] is False


def test_baked_torchscript_and_torch_export_take_raw_pixels(tmp_path):
    from layerloom.core.export.torch_export import load_program

    source, pre = _image_source(tmp_path)
    raw = _raw_pixels()
    expected = _expected(source, pre, raw)
    export(source, "torchscript", tmp_path / "m.pt")
    scripted = torch.jit.load(str(tmp_path / "m.pt"))
    np.testing.assert_allclose(scripted(torch.from_numpy(_nchw(raw))).detach().numpy(), expected, atol=1e-4)
    export(source, "torch-export", tmp_path / "m.pt2")
    program = load_program(tmp_path / "m.pt2").module()
    np.testing.assert_allclose(program(torch.from_numpy(_nchw(raw))).detach().numpy(), expected, atol=1e-4)
    for name in ("m.pt.preprocessing.json", "m.pt2.preprocessing.json"):
        assert json.loads((tmp_path / name).read_text())["baked"] is True


def test_baked_model_agrees_with_the_unbaked_on_its_own_check_inputs(tmp_path):
    source, pre = _image_source(tmp_path)
    baked = baked_source(source)
    x = baked.sample_inputs(3)[0]
    assert float(x.max()) > 2.0  # raw pixel values, not normalized ones
    from layerloom.core.export.preprocessing_export import to_raw

    torch.testing.assert_close(to_raw(pre, source.sample_inputs(3)[0]), x)
    with torch.no_grad():
        torch.testing.assert_close(baked.live_model()(x), source.live_model()(source.sample_inputs(3)[0]),
                                   atol=1e-4, rtol=1e-4)


def test_table_model_baked_takes_raw_feature_values(tmp_path):
    path = tabular_csv(tmp_path / "t.csv", n=40)
    bundle = load_data(str(path), {}, val_fraction=0.25, seed=2)
    pre = Preprocessing.from_info(bundle.info)
    source = source_from(image_classifier((3,), classes=3), preprocessing=pre)
    export(source, "onnx", tmp_path / "t.onnx")
    rows = np.loadtxt(path, delimiter=",", skiprows=1, usecols=(0, 1, 2), dtype=np.float32)[:5]
    session = ort.InferenceSession(str(tmp_path / "t.onnx"), providers=["CPUExecutionProvider"])
    got = session.run(None, {"image": rows})[0]
    np.testing.assert_allclose(got, _expected(source, pre, rows), atol=1e-4)


def _text_source(tmp_path):
    path = text_tsv(tmp_path / "reviews.tsv", n=30)
    bundle = load_data(str(path), {"seq_len": 8}, val_fraction=0.2, seed=1)
    pre = Preprocessing.from_info(bundle.info)
    return source_from(text_classifier(seq_len=8, vocab=len(pre.vocabulary)), preprocessing=pre), pre


def test_text_exports_write_the_vocabulary_and_model_py_tokenizes(tmp_path):
    source, pre = _text_source(tmp_path)
    result = export(source, "onnx", tmp_path / "out" / "m.onnx")
    assert not result.baked and any("tokenizer" in n for n in result.notes)
    assert json.loads((tmp_path / "out" / "m.vocabulary.json").read_text()) == pre.vocabulary
    side = json.loads((tmp_path / "out" / "m.onnx.preprocessing.json").read_text())
    assert side["vocabulary_file"] == "m.vocabulary.json" and "vocabulary" not in side["text"]
    export(source, "python", tmp_path / "py")
    assert sorted(os.listdir(tmp_path / "py")) == ["model.py", "model.safetensors", "preprocessing.json",
                                                   "vocabulary.json"]
    texts = ["loved it, a delight", "so boring and an unheard-of word"]
    with torch.no_grad():
        expected = torch.softmax(source.live_model()(pre.prepare(texts)), -1).numpy()
    code = textwrap.dedent(f"""
        import sys, json
        sys.modules["layerloom"] = None
        sys.path.insert(0, {str(tmp_path / 'py')!r})
        import model
        p = model.predict({texts!r})
        print(json.dumps({{"p": p.tolist(), "ids": model.tokenize({texts!r}).tolist(), "names": model.CLASS_NAMES}}))
    """)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    np.testing.assert_allclose(np.array(got["p"]), expected, atol=1e-5)
    assert got["ids"] == pre.prepare(texts).tolist()
    assert got["names"] == pre.class_names


def test_model_py_preprocess_takes_photos_of_any_size(tmp_path):
    source, pre = _image_source(tmp_path)
    export(source, "python", tmp_path / "py")
    raw = np.random.default_rng(1).integers(0, 256, (2, 40, 30, 3), dtype=np.uint8)
    np.save(tmp_path / "raw.npy", raw)
    code = textwrap.dedent(f"""
        import sys, json
        import numpy as np
        sys.modules["layerloom"] = None
        sys.path.insert(0, {str(tmp_path / 'py')!r})
        import model
        x = model.preprocess(np.load({str(tmp_path / 'raw.npy')!r}))
        print(json.dumps(x.tolist()))
    """)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    np.testing.assert_allclose(np.array(json.loads(out.stdout)), pre.prepare(raw).numpy(), atol=1e-6)


def test_bundle_carries_the_preprocessing_and_true_metadata(tmp_path):
    from layerloom.core.export.bundle import load_bundle, read_members

    source, pre = _text_source(tmp_path)
    source.history = [{"epoch": 0, "step": 3, "val_accuracy": 0.5}, {"epoch": 1, "step": 6, "val_accuracy": 0.75}]
    export(source, "bundle", tmp_path / "m.layerloom")
    bundle = load_bundle(tmp_path / "m.layerloom")
    assert bundle.preprocessing.facts == pre.facts
    manifest = json.loads(read_members(str(tmp_path / "m.layerloom"))["manifest.json"])
    assert manifest["epochs_trained"] == 2 and manifest["best"] == 0.75 and manifest["best_epoch"] == 2
    assert manifest["preprocessing"] == pre.describe()


def test_command_line_no_bake(tmp_path, capsys):
    from layerloom.app.cli import main
    from layerloom.core.export.bundle import save_bundle

    source, _ = _image_source(tmp_path)
    save_bundle(source, str(tmp_path / "m.layerloom"))
    assert main(["export", str(tmp_path / "m.layerloom"), "-f", "onnx", "-o", str(tmp_path / "a.onnx")]) == 0
    assert main(["export", str(tmp_path / "m.layerloom"), "-f", "onnx", "-o", str(tmp_path / "b.onnx"),
                 "--no-bake", "--json"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["baked"] is False
    assert json.loads((tmp_path / "a.onnx.preprocessing.json").read_text())["baked"] is True
    assert json.loads((tmp_path / "b.onnx.preprocessing.json").read_text())["baked"] is False
