"""Downloaded sets without the network: files in the formats the readers load are written into a cache
folder, and the downloader fetches from file:// addresses (progress, cancel, checksums, safe unpacking).
CIFAR-10's pickled batches are read by a restricted unpickler that runs no code."""

from __future__ import annotations

import pickle
import threading

import numpy as np
import pytest
import torch
from data_fixtures import cifar_archive, cifar_batch, idx_bytes, md5, py2_pickle, write_cifar, write_mnist

from layerloom.core.data import DataError, load_data, preview
from layerloom.core.data import downloads as dl


def test_cache_root(monkeypatch, tmp_path):
    monkeypatch.setenv("LAYERLOOM_DATA_DIR", str(tmp_path / "env"))
    assert dl.cache_root() == str(tmp_path / "env")
    assert dl.cache_root(tmp_path / "arg") == str(tmp_path / "arg")
    monkeypatch.delenv("LAYERLOOM_DATA_DIR")
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert dl.cache_root().endswith("/.cache/layerloom/datasets")


def test_idx_reader(tmp_path):
    arr = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    (tmp_path / "a-idx3-ubyte").write_bytes(idx_bytes(arr))
    assert np.array_equal(dl.read_idx(str(tmp_path / "a-idx3-ubyte")), arr)
    (tmp_path / "short").write_bytes(idx_bytes(arr)[:-1])
    with pytest.raises(DataError, match="header promises 24"):
        dl.read_idx(str(tmp_path / "short"))
    (tmp_path / "magic").write_bytes(b"\x01\x02\x03\x04" + bytes(10))
    with pytest.raises(DataError, match="not an IDX file"):
        dl.read_idx(str(tmp_path / "magic"))
    (tmp_path / "bad.gz").write_bytes(b"not gzip")
    with pytest.raises(DataError, match=r"bad\.gz: cannot be read"):
        dl.read_idx(str(tmp_path / "bad.gz"))


@pytest.mark.parametrize("name,folder", [("mnist", "MNIST"), ("fashion_mnist", "FashionMNIST")])
def test_mnist_from_cache(tmp_path, name, folder):
    arrays = write_mnist(tmp_path, folder, n_train=50, n_test=20)
    b = load_data(name, cache_dir=tmp_path)
    assert b.info.input_shapes == [(1, 28, 28)] and b.info.num_classes == 10
    assert b.info.train_size == 50 and b.info.val_size == 20  # the official test set validates
    shown = preview(b, 20, "val")
    assert np.array_equal(np.stack(shown.samples), arrays["t10k-images-idx3-ubyte"])
    assert shown.labels == [b.info.class_names[v] for v in arrays["t10k-labels-idx1-ubyte"]]
    if name == "fashion_mnist":
        assert b.info.class_names[0] == "T-shirt/top"
    split = load_data(name, {"validation": "split", "limit": 40}, cache_dir=tmp_path, val_fraction=0.25)
    assert split.info.train_size == 30 and split.info.val_size == 10


def test_mnist_kept_as_uint8_converted_per_batch(tmp_path):
    write_mnist(tmp_path, n_train=40, n_test=10, gz=False)  # unpacked files are read too
    u8 = load_data("mnist", {"storage": "uint8"}, cache_dir=tmp_path)
    f32 = load_data("mnist", {"storage": "float32"}, cache_dir=tmp_path)
    assert u8.train.inputs[0].dtype == torch.uint8 and f32.train.inputs[0].dtype == torch.float32
    xu, _ = next(u8.val.batches(10))
    xf, _ = next(f32.val.batches(10))
    assert xu[0].dtype == torch.float32 and torch.allclose(xu[0], xf[0], atol=1e-5)
    p = preview(u8, 2, "val")
    assert p.samples[0].dtype == np.uint8 and p.samples[0].shape == (28, 28)


def test_mnist_files_that_do_not_fit(tmp_path):
    write_mnist(tmp_path, n_train=10, n_test=5)
    raw = tmp_path / "MNIST" / "raw"
    import gzip

    (raw / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(np.zeros(9, np.uint8))))
    with pytest.raises(DataError, match="do not fit together"):
        load_data("mnist", cache_dir=tmp_path)


def _serve_mnist(monkeypatch, tmp_path, corrupt: bool = False):
    src = tmp_path / "server"
    src.mkdir()
    arrays = write_mnist(tmp_path / "made", n_train=12, n_test=6)
    resources = []
    for name in arrays:
        data = (tmp_path / "made" / "MNIST" / "raw" / f"{name}.gz").read_bytes()
        (src / f"{name}.gz").write_bytes(data)
        resources.append((f"{name}.gz", "0" * 32 if corrupt else md5(data)))
    monkeypatch.setattr(dl, "mnist_resources", lambda folder: ([src.as_uri() + "/"], resources))
    return arrays


