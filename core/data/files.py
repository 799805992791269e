"""Readers of data files: NumPy .npz, and delimited text files that hold a table, texts with labels, or a
time series. Each gives a `Raw` for `prepare`. A folder of images is read by `image_folder.py`; labels and
targets are made by `labels.py`."""

from __future__ import annotations

import os
import zlib

import numpy as np

from layerloom.core.data.base import (
    CLASSIFICATION,
    IMAGE,
    RECONSTRUCTION,
    REGRESSION,
    SEQUENCE,
    SERIES,
    SIGNAL,
    TEXT,
    VECTOR,
    DataError,
)
from layerloom.core.data.csvtable import Table, read_table
from layerloom.core.data.labels import make_labels, task_option
from layerloom.core.data.options import Options
from layerloom.core.data.prepare import Raw

TEXT_NAMES = ("text", "sentence", "review", "message", "content", "body", "document", "comment", "tweet", "sms")
LABEL_NAMES = ("label", "labels", "class", "target", "sentiment", "category", "y", "spam", "rating")


# --- NumPy .npz -----------------------------------------------------------------------------------


def read_npz(path: str, opts: Options) -> Raw:
    """Arrays `x` (images N×H×W, N×C×H×W or N×H×W×C; vectors N×F; sequences N×T×F with kind: sequence) and
    `y` (integer labels, or float targets for regression), read without unpickling anything."""
    import zipfile

    kind = opts.choice("kind", "auto", ("auto", IMAGE, VECTOR, SEQUENCE, SIGNAL))
    layout = opts.choice("layout", "auto", ("auto", "channels_first", "channels_last"))
    task = task_option(opts)
    if task in ("text", "timeseries"):
        raise opts.error("task", "classification, regression or reconstruction for a .npz file")
    name = os.path.basename(os.path.normpath(path))
    _check_npz(path, name)
    try:
        with np.load(path, allow_pickle=False) as npz:
            keys = list(npz.files)
            if "x" not in keys or ("y" not in keys and task != RECONSTRUCTION):
                missing = " and ".join(k for k in ("x", "y") if k not in keys)
                raise DataError(f"{name} has no array {missing} (it holds: {', '.join(keys) or 'nothing'}); save "
                                "the inputs as x and the labels as y: np.savez(path, x=..., y=...) (or set task: "
                                "reconstruction when the target is the input)", path=path)
            x = npz["x"]
            y = npz["y"] if "y" in keys else None
    except DataError:
        raise
    except FileNotFoundError:
        raise DataError(f"file not found: {path}", path=path) from None
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise DataError(f"{name} holds Python objects, which are not loaded for safety; save plain number "
                            "arrays (x and y)", path=path) from None
        raise DataError(f"{name} cannot be read as a NumPy .npz file ({exc})", path=path) from None
    except (OSError, zipfile.BadZipFile, EOFError, zlib.error) as exc:
        raise DataError(f"{name} cannot be read as a NumPy .npz file ({exc})", path=path) from None
    if x.dtype.kind not in "uifb" or x.size == 0:
        raise DataError(f"{name}: x must be a non-empty array of numbers (it is {x.dtype}, shape {x.shape})",
                        path=path)
    if y is not None and (y.ndim == 0 or len(y) != len(x)):
        count = 1 if y.ndim == 0 else len(y)
        raise DataError(f"{name}: x has {len(x):,} samples but y has {count:,} labels; they must match", path=path)
    if y is not None and y.ndim > 2:
        raise DataError(f"{name}: y must hold one label (or a row of targets) per sample; its shape is {y.shape}",
                        path=path)
    notes: list[str] = []
    if kind == "auto":
        kind = {1: VECTOR, 2: VECTOR, 3: IMAGE, 4: IMAGE}.get(x.ndim)
        if kind is None:
            raise DataError(f"{name}: x has shape {x.shape}; expected images (N×H×W, N×C×H×W, N×H×W×C), "
                            "vectors (N×F) or sequences (N×T×F with the option kind: sequence)", path=path)
    scale = 1.0
    if kind == IMAGE:
        if x.ndim == 3:
            x = x[:, None]
        elif x.ndim == 4:
            first, last = x.shape[1] in (1, 3, 4), x.shape[3] in (1, 3, 4)
            if layout == "channels_last" or (layout == "auto" and last and not first):
                x = x.transpose(0, 3, 1, 2)
                notes.append("channels moved first (N×H×W×C → N×C×H×W)")
        else:
            raise opts.error("kind", f"vector or sequence for x of shape {x.shape}")
        if x.dtype == np.uint8:
            scale = 255.0
        else:
            x = x.astype(np.float32)
            top = float(np.abs(x).max()) if x.size else 1.0
            scale = 1.0 if top <= 1.0 else (255.0 if top <= 255.0 else top)
    else:
        if kind in (SEQUENCE, SIGNAL) and x.ndim != 3:
            raise opts.error("kind", f"image or vector for x of shape {x.shape} (sequences are N×T×F, signals "
                             "N×C×L)")
        if kind == VECTOR and x.ndim > 2:
            x = x.reshape(len(x), -1)
            notes.append(f"samples flattened to vectors of {x.shape[1]}")
        if x.ndim == 1:
            x = x[:, None]
        x = x.astype(np.float32)
    if y is None or task == RECONSTRUCTION:
        return Raw(kind, x, None, RECONSTRUCTION, name, None, notes, scale=scale, where=path)
    if y.dtype.kind not in "uifbU":
        raise DataError(f"{name}: y must hold numbers or words (it is {y.dtype})", path=path)
    y_out, task_out, names, label_notes = make_labels(y, task, name, path=path)
    return Raw(kind, x, y_out, task_out, name, names, notes + label_notes, scale=scale, where=path)


