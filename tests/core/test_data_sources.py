"""Named data sources: the built-in scikit-learn sets, the generated sets, the catalogue, and the errors
for unknown names and bad options."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from layerloom.core.data import DataError, list_sources, load_data
from layerloom.core.data.base import CLASSIFICATION, REGRESSION, DataInfo, PreparedData, TensorSplit
from layerloom.core.data.options import ALL_OPTIONS, Options
from layerloom.core.errors import LayerloomError


def _check_bundle(b: PreparedData):
    assert isinstance(b.info, DataInfo)
    assert isinstance(b.train, TensorSplit) and isinstance(b.val, TensorSplit)
    assert b.info.train_size == len(b.train) and b.info.val_size == len(b.val)
    xs, ys = next(b.train.batches(5, shuffle=True, generator=torch.Generator().manual_seed(0)))
    assert tuple(xs[0].shape[1:]) == b.info.input_shapes[0]
    assert str(xs[0].dtype).endswith(b.info.input_dtypes[0])
    if b.info.task == CLASSIFICATION:
        assert ys[0].dtype == torch.int64 and ys[0].shape == (5,)
        assert int(ys[0].max()) < b.info.num_classes == len(b.info.class_names)
    else:
        assert ys[0].dtype == torch.float32 and tuple(ys[0].shape[1:]) == b.info.target_shapes[0]
    return xs[0]


def test_list_sources_names_kinds_descriptions():
    rows = list_sources()
    names = [r[0] for r in rows]
    for name in ("digits", "iris", "wine", "breast_cancer", "mnist", "fashion_mnist", "cifar10", "synthetic_text",
                 "synthetic_sequences", "synthetic_waveforms", "sine", "long_memory"):
        assert name in names
    kinds = dict((r[0], r[1]) for r in rows)
    assert kinds["digits"] == "built-in" and kinds["mnist"] == "download" and kinds["sine"] == "synthetic"
    assert all(isinstance(r[2], str) and r[2] for r in rows)


def test_digits_default_flatten_resize():
    b = load_data("digits")
    assert b.info.input_shapes == [(1, 8, 8)] and b.info.num_classes == 10
    assert b.info.train_size + b.info.val_size == 1797
    assert b.info.val_size == round(1797 * 0.2)
    _check_bundle(b)
    flat = load_data("digits", {"flatten": True})
    assert flat.info.input_shapes == [(64,)]
    assert torch.allclose(flat.train.inputs[0], b.train.inputs[0].reshape(-1, 64))
    big = load_data("digits", {"resize": [28, 28]})
    assert big.info.input_shapes == [(1, 28, 28)] and big.info.image_shape == (1, 28, 28)
    assert "28×28" in big.info.name and any("resized" in n for n in big.info.notes)
    _check_bundle(big)


def test_digits_matches_scikit_learn():
    from sklearn.datasets import load_digits

    from layerloom.core.data.builtin import _sklearn

    data, target, names = _sklearn("digits")
    ref = load_digits()
    assert np.array_equal(data, ref.images) and np.array_equal(target, ref.target)
    assert names == [str(i) for i in range(10)]


@pytest.mark.parametrize("name,features,classes", [("iris", 4, 3), ("wine", 13, 3), ("breast_cancer", 30, 2)])
def test_tables(name, features, classes):
    b = load_data(name)
    assert b.info.input_shapes == [(features,)] and b.info.num_classes == classes
    assert b.info.kind == "vector"
    x = _check_bundle(b)
    assert x.dtype == torch.float32
    # standardized on the training part
    assert torch.allclose(b.train.inputs[0].mean(0), torch.zeros(features), atol=1e-4)


def test_synthetic_text():
    b = load_data("synthetic_text", {"n": 200})
    assert b.info.input_shapes == [(64,)] and b.info.input_dtypes == ["int64"]
    assert b.info.class_names == ["negative", "positive"]
    assert b.info.vocabulary[:2] == ["<pad>", "<unk>"] and len(b.info.vocabulary) <= 5000
    x = _check_bundle(b)
    assert x.dtype == torch.int64 and int(x.min()) >= 0
    assert int(b.train.inputs[0].max()) < len(b.info.vocabulary)
    small = load_data("synthetic_text", {"n": 200, "seq_len": 16, "vocab_size": 20})
    assert small.info.input_shapes == [(16,)] and len(small.info.vocabulary) == 20
    assert (small.val.inputs[0] == 1).any()  # tokens outside a 20-token vocabulary become <unk>
    again = load_data("synthetic_text", {"n": 200})
    assert torch.equal(again.train.inputs[0], b.train.inputs[0])  # generated with a fixed seed


def test_synthetic_sequences_waveforms_sine():
    seq = load_data("synthetic_sequences", {"n": 80})
    assert seq.info.input_shapes == [(50, 8)] and seq.info.num_classes == 4 and seq.info.kind == "sequence"
    _check_bundle(seq)
    wave = load_data("synthetic_waveforms", {"n": 80})
    assert wave.info.input_shapes == [(1, 128)] and wave.info.class_names == ["sine", "square", "sawtooth",
                                                                             "triangle"]
    _check_bundle(wave)
    sine = load_data("sine")
    assert sine.info.task == REGRESSION and sine.info.input_shapes == [(30, 1)] and sine.info.target_shapes == [(1,)]
    _check_bundle(sine)
    h = load_data("sine", {"window": 10, "horizon": 3, "length": 200})
    assert h.info.input_shapes == [(10, 1)] and h.info.target_shapes == [(3,)]
    # a target is the values that follow its window
    x, y = h.train.inputs[0], h.train.targets[0]
    assert torch.equal(x[3, :7, 0], x[0, 3:, 0])
    assert torch.equal(y[0], x[3, 7:, 0]) and torch.equal(y[0, 0], x[1, -1, 0])


def test_waveform_classes_differ_in_shape():
    b = load_data("synthetic_waveforms", {"n": 400, "noise": 0.0})
    x, y = b.train.inputs[0][:, 0], b.train.targets[0]
    # a square wave takes two values, a sine many: distinct values per signal tell them apart
    uniques = torch.tensor([len(torch.unique(row.round(decimals=4))) for row in x])
    assert uniques[y == 1].float().mean() < 5 < uniques[y == 0].float().mean()


def test_unknown_source_suggests_closest():
    with pytest.raises(DataError, match="unknown data source 'minst'; did you mean 'mnist'"):
        load_data("minst")
    with pytest.raises(DataError, match="digits"):
        load_data("digets")
    assert issubclass(DataError, LayerloomError)


def test_bad_options():
    with pytest.raises(DataError, match="did you mean 'resize'") as err:
        load_data("digits", {"resise": [28, 28]})
    assert err.value.option == "resise"
    with pytest.raises(DataError, match="'iris' has no option 'resize'"):
        load_data("iris", {"resize": [28, 28]})
    with pytest.raises(DataError, match="option resize of 'digits' must be a size"):
        load_data("digits", {"resize": [28, -1]})
    with pytest.raises(DataError, match="option flatten of 'digits' must be true or false"):
        load_data("digits", {"flatten": "maybe"})
    with pytest.raises(DataError, match=r"seq_len .* from 1 to 100000 \(got 0\)"):
        load_data("synthetic_text", {"seq_len": 0})
    with pytest.raises(DataError, match=r"tokenizer .* one of 'word', 'char'"):
        load_data("synthetic_text", {"tokenizer": "bpe"})
    with pytest.raises(DataError, match="random_crop works on images only"):
        load_data("iris", {"random_crop": 2})
    with pytest.raises(DataError, match="validation fraction"):
        load_data("iris", val_fraction=1.0)
    with pytest.raises(DataError, match="validation fraction"):
        load_data("iris", val_fraction=-0.1)
    with pytest.raises(DataError, match="seed"):
        load_data("iris", seed=-1)
    with pytest.raises(DataError, match="names and values"):
        load_data("iris", [1, 2])  # type: ignore[arg-type]
    with pytest.raises(DataError, match="data set name"):
        load_data("")


def test_every_option_a_reader_asks_for_is_known():
    """ALL_OPTIONS (checked before loading) must list what the readers ask for."""
    import layerloom.core.data.sources as sources

    asked: set[str] = set()
    real = sources.Options

    class Recording(real):
        def check_unknown(self):
            asked.update(self.asked)
            super().check_unknown()

    sources.Options = Recording
    try:
        for name in ("digits", "iris", "synthetic_text", "synthetic_sequences", "synthetic_waveforms", "sine",
                     "long_memory"):
            load_data(name, {"n": 50} if name.startswith(("synthetic", "long")) else None)
    finally:
        sources.Options = real
    assert asked <= ALL_OPTIONS, asked - ALL_OPTIONS
    assert isinstance(Options({}, "x"), Options)


def test_options_accept_strings_from_a_command_line():
    b = load_data("digits", {"flatten": "true", "resize": "16x16"})
    assert b.info.input_shapes == [(256,)]


def test_importing_the_package_is_light():
    import subprocess
    import sys

    code = ("import sys, layerloom.core.data as d; d.list_sources(); "
            "print(sorted(m for m in ('torch', 'numpy', 'sklearn') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