def test_download_with_progress(monkeypatch, tmp_path):
    _serve_mnist(monkeypatch, tmp_path)
    calls = []
    b = load_data("mnist", cache_dir=tmp_path / "cache", progress=lambda d, t, m: calls.append((d, t, m)))
    assert b.info.train_size == 12
    assert calls and calls[-1][0] == calls[-1][1] > 0 and "mnist" in calls[-1][2]
    assert sorted(p.name for p in (tmp_path / "cache" / "MNIST" / "raw").iterdir()) == [
        "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz"]
    calls.clear()
    load_data("mnist", cache_dir=tmp_path / "cache", progress=lambda d, t, m: calls.append(d))
    assert not calls  # cached: no second download


def test_download_cancel_leaves_nothing(monkeypatch, tmp_path):
    _serve_mnist(monkeypatch, tmp_path)
    cancel = threading.Event()
    with pytest.raises(DataError, match=r"^cancelled$"):
        load_data("mnist", cache_dir=tmp_path / "cache", progress=lambda d, t, m: cancel.set(), cancel=cancel)
    raw = tmp_path / "cache" / "MNIST" / "raw"
    assert not raw.exists() or not list(raw.iterdir())


def test_download_checksum_and_unreachable(monkeypatch, tmp_path):
    _serve_mnist(monkeypatch, tmp_path, corrupt=True)
    with pytest.raises(DataError, match="damaged \\(checksum mismatch\\)"):
        load_data("mnist", cache_dir=tmp_path / "cache")
    monkeypatch.setattr(dl, "mnist_resources", lambda folder: ([(tmp_path / "nowhere").as_uri() + "/"],
                                                               [("train-images-idx3-ubyte.gz", "0" * 32)]))
    with pytest.raises(DataError, match=r"could not download mnist .*put the file train-images-idx3-ubyte\.gz into"):
        load_data("mnist", cache_dir=tmp_path / "cache2")


# --- CIFAR-10 ------------------------------------------------------------------------------------------


def test_py2_pickle_fixture_matches_pickle():
    """The hand-written batches load with Python's own pickle (trusted here: we wrote them)."""
    blob, data, labels = cifar_batch(4, seed=1)
    ref = pickle.loads(blob, encoding="bytes")
    assert np.array_equal(ref[b"data"], data) and ref[b"labels"] == labels


def test_safe_reader_reads_python2_and_python3_pickles(tmp_path):
    blob, data, labels = cifar_batch(5, seed=2)
    (tmp_path / "b2").write_bytes(blob)
    got = dl.read_cifar_batch(str(tmp_path / "b2"))
    assert np.array_equal(got["data"], data) and got["labels"] == labels
    (tmp_path / "b3").write_bytes(pickle.dumps({b"data": data, b"labels": labels}, protocol=2))
    got3 = dl.read_cifar_batch(str(tmp_path / "b3"))
    assert np.array_equal(got3["data"], data) and got3["labels"] == labels


class _Evil:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        import os

        return (os.makedirs, (self.path,))


def test_safe_reader_runs_no_code(tmp_path):
    target = tmp_path / "pwned"
    (tmp_path / "evil").write_bytes(pickle.dumps({b"data": _Evil(str(target)), b"labels": []}, protocol=2))
    with pytest.raises(DataError, match=r"refuses to load (posix|os)\.makedirs"):
        dl.read_cifar_batch(str(tmp_path / "evil"))
    assert not target.exists()
    (tmp_path / "objects").write_bytes(py2_pickle({b"x": 1})[:-1] + b"")
    with pytest.raises(DataError):
        dl.read_cifar_batch(str(tmp_path / "objects"))


def test_cifar_from_cache(tmp_path):
    batches = write_cifar(tmp_path, n=6)
    b = load_data("cifar10", cache_dir=tmp_path)
    assert b.info.input_shapes == [(3, 32, 32)] and b.info.train_size == 30 and b.info.val_size == 6
    assert b.info.class_names[0] == "airplane"
    p = preview(b, 1, "val")
    data, labels = batches["test_batch"]
    assert np.array_equal(p.samples[0], data[0].reshape(3, 32, 32).transpose(1, 2, 0))
    assert p.labels[0] == b.info.class_names[labels[0]]
    aug = load_data("cifar10", {"random_crop": 4, "hflip": True}, cache_dir=tmp_path)
    assert aug.info.augmentation == {"random_crop": 4, "hflip": True}


def test_cifar_download_unpacks_only_batches(monkeypatch, tmp_path):
    archive = tmp_path / "server" / "cifar-10-python.tar.gz"
    archive.parent.mkdir()
    data = cifar_archive(archive, n=4, extra={"../escaped": b"x", "cifar-10-batches-py/../../escaped2": b"x"})
    monkeypatch.setattr(dl, "cifar_resource", lambda: (archive.as_uri(), "cifar-10-python.tar.gz", md5(data)))
    cache = tmp_path / "cache"
    b = load_data("cifar10", cache_dir=cache)
    assert b.info.train_size == 20 and b.info.val_size == 4
    assert not (tmp_path / "escaped").exists() and not (tmp_path / "escaped2").exists()
    assert not (cache / "cifar-10-python.tar.gz").exists()  # the archive is removed once unpacked
