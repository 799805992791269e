"""core/errors_text.py: one sentence per kind of exception, naming the file or what was being done, with what to
do; only bugs are "unexpected error: Type: text"."""

from __future__ import annotations

import csv
import errno
import io

import pytest

from layerloom.core.errors import ProjectError
from layerloom.core.errors_text import describe, is_bug, plain


@pytest.mark.parametrize(("code", "words"), [
    (errno.ENOENT, "runs/x: does not exist; check the path"),
    (errno.EACCES, "runs/x: permission denied; choose a place you may read and write"),
    (errno.EPERM, "runs/x: the operation is not permitted there"),
    (errno.EROFS, "runs/x: is on a read-only file system; choose a folder on a disk you can write to"),
    (errno.ENOSPC, "runs/x: the disk is full; free some space"),
    (errno.EEXIST, "runs/x: already exists; choose another name"),
    (errno.EISDIR, "runs/x: is a folder where a file is needed"),
    (errno.ENOTDIR, "runs/x: a part of this path is a file, not a folder"),
])
def test_os_errors_by_errno(code, words):
    err = OSError(code, "ignored", "runs/x")
    text = describe(err)
    assert text.startswith(words)
    assert "Error" not in text and not is_bug(err)


def test_an_os_error_without_a_file_takes_the_place_given():
    assert describe(OSError(errno.ENOSPC, "No space left on device"), "model.onnx").startswith(
        "model.onnx: the disk is full")
    assert describe(OSError(errno.EAGAIN, "Resource temporarily unavailable")).startswith(
        "the computer refused to start more threads; lower training.threads")
    assert describe(OSError(errno.EILSEQ, "Illegal byte sequence", "a.txt")) == "a.txt: illegal byte sequence"


def test_text_that_cannot_be_decoded_or_encoded():
    with pytest.raises(UnicodeDecodeError) as dec:
        b"ok \xff".decode("utf-8")
    assert describe(dec.value, "notes.txt") == (
        "notes.txt: is not UTF-8 text (byte 0xff at position 3 is not UTF-8); save the file as UTF-8")
    with pytest.raises(UnicodeEncodeError) as enc:
        "name \ud800".encode("utf-8")
    assert describe(enc.value, "project.json") == (
        "project.json: a text holds a lone surrogate (\\ud800), half of a character that is not there, which "
        "cannot be written as UTF-8; remove it from the text")


def test_images_csv_fields_memory_and_threads():
    from PIL import Image

    bomb = Image.DecompressionBombError("Image size (900000000 pixels) exceeds limit of 178956970 pixels, could be "
                                        "decompression bomb DOS attack.")
    assert describe(bomb, "cats/huge.png") == (
        "cats/huge.png: the image is too large to open safely (900,000,000 pixels); make it smaller first")
    with pytest.raises(csv.Error) as field:
        list(csv.reader(io.StringIO('a,"' + "x" * 200_000 + '"\n')))
    assert describe(field.value, "big.csv") == (
        "big.csv: a value is longer than the most a CSV field may hold (131072 characters); a quote mark that is "
        "never closed does this — check the quoting")
    for err in (MemoryError(), RuntimeError("[enforce fail at alloc_cpu.cpp:118] DefaultCPUAllocator: can't "
                                            "allocate memory: you tried to allocate 4000000000000 bytes")):
        assert describe(err, "model.onnx") == ("not enough memory for model.onnx; use a smaller model, a smaller "
                                               "batch size or less data")
    assert describe(RuntimeError("libgomp: Thread creation failed: Resource temporarily unavailable")).startswith(
        "the computer refused to start more threads")


def test_layerloom_errors_pass_through_and_bugs_are_named_as_such():
    err = ProjectError("net.json", ["the file is empty"])
    assert describe(err) == "net.json: the file is empty" and plain(err) == str(err)
    bug = KeyError("conv1")
    assert is_bug(bug) and plain(bug) is None
    assert describe(bug) == "unexpected error: KeyError: 'conv1'"
    assert describe(bug, "export") == "unexpected error (export): KeyError: 'conv1'"
