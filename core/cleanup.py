"""Leftovers of work that was killed in the middle: temporary files of atomic writes and export staging folders.

    cleanup_stale("runs")     # at the start of a run and of the window; returns the paths removed

A temporary file `.NAME.<8 hex>.tmp` (checkpoint.atomic_write) in a run folder whose run is not running any
more is removed at once: its writer is gone. Anywhere else it is removed once it is STALE_AFTER seconds old,
so that a write in progress in another process is left alone. A `.layerloom-export-*` staging folder is
removed once nothing in it changed for STALE_AFTER seconds. Links are never followed, nothing else is touched.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import stat
import time

TMP = re.compile(r"^\..+\.[0-9a-f]{8}\.tmp$")
STAGING_PREFIX = ".layerloom-export-"
STALE_AFTER = 300.0  # seconds


def _run_has_ended(folder: str) -> bool:
    from layerloom.core.training.run_status import STATUS, read_status

    return os.path.exists(os.path.join(folder, STATUS)) and read_status(folder).state not in ("running", "")


def _newest_change(path: str) -> float:
    newest = os.lstat(path).st_mtime
    with contextlib.suppress(OSError), os.scandir(path) as entries:
        for e in entries:
            with contextlib.suppress(OSError):
                newest = max(newest, e.stat(follow_symlinks=False).st_mtime)
    return newest


def cleanup_stale(root: str | os.PathLike | None, *, depth: int = 1, now: float | None = None) -> list[str]:
    """Remove stale temporary files and staging folders in `root` and its sub-folders down to `depth`
    (1: a runs folder and its run folders). Returns what was removed; never raises."""
    if not root:
        return []
    root = os.fspath(root)
    now = time.time() if now is None else now
    removed: list[str] = []
    ended = None  # read only when a temporary file is found
    try:
        entries = list(os.scandir(root))
    except OSError:
        return removed
    for e in entries:
        try:
            info = e.stat(follow_symlinks=False)
            if stat.S_ISREG(info.st_mode) and TMP.match(e.name):
                if ended is None:
                    ended = _run_has_ended(root)
                if ended or now - info.st_mtime >= STALE_AFTER:
                    os.unlink(e.path)
                    removed.append(e.path)
            elif stat.S_ISDIR(info.st_mode) and e.name.startswith(STAGING_PREFIX):
                if now - _newest_change(e.path) >= STALE_AFTER:
                    shutil.rmtree(e.path)
                    removed.append(e.path)
            elif stat.S_ISDIR(info.st_mode) and depth > 0:
                removed += cleanup_stale(e.path, depth=depth - 1, now=now)
        except OSError:
            continue
    return removed
