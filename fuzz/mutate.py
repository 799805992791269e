"""Mutations of files and folders, driven by a seeded `random.Random` (the same seed gives the same case).

Every mutation returns a short description ("bytes: flip 3 bits", "zip: member ../escape…") for the report.
Kinds: raw bytes (flips, truncation, junk, huge 8-byte integers), JSON (wrong types, deep nesting, huge
numbers, path tricks), delimited text (NUL, bad UTF-8, giant fields, odd numbers), zip archives (bundles,
npz: path tricks, pickled members that would leave a marker file if unpickled, huge declared sizes, bombs),
.npy headers (huge shapes, object dtypes), PNG headers (huge dimensions), and folders (FIFOs, links out,
folders where files were, odd names).
"""

from __future__ import annotations

import io
import json
import os
import pickle
import random
import re
import shutil
import stat
import struct
import zipfile
import zlib

ESCAPE = "lfz-escape"  # the name a path trick tries to write; found anywhere outside a case folder: a failure
MARKER = "lfz-unpickled"  # the file a pickled member creates when something unpickles it
DECOY, DECOY_TEXT = "decoy", "a file outside the case folder: nothing may write here\n"  # <work>/decoy/outside.txt


def decoy_file(case_dir: str) -> str:
    """The file links point to: in the work folder beside the cases (never a file of the system: a
    Layerloom that writes through a link must damage nothing but the decoy, which the worker then checks)."""
    return os.path.join(os.path.dirname(os.path.abspath(case_dir)), f"{DECOY}-{os.getpid()}", "outside.txt")


