"""Readers of data files: a folder of images (one sub-folder per class), NumPy .npz, and delimited text
files that hold a table, texts with labels, or a time series. Each gives a `Raw` for `prepare`."""

from __future__ import annotations

import os
import zlib
from collections import Counter

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
from layerloom.core.data.options import Options
from layerloom.core.data.prepare import Raw

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm", ".pbm")
TASK_CHOICES = ("classification", "regression", "reconstruction", "text", "timeseries")
TEXT_NAMES = ("text", "sentence", "review", "message", "content", "body", "document", "comment", "tweet", "sms")
LABEL_NAMES = ("label", "labels", "class", "target", "sentiment", "category", "y", "spam", "rating")


def _base(path: str) -> str:
    return os.path.basename(os.path.normpath(path))


# --- labels -----------------------------------------------------------------------------------------


def make_labels(values: np.ndarray, task: str | None, where: str, lines: list[int] | None = None,
                path: str | None = None) -> tuple[np.ndarray, str, list[str] | None, list[str]]:
    """Labels or targets from a column or array: (y, task, class names, notes).

    Numbers with a fractional part (or a float array) are regression targets unless `task` says
    classification; whole numbers and words are classes. Whole numbers 0..K-1 keep their values as class
    indices; any other set of labels is sorted and numbered from 0 (a note says so)."""
    notes: list[str] = []
    values = np.asarray(values)
    numeric = None
    if values.dtype.kind in "iubf":
        numeric = values.astype(np.float64)
    else:
        try:
            numeric = np.array([float(v) for v in values.reshape(-1)], dtype=np.float64).reshape(values.shape)
        except ValueError:
            numeric = None
    if numeric is not None and not np.isfinite(numeric).all():
        bad = int(np.flatnonzero(~np.isfinite(numeric.reshape(len(numeric), -1)).all(axis=1))[0])
        at = f", line {lines[bad]}" if lines else f" (sample {bad})"
        raise DataError(f"{where}{at}: the label or target is not a finite number", path=path,
                        line=lines[bad] if lines else None)
    if task is None:
        if numeric is None:
            task = CLASSIFICATION
        elif values.dtype.kind == "f" or not np.all(numeric == np.round(numeric)):
            task = REGRESSION  # a float array, or numbers with fractions
        else:
            task = CLASSIFICATION
    if task == REGRESSION:
        if numeric is None:
            bad = next(i for i, v in enumerate(values.reshape(len(values), -1)[:, 0]) if not _is_float(v))
            at = f", line {lines[bad]}" if lines else f" (sample {bad})"
            raise DataError(f"{where}{at}: the target {str(values[bad])!r} is not a number, but task is "
                            "regression (remove task: regression to treat the labels as classes)", path=path,
                            line=lines[bad] if lines else None, option="task")
        y = numeric.astype(np.float32).reshape(len(numeric), -1)
        return y, REGRESSION, None, notes
    if numeric is not None and values.ndim > 1 and values.shape[1] > 1:
        raise DataError(f"{where}: class labels must be one number per sample, but they have shape "
                        f"{values.shape[1:]}; for several numeric targets use task: regression", path=path,
                        option="task")
    flat = values.reshape(len(values))
    if numeric is not None:
        num = numeric.reshape(len(numeric))
        if not np.all(num == np.round(num)):
            raise DataError(f"{where}: task is classification but the labels have fractions (such as "
                            f"{num[num != np.round(num)][0]:g}); classes are whole numbers or words", path=path,
                            option="task")
        ints = num.astype(np.int64)
        uniq = np.unique(ints)
        if len(uniq) and uniq[0] == 0 and uniq[-1] == len(uniq) - 1:
            return ints, CLASSIFICATION, [str(int(u)) for u in uniq], notes
        index = {int(u): i for i, u in enumerate(uniq)}
        names = [str(int(u)) for u in uniq]
        y = np.array([index[int(v)] for v in ints], dtype=np.int64)
    else:
        strs = np.array([str(v).strip() for v in flat])
        names = sorted(set(strs.tolist()))
        index = {n: i for i, n in enumerate(names)}
        y = np.array([index[s] for s in strs], dtype=np.int64)
    if len(names) > 1000:
        notes.append(f"{len(names):,} different labels; if they are numbers to predict, set task: regression")
    shown = ", ".join(f"{n}→{i}" for i, n in enumerate(names[:6])) + (", …" if len(names) > 6 else "")
    notes.append(f"labels numbered as classes: {shown}")
    return y, CLASSIFICATION, names, notes


