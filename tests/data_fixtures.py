"""Small data files in the formats Layerloom's data readers load, written into a test's tmp_path:
MNIST IDX files (gzipped, torchvision's folder layout), CIFAR-10 python batches (written opcode by opcode
the way Python 2's cPickle wrote the real ones), image folders, .npz, CSV/TSV, and small graphs."""

from __future__ import annotations

import gzip
import hashlib
import io
import struct
import tarfile
from pathlib import Path

import numpy as np

# --- MNIST ----------------------------------------------------------------------------------------


def idx_bytes(array: np.ndarray) -> bytes:
    """IDX: 0, 0, type (0x08 = unsigned byte), rank; the sizes big-endian; the values."""
    assert array.dtype == np.uint8
    head = bytes([0, 0, 0x08, array.ndim]) + b"".join(struct.pack(">I", d) for d in array.shape)
    return head + array.tobytes()


def write_mnist(root: Path, folder: str = "MNIST", n_train: int = 60, n_test: int = 20, seed: int = 0,
                gz: bool = True) -> dict:
    """Fake MNIST files in torchvision's layout <root>/<folder>/raw/*-ubyte.gz; returns the arrays."""
    rng = np.random.default_rng(seed)
    raw = root / folder / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": (np.arange(n_train) % 10).astype(np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": (np.arange(n_test) % 10).astype(np.uint8),
    }
    for name, arr in arrays.items():
        data = idx_bytes(arr)
        if gz:
            (raw / f"{name}.gz").write_bytes(gzip.compress(data))
        else:
            (raw / name).write_bytes(data)
    return arrays


def md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


# --- CIFAR-10 (Python 2 style pickles, protocol 2) ------------------------------------------------------


def _int(v: int) -> bytes:
    if 0 <= v < 256:
        return b"K" + bytes([v])
    if 0 <= v < 65536:
        return b"M" + struct.pack("<H", v)
    return b"J" + struct.pack("<i", v)


def _str(s: bytes) -> bytes:
    return b"U" + bytes([len(s)]) + s if len(s) < 256 else b"T" + struct.pack("<i", len(s)) + s


def _py2(obj) -> bytes:
    if isinstance(obj, bytes):
        return _str(obj)
    if isinstance(obj, bool):
        return b"\x88" if obj else b"\x89"
    if isinstance(obj, int):
        return _int(obj)
    if obj is None:
        return b"N"
    if isinstance(obj, list):
        return b"](" + b"".join(_py2(v) for v in obj) + b"e"
    if isinstance(obj, tuple):
        return b"(" + b"".join(_py2(v) for v in obj) + b"t"
    if isinstance(obj, dict):
        return b"}(" + b"".join(_py2(k) + _py2(v) for k, v in obj.items()) + b"u"
    if isinstance(obj, np.ndarray):
        assert obj.dtype == np.uint8
        dtype = b"cnumpy\ndtype\n" + _str(b"u1") + _int(0) + _int(1) + b"\x87R" + _py2(
            (3, b"|", None, None, None, -1, -1, 0)) + b"b"
        return (b"cnumpy.core.multiarray\n_reconstruct\n" + b"cnumpy\nndarray\n" + _int(0) + b"\x85" + _str(b"b")
                + b"\x87R" + b"(" + _int(1) + _py2(tuple(obj.shape)) + dtype + b"\x89" + _str(obj.tobytes()) + b"tb")
    raise TypeError(type(obj))


def py2_pickle(obj) -> bytes:
    """`obj` (bytes as Python 2 strings, ints, lists, tuples, dicts, uint8 arrays) as cPickle protocol 2."""
    return b"\x80\x02" + _py2(obj) + b"."


def cifar_batch(n: int, seed: int, label: bytes = b"training batch 1 of 5") -> tuple[bytes, np.ndarray, list[int]]:
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
    labels = [int(v) for v in rng.integers(0, 10, n)]
    names = [f"img_{seed}_{i}.png".encode() for i in range(n)]
    obj = {b"batch_label": label, b"labels": labels, b"data": data, b"filenames": names}
    return py2_pickle(obj), data, labels


CIFAR_NAMES = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse", b"ship", b"truck"]


def write_cifar(root: Path, n: int = 12) -> dict:
    """Fake CIFAR-10 batches in <root>/cifar-10-batches-py; returns {file: (data, labels)}."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for i, name in enumerate([*(f"data_batch_{k}" for k in range(1, 6)), "test_batch"]):
        blob, data, labels = cifar_batch(n, seed=i)
        (folder / name).write_bytes(blob)
        out[name] = (data, labels)
    (folder / "batches.meta").write_bytes(py2_pickle({b"label_names": CIFAR_NAMES, b"num_vis": 3072,
                                                      b"num_cases_per_batch": n}))
    return out


def cifar_archive(path: Path, n: int = 6, extra: dict[str, bytes] | None = None) -> bytes:
    """A cifar-10-python.tar.gz with fake batches (and `extra` members, e.g. a path that climbs out)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        members = {f"cifar-10-batches-py/data_batch_{k}": cifar_batch(n, k)[0] for k in range(1, 6)}
        members["cifar-10-batches-py/test_batch"] = cifar_batch(n, 9)[0]
        members["cifar-10-batches-py/batches.meta"] = py2_pickle({b"label_names": CIFAR_NAMES})
        members.update(extra or {})
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    path.write_bytes(buf.getvalue())
    return buf.getvalue()


