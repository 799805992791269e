"""Preprocessing facts: raw data prepared for a trained model exactly as its training data was (images of
any size and colour, texts, table rows, series), and the facts read back from JSON."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from data_fixtures import series_csv, tabular_csv, text_tsv

from layerloom.core.data import load_data
from layerloom.core.data.prepare import split_indices
from layerloom.core.data.preprocessing import (
    PreprocessError,
    Preprocessing,
    PreprocessingError,
    from_settings,
)


def _train_inputs(prepared) -> torch.Tensor:
    xs, _ = next(prepared.train.batches(len(prepared.train)))
    return xs[0]


def _images_npz(tmp_path, n=40, size=(12, 12), channels=None):
    rng = np.random.default_rng(3)
    shape = (n, *size) if channels is None else (n, *size, channels)
    x = rng.integers(0, 256, shape, dtype=np.uint8)
    path = tmp_path / "images.npz"
    np.savez(path, x=x, y=np.arange(n) % 3)
    return path, x


def test_images_prepared_exactly_as_the_training_split(tmp_path):
    path, x = _images_npz(tmp_path)
    prepared = load_data(str(path), {}, val_fraction=0.25, seed=4)
    pre = Preprocessing.from_info(prepared.info)
    train_idx, _ = split_indices(len(x), 0.25, 4)
    expected = _train_inputs(prepared)
    got = pre.prepare(x[train_idx])
    assert got.shape == expected.shape == (30, 1, 12, 12)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)
    # the same images as 0–1 floats, and one of them alone without a batch dimension
    torch.testing.assert_close(pre.prepare(x[train_idx].astype(np.float32) / 255), expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(pre.prepare(x[train_idx[0]]), expected[:1], atol=1e-5, rtol=0)


def test_images_resized_as_training_resized_them(tmp_path):
    path, x = _images_npz(tmp_path, size=(20, 24))
    prepared = load_data(str(path), {"resize": [14, 14]}, val_fraction=0.25, seed=4)
    pre = Preprocessing.from_info(prepared.info)
    train_idx, _ = split_indices(len(x), 0.25, 4)
    expected = _train_inputs(prepared)
    got = pre.prepare(x[train_idx])
    one_grey_level = 1 / 255 / pre.facts["image"]["std"][0]
    assert got.shape == (30, 1, 14, 14)
    assert float((got - expected).abs().max()) <= one_grey_level + 1e-5  # a rounding tie at most
    assert float((got - expected).abs().mean()) < 1e-4


def test_colour_and_layout_are_converted(tmp_path):
    path, x = _images_npz(tmp_path, channels=3)
    prepared = load_data(str(path), {}, val_fraction=0.25, seed=4)
    pre = Preprocessing.from_info(prepared.info)
    assert pre.facts["image"]["channels"] == 3
    rgb = x[:2]  # N×H×W×3 as a photo library gives them
    chw = np.ascontiguousarray(rgb.transpose(0, 3, 1, 2))
    torch.testing.assert_close(pre.prepare(rgb), pre.prepare(chw))
    gray = rgb[..., 0]
    assert pre.prepare(gray).shape == (2, 3, 12, 12)  # a grey image is repeated into three channels
    with pytest.raises(PreprocessError, match="3 channel"):
        pre.prepare(np.zeros((12, 12, 2), np.uint8))


def test_text_encoded_exactly_as_the_training_split(tmp_path):
    path = text_tsv(tmp_path / "reviews.tsv", n=30)
    texts = [line.split("\t", 1)[1] for line in path.read_text().splitlines()]
    prepared = load_data(str(path), {"seq_len": 6, "padding": "post"}, val_fraction=0.2, seed=1)
    pre = Preprocessing.from_info(prepared.info)
    train_idx, _ = split_indices(len(texts), 0.2, 1)
    got = pre.prepare([texts[i] for i in train_idx])
    assert got.dtype == torch.int64
    torch.testing.assert_close(got, _train_inputs(prepared))
    assert pre.tokens("Loved it, REALLY!") == ["loved", "it", ",", "really", "!"]
    unknown = pre.prepare(["zebra"])[0]
    assert unknown.tolist() == [1, 0, 0, 0, 0, 0]  # the unknown id, then padding after the text


def test_table_rows_normalized_as_training(tmp_path):
    path = tabular_csv(tmp_path / "t.csv", n=40)
    prepared = load_data(str(path), {}, val_fraction=0.25, seed=2)
    pre = Preprocessing.from_info(prepared.info)
    assert pre.facts["features"]["names"] == ["a", "b", "c"]
    rows = np.loadtxt(path, delimiter=",", skiprows=1, usecols=(0, 1, 2), dtype=np.float32)
    train_idx, _ = split_indices(40, 0.25, 2)
    torch.testing.assert_close(pre.prepare(rows[train_idx]), _train_inputs(prepared), atol=1e-5, rtol=1e-5)
    with pytest.raises(PreprocessError, match="3 feature values"):
        pre.prepare(rows[:, :2])


def test_series_windows_and_units(tmp_path):
    path = series_csv(tmp_path / "air.csv", n=120)
    prepared = load_data(str(path), {"window": 12}, val_fraction=0.2, seed=0)
    pre = Preprocessing.from_info(prepared.info)
    values = np.loadtxt(path, delimiter=",", skiprows=1, usecols=1)
    x = pre.prepare(values[:12])
    torch.testing.assert_close(x, _train_inputs(prepared)[:1], atol=1e-5, rtol=1e-5)
    s = pre.facts["series"]
    normalized = torch.tensor([[(values[12] - s["mean"]) / s["std"]]], dtype=torch.float32)
    assert float(pre.to_units(normalized)) == pytest.approx(values[12], rel=1e-5)
    with pytest.raises(PreprocessError, match="last 12 values"):
        pre.prepare(values[:5])


def test_facts_round_trip_and_refuse_damage(tmp_path):
    path, _ = _images_npz(tmp_path)
    pre = Preprocessing.from_info(load_data(str(path), {}, val_fraction=0.25, seed=4).info)
    again = Preprocessing.from_dict(json.loads(json.dumps(pre.to_dict())))
    assert again.facts == pre.facts
    broken = pre.to_dict()
    broken["image"]["std"] = [0.0]
    with pytest.raises(PreprocessingError, match="std"):
        Preprocessing.from_dict(broken, "x.json")
    with pytest.raises(PreprocessingError, match="newer Layerloom"):
        Preprocessing.from_dict({**pre.to_dict(), "version": 99}, "x.json")
    with pytest.raises(PreprocessingError, match="not Layerloom preprocessing"):
        Preprocessing.from_dict([1, 2], "x.json")


def test_older_runs_rebuild_their_facts_from_settings():
    settings = {"data": {"name": "digits", "task": "classification", "input_shapes": [[64]], "target_shapes": [[]],
                         "class_names": [str(i) for i in range(10)],
                         "normalization": {"kind": "per_channel", "mean": [0.3], "std": [0.4], "scale": 16.0}}}
    pre = from_settings(settings)
    assert pre.kind == "image" and pre.facts["image"]["flatten"] is True
    assert (pre.facts["image"]["height"], pre.facts["image"]["width"]) == (8, 8)
    raw = np.arange(64, dtype=np.float32).reshape(8, 8) % 17  # the built-in digits: 0–16
    expected = ((torch.from_numpy(raw) / 16 - 0.3) / 0.4).reshape(1, 64)
    torch.testing.assert_close(pre.prepare(raw), expected)
    assert from_settings({}) is None


def test_damaged_settings_give_no_facts_rather_than_an_error():
    for data in ({"input_shapes": "64"}, {"input_shapes": [64]}, {"input_shapes": [[64]], "normalization": {"kind": "x",
                 "mean": "a"}}, {"input_shapes": [[0]]}):
        assert from_settings({"data": data}) is None
