"""Splitting, normalization fitted on the training part, resizing, the per-batch transform (uint8 →
float, augmentation on training batches only), separate validation files, and previews."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from data_fixtures import tabular_csv, write_csv

from layerloom.core.data import DataError, load_data, preview
from layerloom.core.data.builtin import _sklearn
from layerloom.core.data.prepare import ImageBatch, split_indices


def _indexed_npz(path, n=50):
    """Vectors whose first value is the sample's index."""
    rng = np.random.default_rng(1)
    x = np.column_stack([np.arange(n), rng.normal(5.0, 3.0, n)]).astype(np.float32)
    np.savez(path, x=x, y=np.arange(n) % 2)
    return x


def _ids(split) -> list[int]:
    return [int(v) for v in split.inputs[0][:, 0]]


@pytest.mark.parametrize("fraction", [0.1, 0.2, 0.5])
def test_split_disjoint_covering_fraction(tmp_path, fraction):
    _indexed_npz(tmp_path / "d.npz", 50)
    b = load_data(str(tmp_path / "d.npz"), {"normalize": False}, val_fraction=fraction, seed=7)
    train, val = _ids(b.train), _ids(b.val)
    assert not set(train) & set(val)
    assert sorted(train + val) == list(range(50))
    assert len(val) == round(50 * fraction)
    # the labels travel with their samples
    assert all(int(y) == i % 2 for i, y in zip(train, b.train.targets[0]))


def test_same_seed_same_split_other_seed_other_split(tmp_path):
    _indexed_npz(tmp_path / "d.npz", 50)
    a = load_data(str(tmp_path / "d.npz"), {"normalize": False}, seed=3)
    b = load_data(str(tmp_path / "d.npz"), {"normalize": False}, seed=3)
    c = load_data(str(tmp_path / "d.npz"), {"normalize": False}, seed=4)
    assert _ids(a.val) == _ids(b.val) and _ids(a.train) == _ids(b.train)
    assert set(_ids(a.val)) != set(_ids(c.val))
    tr, va = split_indices(2, 0.2, 0)
    assert len(tr) == 1 and len(va) == 1  # a fraction above 0 keeps at least one sample
    tr, va = split_indices(10, 0.0, 0)
    assert len(tr) == 10 and len(va) == 0


def test_no_validation_part(tmp_path):
    b = load_data("iris", val_fraction=0.0)
    assert b.info.val_size == 0 and len(b.val) == 0 and b.info.train_size == 150
    assert list(b.val.batches(16)) == []


def test_vector_normalization_uses_training_part_only(tmp_path):
    x = _indexed_npz(tmp_path / "d.npz", 50)
    raw = load_data(str(tmp_path / "d.npz"), {"normalize": False}, seed=5)
    b = load_data(str(tmp_path / "d.npz"), seed=5)
    train_idx = _ids(raw.train)
    expected_mean = x[train_idx].mean(0)
    expected_std = x[train_idx].std(0)
    assert np.allclose(b.info.normalization["mean"], expected_mean, atol=1e-5)
    assert np.allclose(b.info.normalization["std"], expected_std, atol=1e-5)
    assert not np.allclose(b.info.normalization["mean"], x.mean(0), atol=1e-3)  # the full set differs
    assert torch.allclose(b.train.inputs[0].mean(0), torch.zeros(2), atol=1e-5)
    val_idx = _ids(raw.val)
    assert torch.allclose(b.val.inputs[0], torch.from_numpy((x[val_idx] - expected_mean) / expected_std), atol=1e-5)


def test_image_normalization_uses_training_part_only():
    images, _, _ = _sklearn("digits")
    b = load_data("digits", seed=11)
    train_idx, val_idx = split_indices(len(images), 0.2, 11)
    pixels = images[train_idx] / 16.0
    assert b.info.normalization["mean"][0] == pytest.approx(pixels.mean(), rel=1e-6)
    assert b.info.normalization["std"][0] == pytest.approx(pixels.std(), rel=1e-6)
    assert b.info.normalization["mean"][0] != pytest.approx((images / 16.0).mean(), rel=1e-6)
    expected_val = (images[val_idx] / 16.0 - pixels.mean()) / pixels.std()
    assert np.allclose(b.val.inputs[0][:, 0].numpy(), expected_val, atol=1e-5)


