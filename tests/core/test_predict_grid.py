"""`layerloom predict` on a generator (the decoder or generator export of a VAE or GAN): --samples N --seed S
-o grid.png writes a PNG grid of the decoded images, the same pixels as the live decoder on the same seeded z,
from the bundle, the ONNX file and the Python export; plain errors without -o, with inputs, and for a model that
is no generator."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from layerloom.app.cli import main
from layerloom.core.export import export, source_from
from layerloom.core.export.decoder import decoder_source
from layerloom.core.predict import open_model
from layerloom.core.predict.grid import GAP, as_images, grid_layout, grid_pixels
from layerloom.core.predict.models import PredictError
from layerloom.core.templates import load_template


@pytest.fixture(scope="module")
def vae():
    project = load_template("vae_digits")
    source = source_from(project)
    gen = torch.Generator().manual_seed(7)
    state = {k: v + 0.05 * torch.randn(v.shape, generator=gen) for k, v in source.state.items()}
    return source_from(project, state)


@pytest.fixture(scope="module")
def exports(vae, tmp_path_factory):
    folder = tmp_path_factory.mktemp("decoders")
    out = {}
    for fmt, name in (("bundle", "dec.layerloom"), ("onnx", "dec.onnx"), ("python", "dec-python")):
        out[fmt] = str(export(vae, fmt, folder / name, part="decoder").path)
    out["python"] = str(folder / "dec-python")  # predict takes the export's folder
    return out


def _run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    got = capsys.readouterr()
    return code, got.out, got.err


def _expected_tiles(vae, n: int, seed: int) -> np.ndarray:
    """The live decoder on z drawn as model.py's sample(n, seed=seed) draws it: n × 28 × 28 in 0–255."""
    z = torch.randn(n, 2, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        out = decoder_source(vae).live_model()(z).numpy()
    assert out.shape == (n, 1, 28, 28) and out.min() >= 0 and out.max() <= 1  # the template ends in a sigmoid
    return out[:, 0] * 255.0


@pytest.mark.parametrize("fmt", ["bundle", "onnx", "python"])
def test_a_decoder_writes_the_grid_of_its_decoded_samples(fmt, vae, exports, tmp_path, capsys):
    png = tmp_path / "grid.png"
    code, out, err = _run(capsys, "predict", exports[fmt], "--samples", 8, "--seed", 0, "-o", png)
    assert code == 0, err
    assert f"wrote {png}: 8 samples (3 × 3 grid, 92 × 92 pixels, seed 0)" in out
    rows, cols = grid_layout(8)
    assert (rows, cols) == (3, 3)
    with Image.open(png) as im:
        assert im.format == "PNG" and im.mode == "L"
        assert im.size == (GAP + cols * (28 + GAP), GAP + rows * (28 + GAP)) == (92, 92)
        pixels = np.asarray(im, dtype=np.float64)
    expected = _expected_tiles(vae, 8, 0)
    for i in range(8):
        r, k = divmod(i, cols)
        y, x = GAP + r * 30, GAP + k * 30
        tile = pixels[y:y + 28, x:x + 28]
        assert np.abs(tile - expected[i]).max() <= 0.5 + 1e-3  # 8-bit rounding (ONNX within float noise)
    assert pixels[0, :].tolist() == [128.0] * 92  # the gap
    assert pixels[GAP + 2 * 30:, GAP + 2 * 30:].min() == 128.0  # the ninth cell stays empty
    assert np.std(expected) > 1.0  # the samples are images, not a constant


def test_the_same_seed_gives_the_same_file_and_another_seed_another(exports, tmp_path, capsys):
    a, b, c = tmp_path / "a.png", tmp_path / "b.png", tmp_path / "c.png"
    assert _run(capsys, "predict", exports["bundle"], "--samples", 8, "--seed", 3, "-o", a)[0] == 0
    assert _run(capsys, "predict", exports["onnx"], "--samples", 8, "--seed", 3, "-o", b)[0] == 0
    assert _run(capsys, "predict", exports["bundle"], "--samples", 8, "--seed", 4, "-o", c)[0] == 0
    again = tmp_path / "again.png"
    assert _run(capsys, "predict", exports["bundle"], "--samples", 8, "--seed", 3, "-o", again)[0] == 0
    assert a.read_bytes() == again.read_bytes()
    pa, pb, pc = (np.asarray(Image.open(p), dtype=np.int16) for p in (a, b, c))
    assert np.abs(pa - pb).max() <= 1  # bundle and ONNX agree up to float noise at a rounding edge
    assert np.abs(pa - pc).max() > 10


def test_without_an_output_file_or_with_inputs_a_generator_says_what_to_do(exports, tmp_path, capsys):
    code, out, err = _run(capsys, "predict", exports["onnx"], "--samples", 8)
    assert code == 1 and out == ""
    assert "is a generator (a VAE's decoder or a GAN's generator): its predictions are images" in err
    assert "-o grid.png" in err
    some = tmp_path / "some.png"
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(some)
    code, _, err = _run(capsys, "predict", exports["bundle"], some, "-o", tmp_path / "g.png")
    assert code == 1 and "takes no inputs" in err and "--samples N -o grid.png" in err
    assert not (tmp_path / "g.png").exists()
    code, _, err = _run(capsys, "predict", exports["bundle"], "--samples", 0, "-o", tmp_path / "g.png")
    assert code == 2 and "--samples must be 1 or more" in err


def test_without_samples_sixteen_are_drawn(exports, tmp_path, capsys):
    png = tmp_path / "g.png"
    code, out, _ = _run(capsys, "predict", exports["python"], "-o", png)
    assert code == 0 and "16 samples (4 × 4 grid, 122 × 122 pixels, a random seed)" in out
    assert Image.open(png).size == (122, 122)


def test_a_model_that_is_no_generator_refuses_samples(vae, tmp_path, capsys):
    from layerloom.core.data import load_data
    from layerloom.core.data.preprocessing import Preprocessing

    pre = Preprocessing.from_info(load_data("digits", {"resize": [28, 28]}, val_fraction=0.2, seed=0).info)
    with_facts = source_from(vae.project, vae.state, preprocessing=pre)
    whole = str(export(with_facts, "bundle", tmp_path / "vae.layerloom").path)
    assert open_model(whole).latent is None
    code, out, err = _run(capsys, "predict", whole, "--samples", 8, "-o", tmp_path / "g.png")
    assert code == 1 and out == ""
    assert "is not a generator (the decoder or generator export of a VAE or GAN), so --samples, --seed and -o do " \
        "not apply" in err


def test_the_decoder_export_records_its_part(exports):
    import onnx

    meta = {p.key: p.value for p in onnx.load(exports["onnx"]).metadata_props}
    assert meta == {"layerloom.part": "decoder"}
    for fmt in ("bundle", "onnx", "python"):
        assert open_model(exports[fmt]).latent == [2]


def test_images_are_scaled_and_non_images_refused():
    out = np.array([[[[-2.0, 0.0], [1.0, 2.0]]]])  # outside 0–1: min–max scaled over the batch
    assert as_images(out, "m").tolist() == [[[[0.0, 0.5], [0.75, 1.0]]]]
    inside = np.array([[[[0.2, 0.4]]]])
    assert as_images(inside, "m").tolist() == inside.tolist()  # a sigmoid's output is kept as it is
    rgb = grid_pixels(np.ones((2, 3, 4, 5)))
    assert rgb.shape == (GAP + 1 * (4 + GAP), GAP + 2 * (5 + GAP), 3)
    assert rgb[GAP:GAP + 4, GAP:GAP + 5].min() == 255 and math.isclose(rgb[0, 0, 0], 128)
    with pytest.raises(PredictError, match=r"m: its output \(10 per sample\) is not an image"):
        as_images(np.zeros((4, 10)), "m")
    with pytest.raises(PredictError, match=r"2 × 5 × 5 per sample\) is not an image"):
        as_images(np.zeros((4, 2, 5, 5)), "m")