class _Marker:
    """Pickled, it is `open(path, "w")`: unpickling it leaves the marker file (proof that a file was unpickled)."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def pickled_marker(case_dir: str) -> bytes:
    return pickle.dumps(_Marker(os.path.join(case_dir, MARKER)), protocol=4)


HUGE_INTS = (2**31 - 1, 2**31, 2**32, 2**53 + 1, 2**63 - 1, 2**64 - 1, 10**12, -1, -(2**31))
PATH_TRICKS = ("../" + ESCAPE, "../../" + ESCAPE, "/tmp/" + ESCAPE, "~/" + ESCAPE, "..", ".", "/", "",
               "a/../../" + ESCAPE, "C:\\" + ESCAPE, "/dev/zero", "/dev/urandom", "/proc/self/mem", "NUL",
               "x" * 5000, "\x00", "é" * 300)
ODD_VALUES = (None, True, False, 0, -1, 1.5, float("nan"), float("inf"), 10**30, "", "x" * 100_000, [], {},
              [None] * 3, {"": None}, "NaN", -(10**30), 2**63, [[[[[]]]]])


# --- bytes ------------------------------------------------------------------------------------------------


def mutate_bytes(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    b = bytearray(data)
    op = rng.choice(("flip", "flip", "overwrite", "truncate", "insert", "duplicate", "empty", "huge_int",
                     "huge_int", "zero_run"))
    if not b and op not in ("insert", "empty"):
        op = "insert"
    if op == "flip":
        n = rng.randint(1, 8)
        for _ in range(n):
            i = rng.randrange(len(b))
            b[i] ^= 1 << rng.randrange(8)
        return bytes(b), f"bytes: flip {n} bits"
    if op == "overwrite":
        i = rng.randrange(len(b))
        junk = bytes(rng.randrange(256) for _ in range(rng.randint(1, 32)))
        b[i:i + len(junk)] = junk
        return bytes(b), f"bytes: overwrite {len(junk)} at {i}"
    if op == "truncate":
        i = rng.randrange(len(b))
        return bytes(b[:i]), f"bytes: truncate to {i}"
    if op == "insert":
        i = rng.randrange(len(b) + 1)
        junk = bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))
        return bytes(b[:i] + junk + b[i:]), f"bytes: insert {len(junk)} at {i}"
    if op == "duplicate":
        i = rng.randrange(len(b))
        j = min(len(b), i + rng.randint(1, 4096))
        return bytes(b[:j] + b[i:j] * rng.randint(2, 50) + b[j:]), f"bytes: repeat [{i}:{j}]"
    if op == "empty":
        return b"", "bytes: empty"
    if op == "zero_run":
        i = rng.randrange(len(b))
        n = rng.randint(1, 256)
        b[i:i + n] = bytes(n)
        return bytes(b), f"bytes: {n} zeros at {i}"
    # an integer field set to a huge value: 4 or 8 bytes, little or big endian, at a random (aligned) place
    width = rng.choice((4, 8))
    i = rng.randrange(0, max(1, len(b) - width + 1))
    i -= i % width if rng.random() < 0.5 else 0
    value = rng.choice([v for v in HUGE_INTS if 0 <= v < 2 ** (8 * width)])
    order = rng.choice("<>")
    b[i:i + width] = struct.pack(order + ("I" if width == 4 else "Q"), value)
    return bytes(b), f"bytes: {width}-byte {value} at {i}"


# --- JSON -------------------------------------------------------------------------------------------------


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, (*prefix, i))


def _odd(rng: random.Random):
    kind = rng.random()
    if kind < 0.15:
        deep: list = []
        for _ in range(rng.choice((50, 5000, 100_000))):
            deep = [deep]
        return deep
    if kind < 0.35:
        return rng.choice(PATH_TRICKS)
    if kind < 0.45:
        return rng.choice(HUGE_INTS)
    return rng.choice(ODD_VALUES)


def mutate_json(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError):
        return mutate_bytes(rng, data)
    paths = list(_paths(doc))
    path = rng.choice(paths)
    op = rng.choice(("replace", "replace", "replace", "delete", "add", "dup_key"))
    what = "/".join(map(str, path)) or "(root)"
    if not path:
        if op == "replace":
            doc = _odd(rng)
        op_text = f"json: {op} root"
    else:
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        key = path[-1]
        if op == "delete":
            del parent[key]
        elif op == "add" and isinstance(parent, dict):
            parent[rng.choice(("__proto__", "extra", "format", "version", "x" * 300))] = _odd(rng)
        elif op == "add" and isinstance(parent, list):
            parent.extend([parent[key]] * rng.choice((1, 10, 1000)))
        else:
            parent[key] = _odd(rng)
        op_text = f"json: {op} {what[:80]}"
    try:
        text = json.dumps(doc)
    except (RecursionError, ValueError):
        text = "[" * 100_000
        op_text += " (as deep nesting)"
    if op == "dup_key" and text.startswith("{") and len(text) > 2:
        first = text[1:text.find(",") if "," in text else -1]
        text = "{" + first + "," + text[1:]
    return text.encode("utf-8", "surrogatepass"), op_text


# --- delimited text --------------------------------------------------------------------------------------


def mutate_text(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    lines = data.split(b"\n")
    op = rng.choice(("nul", "bad_utf8", "giant_field", "number", "number", "columns", "quote", "lines", "bom",
                     "delimiter", "blank"))
    i = rng.randrange(len(lines))
    if op == "nul":
        lines[i] = lines[i][: len(lines[i]) // 2] + b"\x00" + lines[i][len(lines[i]) // 2:]
    elif op == "bad_utf8":
        lines[i] += rng.choice((b"\xff\xfe", b"\xc3", b"\xed\xa0\x80", b"\x80" * 10))
    elif op == "giant_field":
        lines[i] += b"," + b"9" * rng.choice((1000, 1_000_000, 20_000_000))
    elif op == "number":
        text = lines[i].decode("utf-8", "replace")
        nums = list(re.finditer(r"-?\d+(\.\d+)?", text))
        if nums:
            m = rng.choice(nums)
            new = rng.choice(("nan", "inf", "-inf", "1e400", "-0", "1e-400", str(2**70), "0x10", "1_000", "",
                              "NaN", "１２"))
            text = text[:m.start()] + new + text[m.end():]
        lines[i] = text.encode("utf-8")
    elif op == "columns":
        lines[i] += b"," * rng.choice((1, 5, 10_000))
    elif op == "quote":
        lines[i] = b'"' + lines[i]
    elif op == "lines":
        lines = lines[:1] + lines[1:] * rng.choice((0, 2, 20, 200))  # more would be slow to train, not wrong
    elif op == "bom":
        lines[0] = b"\xef\xbb\xbf" + lines[0]
    elif op == "delimiter":
        lines[i] = lines[i].replace(b",", b";").replace(b"\t", b",")
    else:
        lines = [b""] * rng.choice((1, 3))
    return b"\n".join(lines), f"text: {op} line {i}"


# --- zip archives (bundles, npz) -------------------------------------------------------------------------


def _members(data: bytes) -> list[tuple[str, bytes]]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return [(i.filename, zf.read(i)) for i in zf.infolist()]


def _zip(members: list[tuple[str, bytes]], compress: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, content in members:
            info = zipfile.ZipInfo(name)
            info.compress_type = compress
            zf.writestr(info, content)
    return buf.getvalue()


def _declare_huge(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """Set the uncompressed size of a member in the central directory (and local header) to a huge value."""
    b = bytearray(data)
    spots = [m.start() for m in re.finditer(b"PK\x01\x02", b)]
    if not spots:
        return data, "zip: no central directory"
    at = rng.choice(spots)
    value = rng.choice((2**32 - 1, 2**31, 10**9))
    b[at + 24:at + 28] = struct.pack("<I", value)  # uncompressed size
    if rng.random() < 0.5:
        b[at + 20:at + 24] = struct.pack("<I", rng.choice((0, 1, 2**32 - 1)))  # compressed size
    return bytes(b), f"zip: declared size {value}"


def mutate_zip(rng: random.Random, data: bytes, case_dir: str, inner=None) -> tuple[bytes, str]:
    """`inner(rng, name, content)` mutates one member's content (a bundle's JSON and safetensors, an npz's
    .npy); without it, member bytes are mutated as bytes."""
    try:
        members = _members(data)
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, zlib.error, NotImplementedError):
        return mutate_bytes(rng, data)
    if not members:
        return mutate_bytes(rng, data)
    op = rng.choice(("member", "member", "member", "member", "rename", "pickle", "extra", "drop", "duplicate",
                     "declared", "bomb", "stored", "bytes"))
    k = rng.randrange(len(members))
    name, content = members[k]
    if op == "member":
        content, what = inner(rng, name, content) if inner else mutate_bytes(rng, content)
        members[k] = (name, content)
        return _zip(members), f"zip: {name}: {what}"
    if op == "rename":
        new = rng.choice((*PATH_TRICKS[:5], "dir/", name + "/", name.upper(), " " + name, name + "\x00x"))
        members[k] = (new, content)
        try:
            return _zip(members), f"zip: rename {name} to {new!r}"
        except (ValueError, OSError):
            return mutate_bytes(rng, data)
    if op == "pickle":
        members[k] = (name, pickled_marker(case_dir))
        return _zip(members), f"zip: {name} holds a pickle"
    if op == "extra":
        members.append((rng.choice(("evil.pkl", "../" + ESCAPE, "weights.pt", "x" * 200, "a/b/c.json")),
                        pickled_marker(case_dir)))
        return _zip(members), "zip: extra member"
    if op == "drop":
        del members[k]
        return _zip(members), f"zip: drop {name}"
    if op == "duplicate":
        members.append((name, content[: len(content) // 2]))
        return _zip(members), f"zip: duplicate {name}"
    if op == "declared":
        return _declare_huge(data, rng)
    if op == "bomb":  # zeros compress ~1000:1; the size stays under what a case may use
        members[k] = (name, bytes(rng.choice((8, 80)) * 2**20))
        return _zip(members), f"zip: {name} is a bomb of {len(members[k][1]) >> 20} MB"
    if op == "stored":
        return _zip(members, zipfile.ZIP_STORED), "zip: stored"
    return mutate_bytes(rng, data)


# --- .npy, safetensors, PNG ---------------------------------------------------------------------------------


def mutate_npy(rng: random.Random, data: bytes, case_dir: str) -> tuple[bytes, str]:
    if not data.startswith(b"\x93NUMPY") or rng.random() < 0.3:
        return mutate_bytes(rng, data)
    op = rng.choice(("shape", "dtype", "object", "header_len"))
    header_len = struct.unpack("<H", data[8:10])[0]
    header = data[10:10 + header_len].decode("latin-1")
    body = data[10 + header_len:]
    if op == "object":
        import numpy as np

        buf = io.BytesIO()
        np.save(buf, np.array([_Marker(os.path.join(case_dir, MARKER))], dtype=object), allow_pickle=True)
        return buf.getvalue(), "npy: an object array (pickled)"
    if op == "header_len":
        return data[:8] + struct.pack("<H", 65535) + data[10:], "npy: header length 65535"
    if op == "shape":
        new = rng.choice(("(10**12,)", "(4294967296, 8)", "(-1,)", "(3, 0, 999999999)", "()", "(1.5,)", "'x'"))
        header = re.sub(r"'shape': \([^)]*\)", f"'shape': {new}", header)
    else:
        new = rng.choice(("'<U1000000000'", "'|O'", "'<f16'", "'V999999999'", "'<c8'", "'>i8'", "'float99'", "[]"))
        header = re.sub(r"'descr': '[^']*'", f"'descr': {new}", header)
    raw = header.encode("latin-1")
    pad = (-(10 + len(raw) + 1)) % 64
    raw = raw + b" " * pad + b"\n"
    return data[:8] + struct.pack("<H", len(raw)) + raw + body, f"npy: {op} {new}"


def mutate_safetensors(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    if len(data) < 8 or rng.random() < 0.4:
        return mutate_bytes(rng, data)
    n = struct.unpack("<Q", data[:8])[0]
    try:
        header = json.loads(data[8:8 + n])
    except (ValueError, RecursionError):
        return mutate_bytes(rng, data)
    if not isinstance(header, dict):
        return mutate_bytes(rng, data)
    op = rng.choice(("header_len", "offsets", "dtype", "shape", "json"))
    if op == "header_len":
        return struct.pack("<Q", rng.choice(HUGE_INTS[2:6])) + data[8:], "safetensors: huge header length"
    keys = [k for k in header if k != "__metadata__"]
    if op == "json" or not keys:
        text, what = mutate_json(rng, data[8:8 + n])
        return struct.pack("<Q", len(text)) + text + data[8 + n:], f"safetensors header {what}"
    key = rng.choice(keys)
    if op == "offsets":
        header[key]["data_offsets"] = [0, rng.choice((2**40, 2**63, -5, 10**9))]
    elif op == "dtype":
        header[key]["dtype"] = rng.choice(("U8", "F128", "O", "", 7))
    else:
        header[key]["shape"] = rng.choice(([2**40], [-1], [10**6, 10**6], ["x"], []))
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data[8 + n:], f"safetensors: {op} of {key}"


def mutate_png(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    if not data.startswith(b"\x89PNG") or rng.random() < 0.5:
        return mutate_bytes(rng, data)
    w, h = rng.choice(((100_000, 100_000), (2**31 - 1, 1), (0, 0), (65_535, 65_535), (1, 2**31 - 1)))
    ihdr = struct.pack(">II", w, h) + data[24:29]
    crc = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr) & 0xFFFFFFFF)
    return data[:16] + ihdr + crc + data[33:], f"png: declared {w}×{h}"


def mutate_content(rng: random.Random, name: str, data: bytes, case_dir: str) -> tuple[bytes, str]:
    """A file's content mutated by what its name says it is."""
    lower = name.lower()
    if lower.endswith(".json") or lower.endswith(".jsonl"):
        if lower.endswith(".jsonl") and rng.random() < 0.7:
            return mutate_text(rng, data) if rng.random() < 0.5 else mutate_bytes(rng, data)
        return mutate_json(rng, data) if rng.random() < 0.7 else mutate_bytes(rng, data)
    if lower.endswith((".csv", ".tsv", ".txt")):
        return mutate_text(rng, data) if rng.random() < 0.7 else mutate_bytes(rng, data)
    if lower.endswith(".safetensors"):
        return mutate_safetensors(rng, data)
    if lower.endswith(".npy"):
        return mutate_npy(rng, data, case_dir)
    if lower.endswith(".png"):
        return mutate_png(rng, data)
    if lower.endswith((".layerloom", ".npz")):
        return mutate_zip(rng, data, case_dir, lambda r, n, c: mutate_content(r, n, c, case_dir))
    return mutate_bytes(rng, data)


