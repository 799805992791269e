"""Training in the window against `layerloom train`, with each live view on show in turn, in a 1600×1000 window.

Cases (template, the block selected on the canvas, the view on show): lenet5 (30 epochs) with Feature maps of conv1
(the headline), Curves, Gradients and Confusion; lstm_text with Inside RNN of its LSTM; vae_digits with Generative. For
each case:
- samples/s of a run started with the window's Train action (worker thread, EventBuffer, drain paced at
  1–30 Hz, the view on show) ≥ 0.95 × samples/s of `layerloom train` on the same project file (the real command,
  in a process of its own, `--json`; the same default threads);
- while the window trains, the lateness of a 10 ms GUI timer: p99 < 16 ms, worst < 50 ms.

Each case makes seven pairs of runs (by default) after one warm-up run in the window, each run after a
one-second pause; a pair runs the command line first and the window second, or the other way round, turn about
(this machine has slow spells of several seconds: a fixed order would hand them to one side more often). The
figure is the median of the pairs' ratios; the last line pools every case's pairs. The window runs of the pairs
have no timer of the benchmark's beside the app's own; the lateness comes from three more window runs with the
10 ms probe (a Python slot called 100 times a second, which holds the GIL the training thread needs: their speed
over the command line's is reported too). Also reported per case: the GUI thread's CPU while the window trains, as
a share of one core (time.thread_time over the run's wall time).
The window's process runs no tensor work of its own on the GUI thread beyond what the app does: a GUI
thread with an OpenMP pool would halve the training thread's speed on a small CPU (core/training/threads.py),
which is also why the command line runs in its own process.

With --control no window runs: each case's seven pairs are two runs of the same `layerloom train` (an A/A control),
so the spread of their medians shows what this machine's noise alone does to the ratio and its 0.95 bar.

    QT_QPA_PLATFORM=offscreen python benchmarks/bench_training_window.py [--quick] [--check] [--views features,curves]
        [--repeats 7] [--control]
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import NamedTuple

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("LAYERLOOM_NO_PRELOAD", "1")

from common import Results, print_header

SETTLE_S = 1.0  # a pause before each measured run
PROBED_RUNS = 3  # window runs with the 10 ms probe timer, per case, for its lateness


def _threads(device_name: str) -> int | None:
    """The thread count in a run's device name ("CPU (2 threads)")."""
    import re

    found = re.search(r"\((\d+) threads?\)", device_name or "")
    return int(found.group(1)) if found else None


