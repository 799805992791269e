"""Raw inputs for predictions, read by the kind of data the model was trained on: image files or folders
of them, .npz/.npy arrays, CSV rows, lines of text, a time series. Each input gets a name for the output
("digit.png", "rows.csv, line 3", "x.npz[4]")."""

from __future__ import annotations

import csv
import os

import numpy as np

from layerloom.core.predict.models import PredictError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm")
MAX_TEXT_BYTES = 64 * 2**20
MAX_IMAGE_PIXELS = 64_000_000


def read_inputs(paths: list[str], pre, texts: list[str] | None = None) -> tuple[list[str], object]:
    """(names, raw data) for `pre.prepare`; PredictError names the file and what is wrong."""
    texts = list(texts or [])
    if not paths and not texts:
        raise PredictError("give something to predict: files, a folder" + (" or --text \"…\"" if pre.kind == "text"
                                                                              else ""))
    if texts and pre.kind != "text":
        raise PredictError(f"--text is for text models; this model takes {_kind_words(pre.kind)}")
    for path in paths:
        if not os.path.exists(path):
            raise PredictError(f"{path}: does not exist")
    if pre.kind == "text":
        return _texts(paths, texts)
    if pre.kind == "image":
        return _images(paths, pre)
    if pre.kind == "series":
        return _series(paths, int(pre.facts["series"]["window"]))
    return _rows(paths, pre)


def _kind_words(kind: str) -> str:
    return {"image": "images", "text": "text", "series": "a time series", "vector": "rows of features",
            "sequence": "sequences", "signal": "signals"}.get(kind, kind)


def _regular(path: str) -> None:
    """Only regular files are read (a FIFO or device would hang or never end)."""
    if not os.path.isfile(path):
        raise PredictError(f"{path}: is not a regular file")


# --- text ------------------------------------------------------------------------------------------


def _texts(paths: list[str], texts: list[str]):
    names = [f"text {i + 1}" for i in range(len(texts))]
    out = list(texts)
    for path in paths:
        _regular(path)
        if os.path.getsize(path) > MAX_TEXT_BYTES:
            raise PredictError(f"{path}: is larger than {MAX_TEXT_BYTES // 2**20} MB; split it")
        try:
            with open(path, encoding="utf-8-sig", errors="strict") as f:
                lines = f.read().splitlines()
        except UnicodeDecodeError as err:
            raise PredictError(f"{path}: is not UTF-8 text (bad byte at position {err.start})") from None
        except OSError as err:
            raise PredictError(f"{path}: cannot be read ({err.strerror or err})") from None
        for i, line in enumerate(lines, 1):
            if line.strip():
                names.append(f"{os.path.basename(path)}, line {i}")
                out.append(line)
    if not out:
        raise PredictError("the text files hold no lines to predict")
    return names, out


# --- images ----------------------------------------------------------------------------------------


def _image_files(path: str) -> list[str]:
    if os.path.isdir(path):
        found = []
        for root, dirs, files in os.walk(path):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            found += [os.path.join(root, f) for f in sorted(files)
                      if f.lower().endswith(IMAGE_EXTENSIONS) and not f.startswith(".")]
        if not found:
            raise PredictError(f"{path}: holds no images ({', '.join(IMAGE_EXTENSIONS)})")
        return found
    return [path]


def _read_image(path: str, channels: int) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    _regular(path)
    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
    try:
        with Image.open(path) as img:
            if img.width * img.height > MAX_IMAGE_PIXELS:
                raise PredictError(f"{path}: is {img.width}×{img.height} pixels; images up to "
                                   f"{MAX_IMAGE_PIXELS // 10**6} megapixels are read")
            img = img.convert("RGBA" if img.mode == "P" else img.mode)
            return np.asarray(img.convert("L" if channels == 1 else "RGB"))
    except Image.DecompressionBombError:
        raise PredictError(f"{path}: declares more than {MAX_IMAGE_PIXELS // 10**6} megapixels; refused") from None
    except (UnidentifiedImageError, OSError, ValueError) as err:
        raise PredictError(f"{path}: cannot be read as an image ({err})") from None


def _images(paths: list[str], pre):
    channels = int(pre.facts["image"]["channels"])
    names, images = [], []
    for path in paths:
        low = path.lower()
        if low.endswith((".npz", ".npy")):
            x = _array(path)
            if x.ndim == 2 or (x.ndim == 3 and x.shape[-1] in (1, 3, 4)):
                x = x[None]
            images += list(x)
            names += [f"{os.path.basename(path)}[{i}]" for i in range(len(x))]
            continue
        for file in _image_files(path):
            if not os.path.isdir(path) and not file.lower().endswith(IMAGE_EXTENSIONS):
                raise PredictError(f"{file}: is not an image file ({', '.join(IMAGE_EXTENSIONS)}) nor a .npz array")
            images.append(_read_image(file, channels))
            names.append(os.path.relpath(file, path) if os.path.isdir(path) else os.path.basename(file))
    return names, images


