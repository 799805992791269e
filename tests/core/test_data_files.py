"""Data files: image folders, .npz, CSV tables, texts in CSV/TSV/TXT, time-series CSV, and every error
they can give (naming the file, the line and the option)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from data_fixtures import series_csv, tabular_csv, text_tsv, write_csv, write_image_folder

from layerloom.core.data import DataError, load_data, preview

# --- image folders ----------------------------------------------------------------------------------


def test_image_folder_grey(tmp_path):
    root = write_image_folder(tmp_path / "pets", per_class=5, size=(10, 12))
    b = load_data(str(root), val_fraction=0.2)
    assert b.info.class_names == ["cats", "dogs"] and b.info.input_shapes == [(1, 10, 12)]
    assert b.info.train_size == 8 and b.info.val_size == 2
    p = preview(b, 3)
    assert p.samples[0].shape == (10, 12) and p.samples[0].dtype == np.uint8
    assert set(p.class_counts) == {"cats", "dogs"} and sum(p.class_counts.values()) == 8


def test_image_folder_pixels_round_trip(tmp_path):
    """Un-normalized previews give back the pixels of the files; the class mark survives."""
    root = write_image_folder(tmp_path / "pets", per_class=3, size=(6, 6))
    b = load_data(str(root), val_fraction=0.0)
    p = preview(b, 6)
    for img, label in zip(p.samples, p.labels):
        assert img[0, 0] == (0 if label == "cats" else 100)


def test_image_folder_rgb_resize_and_mixed_sizes(tmp_path):
    root = tmp_path / "colour"
    write_image_folder(root, classes=("a", "b"), per_class=3, size=(8, 8), mode="RGB")
    write_image_folder(root, classes=("a",), per_class=1, size=(16, 16), mode="RGB", seed=5)  # another size
    b = load_data(str(root))
    assert b.info.input_shapes == [(3, 8, 8)]
    assert any("most common" in n for n in b.info.notes)
    r = load_data(str(root), {"resize": [12, 10], "color": "grayscale"})
    assert r.info.input_shapes == [(1, 12, 10)]
    assert preview(r, 1).samples[0].shape == (12, 10)
    assert preview(b, 1).samples[0].shape == (8, 8, 3)


def test_image_folder_errors(tmp_path):
    with pytest.raises(DataError, match="no class sub-folders"):
        (tmp_path / "empty").mkdir()
        load_data(str(tmp_path / "empty"))
    loose = tmp_path / "loose"
    loose.mkdir()
    write_image_folder(tmp_path / "tmp", classes=("x",), per_class=1)
    (tmp_path / "tmp" / "x" / "0.png").rename(loose / "0.png")
    with pytest.raises(DataError, match="holds 1 images directly"):
        load_data(str(loose))
    one = write_image_folder(tmp_path / "one", classes=("only",), per_class=2)
    with pytest.raises(DataError, match="one class only"):
        load_data(str(one))
    bad = write_image_folder(tmp_path / "bad", per_class=2)
    (bad / "cats" / "broken.png").write_bytes(b"not an image")
    with pytest.raises(DataError, match=r"broken\.png: cannot be read as an image") as err:
        load_data(str(bad))
    assert err.value.path.endswith("broken.png")
    with pytest.raises(DataError, match="color"):
        load_data(str(write_image_folder(tmp_path / "ok")), {"color": "purple"})


# --- npz ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape,expected", [((20, 9, 7), (1, 9, 7)), ((20, 3, 9, 7), (3, 9, 7)),
                                            ((20, 9, 7, 3), (3, 9, 7)), ((20, 5), (5,))])
def test_npz_layouts(tmp_path, shape, expected):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, shape, dtype=np.uint8)
    np.savez(tmp_path / "d.npz", x=x, y=np.arange(20) % 4)
    b = load_data(str(tmp_path / "d.npz"))
    assert b.info.input_shapes == [expected] and b.info.num_classes == 4
    if len(expected) == 3 and shape[-1] == 3:
        # channels moved first: the preview (H×W×C) shows the original pixels
        p = preview(b, 1, "train")
        idx = int(np.flatnonzero([np.array_equal(p.samples[0], x[i]) for i in range(20)])[0])
        assert idx >= 0


def test_npz_float_images_regression_and_labels(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.random((30, 1, 6, 6)).astype(np.float32)
    np.savez(tmp_path / "r.npz", x=x, y=rng.normal(size=(30, 2)).astype(np.float32))
    b = load_data(str(tmp_path / "r.npz"))
    assert b.info.task == "regression" and b.info.target_shapes == [(2,)]
    assert b.train.targets[0].dtype == torch.float32 and b.train.targets[0].shape[1:] == (2,)
    np.savez(tmp_path / "s.npz", x=x, y=np.array(["cat", "dog", "eel"] * 10))
    s = load_data(str(tmp_path / "s.npz"))
    assert s.info.class_names == ["cat", "dog", "eel"]
    np.savez(tmp_path / "shifted.npz", x=x, y=np.arange(30) % 3 + 1)
    sh = load_data(str(tmp_path / "shifted.npz"))
    assert sh.info.class_names == ["1", "2", "3"] and int(sh.train.targets[0].max()) == 2
    np.savez(tmp_path / "seq.npz", x=rng.random((30, 12, 4)), y=np.arange(30) % 2)
    q = load_data(str(tmp_path / "seq.npz"), {"kind": "sequence"})
    assert q.info.input_shapes == [(12, 4)] and q.info.kind == "sequence"


def test_npz_errors(tmp_path):
    np.savez(tmp_path / "nox.npz", images=np.zeros((3, 4)), y=np.zeros(3))
    with pytest.raises(DataError, match=r"nox\.npz has no array x \(it holds: images, y\)"):
        load_data(str(tmp_path / "nox.npz"))
    np.savez(tmp_path / "count.npz", x=np.zeros((5, 4)), y=np.zeros(4, dtype=np.int64))
    with pytest.raises(DataError, match="x has 5 samples but y has 4 labels"):
        load_data(str(tmp_path / "count.npz"))
    np.savez(tmp_path / "obj.npz", x=np.array([{"a": 1}], dtype=object), y=np.zeros(1))
    with pytest.raises(DataError, match="Python objects, which are not loaded for safety"):
        load_data(str(tmp_path / "obj.npz"))
    (tmp_path / "junk.npz").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(DataError, match=r"junk\.npz cannot be read as a NumPy \.npz file"):
        load_data(str(tmp_path / "junk.npz"))
    with pytest.raises(DataError, match="file not found"):
        load_data(str(tmp_path / "missing.npz"))
    np.savez(tmp_path / "frac.npz", x=np.zeros((4, 2)), y=np.array([0.5, 1, 2, 3]))
    with pytest.raises(DataError, match="labels have fractions"):
        load_data(str(tmp_path / "frac.npz"), {"task": "classification"})


# --- CSV tables -----------------------------------------------------------------------------------------


def test_csv_classification_regression_words(tmp_path):
    b = load_data(str(tabular_csv(tmp_path / "t.csv")))
    assert b.info.task == "classification" and b.info.input_shapes == [(3,)] and b.info.num_classes == 3
    assert b.info.train_size + b.info.val_size == 40
    r = load_data(str(tabular_csv(tmp_path / "r.csv", regression=True)))
    assert r.info.task == "regression" and r.info.target_shapes == [(1,)]
    w = load_data(str(tabular_csv(tmp_path / "w.csv", words=True)))
    assert w.info.class_names == ["blue", "green", "red"]
    # the target option picks another column; task: regression makes whole numbers targets
    a = load_data(str(tmp_path / "t.csv"), {"target": "a"})
    assert a.info.task == "regression" and a.info.input_shapes == [(3,)]
    c = load_data(str(tmp_path / "t.csv"), {"task": "regression"})
    assert c.info.task == "regression"
    n = load_data(str(tmp_path / "r.csv"), {"normalize_target": True})
    assert abs(float(n.train.targets[0].mean())) < 1e-4 and n.info.target_normalization is not None


def test_csv_without_header_semicolons_and_quotes(tmp_path):
    path = write_csv(tmp_path / "n.csv", "".join(f"{i};{i * 2}.5;{i % 2}\n" for i in range(20)))
    b = load_data(str(path))
    assert b.info.input_shapes == [(2,)] and b.info.num_classes == 2
    q = write_csv(tmp_path / "q.csv", 'x,y,label\n"1,5",2,"a"\n' + "".join(f"{i},3,b\n" for i in range(9)))
    with pytest.raises(DataError, match=r"q\.csv, line 2: column 'x' has '1,5', but a number"):
        load_data(str(q))


def test_csv_errors(tmp_path):
    ragged = write_csv(tmp_path / "ragged.csv", "a,b,label\n1,2,0\n3,4,1\n5,0\n")
    with pytest.raises(DataError, match=r"ragged\.csv, line 4: 2 values where the header has 3") as err:
        load_data(str(ragged))
    assert err.value.line == 4 and err.value.path.endswith("ragged.csv")
    bad = write_csv(tmp_path / "bad.csv", "a,b,label\n1,2,0\n3,x y z,1\n" + "1,2,0\n" * 5)
    with pytest.raises(DataError, match=r"bad\.csv, line 3: column 'b' has 'x y z'"):
        load_data(str(bad), {"task": "classification"})
    empty = write_csv(tmp_path / "empty.csv", "\n\n")
    with pytest.raises(DataError, match=r"empty\.csv is empty"):
        load_data(str(empty))
    missing = write_csv(tmp_path / "missing.csv", "a,b,label\n1,,0\n3,4,1\n")
    with pytest.raises(DataError, match="line 2: column 'b' has an empty value"):
        load_data(str(missing))
    with pytest.raises(DataError, match=r"option target names the column 'lable'; did you mean 'label'\?"):
        load_data(str(tabular_csv(tmp_path / "t.csv")), {"target": "lable"})
    binary = tmp_path / "bin.csv"
    binary.write_bytes(b"\x00\x01\x02garbage")
    with pytest.raises(DataError, match=r"bin\.csv is not a text file"):
        load_data(str(binary))
    with pytest.raises(DataError, match="unknown kind of data file"):
        (tmp_path / "data.xlsx").write_bytes(b"x")
        load_data(str(tmp_path / "data.xlsx"))
    with pytest.raises(DataError, match="file not found"):
        load_data(str(tmp_path / "nope.csv"))


# --- texts --------------------------------------------------------------------------------------------


def test_text_tsv_without_header(tmp_path):
    path = text_tsv(tmp_path / "sms.tsv")
    b = load_data(str(path), {"seq_len": 8}, val_fraction=0.2)
    assert b.info.kind == "text" and b.info.input_dtypes == ["int64"] and b.info.input_shapes == [(8,)]
    assert b.info.class_names == ["ham", "spam"]
    p = preview(b, 2)
    assert p.texts and all(isinstance(t, str) and t for t in p.texts)
    # pre-padding: the ids sit at the end of the row
    row = b.train.inputs[0][0]
    assert row[-1] != 0


def test_text_csv_with_header_char_tokens_and_post_padding(tmp_path):
    lines = ["label,review"] + [f"{i % 2},\"{'good film' if i % 2 else 'bad, bad film'}\"" for i in range(20)]
    path = write_csv(tmp_path / "reviews.csv", "\n".join(lines) + "\n")
    b = load_data(str(path), {"tokenizer": "char", "seq_len": 20, "padding": "post"})
    assert b.info.kind == "text" and b.info.num_classes == 2
    vocab = b.info.vocabulary
    assert set("godfilm ba,") <= set(vocab)
    assert b.train.inputs[0][0, 0] != 0 and b.train.inputs[0][0, -1] == 0
    w = load_data(str(path), {"text_column": "review", "label_column": 0})
    assert w.info.kind == "text"


def test_text_vocabulary_from_training_part_only(tmp_path):
    lines = [f"a\tcommon word{i}" for i in range(10)]
    path = write_csv(tmp_path / "v.tsv", "\n".join(lines) + "\n")
    b = load_data(str(path), {"label_column": 0, "text_column": 1}, val_fraction=0.5, seed=3)
    vocab = set(b.info.vocabulary)
    train_words = {t for row in b.train.inputs[0].tolist() for t in row}
    assert "common" in vocab
    # each wordN appears once: the validation texts' own words are unknown (id 1)
    assert (b.val.inputs[0] == 1).sum() == b.info.val_size
    assert len(vocab) == 2 + 1 + b.info.train_size and 1 not in train_words


def test_unquoted_delimiters_in_text_are_kept(tmp_path):
    path = write_csv(tmp_path / "t.csv", "label,text\n" + "1,hello, world, again\n0,bye now\n" * 3)
    b = load_data(str(path), {"text_column": "text"})
    assert b.info.train_size + b.info.val_size == 6


def test_text_errors(tmp_path):
    path = write_csv(tmp_path / "one.tsv", "just some words here\nand more words\n")
    with pytest.raises(DataError, match=r"one\.tsv: has one column"):
        load_data(str(path))
    path = text_tsv(tmp_path / "sms.tsv")
    with pytest.raises(DataError, match="no header row"):
        load_data(str(path), {"text_column": "message"})
    with pytest.raises(DataError, match="option text_column is column 5, but the file has 2 columns"):
        load_data(str(path), {"text_column": 5})
    with pytest.raises(DataError, match="vocab_size"):
        load_data(str(path), {"vocab_size": 1})


# --- time series -------------------------------------------------------------------------------------


def test_timeseries_csv_detected_windows_and_normalization(tmp_path):
    path = series_csv(tmp_path / "air.csv", n=120)
    b = load_data(str(path), {"window": 12, "horizon": 2}, val_fraction=0.25)
    assert b.info.kind == "series" and b.info.input_shapes == [(12, 1)] and b.info.target_shapes == [(2,)]
    values = np.array([float(line.split(",")[1]) for line in path.read_text().splitlines()[1:]])
    train_part = values[:90]
    norm = b.info.normalization
    assert norm["mean"][0] == pytest.approx(train_part.mean()) and norm["std"][0] == pytest.approx(train_part.std())
    assert b.info.train_size == 90 - 12 - 2 + 1
    assert b.info.val_size == 30 - 2 + 1  # windows whose targets lie in the last 30 steps
    # un-normalized preview gives the file's values back
    p = preview(b, 1)
    assert np.allclose(p.samples[0], values[:12], atol=1e-3) and np.allclose(p.labels[0], values[12:14], atol=1e-3)
    auto = load_data(str(path))  # a date column and one number column: a time series without options
    assert auto.info.kind == "series"
    col = load_data(str(path), {"task": "timeseries", "column": "Passengers"})
    assert col.info.input_shapes == [(30, 1)]


def test_timeseries_errors(tmp_path):
    path = series_csv(tmp_path / "short.csv", n=20)
    with pytest.raises(DataError, match="fewer than window \\+ horizon"):
        load_data(str(path), {"window": 30})
    bad = write_csv(tmp_path / "bad.csv", "t,v\n1,2\n2,oops\n3,4\n")
    with pytest.raises(DataError, match=r"bad\.csv, line 3: column 'v' has 'oops'"):
        load_data(str(bad), {"task": "timeseries", "column": "v"})
    with pytest.raises(DataError, match="window"):
        load_data(str(path), {"window": 0})


def test_delimiter_and_header_options(tmp_path):
    path = write_csv(tmp_path / "p.txt", "".join(f"{i}|{i * 3}|{i % 2}\n" for i in range(12)))
    b = load_data(str(path), {"delimiter": "|", "header": False, "task": "classification"})
    assert b.info.input_shapes == [(2,)] and b.info.train_size + b.info.val_size == 12
    with pytest.raises(DataError, match=r"option delimiter .* one character"):
        load_data(str(path), {"delimiter": "||"})
    headed = write_csv(tmp_path / "h.csv", "f1,f2,y\n" + "".join(f"{i},{i},{i % 2}\n" for i in range(10)))
    as_data = pytest.raises(DataError, match=r"h\.csv, line 1: column 0 \(counting from 0\) has 'f1'")
    with as_data:
        load_data(str(headed), {"header": False})


def test_text_and_series_options_at_once(tmp_path):
    path = text_tsv(tmp_path / "t.tsv")
    with pytest.raises(DataError, match="ask for text and for a time series at once"):
        load_data(str(path), {"text_column": 1, "window": 5})


def test_file_without_extension_is_read_as_text_lines(tmp_path):
    src = text_tsv(tmp_path / "x.tsv")
    plain = tmp_path / "SMSCollection"
    plain.write_bytes(src.read_bytes())
    assert load_data(str(plain)).info.kind == "text"
