"""Labels and targets from a column or an array, shared by every reader of data files: classes numbered from
0 (words, or whole numbers), or regression targets (numbers with fractions), told apart by the values or the
`task` option.

    y, task, class_names, notes = make_labels(np.array(["cat", "dog", "cat"]), None, "pets.csv")
    # y = [0, 1, 0], task = "classification", class_names = ["cat", "dog"]
"""

from __future__ import annotations

import numpy as np

from layerloom.core.data.base import CLASSIFICATION, REGRESSION, DataError
from layerloom.core.data.options import Options

TASK_CHOICES = ("classification", "regression", "reconstruction", "text", "timeseries")


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


def task_option(opts: Options) -> str | None:
    """The `task` option a reader was given (one of TASK_CHOICES), None when not given."""
    return opts.choice("task", None, TASK_CHOICES)
