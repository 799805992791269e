"""Built-in data sets that ship inside scikit-learn, so they need no network: `digits` (8×8 handwritten
digits), `iris`, `wine`, `breast_cancer` (tables of features)."""

from __future__ import annotations

import functools

import numpy as np

from layerloom.core.data.base import CLASSIFICATION, IMAGE, RECONSTRUCTION, VECTOR
from layerloom.core.data.options import Options
from layerloom.core.data.prepare import Raw

_FILES = {"digits": "digits.csv.gz", "iris": "iris.csv", "wine": "wine_data.csv",
          "breast_cancer": "breast_cancer.csv"}


def _data_file(name: str) -> str | None:
    """The CSV scikit-learn ships for `name`, found without importing scikit-learn (which takes a second)."""
    import importlib.util
    import os

    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.origin:
        return None
    path = os.path.join(os.path.dirname(spec.origin), "datasets", "data", _FILES[name])
    return path if os.path.exists(path) else None


@functools.lru_cache(maxsize=4)
def _sklearn(name: str):
    """(data, target, class names) of a scikit-learn toy set; read-only arrays, cached."""
    path = _data_file(name)
    data = target = names = None
    if path is not None:
        try:
            if name == "digits":
                table = np.loadtxt(path, delimiter=",", dtype=np.float64)
                data, target = table[:, :-1].reshape(-1, 8, 8), table[:, -1]
                names = [str(i) for i in range(10)]
            else:
                with open(path) as fh:
                    head = fh.readline().strip().split(",")
                table = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float64)
                data, target, names = table[:, :-1], table[:, -1], head[2:]
                if table.shape != (int(head[0]), int(head[1]) + 1):
                    data = None
        except (OSError, ValueError, IndexError):
            data = None
    if data is None:  # another scikit-learn layout: its own loader
        from sklearn import datasets

        bunch = getattr(datasets, f"load_{name}")()
        data = bunch.images if name == "digits" else bunch.data
        target, names = bunch.target, [str(n) for n in bunch.target_names]
    data = np.ascontiguousarray(data, dtype=np.float64)
    target = np.asarray(target, dtype=np.int64)
    data.setflags(write=False)
    target.setflags(write=False)
    return data, target, list(names)


def digits(opts: Options) -> Raw:
    """1,797 grey 8×8 images of handwritten digits (pixel values 0–16), 10 classes. Image 1×8×8; with
    `flatten: true` a vector of 64; with `resize: [28, 28]` an MNIST-sized 1×28×28; with
    `task: reconstruction` the image is its own target (autoencoders)."""
    task = opts.choice("task", CLASSIFICATION, (CLASSIFICATION, RECONSTRUCTION))
    if opts.raw("target") is not None:  # `target: input`: the autoencoder template's older spelling
        if opts.raw("target") != "input":
            raise opts.error("target", "input (the image is its own target), or leave it out")
        task = RECONSTRUCTION
    images, target, names = _sklearn("digits")
    x = images.astype(np.float32)[:, None]  # N×1×8×8, 0..16
    notes = ["scikit-learn's handwritten digits (pixel values 0–16, scaled to 0–1, then normalized)"]
    if task == RECONSTRUCTION:
        return Raw(IMAGE, x, None, RECONSTRUCTION, "digits", None, notes, scale=16.0, where="digits",
                   labels=target.copy(), label_names=names)  # kept for views (a VAE's latent scatter)
    return Raw(IMAGE, x, target.copy(), CLASSIFICATION, "digits", names, notes, scale=16.0, where="digits")


def table(name: str):
    def load(opts: Options) -> Raw:
        data, target, names = _sklearn(name)
        notes = [f"scikit-learn's {name.replace('_', ' ')} data: {data.shape[1]} features "
                 "(standardized with the training part's mean and std)"]
        return Raw(VECTOR, data.astype(np.float32), target.copy(), CLASSIFICATION, name, names, notes, where=name)

    load.__doc__ = f"scikit-learn's {name} table."
    return load