def cli_rate(project_file: str, runs: str) -> tuple[float, int | None]:
    """(samples/s, torch threads) of `layerloom train FILE --json`, the real command in a process of its own."""
    code = "import sys; from layerloom.app.cli import main; sys.exit(main())"
    done = subprocess.run([sys.executable, "-c", code, "train", project_file, "--out", runs, "--json"],
                          capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise SystemExit(f"layerloom train failed ({done.returncode}):\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return float(result["samples_per_s"]), _threads(done.stderr + done.stdout)


def settle(app, seconds: float = SETTLE_S) -> None:
    """Let the machine settle between two measurements (the last run's files reach the disk, its threads
    end), with the window's event loop turning."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        app.processEvents()
        time.sleep(0.02)


class WindowRun(NamedTuple):
    """One run from the window's Train action."""

    rate: float  # samples/s
    late: list[float]  # lateness of the probe timer's ticks in ms (empty without the probe)
    threads: int | None  # torch threads the run chose
    gui_share: float  # the GUI thread's CPU over the run's wall time (a share of one core)


def window_run(app, window, timeout_s: float = 300.0, probe_ms: int = 10, probe: bool = True) -> WindowRun:
    """Train from the window's action inside a Qt event loop, as the app runs. With probe=False no timer of the
    benchmark's runs beside the app's own (the run ends the loop): the lateness list is empty."""
    from PySide6.QtCore import QElapsedTimer, QEventLoop, QTimer

    if not probe:
        return _window_run_unprobed(app, window, timeout_s)

    late: list[float] = []
    cpu0, wall0 = time.thread_time(), time.perf_counter()
    clock = QElapsedTimer()
    clock.start()
    last = [clock.nsecsElapsed()]
    started = [False]
    loop = QEventLoop()
    t0 = time.perf_counter()

    def tick():
        now = clock.nsecsElapsed()
        late.append(max(0.0, (now - last[0]) / 1e6 - probe_ms))
        last[0] = now
        if not started[0] and window.training.run is not None:
            started[0] = True
            late.clear()  # measure while training, not while the data loads
        if not window.training.running or time.perf_counter() - t0 > timeout_s:
            loop.quit()

    timer = QTimer()
    timer.setTimerType(timer.timerType().PreciseTimer)
    timer.setInterval(probe_ms)
    timer.timeout.connect(tick)
    window.commands["train"].trigger()
    timer.start()
    loop.exec()
    timer.stop()
    return _run_ended(app, window, cpu0, wall0, late)


def _window_run_unprobed(app, window, timeout_s: float) -> WindowRun:
    """window_run without the probe: the window's Train action, the event loop until the run's end."""
    from PySide6.QtCore import QEventLoop, QTimer

    cpu0, wall0 = time.thread_time(), time.perf_counter()
    before = window.training.last
    loop = QEventLoop()
    window.training.run_finished.connect(loop.quit)
    QTimer.singleShot(int(timeout_s * 1000), loop.quit)
    try:
        window.commands["train"].trigger()
        if window.training.running or window.training.state != "idle":
            loop.exec()
    finally:
        window.training.run_finished.disconnect(loop.quit)
    assert window.training.last is not before, f"the run did not end within {timeout_s:.0f} s"
    return _run_ended(app, window, cpu0, wall0, [])


def _run_ended(app, window, cpu0: float, wall0: float, late: list[float]) -> WindowRun:
    """The run that just ended, its GUI thread share from the clocks read at its start."""
    app.processEvents()
    gui_share = (time.thread_time() - cpu0) / max(1e-9, time.perf_counter() - wall0)
    last_event = window.training.last
    assert last_event is not None and last_event.kind == "finished", getattr(last_event, "message", last_event)
    threads = _threads(window.training.run.device_name if window.training.run else "")
    return WindowRun(last_event.samples_per_s, late, threads, gui_share)


# key → (template, block to select or None, view on show, epochs or None for the template's own). lenet5 runs 30
# epochs (~3.5 s a run on 2 cores): its own 10 take ~1.3 s, and a run that short is mostly its first second
# (the first paints, the first drains), which swings the ratio of one pair from 0.66 to 1.39.
CASES = {
    "features": ("lenet5", "conv1", "features", 30),
    "curves": ("lenet5", None, "curves", 30),
    "gradients": ("lenet5", None, "gradients", 30),
    "confusion": ("lenet5", None, "confusion", 30),
    "recurrent": ("lstm_text", "lstm", "recurrent", None),
    "generative": ("vae_digits", None, "generative", 30),
}


def arguments():
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit with status 1 when a bar is missed")
    parser.add_argument("--quick", action="store_true", help="2 epochs, 2 runs of each (a smoke run)")
    parser.add_argument("--views", default=",".join(CASES),
                        help="the cases to run, comma-separated: " + ", ".join(CASES))
    parser.add_argument("--repeats", type=int, default=None, help="runs of each per case (default 7, --quick 2)")
    parser.add_argument("--control", action="store_true",
                        help="no window: command line ÷ command line pairs (the machine's noise alone)")
    return parser.parse_args()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def run_case(app, window, key: str, tmp: str, repeats: int, quick: bool):
    """(command line samples/s, window samples/s, lateness ms) of one case."""
    from layerloom.core.project import Project

    _template, block, view, _epochs = CASES[key]
    project, project_file = case_project(key, tmp, quick)
    window.document.undo_stack.setClean()
    window.set_project(Project.from_dict(project.to_dict()), None)
    if block:
        window.editor.select([window.document.graph.find(block)])
    window.live_views.show_view(view)
    app.processEvents()
    cli, gui, lateness, threads, shares, probed = [], [], [], [], [], []
    window_run(app, window)  # warm-up: the live views' first paint, the first data load
    for pair in range(repeats):
        got = {}
        for side in (("cli", "window") if pair % 2 == 0 else ("window", "cli")):
            settle(app)
            if side == "cli":
                got["cli"] = cli_rate(project_file, os.path.join(tmp, "runs-cli"))
            else:
                got["window"] = window_run(app, window, probe=False)
        (cli_rate_, cli_threads), run = got["cli"], got["window"]
        cli.append(cli_rate_)
        gui.append(run.rate)
        shares.append(run.gui_share)
        threads.append(f"{cli_threads}/{run.threads}")
    for _ in range(PROBED_RUNS if not quick else 1):  # the timer's lateness, in runs of their own
        settle(app)
        run = window_run(app, window)
        probed.append(run.rate)
        lateness.extend(run.late)
    return project.training.epochs, cli, gui, lateness, threads, shares, probed


def case_project(key: str, tmp: str, quick: bool):
    """(the case's project, its file): the template with the case's epochs, saved for `layerloom train`."""
    from layerloom.core.project import save_project
    from layerloom.core.templates import load_template

    template, _block, _view, epochs = CASES[key]
    project = load_template(template)
    project.training.epochs = 2 if quick else epochs or project.training.epochs
    project_file = os.path.join(tmp, f"{key}.json")
    save_project(project, project_file)
    return project, project_file


def control(keys: list[str], repeats: int, quick: bool) -> int:
    """An A/A control: per case, `repeats` pairs of the same `layerloom train` run twice (second ÷ first)."""
    tmp = tempfile.mkdtemp(prefix="layerloom-bench-")
    medians = []
    for key in keys:
        project, project_file = case_project(key, tmp, quick)
        ratios = []
        for _pair in range(repeats):
            rates = []
            for _side in range(2):
                time.sleep(SETTLE_S)
                rates.append(cli_rate(project_file, os.path.join(tmp, "runs-cli"))[0])
            ratios.append(rates[1] / rates[0])
        medians.append(statistics.median(ratios))
        results = Results(f"control, {key}: {CASES[key][0]}, {project.training.epochs} epochs, one command twice")
        results.add("command line ÷ the same command line", medians[-1], None, "×", lower_is_better=False,
                    extra=" ".join(f"{r:.3f}" for r in ratios))
        results.print_table()
    results = Results(f"the control's {len(medians)} medians of {repeats}")
    results.add("medians at 0.95 or above", sum(m >= 0.95 for m in medians), None, f"of {len(medians)}",
                lower_is_better=False, extra=" ".join(f"{m:.3f}" for m in medians))
    results.print_table()
    return 0


def main() -> int:
    args = arguments()
    print_header("Training in the window vs layerloom train, each live view")
    keys = [k.strip() for k in args.views.split(",") if k.strip()]
    if args.control:
        return control(keys, args.repeats or (2 if args.quick else 7), args.quick)
    from PySide6.QtCore import QSettings

    from layerloom.gui.app import create_app
    from layerloom.gui.main_window import MainWindow
    from layerloom.gui.recovery import Recovery

    repeats = args.repeats or (2 if args.quick else 7)
    tmp = tempfile.mkdtemp(prefix="layerloom-bench-")
    app = create_app()
    settings = QSettings(os.path.join(tmp, "settings.ini"), QSettings.Format.IniFormat)
    settings.setValue("training/runs_dir", os.path.join(tmp, "runs-window"))
    window = MainWindow(settings=settings, recovery=Recovery(os.path.join(tmp, "recovery")))
    window.resize(1600, 1000)
    window.show()
    code = 0
    pooled: list[float] = []
    for key in keys:
        epochs, cli, gui, lateness, threads, shares, probed = run_case(app, window, key, tmp, repeats, args.quick)
        template, _block, view, _ = CASES[key]
        ratios = [g / c for g, c in zip(gui, cli, strict=True)]
        results = Results(f"{template}, {view} on show: {epochs} epochs × {repeats} runs, torch's default threads "
                          f"({os.cpu_count()} cores)")
        results.add("layerloom train (its own process)", statistics.median(cli), None, "samples/s",
                    lower_is_better=False, extra=" ".join(f"{c:.0f}" for c in cli))
        results.add("in the window (Train action)", statistics.median(gui), None, "samples/s",
                    lower_is_better=False, extra=" ".join(f"{g:.0f}" for g in gui))
        pooled.extend(ratios)
        results.add("window / command line", statistics.median(ratios), 0.95, "×", lower_is_better=False,
                    extra=" ".join(f"{r:.3f}" for r in ratios) + " (pairs alternate which runs first)")
        results.add("GUI thread's CPU while the window trains", 100 * statistics.median(shares), None,
                    "% of a core", extra="per run " + " ".join(f"{100 * x:.1f}" for x in shares))
        same = sum(a == b for a, b in (t.split("/") for t in threads))
        results.add("pairs whose runs chose the same torch threads", same, None, f"of {repeats}", lower_is_better=False,
                    extra="command line/window: " + " ".join(threads))
        results.add("10 ms GUI timer lateness p99", percentile(lateness, 0.99), 16.0, "ms",
                    extra=f"median {statistics.median(lateness):.2f} ms, n={len(lateness)} in {len(probed)} runs "
                          "of their own")
        results.add("10 ms GUI timer lateness, worst", max(lateness), 50.0, "ms")
        results.add("those runs (the 100 Hz probe's Python beside the app) / command line",
                    statistics.median(probed) / statistics.median(cli), None, "×", lower_is_better=False,
                    extra="samples/s " + " ".join(f"{g:.0f}" for g in probed) + " over the command line's median")
        results.print_table()
        code = max(code, results.exit_code(args.check))
    if len(pooled) > repeats:
        results = Results(f"every case's pairs together ({len(pooled)})")
        low, _mid, high = statistics.quantiles(pooled, n=4)
        results.add("window / command line, all pairs", statistics.median(pooled), None, "×", lower_is_better=False,
                    extra=f"quartiles {low:.3f}–{high:.3f}")
        results.print_table()
    window.document.undo_stack.setClean()
    window.close()
    return code


if __name__ == "__main__":
    sys.exit(main())
