"""Checking that bytes are a safetensors file by parsing its header, before any loader sees them.

A safetensors file is an 8-byte little-endian header length N, N bytes of JSON (an object of tensor name →
{"dtype", "shape", "data_offsets": [begin, end]}, and an optional "__metadata__" of texts), then the tensor
data. `parse_header` checks all of it: the JSON, every dtype and shape, offsets inside the data and sizes
that agree with dtype × shape, tensors that neither overlap nor leave gaps. Anything else — a pickle, a
torch.save zip, a damaged or crafted file — is refused with the reason.

    header = parse_header(data)                   # {name: {"dtype", "shape", "data_offsets"}, …}
    header = read_header(path)                    # the same for a file, reading the header only
    looks_like_pickle(data)                       # for wording: was that a pickle?
"""

from __future__ import annotations

import json
import math
import os

MAX_HEADER = 100 * 2**20  # safetensors' own limit
ITEMSIZE = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
            "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8}


class HeaderError(ValueError):
    """Bytes that are not a safetensors file; the text says why."""


def looks_like_pickle(data: bytes) -> bool:
    """A pickle's PROTO opcode (0x80 and a protocol 1..5) or a zip (torch.save writes a zip with data.pkl).
    Only for wording a refusal: the header check decides."""
    return (len(data) >= 2 and data[0] == 0x80 and 1 <= data[1] <= 5) or data[:2] == b"PK"


def header_length(head: bytes, total: int) -> int:
    """The header length from the first 8 bytes, checked against the file's size `total`."""
    if len(head) < 8 or total < 8:
        raise HeaderError("it is shorter than a safetensors header")
    n = int.from_bytes(head[:8], "little")
    if n < 2 or n > MAX_HEADER:
        raise HeaderError(f"its header length ({n:,} bytes) is not that of a safetensors file")
    if 8 + n > total:
        raise HeaderError(f"its header ({n:,} bytes) is longer than the file ({total:,} bytes)")
    return n


def check_header(raw: bytes, data_size: int) -> dict:
    """Parse the JSON header `raw` and check it against `data_size`, the bytes that follow the header."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise HeaderError("its header is not UTF-8 text") from None
    if not text.startswith("{"):
        raise HeaderError("its header is not a JSON object")
    try:
        header = json.loads(text)
    except (ValueError, RecursionError) as err:
        raise HeaderError(f"its header is not valid JSON ({err})") from None
    if not isinstance(header, dict):
        raise HeaderError("its header is not a JSON object")
    spans = []
    for name, entry in header.items():
        if name == "__metadata__":
            if entry is not None and (not isinstance(entry, dict)
                                      or not all(isinstance(v, str) for v in entry.values())):
                raise HeaderError("its __metadata__ is not an object of texts")
            continue
        spans.append(_tensor_span(name, entry, data_size))
    spans.sort()
    end = 0
    for begin, stop, name in spans:
        if begin != end:
            what = "overlaps the one before it" if begin < end else "leaves a gap before it"
            raise HeaderError(f"the data of tensor {name!r} {what}")
        end = stop
    if end != data_size:
        raise HeaderError(f"its tensors hold {end:,} bytes of data but the file has {data_size:,}")
    return header


def _tensor_span(name: str, entry, data_size: int) -> tuple[int, int, str]:
    if not isinstance(entry, dict):
        raise HeaderError(f"tensor {name!r} is not described by an object")
    dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if dtype not in ITEMSIZE:
        raise HeaderError(f"tensor {name!r} has an unknown dtype {dtype!r}")
    if not isinstance(shape, list) or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0
                                              for s in shape):
        raise HeaderError(f"tensor {name!r} has a shape that is not a list of sizes ({shape!r})")
    if (not isinstance(offsets, list) or len(offsets) != 2
            or not all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)):
        raise HeaderError(f"tensor {name!r} has data_offsets that are not two whole numbers ({offsets!r})")
    begin, end = offsets
    if not 0 <= begin <= end <= data_size:
        raise HeaderError(f"the data of tensor {name!r} ({begin:,} to {end:,}) lies outside the file")
    if end - begin != math.prod(shape) * ITEMSIZE[dtype]:
        raise HeaderError(f"tensor {name!r} is {dtype} of shape {shape} but has {end - begin:,} bytes of data")
    return begin, end, name


def parse_header(data: bytes) -> dict:
    """The checked header of safetensors bytes; HeaderError says why they are not safetensors."""
    n = header_length(data[:8], len(data))
    return check_header(bytes(data[8:8 + n]), len(data) - 8 - n)


def read_header(path: str | os.PathLike) -> dict:
    """The checked header of a safetensors file, reading only the header (HeaderError, OSError)."""
    from layerloom.core.resources import open_regular

    with open_regular(path) as f:
        total = os.fstat(f.fileno()).st_size
        n = header_length(f.read(8), total)
        raw = f.read(n)
    if len(raw) != n:
        raise HeaderError("the file ends inside its header")
    return check_header(raw, total - 8 - n)


def metadata(header: dict) -> dict:
    """The header's __metadata__ ({} when none)."""
    meta = header.get("__metadata__")
    return meta if isinstance(meta, dict) else {}
