"""Building many objects at once (a big project read, the canvas items of 5,000 blocks) without Python's
cyclic garbage collector running over and over in the middle: each of its full passes walks every object
alive, and a build of a million objects would trigger many of them (a third of a 5,000-block open).

    with paused_gc():
        build_everything()

Collection resumes afterwards, with the usual thresholds (nothing is collected at once)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused_gc() -> Iterator[None]:
    """No cyclic garbage collection inside the block (nested uses are fine); reference counting still
    frees everything that is not in a cycle."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
