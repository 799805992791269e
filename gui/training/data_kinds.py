"""The kinds of data source the Data panel offers (a built-in set, a download, a folder of images, a CSV table,
an NPZ file, a text file, a time series), the options worth offering for each, which kind reads a given source,
and option values as typed in the panel's table. Qt-free.

    guess_kind("reviews.tsv", {})          # "text"
    parse_option("28, 28")                 # [28, 28]
"""

from __future__ import annotations

import json
import os

# kind → (label, the options worth offering, a file dialog filter or None for named sources, "dir" for folders)
KINDS = {
    "built-in": ("Built-in data set", ("flatten", "resize", "n", "noise", "seq_len", "vocab_size", "window",
                                       "horizon", "data_seed"), None),
    "download": ("Download (MNIST, CIFAR-10, …)", ("limit", "resize", "flatten", "color", "validation",
                                                   "random_crop", "hflip"), None),
    "images": ("Folder of images", ("resize", "color", "flatten", "random_crop", "hflip", "normalize"), "dir"),
    "csv": ("CSV table", ("target", "task", "delimiter", "header", "normalize", "normalize_target"),
            "Tables (*.csv *.tsv);;All files (*)"),
    "npz": ("NPZ arrays", ("task", "layout", "kind", "flatten", "resize", "normalize"),
            "NumPy arrays (*.npz);;All files (*)"),
    "text": ("Text with labels", ("text_column", "label_column", "tokenizer", "vocab_size", "seq_len", "lowercase",
                                  "padding"),
             "Text (*.txt *.tsv *.csv);;All files (*)"),
    "series": ("Time series (CSV)", ("column", "window", "horizon", "normalize"), "Tables (*.csv);;All files (*)"),
}
# what a file kind expects, said under the file field
FILE_HINTS = {"images": "One sub-folder per class, named after the class.",
              "csv": "One row per sample; the target column is the last unless named.",
              "npz": "Arrays x (inputs) and y (labels or targets).",
              "text": "A text and its label on each line (or columns).",
              "series": "One value per row; windows of past values predict the next."}


def named_sources() -> dict[str, list[tuple[str, str]]]:
    """The named data sets by kind ("built-in", "download"): (name, description) pairs."""
    from layerloom.core.data import list_sources

    out: dict[str, list[tuple[str, str]]] = {"built-in": [], "download": []}
    for name, kind, desc in list_sources():
        out["download" if kind == "download" else "built-in"].append((name, desc))
    return out


DELIMITED = (".csv", ".tsv", ".txt", "")  # what the table, text and series readers take (no extension: text lines)


def fits(kind: str, source: str) -> bool:
    """Whether a file kind can read `source` (by its extension, as core/data/sources.py chooses a reader)."""
    path = os.path.expanduser(source)
    if kind == "images":
        return os.path.isdir(path)
    ext = os.path.splitext(source)[1].lower()
    if kind == "npz":
        return ext == ".npz"
    return kind in ("csv", "text", "series") and ext in DELIMITED and not os.path.isdir(path)


def guess_kind(source: str, options: dict, prefer: str | None = None) -> str:
    """The kind picker's entry for a source: a named data set's own kind; else `prefer` (the kind the user
    picked) when it can read the file; else by the extension and options. A file without an extension is
    text lines, as the reader takes it (UCI's SMSSpamCollection)."""
    named = named_sources()
    for kind, items in named.items():
        if any(source == n for n, _ in items):
            return kind
    if prefer is not None and prefer not in named and fits(prefer, source):
        return prefer
    ext = os.path.splitext(source)[1].lower()
    if os.path.isdir(os.path.expanduser(source)):
        return "images"
    if ext == ".npz":
        return "npz"
    if ext in (".txt", ".tsv") or "text_column" in options:
        return "text"
    if "window" in options or "column" in options:
        return "series"
    if ext == "" and source.strip():
        return "text"
    return "csv"


def parse_option(text: str):
    """An option value as typed: JSON (28, [28, 28], true, "rgb"), a comma list (28, 28), else the text itself;
    None for an empty cell."""
    text = text.strip()
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        pass
    if "," in text:  # 28, 28 → [28, 28]
        try:
            return [json.loads(p) for p in text.split(",")]
        except ValueError:
            pass
    return text


def show_option(value) -> str:
    """An option value as the table shows it (the inverse of parse_option)."""
    return value if isinstance(value, str) else json.dumps(value)
