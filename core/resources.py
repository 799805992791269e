"""What this machine can give: memory for data and models, CPU threads, and files that are safe to read.

    memory_budget()            # bytes a data set may take in memory: half of what is available, or
                               # LAYERLOOM_MEMORY_LIMIT_MB when set
    check_fits(need, what)     # MemoryLimitError when `need` bytes exceed the budget
    open_regular(path)         # a binary file object, or NotRegularFile for a pipe, device or folder
    usable_threads(64)         # (2, "training.threads is 64 but …") on a 2-core machine

Estimates come from what files declare (array headers, image headers, file sizes) before anything is
read, so a file that claims gigabytes is refused instead of filling the memory. Nothing here imports
numpy or torch.
"""

from __future__ import annotations

import contextlib
import os
import stat
import time

from layerloom.core.errors import LayerloomError

ENV_LIMIT = "LAYERLOOM_MEMORY_LIMIT_MB"
SHARE = 0.5  # the share of the available memory one data set (or one model's parameters) may take
MB, GB = 2**20, 2**30
_CACHE_SECONDS = 2.0
_cached: tuple[float, int | None] = (-1e9, None)


class MemoryLimitError(LayerloomError):
    """Something would take more memory than this machine can give it."""


class NotRegularFile(LayerloomError):
    """A path that is a pipe, a device, a socket or a folder where a file is needed (never opened).
    `reason` is the message without the path, for errors that name the path themselves."""

    def __init__(self, path: str, kind: str, what: str = "file", writing: bool = False):
        self.path = path
        self.kind = kind
        a = "an" if what[:1] in "aeiou" else "a"
        why = ("" if kind == "a folder" else
               " (pipes and devices are never written to: that could block, or destroy the device)" if writing else
               " (pipes and devices are never read: they can block or never end)")
        self.reason = f"is {kind}, not {a} {what}; give the path of {a} {what}{why}"
        super().__init__(f"{path}: {self.reason}")


# --- memory -------------------------------------------------------------------------------------