def test_resize_matches_bilinear_antialiased_interpolation():
    images, _, _ = _sklearn("digits")
    b = load_data("digits", {"resize": [28, 28], "normalize": False}, seed=0)
    train_idx, _ = split_indices(len(images), 0.2, 0)
    ref = F.interpolate(torch.from_numpy(images[train_idx[:5]] / 16.0).float()[:, None], size=(28, 28),
                        mode="bilinear", antialias=True, align_corners=False)
    assert b.train.inputs[0].shape[1:] == (1, 28, 28)
    assert torch.allclose(b.train.inputs[0][:5], ref, atol=1e-5)
    small = load_data("digits", {"resize": 4})
    assert small.info.input_shapes == [(1, 4, 4)]


def test_augmentation_changes_training_batches_only():
    b = load_data("digits", {"resize": [16, 16], "random_crop": 2, "hflip": True})
    assert b.train.transform is not None and b.val.transform is None
    g = torch.Generator().manual_seed(0)
    (xt,), _ = next(b.train.batches(256, generator=g))
    assert not torch.equal(xt, b.train.inputs[0][:256])
    (xv,), _ = next(b.val.batches(256, generator=torch.Generator().manual_seed(0)))
    assert torch.equal(xv, b.val.inputs[0][:256])
    # seeded: the same generator state gives the same augmented batch
    (again,), _ = next(b.train.batches(256, generator=torch.Generator().manual_seed(0)))
    assert torch.equal(xt, again)
    (other,), _ = next(b.train.batches(256, generator=torch.Generator().manual_seed(1)))
    assert not torch.equal(xt, other)
    (no_gen,), _ = next(b.train.batches(8))  # works without a generator
    assert no_gen.shape == (8, 1, 16, 16)


def test_random_crop_is_a_shift_with_black_padding():
    x = torch.arange(2 * 1 * 5 * 5, dtype=torch.float32).reshape(2, 1, 5, 5) + 1
    tf = ImageBatch((1, 5, 5), crop=2, pad=[-9.0])
    seen = set()
    for seed in range(20):
        (out,) = tf((x,), torch.Generator().manual_seed(seed))
        for i in range(2):
            padded = F.pad(x[i], (2, 2, 2, 2), value=-9.0)
            match = [(dy, dx) for dy in range(5) for dx in range(5) if torch.equal(padded[:, dy:dy + 5, dx:dx + 5],
                                                                                     out[i])]
            assert match, "every crop is a window of the padded image"
            seen.add(match[0])
    assert len(seen) > 5


def test_hflip_mirrors_some_samples():
    x = torch.randn(64, 3, 4, 6)
    (out,) = ImageBatch((3, 4, 6), hflip=True)((x,), torch.Generator().manual_seed(0))
    flipped = [torch.equal(out[i], x[i].flip(-1)) for i in range(64)]
    same = [torch.equal(out[i], x[i]) for i in range(64)]
    assert all(f or s for f, s in zip(flipped, same)) and 10 < sum(flipped) < 54


def test_flattened_data_is_augmented_as_images():
    b = load_data("digits", {"flatten": True, "hflip": True}, seed=0)
    (x,), _ = next(b.train.batches(512, generator=torch.Generator().manual_seed(0)))
    stored = b.train.inputs[0][:512]
    assert x.shape == (512, 64)
    img, ref = x.view(-1, 8, 8), stored.view(-1, 8, 8)
    assert all(torch.equal(a, r) or torch.equal(a, r.flip(-1)) for a, r in zip(img, ref))


def test_uint8_storage_transform_equals_float_path(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "img.npz", x=rng.integers(0, 256, (40, 3, 8, 8), dtype=np.uint8), y=np.arange(40) % 4)
    u8 = load_data(str(tmp_path / "img.npz"), {"storage": "uint8", "flatten": True})
    f32 = load_data(str(tmp_path / "img.npz"), {"storage": "float32", "flatten": True})
    assert u8.train.inputs[0].dtype == torch.uint8 and u8.info.input_shapes == [(192,)]
    (a,), _ = next(u8.train.batches(40))
    (b,), _ = next(f32.train.batches(40))
    assert a.dtype == torch.float32 and torch.allclose(a, b, atol=1e-5)
    assert u8.info.input_dtypes == ["float32"]
    with pytest.raises(DataError, match="storage: uint8 needs 8-bit images"):
        load_data("digits", {"storage": "uint8"})