def _is_float(v) -> bool:
    try:
        float(v)
        return True
    except (TypeError, ValueError):
        return False


def _task_option(opts: Options) -> str | None:
    return opts.choice("task", None, TASK_CHOICES)


# --- image folders --------------------------------------------------------------------------------


def read_image_folder(path: str, opts: Options) -> Raw:
    """A folder with one sub-folder of images per class. Options: `color` (auto, grayscale, rgb),
    `resize` [H, W] (default: the most common size; images of other sizes are resized to it)."""
    from PIL import Image, UnidentifiedImageError

    color = opts.choice("color", "auto", ("auto", "grayscale", "rgb"))
    resize = opts.size("resize")
    task = _task_option(opts)
    if task not in (None, CLASSIFICATION, RECONSTRUCTION):
        raise opts.error("task", "classification or reconstruction for a folder of images")
    name = _base(path)
    try:
        entries = sorted(e for e in os.listdir(path) if not e.startswith("."))
    except OSError as exc:
        raise DataError(f"cannot read the folder {path}: {exc.strerror or exc}", path=path) from None
    classes = [e for e in entries if os.path.isdir(os.path.join(path, e))]
    if not classes:
        loose = [e for e in entries if e.lower().endswith(IMAGE_EXTENSIONS)]
        hint = (f" (it holds {len(loose)} images directly; move them into one sub-folder per class, "
                "such as cats/ and dogs/)" if loose else "")
        raise DataError(f"the folder {path} has no class sub-folders{hint}; an image folder needs one sub-folder "
                        "of images per class", path=path)
    files: list[tuple[str, int]] = []
    used: list[str] = []
    empty: list[str] = []
    for cls in classes:
        folder = os.path.join(path, cls)
        images = sorted(f for f in os.listdir(folder)
                        if f.lower().endswith(IMAGE_EXTENSIONS) and not f.startswith("."))
        if not images:
            empty.append(cls)
            continue
        files.extend((os.path.join(folder, f), len(used)) for f in images)
        used.append(cls)
    if not files:
        raise DataError(f"the class sub-folders of {path} hold no images (looked for "
                        f"{', '.join(IMAGE_EXTENSIONS)})", path=path)
    if len(used) < 2 and task != RECONSTRUCTION:
        raise DataError(f"the folder {path} has images of one class only ({used[0]!r}); add a sub-folder per "
                        "class, at least two", path=path)
    notes = [f"{len(files):,} images in {len(used)} classes (one per sub-folder)"]
    if empty:
        notes.append("sub-folders without images left out: " + ", ".join(empty))

    arrays: list[np.ndarray] = []
    gray_modes = {"1", "L", "LA", "I", "I;16", "F", "P"}
    all_gray = True
    memory = _ImageMemory(path, len(files))
    for f, _ in files:
        try:
            with _open_image(f) as img:
                memory.add(f, img)
                img.load()
                mode = img.mode
                if mode == "P":
                    img = img.convert("RGBA")
                    mode = "RGBA"
                is_gray = mode in gray_modes
                all_gray &= is_gray
                if mode in ("I", "I;16", "F"):
                    a = np.asarray(img, dtype=np.float64)
                    top = a.max() if a.max() > 255 else 255.0
                    rgb = Image.fromarray(np.clip(a / top * 255, 0, 255).astype(np.uint8)).convert("RGB")
                else:
                    rgb = img.convert("RGB")
        except (UnidentifiedImageError, OSError, ValueError) as exc:
            raise DataError(f"{f}: cannot be read as an image ({exc})", path=f) from None
        arrays.append(rgb)  # type: ignore[arg-type]
    sizes = Counter((im.height, im.width) for im in arrays)  # type: ignore[attr-defined]
    target = resize or sizes.most_common(1)[0][0]
    if resize is None and len(sizes) > 1:
        notes.append(f"images have {len(sizes)} sizes; all resized to the most common, {target[0]}×{target[1]} "
                     "(set the option resize to choose)")
    elif resize is not None:
        notes.append(f"resized to {resize[0]}×{resize[1]}")
    channels = 1 if color == "grayscale" or (color == "auto" and all_gray) else 3
    x = np.empty((len(arrays), channels, *target), dtype=np.uint8)
    for i, im in enumerate(arrays):
        if (im.height, im.width) != tuple(target):  # type: ignore[attr-defined]
            im = im.resize((target[1], target[0]), Image.BILINEAR)  # type: ignore[attr-defined]
        if channels == 1:
            x[i, 0] = np.asarray(im.convert("L"))  # type: ignore[attr-defined]
        else:
            x[i] = np.asarray(im).transpose(2, 0, 1)
    arrays.clear()
    y = np.array([c for _, c in files], dtype=np.int64)
    return Raw(IMAGE, x, y, task or CLASSIFICATION, name, used, notes, scale=255.0, resized_to=tuple(target),
               where=path)