def _check_npz(path: str, name: str) -> None:
    """What the arrays' headers declare, checked before anything is loaded: arrays of numbers (no Python
    objects, no pickles) whose size the file really holds and the memory can take."""
    import zipfile

    from layerloom.core.data.npy_header import NotAnArray, npz_arrays
    from layerloom.core.resources import MemoryLimitError, NotRegularFile, check_fits, size_text

    try:
        arrays = npz_arrays(path)
    except NotRegularFile as err:
        raise DataError(str(err), path=path) from None
    except NotAnArray as err:
        raise DataError(f"{name}: {err}; it may be a Python pickle, which is never loaded — save plain number "
                        "arrays with np.savez(path, x=..., y=...)", path=path) from None
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, zlib.error) as err:
        raise DataError(f"{name} cannot be read as a NumPy .npz file ({err})", path=path) from None
    need = 0
    for key in ("x", "y"):
        a = arrays.get(key)
        if a is None:
            continue
        if a.dtype.hasobject:
            raise DataError(f"{name} holds Python objects, which are not loaded for safety (the array {key}); save "
                            "plain number arrays (x and y)", path=path)
        if a.nbytes > a.stored:
            raise DataError(f"{name} is damaged: {key} declares {a.shape_text()} {a.dtype} ({size_text(a.nbytes)}) "
                            f"but the file holds {size_text(a.stored)} for it", path=path)
        need += a.nbytes + (a.count * 4 if a.dtype != np.float32 else 0)  # and its float32 copy
    x = arrays.get("x")
    if x is None:
        return
    try:
        check_fits(need, f"{name} (x: {x.shape_text()} {x.dtype})")
    except MemoryLimitError as err:
        raise DataError(str(err), path=path) from None


# --- delimited text files ---------------------------------------------------------------------------


def read_delimited(path: str, opts: Options) -> Raw:
    """A CSV, TSV or TXT file: a table (features and a label or target column), texts with labels, or a
    time series, told by the options (task, text_column, window…) or, without them, by what the columns
    hold. `.tsv` and `.txt` files are text unless every column is numeric."""
    ext = os.path.splitext(path)[1].lower() or ".txt"
    task = task_option(opts)
    text_opts = [o for o in ("text_column", "label_column", "tokenizer") if o in opts]
    series_opts = [o for o in ("window", "horizon", "column") if o in opts]
    named = tuple(opts.raw(o) for o in ("text_column", "label_column", "target", "column"))
    table = read_table(path, opts, "\t" if ext in (".tsv", ".txt") else ",", named)
    if (task == "text" or text_opts) and (task == "timeseries" or series_opts):
        words = ", ".join([*text_opts, *series_opts] + ([f"task: {task}"] if task else []))
        raise DataError(f"{os.path.basename(path)}: the options {words} ask for text and for a time series at once; "
                        "keep the ones of one kind", path=path, option=(text_opts or series_opts)[0])
    if task == "text" or text_opts:
        kind = TEXT
    elif task == "timeseries" or series_opts:
        kind = SERIES
    else:
        kind = _sniff_kind(table, ext)
    # every reader's options are asked for, so a typo is caught whatever the kind
    for o in ("text_column", "label_column", "target", "column", "normalize_target"):
        opts.raw(o)
    if kind == TEXT:
        return _text_table(table, opts, task)
    if kind == SERIES:
        return _series_table(table, opts)
    return _tabular(table, opts, task)


