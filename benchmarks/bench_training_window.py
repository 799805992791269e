"""Training in the window against `layerloom train`: lenet5 on the built-in digits at 28×28.

- samples/s of a run started with the window's Train action (worker thread, EventBuffer, drain paced at
  2–30 Hz, live views on screen, feature maps of conv1) ≥ 0.90 × samples/s of `layerloom train` on the same
  project file (the real command, in a process of its own, `--json`; the same default threads);
- while the window trains, the lateness of a 10 ms GUI timer: p99 < 50 ms.

Seven runs of each alternate (command line, window, command line, window, …) after one warm-up run in the
window, each after a one-second pause; the figure is the median of the ratios (single runs swing by ±5 %).
The window's process runs no tensor work of its own on the GUI thread beyond what the app does: a GUI thread
with an OpenMP pool would halve the training thread's speed on a small CPU (core/training/threads.py), which
is also why the command line runs in its own process.

    QT_QPA_PLATFORM=offscreen python benchmarks/bench_training_window.py [--quick] [--check]
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("LAYERLOOM_NO_PRELOAD", "1")

from common import Results, parse_args, print_header

SETTLE_S = 1.0  # a pause before each measured run


def cli_rate(project_file: str, runs: str) -> float:
    """samples/s of `layerloom train FILE --json`, the real command in a process of its own."""
    code = "import sys; from layerloom.app.cli import main; sys.exit(main())"
    done = subprocess.run([sys.executable, "-c", code, "train", project_file, "--out", runs, "--json"],
                          capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise SystemExit(f"layerloom train failed ({done.returncode}):\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return float(result["samples_per_s"])


def settle(app, seconds: float = SETTLE_S) -> None:
    """Let the machine settle between two measurements (the last run's files reach the disk, its threads
    end), with the window's event loop turning."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        app.processEvents()
        time.sleep(0.02)


def window_run(app, window, timeout_s: float = 300.0, probe_ms: int = 10) -> tuple[float, list[float]]:
    """Train from the window's action inside a Qt event loop, as the app runs; returns (samples/s, lateness
    of a `probe_ms` timer in ms)."""
    from PySide6.QtCore import QElapsedTimer, QEventLoop, QTimer

    late: list[float] = []
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
    app.processEvents()
    last_event = window.training.last
    assert last_event is not None and last_event.kind == "finished", getattr(last_event, "message", last_event)
    return last_event.samples_per_s, late


def main() -> int:
    args = parse_args(__doc__.splitlines()[0])
    print_header("Training in the window vs layerloom train")
    from PySide6.QtCore import QSettings

    from layerloom.core.project import Project, save_project
    from layerloom.core.templates import load_template
    from layerloom.gui.app import create_app
    from layerloom.gui.main_window import MainWindow
    from layerloom.gui.recovery import Recovery

    epochs = 2 if args.quick else None  # None: the template's own (10)
    repeats = 2 if args.quick else 7
    tmp = tempfile.mkdtemp(prefix="layerloom-bench-")
    project = load_template("lenet5")
    project.training.epochs = epochs = epochs or project.training.epochs
    project_file = os.path.join(tmp, "lenet5.json")
    save_project(project, project_file)
    app = create_app()
    settings = QSettings(os.path.join(tmp, "settings.ini"), QSettings.Format.IniFormat)
    settings.setValue("training/runs_dir", os.path.join(tmp, "runs-window"))
    window = MainWindow(settings=settings, recovery=Recovery(os.path.join(tmp, "recovery")))
    window.set_project(Project.from_dict(project.to_dict()), None)
    window.resize(1500, 950)
    window.show()
    window.editor.select([window.document.graph.find("conv1")])
    window.live_views.show_view("features")
    app.processEvents()

    cli, gui, lateness = [], [], []
    window_run(app, window)  # warm-up: the live views' first paint, the first data load
    for _ in range(repeats):
        settle(app)
        cli.append(cli_rate(project_file, os.path.join(tmp, "runs-cli")))
        settle(app)
        rate, late = window_run(app, window)
        gui.append(rate)
        lateness.extend(late)
    ratios = [g / c for g, c in zip(gui, cli, strict=True)]
    lateness.sort()
    p99 = lateness[min(len(lateness) - 1, int(0.99 * len(lateness)))] if lateness else float("nan")
    title = (f"lenet5 on digits 28×28, {epochs} epochs × {repeats} runs, torch's default threads "
             f"({os.cpu_count()} cores)")
    results = Results(title)
    results.add("layerloom train (its own process)", statistics.median(cli), None, "samples/s",
                lower_is_better=False, extra=" ".join(f"{c:.0f}" for c in cli))
    results.add("in the window (Train action, live views)", statistics.median(gui), None, "samples/s",
                lower_is_better=False, extra=" ".join(f"{g:.0f}" for g in gui))
    results.add("window / command line", statistics.median(ratios), 0.90, "×", lower_is_better=False,
                extra=" ".join(f"{r:.3f}" for r in ratios))
    results.add("10 ms GUI timer lateness p99 while training", p99, 50.0, "ms",
                extra=f"median {statistics.median(lateness):.2f} ms, max {lateness[-1]:.1f} ms, n={len(lateness)}")
    results.print_table()
    window.document.undo_stack.setClean()
    window.close()
    return results.exit_code(args.check)


if __name__ == "__main__":
    sys.exit(main())
