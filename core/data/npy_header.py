"""What .npy and .npz files declare — each array's shape and dtype — read from their headers alone, so
that an array too large for the memory, or one of Python objects, is refused before anything is loaded.

    arrays = npz_arrays("data.npz")      # {"x": Declared((60000, 28, 28), uint8, 47040000), "y": …}
    npy_array("x.npy").nbytes
"""

from __future__ import annotations

import math
import os
import zipfile
from dataclasses import dataclass

import numpy as np


class NotAnArray(ValueError):
    """A member or file that is not in NumPy's .npy format (a pickle, text, damage); the text says why."""


@dataclass(frozen=True)
class Declared:
    """An array as its header describes it."""

    shape: tuple[int, ...]
    dtype: np.dtype
    stored: int  # the bytes the file or zip member holds (its uncompressed size)

    @property
    def count(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        return self.count * self.dtype.itemsize

    def shape_text(self) -> str:
        return "×".join(f"{s:,}" for s in self.shape) if self.shape else "a scalar"


def _header(f) -> tuple[tuple[int, ...], np.dtype]:
    fmt = np.lib.format
    try:
        version = fmt.read_magic(f)
        if version == (1, 0):
            shape, _fortran, dtype = fmt.read_array_header_1_0(f)
        else:  # 2.0 and 3.0 differ only in how the header's text is encoded
            shape, _fortran, dtype = fmt.read_array_header_2_0(f)
    except Exception:  # a damaged header: numpy's parser raises whatever its tokenizer or literal_eval meets,
        # and a damaged deflate stream raises zlib.error while the header is read
        raise NotAnArray("is not in NumPy's .npy format") from None
    return tuple(int(s) for s in shape), np.dtype(dtype)


def npy_array(path: str | os.PathLike) -> Declared:
    """The array a .npy file declares (NotAnArray when it is not one)."""
    from layerloom.core.resources import open_regular

    with open_regular(path, ".npy file") as f:
        shape, dtype = _header(f)
        return Declared(shape, dtype, os.fstat(f.fileno()).st_size)


def npz_arrays(path: str | os.PathLike) -> dict[str, Declared]:
    """Every array of a .npz by name (the member's name without .npy); NotAnArray names a member that is
    not an array, zipfile.BadZipFile a file that is not a zip."""
    from layerloom.core.resources import check_regular

    check_regular(path, ".npz file")
    out: dict[str, Declared] = {}
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            if info.is_dir():
                continue
            name = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
            with zf.open(info) as f:
                try:
                    shape, dtype = _header(f)
                except NotAnArray as err:
                    raise NotAnArray(f"the array {name} {err}") from None
            out[name] = Declared(shape, dtype, info.file_size)
    return out
