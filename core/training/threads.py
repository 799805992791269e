"""Which thread does torch's parallel work.

With OpenMP (libgomp in the Linux wheels), every thread that runs a parallel torch operation gets a pool of
worker threads of its own, kept for that thread's life. Two pools on a small CPU slow each other down badly:
on a 2-core machine a training thread runs a LeNet-5 convolution's forward and backward in 1.37 ms instead of
0.45 ms once the GUI thread has run a single parallel operation (libgomp stops its threads spinning when it
manages more threads than there are cores, and every parallel region then waits for threads to wake up).
So the GUI thread keeps its little tensor work (a prediction of one drawing, a copy of the weights) serial,
and the training thread's pool is the only one.

The memory allocator matters as much: with glibc's default settings a training thread (its own malloc arena)
gives the activations' memory back to the system after every step and faults it in again at the next, about
9 % of a LeNet-5 step on this 2-core machine; `keep_freed_memory` makes freed blocks stay for reuse.
"""

from __future__ import annotations

import ctypes
import gc
import os
import sys
import threading

_local = threading.local()  # .serial: this thread was made serial (per thread: idents are reused)
_lock = threading.Lock()


def keep_this_thread_serial() -> None:
    """Make the calling thread run torch operations on itself alone (no OpenMP or MKL pool of its own),
    leaving torch's thread count for every other thread as it was. Cheap after the first call."""
    if getattr(_local, "serial", False):
        return
    import torch

    with _lock:
        # get_num_threads also does ATen's per-thread set-up, which would otherwise undo the next line later
        n = torch.get_num_threads()
        if n > 1:
            # set_num_threads sets this thread's OpenMP and MKL counts, and the count new threads start
            # with; that one is put back from another thread, which leaves this thread's count at 1
            torch.set_num_threads(1)
            restore = threading.Thread(target=torch.set_num_threads, args=(n,), name="layerloom-threads")
            collecting = gc.isenabled()
            gc.disable()  # no collection in that thread: it could meet a GUI's Qt objects (gui/gc_guard.py)
            try:
                restore.start()
                restore.join()
            finally:
                if collecting:
                    gc.enable()
        _local.serial = True


BACKGROUND_NICE = 5  # how far a window's training thread steps back: the GUI thread gets ~3× its share of a core


def run_in_background(step: int = BACKGROUND_NICE) -> bool:
    """Lower the calling thread's scheduling priority by `step` (nice), so that a GUI thread of this process
    gets a core at once when it has work: a window's training thread calls this first, and the OpenMP threads
    it then starts inherit it. Measured in the window (vae_digits, Generative tab, 2 cores): the 10 ms timer's
    99th-percentile lateness 17–34 ms → 9–13 ms, samples/s unchanged (the GUI thread needs the same CPU, only
    sooner). Linux only, where a nice value is per thread (elsewhere it would lower the GUI thread as well):
    False where it is not done. Never raises."""
    if not sys.platform.startswith("linux") or not hasattr(os, "setpriority") or step <= 0:
        return False
    try:
        who = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, who, min(19, os.getpriority(os.PRIO_PROCESS, who) + step))
    except OSError:
        return False
    return True


def is_serial() -> bool:
    """Whether the calling thread was made serial by keep_this_thread_serial."""
    return getattr(_local, "serial", False)


M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters
MMAP_THRESHOLD = 32 * 2**20  # blocks up to this size come from the heap, not from a fresh mapping each time
TRIM_THRESHOLD = 256 * 2**20  # free memory at the heap's top kept for reuse, up to this much


def keep_freed_memory() -> bool:
    """glibc (Linux): keep freed blocks of up to 32 MB for reuse instead of returning them to the system
    (which the next training step then faults in again). The process keeps up to a few hundred MB of freed
    memory; True when the settings took (False elsewhere: macOS, Windows, musl)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1 and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