def _sniff_kind(table: Table, ext: str) -> str:
    if table.width == 0:
        raise table.error("has no columns")
    texty = [j for j in range(table.width) if table.looks_like_text(j)]
    if texty:
        return TEXT
    numeric = [j for j in range(table.width) if table.is_numeric(j)]
    if ext in (".tsv", ".txt") and len(numeric) < table.width:
        return TEXT
    if len(numeric) == 1 and table.width <= 2 and (table.width == 1 or table.looks_like_dates(1 - numeric[0])):
        return SERIES
    return VECTOR


def _tabular(table: Table, opts: Options, task: str | None) -> Raw:
    table.check_widths()
    name = os.path.basename(table.path)
    if task == RECONSTRUCTION:
        feats = list(range(table.width))
        x = np.stack([table.numbers(j, "a number (a feature)") for j in feats], axis=1).astype(np.float32)
        return Raw(VECTOR, x, None, RECONSTRUCTION, name, None, table.notes, where=table.path)
    if table.width < 2:
        raise table.error("has one column; a table needs feature columns and a label or target column "
                          "(for a time series set task: timeseries)")
    target = table.column(opts.column("target"), "target", table.width - 1)
    feats = [j for j in range(table.width) if j != target]
    columns = []
    for j in feats:
        if not table.is_numeric(j) and table.looks_like_dates(j):
            raise table.error(f"column {table.column_name(j)} holds dates or times, not features; for a time "
                              "series set task: timeseries (and column to the values to forecast)", option="task")
        columns.append(table.numbers(j, "a number (a feature)"))
    x = np.stack(columns, axis=1).astype(np.float32)
    labels = np.array([row[target].strip() for row in table.rows])
    task_arg = {None: None, "classification": CLASSIFICATION, "regression": REGRESSION}.get(task)
    y, task_out, names, notes = make_labels(labels, task_arg, name, table.lines, table.path)
    notes = [*table.notes, f"{x.shape[1]} feature columns; {'target' if task_out == REGRESSION else 'label'} "
             f"column {table.column_name(target)}", *notes]
    return Raw(VECTOR, x, y, task_out, name, names, notes, where=table.path,
               feature_names=[table.names()[j] for j in feats] if table.header is not None else None)


def _text_table(table: Table, opts: Options, task: str | None) -> Raw:
    width = table.width
    names = [h.lower() for h in table.header] if table.header is not None else []
    text_default = next((names.index(n) for n in TEXT_NAMES if n in names), None)
    if text_default is None:
        lengths = [sum(len(r[j]) for r in table.rows[:500] if j < len(r)) for j in range(width)]
        text_default = int(np.argmax(lengths))
    text_col = table.column(opts.column("text_column"), "text_column", text_default)
    label_default = next((names.index(n) for n in LABEL_NAMES if n in names and names.index(n) != text_col), None)
    if label_default is None:
        others = [j for j in range(width) if j != text_col]
        label_default = others[-1] if others else None
    if label_default is None and "label_column" not in opts:
        raise table.error("has one column; a text file needs a text column and a label column "
                          "(such as 'label<TAB>text' per line)")
    label_col = table.column(opts.column("label_column"), "label_column", label_default)
    if label_col == text_col:
        raise table.error("text_column and label_column are the same column", option="label_column")
    table.check_widths(join_into=text_col)
    texts = [row[text_col] for row in table.rows]
    labels = np.array([row[label_col].strip() for row in table.rows])
    task_arg = {None: None, "text": None, "classification": CLASSIFICATION, "regression": REGRESSION}.get(task)
    if task == RECONSTRUCTION or task == "timeseries":
        raise opts.error("task", "classification, regression or text for a text file")
    name = os.path.basename(table.path)
    y, task_out, classes, notes = make_labels(labels, task_arg, name, table.lines, table.path)
    notes = [*table.notes, f"text column {table.column_name(text_col)}, label column {table.column_name(label_col)}",
             *notes]
    return Raw(TEXT, texts, y, task_out, name, classes, notes, where=table.path)


def _series_table(table: Table, opts: Options) -> Raw:
    table.check_widths()
    numeric = [j for j in range(table.width) if table.is_numeric(j)]
    spec = opts.column("column")
    if spec is None and not numeric:
        # name the first bad value of the last column
        table.numbers(table.width - 1, "a number (the time series)")
    col = table.column(spec, "column", numeric[-1] if numeric else table.width - 1)
    values = table.numbers(col, "a number (the time series)")
    name = os.path.basename(table.path)
    notes = [*table.notes, f"time series: column {table.column_name(col)}, {len(values):,} steps"]
    return Raw(SERIES, values, None, REGRESSION, name, None, notes, where=table.path)