def test_separate_validation_file(tmp_path):
    train = tabular_csv(tmp_path / "train.csv", n=30, words=True)
    val = write_csv(tmp_path / "val.csv", "a,b,c,label\n1,2,3,red\n0,0,0,blue\n")
    b = load_data(str(train), val_source=str(val))
    assert b.info.train_size == 30 and b.info.val_size == 2
    assert [b.info.class_names[int(v)] for v in b.val.targets[0]] == ["red", "blue"]
    mean = np.array(b.info.normalization["mean"], dtype=np.float32)
    std = np.array(b.info.normalization["std"], dtype=np.float32)
    assert torch.allclose(b.val.inputs[0][0], torch.from_numpy((np.array([1, 2, 3], np.float32) - mean) / std))
    bad = write_csv(tmp_path / "bad.csv", "a,b,c,label\n1,2,3,purple\n")
    with pytest.raises(DataError, match="classes the training data lacks: 'purple'"):
        load_data(str(train), val_source=str(bad))
    narrow = write_csv(tmp_path / "narrow.csv", "a,b,label\n1,2,red\n")
    with pytest.raises(DataError, match="samples of 2 values but the training data has 3"):
        load_data(str(train), val_source=str(narrow))


def test_reconstruction_targets_are_the_inputs(tmp_path):
    np.savez(tmp_path / "ae.npz", x=np.random.default_rng(0).random((20, 1, 4, 4)).astype(np.float32))
    with pytest.raises(DataError, match=r"no array y .*or set task: reconstruction"):
        load_data(str(tmp_path / "ae.npz"))
    b = load_data(str(tmp_path / "ae.npz"), {"task": "reconstruction"})
    assert b.info.task == "reconstruction" and b.info.target_shapes == [(1, 4, 4)]
    assert b.train.targets[0] is b.train.inputs[0]
    assert preview(b, 2).labels == ["(the input itself)"] * 2


def test_preview_of_each_kind():
    p = preview(load_data("iris", seed=0), 5, "val")
    assert len(p.samples) == 5 and p.samples[0].shape == (4,) and p.size == 30
    assert all(label in ("setosa", "versicolor", "virginica") for label in p.labels)
    assert sum(p.class_counts.values()) == 30 and p.sample_shapes == [(4,)]
    # un-normalized: iris measurements are in centimetres again
    assert 4.0 <= float(np.mean([s[0] for s in p.samples])) <= 8.0
    d = preview(load_data("digits"), 16)
    assert len(d.samples) == 16 and d.samples[0].shape == (8, 8) and d.samples[0].dtype == np.uint8
    assert d.samples[0].max() > 100
    s = preview(load_data("synthetic_sequences", {"n": 40}), 3)
    assert s.samples[0].shape == (50, 8) and s.kind == "sequence"
    w = preview(load_data("synthetic_waveforms", {"n": 40}), 3)
    assert w.samples[0].shape == (1, 128)
    many = preview(load_data("iris"), 1000)
    assert len(many.samples) == 120
    with pytest.raises(DataError, match="'train' or 'val'"):
        preview(load_data("iris"), 4, "test")


def test_token_summary_says_how_texts_became_ids():
    from layerloom.core.data.preview import token_summary

    words = load_data("synthetic_text", {"n": 40, "seq_len": 12, "padding": "post"})
    ids = words.train.inputs[0][0].numpy()
    lines = token_summary(words.info, ids, count=3)
    vocab = words.info.vocabulary
    kept = [int(i) for i in ids if i != 0]
    assert lines[0] == "Tokenizer: word (words and punctuation marks), lower-cased"
    assert lines[1].startswith(f"Vocabulary: {len(vocab)} tokens (id 0 = padding, 1 = ")
    assert lines[2] == "Sequence length: 12 tokens; shorter texts are padded after the text, longer ones cut"
    assert lines[-2] == f"Its first tokens: {vocab[kept[0]]} · {vocab[kept[1]]} · {vocab[kept[2]]} …"
    assert lines[-1] == f"Their ids: {kept[0]} {kept[1]} {kept[2]} …"
    chars = load_data("synthetic_text", {"n": 40, "tokenizer": "char", "lowercase": False})
    lines = token_summary(chars.info, chars.train.inputs[0][0].numpy())
    assert "Tokenizer: char (characters), case kept" in lines and "␣" in lines[-2]  # a space, made visible
    assert len(token_summary(words.info)) == 3  # without a sample: the settings only
    assert token_summary(load_data("digits").info, None) == []


