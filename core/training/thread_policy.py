"""How many CPU threads a run trains with: one rule for the command line, the window and every DDP process.

    choice = choose_threads(None)            # automatic: the free cores, measured now
    choice = choose_threads(3)               # set by you (training.threads, --threads)
    apply(choice)                            # torch.set_num_threads(choice.threads)
    choice.reason                            # "2 cores, 1.0 busy with other work: 1 thread so as not to fight it"

Why (benchmarks/bench_busy_cpu.py has the figures): torch starts one OpenMP thread per core, and every
parallel operation waits at its end for all of them. When another process holds a core, the thread on that
core runs late and the others spin waiting for it; on a 2-core machine beside one busy process a run fell to
about a third of its quiet speed (a plain LSTM loop to a hundredth). So a run takes only the cores that are
free when it starts. OpenMP's wait policy is left as torch has it (or as the user set it): OMP_WAIT_POLICY=
PASSIVE, which keeps idle threads from spinning, cost 34–69 % of the quiet speed of lenet5, lstm_text and
gru_timeseries on this machine, while the thread count alone keeps a busy machine above half its quiet speed.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

BUSY_SAMPLE_S = 0.05  # how long the other processes' CPU use is sampled when a run starts


@dataclass(frozen=True)
class ThreadChoice:
    """The thread count a run uses, the OpenMP wait policy in effect, and why, in plain words."""

    threads: int
    wait_policy: str
    reason: str
    lowered: bool = False  # fewer threads than the cores (or than asked for): worth a note on the run

    def to_dict(self) -> dict:
        return {"threads": self.threads, "omp_wait_policy": self.wait_policy, "reason": self.reason}


def wait_policy(environ=None) -> str:
    """The OpenMP wait policy of this process, in words."""
    env = os.environ if environ is None else environ
    policy, spin = env.get("OMP_WAIT_POLICY"), env.get("GOMP_SPINCOUNT")
    if policy is None and spin is None:
        text = "OpenMP's default (idle threads spin for a while before they sleep)"
    else:
        parts = [f"OMP_WAIT_POLICY={policy}"] if policy is not None else []
        parts += [f"GOMP_SPINCOUNT={spin}"] if spin is not None else []
        text = f"{', '.join(parts)} (from the environment)"
    return text


def cpu_cores() -> int:
    """The cores torch would use: the CPUs this process may run on, at most the physical cores (Linux)."""
    from layerloom.core.resources import cpu_count

    cpus = cpu_count()
    physical = _physical_cores()
    return max(1, min(cpus, physical) if physical else cpus)


def _physical_cores() -> int | None:
    try:
        with open("/proc/cpuinfo") as f:
            text = f.read()
    except OSError:
        return None
    cores, phys = set(), "0"
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "physical id":
            phys = value.strip()
        elif key == "core id":
            cores.add((phys, value.strip()))
    return len(cores) or None


def _cpu_times() -> tuple[float, float] | None:
    """(busy, total) jiffies of all CPUs from /proc/stat."""
    try:
        with open("/proc/stat") as f:
            fields = [float(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    if len(fields) < 5:
        return None
    idle = fields[3] + fields[4]  # idle + iowait
    total = sum(fields[:8])  # guest time is already in user time
    return total - idle, total


def other_load(sample_s: float = BUSY_SAMPLE_S) -> float | None:
    """How many CPUs other processes keep busy now (sampled over `sample_s`), this process's own work not
    counted; None where that cannot be measured (no /proc: the 1-minute load average stands in)."""
    start, own0, t0 = _cpu_times(), time.process_time(), time.monotonic()
    if start is None:
        try:
            return max(0.0, os.getloadavg()[0])
        except (OSError, AttributeError):
            return None
    time.sleep(sample_s)
    end, own1, t1 = _cpu_times(), time.process_time(), time.monotonic()
    if end is None or end[1] <= start[1]:
        return None
    ncpu = os.cpu_count() or 1
    busy = (end[0] - start[0]) / (end[1] - start[1]) * ncpu
    own = (own1 - own0) / max(t1 - t0, 1e-6)
    return max(0.0, busy - own)


def _s(n: int) -> str:
    return "" if n == 1 else "s"


def choose_threads(requested: int | None, *, cores: int | None = None, load: float | None = None,
                   source: str = "training.threads", workers: int = 1, environ=None) -> ThreadChoice:
    """The thread count for a run: `requested` (the setting, --threads; capped to the cores), else the cores
    other work leaves free (`load`: CPUs busy with other processes; measured when None), shared among
    `workers` processes of this run on this machine (DDP). Never below 1."""
    policy = wait_policy(environ)
    cores = cpu_cores() if cores is None else max(1, int(cores))
    if requested:
        requested = int(requested)
        if requested <= cores:
            return ThreadChoice(requested, policy, f"set by you ({source} = {requested})")
        return ThreadChoice(cores, policy, f"{source} is {requested} but this computer has {cores} core{_s(cores)}; "
                                           f"{cores} thread{_s(cores)}, as more would only slow training down",
                            lowered=True)
    workers = max(1, int(workers))
    share = max(1, cores // workers)
    each = f", shared by {workers} training processes" if workers > 1 else ""
    if load is None:
        load = other_load()
    if load is None:
        return ThreadChoice(share, policy, f"{cores} core{_s(cores)}{each}: {share} thread{_s(share)} (how busy "
                                           "the computer is cannot be measured here)")
    busy = int(load + 0.5)  # a core counts as taken when other work keeps it at least half busy
    free = max(1, cores - busy)
    threads = max(1, min(share, free // workers if workers > 1 else free))
    if busy == 0:
        return ThreadChoice(threads, policy, f"{cores} core{_s(cores)}{each}, none busy with other work: "
                                             f"{threads} thread{_s(threads)}")
    return ThreadChoice(threads, policy, f"{cores} core{_s(cores)}{each}, {load:.1f} busy with other work: "
                                         f"{threads} thread{_s(threads)} so as not to fight it",
                        lowered=threads < share)


def choice_for_run(settings, dist=None) -> ThreadChoice:
    """The choice for a run with these training settings: the `threads` setting, else OMP_NUM_THREADS when
    set (torchrun sets it to 1 when it starts several processes), else automatic; under torchrun the cores
    are shared among the processes on this machine."""
    requested, source = getattr(settings, "threads", None), "training.threads"
    if not requested:
        env = os.environ.get("OMP_NUM_THREADS", "").strip()
        if env.isdigit() and int(env) > 0:
            requested, source = int(env), "OMP_NUM_THREADS"
    workers = 1
    if dist is not None:
        try:
            workers = int(os.environ.get("LOCAL_WORLD_SIZE", "")) or 1
        except ValueError:
            workers = min(dist.world_size, cpu_cores())
    return choose_threads(requested, source=source, workers=workers)


def apply(choice: ThreadChoice) -> None:
    """Set the calling thread's (and new threads') torch thread count to the choice; the trainer puts the
    previous count back when the run ends (core/training/device.py, TorchState)."""
    import torch

    if torch.get_num_threads() != choice.threads:
        torch.set_num_threads(choice.threads)