# --- image folders, npz, csv ------------------------------------------------------------------------------


def write_image_folder(root: Path, classes=("cats", "dogs"), per_class: int = 4, size=(10, 12), mode: str = "L",
                       seed: int = 0) -> Path:
    from PIL import Image

    rng = np.random.default_rng(seed)
    for ci, cls in enumerate(classes):
        d = root / cls
        d.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            shape = (*size, 3) if mode == "RGB" else size
            arr = rng.integers(0, 256, shape, dtype=np.uint8)
            arr[0, 0] = ci * 100  # a mark of the class
            Image.fromarray(arr, mode=mode).save(d / f"{i}.png")
    return root


def write_csv(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def tabular_csv(path: Path, n: int = 40, seed: int = 0, regression: bool = False, words: bool = False) -> Path:
    rng = np.random.default_rng(seed)
    lines = ["a,b,c,label"]
    for i in range(n):
        a, b, c = rng.normal(size=3)
        if regression:
            y = f"{a * 2 + b + 0.5:.4f}"
        elif words:
            y = ["red", "green", "blue"][i % 3]
        else:
            y = str(i % 3)
        lines.append(f"{a:.4f},{b:.4f},{c:.4f},{y}")
    return write_csv(path, "\n".join(lines) + "\n")


def text_tsv(path: Path, n: int = 30) -> Path:
    good = ["great fun", "loved it", "wonderful acting", "a delight"]
    bad = ["so boring", "hated it", "awful plot", "a mess"]
    lines = []
    for i in range(n):
        if i % 2:
            lines.append(f"spam\t{good[i % 4]} and more {good[(i + 1) % 4]}")
        else:
            lines.append(f"ham\t{bad[i % 4]}, really {bad[(i + 1) % 4]}")
    return write_csv(path, "\n".join(lines) + "\n")


def series_csv(path: Path, n: int = 120) -> Path:
    t = np.arange(n)
    values = 100 + 10 * np.sin(2 * np.pi * t / 12) + t
    lines = ["Month,Passengers"] + [f"{1950 + i // 12}-{i % 12 + 1:02d},{v:.2f}" for i, v in enumerate(values)]
    return write_csv(path, "\r\n".join(lines))


# --- graphs -------------------------------------------------------------------------------------------


def image_classifier(shape=(1, 28, 28), classes: int = 10, loss: str = "cross_entropy", dtype: str = "float32"):
    """Input → Conv2d → ReLU → MaxPool → Flatten → Dense(classes) → Dropout → Output."""
    from layerloom.core import Graph

    g = Graph()
    i = g.add("Input", name="image", shape=list(shape), dtype=dtype)
    prev = i
    if len(shape) == 3:
        for t, kw in (("Conv2d", {"out_channels": 4, "kernel_size": 3, "padding": 1}), ("ReLU", {}),
                      ("MaxPool2d", {"kernel_size": 2}), ("Flatten", {})):
            nid = g.add(t, **kw)
            g.connect(prev, nid)
            prev = nid
    d = g.add("Dense", name="logits", out_features=classes)
    g.connect(prev, d)
    drop = g.add("Dropout", p=0.1)
    g.connect(d, drop)
    o = g.add("Output", name="out", loss=loss)
    g.connect(drop, o)
    return g


def text_classifier(seq_len: int = 64, vocab: int = 5000, classes: int = 2, dtype: str = "int64"):
    from layerloom.core import Graph

    g = Graph()
    i = g.add("Input", name="tokens", shape=[seq_len], dtype=dtype)
    e = g.add("Embedding", name="emb", num_embeddings=vocab, embedding_dim=8)
    g.connect(i, e)
    lstm = g.add("LSTM", hidden_size=8)
    g.connect(e, lstm)
    d = g.add("Dense", name="head", out_features=classes)
    g.connect(lstm, d)
    o = g.add("Output", name="out", loss="cross_entropy")
    g.connect(d, o)
    return g


def forecaster(window: int = 30, features: int = 1, horizon: int = 1, loss: str = "mse"):
    from layerloom.core import Graph

    g = Graph()
    i = g.add("Input", name="window", shape=[window, features])
    lstm = g.add("LSTM", hidden_size=8)
    g.connect(i, lstm)
    d = g.add("Dense", name="head", out_features=horizon)
    g.connect(lstm, d)
    o = g.add("Output", name="out", loss=loss)
    g.connect(d, o)
    return g


# --- prepared data ----------------------------------------------------------------------------------


def small_classification(n: int = 96, n_val: int = 32, seed: int = 0):
    """PreparedData of `n` + `n_val` random 8-feature rows in 3 classes (a linear rule), for trainer tests."""
    import torch

    from layerloom.core.data import DataInfo, PreparedData, TensorSplit

    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n + n_val, 8, generator=gen)
    y = (x @ torch.randn(8, 3, generator=gen)).argmax(1)
    info = DataInfo("generated", "classification", [(8,)], ["float32"], [()], num_classes=3, train_size=n,
                    val_size=n_val)
    return PreparedData(info, TensorSplit((x[:n],), (y[:n],)), TensorSplit((x[n:],), (y[n:],)))