def _array(path: str) -> np.ndarray:
    """`x` of a .npz (or the array of a .npy), read without unpickling."""
    _regular(path)
    _check_declared(path)
    try:
        if path.lower().endswith(".npy"):
            x = np.load(path, allow_pickle=False)
        else:
            with np.load(path, allow_pickle=False) as npz:
                key = "x" if "x" in npz.files else (npz.files[0] if len(npz.files) == 1 else None)
                if key is None:
                    raise PredictError(f"{path}: has no array named x (it holds {', '.join(npz.files) or 'nothing'})")
                x = npz[key]
    except PredictError:
        raise
    except ValueError as err:
        pickled = "pickle" in str(err).lower()
        what = "holds Python objects, which are not loaded" if pickled else f"cannot be read ({err})"
        raise PredictError(f"{path}: {what}") from None
    except Exception as err:
        raise PredictError(f"{path}: cannot be read as a NumPy file ({err})") from None
    if x.dtype.kind not in "uifb" or x.size == 0:
        raise PredictError(f"{path}: must hold numbers (it holds {x.dtype}, shape {x.shape})")
    return x


def _check_declared(path: str) -> None:
    """What the file's array headers declare, before anything is loaded: arrays (not pickles), of numbers (not
    Python objects), that fit the memory."""
    import zipfile

    from layerloom.core.data.npy_header import NotAnArray, npy_array, npz_arrays
    from layerloom.core.resources import check_fits

    try:
        arrays = {"x": npy_array(path)} if path.lower().endswith(".npy") else npz_arrays(path)
    except NotAnArray as err:
        raise PredictError(f"{path}: {err}; it may be a Python pickle, which is never loaded — save plain number "
                           "arrays with np.save or np.savez") from None
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as err:
        raise PredictError(f"{path}: cannot be read as a NumPy file ({err})") from None
    for name, a in arrays.items():
        if a.dtype.hasobject:
            raise PredictError(f"{path}: holds Python objects (the array {name}), which are not loaded")
    check_fits(sum(a.nbytes + a.count * 4 for a in arrays.values()), f"{path} (arrays of "
               + ", ".join(f"{a.shape_text()} {a.dtype}" for a in arrays.values()) + ")")


# --- rows, sequences, series -----------------------------------------------------------------------


def _csv_rows(path: str) -> tuple[list[str] | None, list[list[str]], list[int]]:
    _regular(path)
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            sample = f.read(65536)
            f.seek(0)
            delimiter = "\t" if sample.count("\t") > sample.count(",") else ","
            rows = [(i, r) for i, r in enumerate(csv.reader(f, delimiter=delimiter), 1) if any(c.strip() for c in r)]
    except (OSError, csv.Error, UnicodeDecodeError) as err:
        from layerloom.core.errors_text import describe

        raise PredictError(describe(err, path)) from None
    if not rows:
        raise PredictError(f"{path}: holds no rows")
    header = None
    if all(_number(c) is None for c in rows[0][1]):  # a header: no cell of it is a number
        header = [c.strip() for c in rows[0][1]]
        rows = rows[1:]
    return header, [r for _, r in rows], [i for i, _ in rows]


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _rows(paths: list[str], pre):
    shape = list(pre.facts["input_shape"])
    names, samples = [], []
    for path in paths:
        if path.lower().endswith((".npz", ".npy")):
            x = _array(path).astype(np.float32)
            if list(x.shape) == shape:
                x = x[None]
            samples += list(x)
            names += [f"{os.path.basename(path)}[{i}]" for i in range(len(x))]
            continue
        if pre.kind != "vector":
            dims = "×".join(map(str, shape))
            raise PredictError(f"{path}: give {_kind_words(pre.kind)} as a .npz file (x: N×{dims})")
        header, rows, lines = _csv_rows(path)
        wanted = (pre.facts.get("features") or {}).get("names")
        columns = list(range(len(rows[0]))) if rows else []
        if header is not None and wanted and all(w in header for w in wanted):
            columns = [header.index(w) for w in wanted]
        elif header is not None and wanted:
            missing = [w for w in wanted if w not in header]
            raise PredictError(f"{path}: the columns {', '.join(map(repr, missing[:5]))} the model was trained on are "
                               "missing")
        for row, line in zip(rows, lines):
            if len(columns) != shape[0] or max(columns, default=0) >= len(row):
                raise PredictError(f"{os.path.basename(path)}, line {line}: the model takes {shape[0]} feature values "
                                   f"a row; this row has {len(row)}")
            values = [_number(row[j]) for j in columns]
            if any(v is None for v in values):
                bad = next(row[j] for j, v in zip(columns, values) if v is None)
                raise PredictError(f"{os.path.basename(path)}, line {line}: {bad!r} is not a number")
            samples.append(np.asarray(values, dtype=np.float32))
            names.append(f"{os.path.basename(path)}, line {line}")
    if not samples:
        raise PredictError(f"{', '.join(paths)}: hold no rows of feature values to predict")
    return names, np.stack(samples)


def _series(paths: list[str], window: int):
    """The last `window` values of each series (a column of numbers in a CSV, or a .npz/.npy array)."""
    names, windows = [], []
    for path in paths:
        if path.lower().endswith((".npz", ".npy")):
            values = _array(path).astype(np.float64).reshape(-1)
        else:
            _header, rows, _lines = _csv_rows(path)
            numeric = [j for j in range(len(rows[0])) if all(_number(r[j]) is not None for r in rows if j < len(r))]
            if not numeric:
                raise PredictError(f"{path}: has no column of numbers to read the series from")
            values = np.asarray([float(r[numeric[-1]]) for r in rows if numeric[-1] < len(r)], dtype=np.float64)
        if len(values) < window:
            raise PredictError(f"{path}: holds {len(values)} values; the model reads the last {window}")
        windows.append(values[-window:])
        names.append(os.path.basename(path))
    return names, np.stack(windows)