class _ImageMemory:
    """The memory a folder's decoded images take, counted from each image's header before it is decoded:
    a DataError when one image is too large, or the images together would not fit the memory."""

    def __init__(self, folder: str, count: int):
        from layerloom.core.resources import memory_budget

        self.folder = folder
        self.count = count
        self.total = 0
        self.seen = 0
        self.budget = memory_budget()

    def add(self, file: str, img) -> None:
        from layerloom.core.resources import MAX_IMAGE_PIXELS, check_fits, image_too_large

        width, height = img.size
        if width * height > MAX_IMAGE_PIXELS:
            raise DataError(f"{file}: {image_too_large(width, height)}", path=file)
        self.total += width * height * (len(img.getbands()) + 3)  # decoded, and its RGB copy
        self.seen += 1
        if self.budget is not None and self.total > self.budget:
            from layerloom.core.resources import MemoryLimitError

            try:
                check_fits(self.total * self.count // self.seen,
                           f"the {self.count:,} images of {self.folder} (at the size of the first {self.seen:,})")
            except MemoryLimitError as err:
                raise DataError(str(err), path=self.folder) from None


def _open_image(file: str):
    """Image.open of a regular file, with PIL's own size refusal worded as ours (and its warning silenced:
    our limit is checked right after)."""
    import warnings

    from PIL import Image

    from layerloom.core.resources import NotRegularFile, check_regular, image_too_large

    try:
        check_regular(file, "image file")
    except NotRegularFile as err:
        raise DataError(str(err), path=file) from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(file)
    except Image.DecompressionBombError as err:
        import re

        pixels = re.search(r"\((\d+) pixels\)", str(err))
        size = f"{int(pixels.group(1)):,} pixels" if pixels else "too many pixels"
        raise DataError(f"{file}: {image_too_large(None, None, size)}", path=file) from None


# --- NumPy .npz -----------------------------------------------------------------------------------


def read_npz(path: str, opts: Options) -> Raw:
    """Arrays `x` (images N×H×W, N×C×H×W or N×H×W×C; vectors N×F; sequences N×T×F with kind: sequence) and
    `y` (integer labels, or float targets for regression), read without unpickling anything."""
    import zipfile

    kind = opts.choice("kind", "auto", ("auto", IMAGE, VECTOR, SEQUENCE, SIGNAL))
    layout = opts.choice("layout", "auto", ("auto", "channels_first", "channels_last"))
    task = _task_option(opts)
    if task in ("text", "timeseries"):
        raise opts.error("task", "classification, regression or reconstruction for a .npz file")
    name = _base(path)
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
    task = _task_option(opts)
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
