"""Shared helpers for the benchmark scripts: timing, result rows, the table, and `--check`.

Every benchmark compares against a bar and prints one table:

    results = Results("Inference on a 500-block graph")
    results.add("from scratch: infer(g)", figure=12.3, bar=100.0, unit="ms", lower_is_better=True)
    results.print_table()
    sys.exit(results.exit_code(check))

Timings use time.perf_counter; a figure is the median over repeats (the min is shown beside it).
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

# Benchmarks run as plain scripts (`python benchmarks/bench_x.py`); make `import common` work from any cwd.
HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)


def parse_args(description: str, threads: bool = False) -> argparse.Namespace:
    """--check and --quick for every benchmark; with `threads`, also --threads (torch CPU threads, default 1)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--check", action="store_true", help="exit with status 1 when a bar is missed")
    parser.add_argument("--quick", action="store_true", help="fewer repeats (a smoke run; figures are noisier)")
    if threads:
        parser.add_argument("--threads", type=int, default=1, help="torch CPU threads for every run (default 1)")
    return parser.parse_args()


@dataclass
class Timing:
    """Repeated timings in seconds."""

    samples: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def min(self) -> float:
        return min(self.samples)

    @property
    def max(self) -> float:
        return max(self.samples)


def time_repeats(
    fn: Callable[[], object],
    repeats: int,
    warmup: int = 2,
    setup: Callable[[], object] | None = None,
) -> Timing:
    """Time `fn()` `repeats` times after `warmup` untimed calls; `setup()` runs untimed before each call.

    A garbage collection runs before every timed call (outside the timing), so one call does not pay
    for another's garbage; the collector stays enabled while timing, as it is in the app."""
    for _ in range(warmup):
        if setup is not None:
            setup()
        fn()
    timing = Timing()
    for _ in range(repeats):
        if setup is not None:
            setup()
        gc.collect()
        t0 = time.perf_counter()
        fn()
        timing.samples.append(time.perf_counter() - t0)
    return timing


def median_ci(values: list[float], z: float = 1.96) -> tuple[float, float]:
    """A distribution-free ~95 % confidence interval of the median (order statistics n/2 ± z·√n/2)."""
    xs = sorted(values)
    n = len(xs)
    half = z * math.sqrt(n) / 2
    lo = max(math.floor(n / 2 - half), 0)
    hi = min(math.ceil(n / 2 + half), n - 1)
    return xs[lo], xs[hi]


@dataclass
class Row:
    name: str
    figure: float
    bar: float | None
    unit: str
    lower_is_better: bool
    extra: str = ""

    @property
    def passed(self) -> bool | None:
        if self.bar is None:
            return None
        return self.figure < self.bar if self.lower_is_better else self.figure >= self.bar

    @property
    def verdict(self) -> str:
        return {True: "PASS", False: "MISS", None: "info"}[self.passed]

    def figure_text(self) -> str:
        if self.unit in ("", "×"):  # ratios: three decimals, the bars sit close to 1
            return f"{self.figure:.3f} {self.unit}".rstrip()
        return f"{_fmt(self.figure)} {self.unit}".rstrip()

    def bar_text(self) -> str:
        if self.bar is None:
            return "-"
        op = "<" if self.lower_is_better else "≥"
        return f"{op} {_fmt(self.bar)} {self.unit}".rstrip()


def _fmt(x: float) -> str:
    if x == 0:
        return "0"
    if abs(x) >= 100:
        return f"{x:.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    if abs(x) >= 1:
        return f"{x:.2f}"
    return f"{x:.3f}"


class Results:
    """The rows of one benchmark and its table."""

    def __init__(self, title: str):
        self.title = title
        self.rows: list[Row] = []

    def add(self, name: str, figure: float, bar: float | None, unit: str, lower_is_better: bool = True,
            extra: str = "") -> Row:
        row = Row(name, figure, bar, unit, lower_is_better, extra)
        self.rows.append(row)
        return row

    def print_table(self) -> None:
        headers = ("measure", "figure", "bar", "result", "detail")
        body = [(r.name, r.figure_text(), r.bar_text(), r.verdict, r.extra) for r in self.rows]
        widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(headers)]
        line = "  ".join("-" * w for w in widths)
        print()
        print(f"== {self.title} ==")
        print("  ".join(h.ljust(w) for h, w in zip(headers, widths)))
        print(line)
        for b in body:
            print("  ".join(c.ljust(w) for c, w in zip(b, widths)).rstrip())
        print(line)
        misses = [r for r in self.rows if r.passed is False]
        checked = [r for r in self.rows if r.passed is not None]
        print(f"{len(checked) - len(misses)}/{len(checked)} bars met" + (
            "; MISSED: " + ", ".join(r.name for r in misses) if misses else ""))
        sys.stdout.flush()

    @property
    def missed(self) -> bool:
        return any(r.passed is False for r in self.rows)

    def exit_code(self, check: bool) -> int:
        return 1 if check and self.missed else 0


def environment_line() -> str:
    """Python, torch (when importable), threads and CPU, for the head of a benchmark's output."""
    parts = [f"Python {platform.python_version()}", f"{platform.system()} {platform.machine()}",
             f"{os.cpu_count()} logical CPUs"]
    torch = sys.modules.get("torch")  # not imported here: inference benchmarks run without torch, like the GUI
    if torch is not None:
        parts.insert(1, f"torch {torch.__version__}")
        parts.append(f"torch threads {torch.get_num_threads()}")
    else:
        try:
            from importlib.metadata import version

            parts.insert(1, f"torch {version('torch')} (not imported)")
        except Exception:  # pragma: no cover - torch is a dependency
            pass
    return ", ".join(parts)


def _cpu_busy_fraction(seconds: float = 0.5) -> float | None:
    """The share of all CPUs' time spent busy during `seconds` (this process sleeps meanwhile, so it is
    other processes' share), from /proc/stat; None where that is not available."""
    def sample() -> tuple[int, int]:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:9]]
        return sum(fields), fields[3] + fields[4]  # total, idle + iowait

    try:
        t0, i0 = sample()
        time.sleep(seconds)
        t1, i1 = sample()
    except (OSError, ValueError, IndexError):
        return None
    return 1.0 - (i1 - i0) / (t1 - t0) if t1 > t0 else None


def load_warning() -> str | None:
    """A warning line when other processes keep the CPU busy (timings are then unreliable), else None."""
    cpus = os.cpu_count() or 1
    busy = _cpu_busy_fraction()
    if busy is not None:
        if busy > 0.2:
            return (f"WARNING: other processes kept {busy:.0%} of the {cpus} CPUs busy just before starting, "
                    "so timings (speed ratios above all) are noisy; rerun on a quiet machine")
        return None
    try:
        load1 = os.getloadavg()[0]
    except OSError:  # pragma: no cover - not on every platform
        return None
    if load1 > 0.5 * cpus:
        return (f"WARNING: load average {load1:.2f} on {cpus} CPUs before starting: other processes may be "
                "busy, so timings (speed ratios above all) may be noisy")
    return None


def print_header(title: str) -> None:
    """The benchmark's title, the environment, and a warning if the machine is busy."""
    print(title)
    print(f"  {environment_line()}")
    warning = load_warning()
    if warning:
        print(f"  {warning}")
    sys.stdout.flush()