# --- folders --------------------------------------------------------------------------------------------


def mutate_folder(rng: random.Random, folder: str, case_dir: str) -> str:
    """Change one thing in a folder (an image folder, a run folder) in place; returns what."""
    files = sorted(os.path.join(d, f) for d, _dirs, names in os.walk(folder) for f in names)
    op = rng.choice(("file", "file", "file", "file", "fifo", "link_out", "dir", "delete", "odd_name", "bomb"))
    target = rng.choice(files) if files else os.path.join(folder, "x.png")
    rel = os.path.relpath(target, folder)
    if op == "file" and files and stat.S_ISREG(os.lstat(target).st_mode):
        with open(target, "rb") as f:
            data = f.read()
        data, what = mutate_content(rng, target, data, case_dir)
        with open(target, "wb") as f:
            f.write(data)
        return f"{rel}: {what}"
    if op in ("fifo", "link_out", "dir", "delete") and os.path.lexists(target):
        os.unlink(target)
    if op == "fifo" and hasattr(os, "mkfifo"):
        os.mkfifo(target)
        return f"{rel}: a FIFO (reading it blocks)"
    if op == "link_out":
        decoy = decoy_file(case_dir)
        os.symlink(rng.choice((decoy, decoy, os.path.dirname(decoy), "/dev/zero", "/proc/self/environ")), target)
        return f"{rel}: a link out of the folder"
    if op == "dir":
        os.makedirs(target, exist_ok=True)
        return f"{rel}: a folder"
    if op == "delete":
        return f"{rel}: deleted"
    if op == "bomb":
        from PIL import Image

        sub = os.path.dirname(target)
        os.makedirs(sub, exist_ok=True)
        Image.new("L", (1, 1)).save(os.path.join(sub, "bomb.png"))
        with open(os.path.join(sub, "bomb.png"), "rb") as f:
            data, what = mutate_png(random.Random(0), f.read())
        with open(os.path.join(sub, "bomb.png"), "wb") as f:
            f.write(data)
        return f"bomb.png: {what}"
    name = rng.choice(("..png", "a\nb.png", "é.png", " .png", "x" * 250 + ".png", ".hidden.png", "-rf.png"))
    try:
        with open(os.path.join(os.path.dirname(target), name), "wb") as f:
            f.write(b"\x89PNG\r\n\x1a\n")
    except OSError:
        return "odd name refused by the file system"
    return f"a file named {name!r}"


def copy_seed(src: str, dst: str) -> None:
    if os.path.isdir(src):
        shutil.copytree(src, dst, symlinks=True)
    else:
        shutil.copyfile(src, dst)
