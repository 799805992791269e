"""One plain sentence for any exception a user can meet, from one table of exception kinds.

    describe(err)                      # "runs: permission denied; choose a folder you may write to, or …"
    describe(err, where="data.csv")    # names the file when the exception does not
    plain(err)                         # the same sentence, or None when the exception is a bug

Layerloom's own errors (LayerloomError) already are sentences. For the others: OS errors by errno, text
that cannot be decoded or encoded, images too large to open, CSV fields past the field limit, memory that
cannot be allocated and threads that cannot be started. Anything else is a bug: `describe` words it as
"unexpected error: Type: text" so it can be reported.
"""

from __future__ import annotations

import errno
import os

from layerloom.core.errors import LayerloomError

_WHAT_TO_DO = {
    errno.ENOENT: "does not exist; check the path",
    errno.EACCES: "permission denied; choose a place you may read and write, or change its permissions",
    errno.EPERM: "the operation is not permitted there; choose another file or folder",
    errno.EROFS: "is on a read-only file system; choose a folder on a disk you can write to",
    errno.ENOSPC: "the disk is full; free some space or choose a folder on another disk",
    errno.EEXIST: "already exists; choose another name, or move it away first",
    errno.EISDIR: "is a folder where a file is needed; give the name of a file",
    errno.ENOTDIR: "a part of this path is a file, not a folder; check the path",
    errno.ENAMETOOLONG: "the name is too long; choose a shorter path",
    errno.ELOOP: "goes round in a loop of symbolic links; check the path",
    errno.EIO: "cannot be read or written (an input/output error); the disk or device may be failing",
    errno.ENXIO: "is a device that is not there; give the path of a file",
    errno.ENODEV: "is a device, not a file; give the path of a file",
    errno.EMFILE: "cannot be opened: too many files are open; close some programs and try again",
    errno.ENFILE: "cannot be opened: too many files are open; close some programs and try again",
    errno.EBUSY: "is in use by another program; close it and try again",
    errno.ETXTBSY: "is in use by another program; close it and try again",
    errno.EXDEV: "cannot be moved across disks; choose a folder on the same disk",
}
if hasattr(errno, "EDQUOT"):
    _WHAT_TO_DO[errno.EDQUOT] = "your disk quota is used up; free some space or choose another disk"

_MEMORY = "not enough memory{where}; use a smaller model, a smaller batch size or less data"
_THREADS = ("the computer refused to start more threads{where}; lower training.threads (or leave it empty for "
            "automatic) and close other programs")


def _where(exc: BaseException, where: str | None) -> str:
    name = getattr(exc, "filename", None)
    if name is not None:
        return os.fsdecode(name) if isinstance(name, bytes) else str(name)
    return where or ""


def _os_error(exc: OSError, where: str | None) -> str:
    place = _where(exc, where)
    code = exc.errno
    if code == errno.EAGAIN and not getattr(exc, "filename", None):
        return _THREADS.format(where=f" ({place})" if place else "")
    if code == errno.ENOMEM:
        return _MEMORY.format(where=f" for {place}" if place else "")
    text = _WHAT_TO_DO.get(code) if code is not None else None
    if text is None:
        text = (exc.strerror or str(exc) or "cannot be used").rstrip(".")
        text = text[0].lower() + text[1:] if text else text
    target = getattr(exc, "filename2", None)
    if code == errno.EEXIST and target:
        place = str(target)
    return f"{place}: {text}" if place else text[0].upper() + text[1:]


def _unicode(exc: UnicodeError, where: str | None) -> str:
    place = f"{where}: " if where else ""
    if isinstance(exc, UnicodeDecodeError):
        return (f"{place}is not UTF-8 text (byte {exc.object[exc.start]:#04x} at position {exc.start:,} is not "
                "UTF-8); save the file as UTF-8")
    if isinstance(exc, UnicodeEncodeError):
        char = exc.object[exc.start] if exc.start < len(exc.object) else ""
        what = (f"a lone surrogate ({char.encode('unicode_escape').decode()}), half of a character that is not "
                "there" if "\ud800" <= char <= "\udfff" else f"the character {char!r}")
        return f"{place}a text holds {what}, which cannot be written as UTF-8; remove it from the text"
    return f"{place}a text cannot be decoded or encoded ({exc})"


def _message(exc: BaseException, where: str | None) -> str | None:
    if isinstance(exc, LayerloomError):
        return str(exc)
    name = type(exc).__name__
    text = str(exc)
    place = f"{where}: " if where else ""
    if name == "DecompressionBombError":  # PIL, without importing it
        import re

        pixels = re.search(r"\((\d+) pixels\)", text)
        size = f" ({int(pixels.group(1)):,} pixels)" if pixels else ""
        return f"{place}the image is too large to open safely{size}; make it smaller first"
    if name == "Error" and type(exc).__module__ in ("_csv", "csv"):
        if "field larger than field limit" in text:
            limit = text.rsplit("(", 1)[-1].rstrip(")")
            return (f"{place}a value is longer than the most a CSV field may hold ({limit} characters); a quote "
                    "mark that is never closed does this — check the quoting")
        return f"{place}cannot be read as delimited text ({text}); check the delimiter and the quoting"
    if isinstance(exc, MemoryError) or name == "OutOfMemoryError":
        return _MEMORY.format(where=f" for {where}" if where else "")
    if isinstance(exc, RuntimeError):
        low = text.lower()
        if "can't allocate memory" in low or "defaultcpuallocator" in low or "out of memory" in low:
            return _MEMORY.format(where=f" for {where}" if where else "")
        if "thread creation failed" in low or ("thread" in low and "resource temporarily unavailable" in low):
            return _THREADS.format(where=f" ({where})" if where else "")
    if isinstance(exc, OSError):
        return _os_error(exc, where)
    if isinstance(exc, UnicodeError):
        return _unicode(exc, where)
    if isinstance(exc, RecursionError):
        return f"{place}is nested too deeply to be read"
    if isinstance(exc, OverflowError) or "overflow when unpacking long" in text.lower():
        return (f"{place}a number is too large for PyTorch (whole numbers go up to 9,223,372,036,854,775,807); "
                "check the block parameters and the data")
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    return None


def plain(exc: BaseException, where: str | None = None) -> str | None:
    """The sentence for `exc`, or None when it is not a kind a user can fix (a bug)."""
    return _message(exc, where)


def describe(exc: BaseException, where: str | None = None) -> str:
    """One sentence for `exc`, naming `where` (a file, field or block) when the exception does not name it.
    A bug is worded 'unexpected error: Type: text' so that it can be reported."""
    text = _message(exc, where)
    if text is not None:
        return text
    place = f" ({where})" if where else ""
    return f"unexpected error{place}: {type(exc).__name__}: {exc}"


def is_bug(exc: BaseException) -> bool:
    """True when `describe` has no plain words for `exc`."""
    return _message(exc, None) is None