def test_separate_validation_text_series_and_images(tmp_path):
    from data_fixtures import series_csv, text_tsv, write_image_folder

    train = text_tsv(tmp_path / "train.tsv", n=20)
    val = write_csv(tmp_path / "val.tsv", "spam\tloved it, brand new words\nham\tso boring\n")
    b = load_data(str(train), {"seq_len": 6}, val_source=str(val))
    assert b.info.val_size == 2 and "brand" not in b.info.vocabulary  # vocabulary from the training file
    s = load_data(str(series_csv(tmp_path / "a.csv", 60)), {"window": 5}, val_source=str(series_csv(tmp_path / "b.csv",
                                                                                                      20)))
    assert s.info.train_size == 60 - 5 and s.info.val_size == 20 - 5
    imgs = write_image_folder(tmp_path / "train_imgs", size=(8, 8))
    other = write_image_folder(tmp_path / "val_imgs", size=(12, 12), per_class=2)
    i = load_data(str(imgs), val_source=str(other))
    assert i.info.val_size == 4 and tuple(i.val.inputs[0].shape[1:]) == (1, 8, 8)  # resized to the training size
    with pytest.raises(DataError, match="gives images but the training data gives vectors"):
        load_data("iris", val_source=str(imgs))


def test_images_without_validation_part():
    b = load_data("digits", {"resize": [10, 10]}, val_fraction=0.0)
    assert len(b.val) == 0 and b.val.inputs[0].shape == (0, 1, 10, 10)


@pytest.mark.parametrize("gather_bytes", [1, 700, 10**9])  # one batch, a few batches, everything at once
def test_shuffled_batches_are_the_samples_of_the_permutation(monkeypatch, gather_bytes):
    from layerloom.core.data import base

    monkeypatch.setattr(base, "GATHER_BYTES", gather_bytes)
    gen = torch.Generator().manual_seed(0)
    images = torch.randn(50, 1, 2, 3, generator=gen)
    tokens = torch.randint(0, 9, (50, 4), generator=gen)
    labels = torch.arange(50)
    seen = []

    def double(xs, generator):  # a transform sees each batch once, in order
        seen.append(len(xs[0]))
        return (xs[0] * 2, xs[1])

    split = base.TensorSplit((images, tokens), (labels,), double)
    order = torch.randperm(50, generator=torch.Generator().manual_seed(5))
    batches = list(split.batches(8, shuffle=True, generator=torch.Generator().manual_seed(5)))
    assert [len(y) for _, (y,) in batches] == [8] * 6 + [2]
    assert seen == [8] * 6 + [2]
    for k, ((x, t), (y,)) in enumerate(batches):
        idx = order[8 * k:8 * (k + 1)]
        assert torch.equal(y, idx)
        assert torch.equal(x, images[idx] * 2) and torch.equal(t, tokens[idx])
    subset = torch.tensor([7, 3, 41, 0, 19])  # `indices`, as distributed training gives each process
    got = [y for _, (y,) in split.batches(2, indices=subset)]
    assert [g.tolist() for g in got] == [[7, 3], [41, 0], [19]]
    plain = [y for _, (y,) in split.batches(16)]  # no order: plain slices
    assert torch.equal(torch.cat(plain), labels) and len(plain) == 4


def test_a_tensor_that_is_input_and_target_is_gathered_once_per_chunk():
    import torch

    from layerloom.core.data import TensorSplit

    x = torch.randn(50, 3)
    split = TensorSplit((x,), (x,))  # a reconstruction task: the target is the input
    order = torch.randperm(50, generator=torch.Generator().manual_seed(1))
    seen = []
    for (xb,), (yb,) in split.batches(8, shuffle=True, generator=torch.Generator().manual_seed(1)):
        assert torch.equal(xb, yb) and xb.data_ptr() == yb.data_ptr()  # the same gathered memory
        seen.append(xb)
    assert torch.equal(torch.cat(seen), x[order])
    other = TensorSplit((x,), (x.clone(),))  # equal values, another tensor: gathered on its own
    (xb, ), (yb, ) = next(other.batches(8, shuffle=True, generator=torch.Generator().manual_seed(1)))
    assert torch.equal(xb, yb) and xb.data_ptr() != yb.data_ptr()
