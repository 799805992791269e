"""Failures the fuzzer finds that are known and owned by work in progress elsewhere (the data readers' resource
guards and the error-message layer; one in graph validation). `make test` reports them without failing; anything
else fails it.

Remove an entry when its fix lands: the long run (`make fuzz`) shows whether it still happens. Each entry:
(failure kind, a pattern of "WHERE DETAIL", a reproducer for fuzz/run_fuzz.py, what it is).
"""

from __future__ import annotations

import re

KNOWN = [
    ("raw_exception", r"core/data/files\.py:\d+ in read_image_folder .*DecompressionBombError", "--seed 5 --case 35",
     "an image folder with a PNG that declares 100000×100000 pixels: PIL's DecompressionBombError escapes"),
    ("raw_exception", r"core/data/csvtable\.py:\d+ .*field larger than field limit", "--seed 5 --case 160",
     "a CSV field over 128 KB: csv.Error 'field larger than field limit' escapes"),
    ("raw_exception", r"core/data/files\.py:\d+ in read_npz .*AttributeError", "--seed 5 --case 16",
     "an .npz member holding a pickle (an object array): AttributeError 'bytes' object has no attribute 'dtype'"),
    ("raw_exception", r"core/data/files\.py:\d+ in read_npz .*(error|Error): Error -3", "--seed 3 --case 190",
     "an .npz member whose deflate stream is damaged: zlib.error escapes"),
    ("hang", r"core/data/files\.py:\d+ in read_image_folder", "--seed 5 --case 53",
     "an image folder holding a FIFO named like an image: reading it blocks for ever"),
    ("raw_exception", r"core/predict/inputs\.py:\d+ in _rows IndexError", "--seed 1 --case 95",
     "a bundle whose preprocessing.json has an empty input_shape: opening it accepts that, `predict` then fails "
     "with IndexError"),
    ("raw_exception", r"core/predict/inputs\.py:\d+ in _(array|rows) ", "--seed 5 --case 337",
     "`layerloom predict` on an .npz with a pickled member (AttributeError) or a CSV of blank rows (ValueError)"),
    ("raw_exception", r"core/blocks/\w+\.py:\d+ .*Overflow when unpacking long", "--seed 11 --case 94",
     "a project whose Input shape holds a number beyond int64 (9223372036854775807): validation lets it through and "
     "building the model fails with torch's TypeError (graph validation: no owner yet)"),
    ("memory", r"cannot be read as a NumPy file \(Unable to allocate", "--seed 3 --case 275",
     "`layerloom predict` on an .npz whose .npy header declares 4294967296×8: it tries to allocate 128 GiB"),
]


def known(failure: dict) -> str | None:
    """The description of the known problem `failure` is, None when it is new."""
    text = f"{failure.get('where', '')} {failure.get('detail', '')}"
    for kind, pattern, _repro, what in KNOWN:
        if failure["kind"] == kind and re.search(pattern, text):
            return what
    return None