def size_text(n: float) -> str:
    """1536 → '1.5 KB', 3.2e12 → '2.91 TB' (powers of 1024, three digits)."""
    for unit, scale in (("PB", 2**50), ("TB", 2**40), ("GB", GB), ("MB", MB), ("KB", 2**10)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{int(n)} bytes"


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo", "rb") as f:
            for line in f:
                if line.startswith(b"MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _cgroup_room() -> int | None:
    """What a container's memory limit (cgroup v2) still leaves, when there is one."""
    try:
        with open("/sys/fs/cgroup/memory.max", "rb") as f:
            limit = f.read().strip()
        if limit == b"max":
            return None
        with open("/sys/fs/cgroup/memory.current", "rb") as f:
            used = int(f.read().strip())
        return max(0, int(limit) - used)
    except (OSError, ValueError):
        return None


def available_memory() -> int | None:
    """Bytes of memory available to this process now (MemAvailable, a container's limit), None when unknown."""
    global _cached
    now = time.monotonic()
    if now - _cached[0] < _CACHE_SECONDS:
        return _cached[1]
    found = [v for v in (_meminfo_available(), _cgroup_room()) if v is not None]
    if not found:
        with contextlib.suppress(ValueError, OSError, AttributeError):
            found.append(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    value = min(found) if found else None
    _cached = (now, value)
    return value


def _env_limit() -> int | None:
    raw = os.environ.get(ENV_LIMIT, "").strip()
    if not raw:
        return None
    try:
        mb = float(raw)
    except ValueError:
        raise MemoryLimitError(f"{ENV_LIMIT} must be a number of megabytes, such as 8000 (got {raw!r})") from None
    if not mb > 0:
        raise MemoryLimitError(f"{ENV_LIMIT} must be a positive number of megabytes (got {raw!r})")
    return int(mb * MB)


def memory_budget() -> int | None:
    """Bytes one data set may take in memory: LAYERLOOM_MEMORY_LIMIT_MB when set, else half of the
    available memory; None when neither is known (no limit)."""
    limit = _env_limit()
    if limit is not None:
        return limit
    available = available_memory()
    return None if available is None else int(available * SHARE)


def check_fits(need: int, what: str) -> None:
    """MemoryLimitError naming `what` when `need` bytes exceed memory_budget()."""
    budget = memory_budget()
    if budget is None or need <= budget:
        return
    how = (f"the limit {ENV_LIMIT} sets is {size_text(budget)}" if _env_limit() is not None else
           f"this computer has {size_text(budget / SHARE)} of memory available, and a data set may take half")
    raise MemoryLimitError(f"{what} would take about {size_text(need)} in memory; {how}. Use a smaller data set "
                           f"(or smaller images), or set {ENV_LIMIT} to a higher number of megabytes to try anyway")


MAX_IMAGE_PIXELS = 89_478_485  # PIL's own limit: about 0.25 GB as RGB


def image_too_large(width: int | None, height: int | None, size: str = "") -> str:
    """The words for an image above MAX_IMAGE_PIXELS (the file's name goes before them)."""
    size = size or f"{width:,}×{height:,} pixels"
    return (f"the image is {size}; images may have at most {MAX_IMAGE_PIXELS / 1e6:.0f} megapixels, so it is "
            "not opened (a huge image, or a decompression bomb) — make it smaller")


# --- files --------------------------------------------------------------------------------------


def kind_of(path: str | os.PathLike) -> str | None:
    """What a path that is not a regular file is, in words ("a named pipe (FIFO)"); None for a regular file or
    one that cannot be looked at. Links are followed."""
    try:
        return _kind(os.stat(path).st_mode)
    except (OSError, ValueError):
        return None


def _kind(mode: int) -> str | None:
    """What a non-regular file is, in words; None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def not_regular(path: str | os.PathLike, what: str = "file") -> NotRegularFile | None:
    """The error for a path that exists but is no regular file (a pipe, device, socket or folder), else None.
    Missing paths give None: the caller words that itself."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return None
    kind = _kind(mode)
    return None if kind is None else NotRegularFile(os.fspath(path), kind, what)


def check_regular(path: str | os.PathLike, what: str = "file") -> None:
    """NotRegularFile when `path` exists and is not a regular file."""
    err = not_regular(path, what)
    if err is not None:
        raise err


def check_target(path: str | os.PathLike, what: str = "file") -> None:
    """NotRegularFile when a file is to be written at `path` and something other than a file or a folder is
    there: writing into a pipe blocks, and replacing a device (as root) would destroy it."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return
    kind = _kind(mode)
    if kind is not None and kind != "a folder":
        raise NotRegularFile(os.fspath(path), kind, what, writing=True)


def open_regular(path: str | os.PathLike, what: str = "file"):
    """Open a regular file for reading in binary mode without ever blocking: a named pipe is opened
    non-blocking and refused, as are devices, sockets and folders (NotRegularFile). Other failures are the
    usual OSError."""
    path = os.fspath(path)
    check_regular(path, what)
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    try:
        kind = _kind(os.fstat(fd).st_mode)  # what was opened, in case the path changed since the check
        if kind is not None:
            raise NotRegularFile(path, kind, what)
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


# --- threads ------------------------------------------------------------------------------------


def cpu_count() -> int:
    """CPUs this process may run on (its affinity where the system tells it)."""
    with contextlib.suppress(AttributeError, OSError):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def usable_threads(requested: int | None) -> tuple[int | None, str | None]:
    """The thread count to use for `requested` (None: automatic) and a note when it was lowered: more threads
    than CPUs only slow training down, and asking the system for dozens can fail outright."""
    if not requested:
        return requested, None
    cpus = cpu_count()
    if requested <= cpus:
        return requested, None
    return cpus, (f"training.threads is {requested} but this computer has {cpus} CPU{'s' if cpus != 1 else ''}; "
                  f"training uses {cpus} threads")
