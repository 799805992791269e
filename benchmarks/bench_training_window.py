"""Training in the window against `layerloom train`, in one process: lenet5 on the built-in digits at 28×28.

- samples/s of a run started with the window's Train action (worker QThread, EventBuffer, 30 Hz drain,
  live views on screen, feature maps of conv1) ≥ 0.90 × samples/s of the command line's path (Trainer.run
  with the same settings and data, a progress sink, no window);
- while the window trains, the lateness of a 10 ms GUI timer: p99 < 50 ms.

Runs alternate (command line, window, command line, window, …); the figure is the median of the ratios.

    QT_QPA_PLATFORM=offscreen python benchmarks/bench_training_window.py [--quick] [--check]
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("LAYERLOOM_NO_PRELOAD", "1")

from common import Results, parse_args, print_header


def cli_rate(project, bundle, runs: str) -> float:
    """What `layerloom train` does after loading: Trainer.run with a progress sink, on this thread."""
    from layerloom.core.training.control import TrainControl
    from layerloom.core.training.trainer import Trainer

    events = []
    trainer = Trainer(project, bundle, settings=project.training, run_root=runs, project_name="bench")
    result = trainer.run(events.append, TrainControl())
    assert result.status == "finished", result.message
    return result.samples_per_s


def window_run(app, window, timeout_s: float = 300.0) -> tuple[float, list[float]]:
    """Train from the window's action; returns (samples/s, lateness of a 10 ms timer in ms)."""
    from PySide6.QtCore import QElapsedTimer, QTimer

    late: list[float] = []
    clock = QElapsedTimer()
    clock.start()
    last = [clock.nsecsElapsed()]

    def tick():
        now = clock.nsecsElapsed()
        late.append(max(0.0, (now - last[0]) / 1e6 - 10.0))
        last[0] = now

    timer = QTimer()
    timer.setTimerType(timer.timerType().PreciseTimer)
    timer.setInterval(10)
    timer.timeout.connect(tick)
    window.commands["train"].trigger()
    started = False
    timer.start()
    t0 = time.perf_counter()
    while window.training.running and time.perf_counter() - t0 < timeout_s:
        app.processEvents()
        if not started and window.training.run is not None:
            started = True
            late.clear()  # measure while training, not while the data loads
        time.sleep(0.001)
    timer.stop()
    app.processEvents()
    last_event = window.training.last
    assert last_event is not None and last_event.kind == "finished", getattr(last_event, "message", last_event)
    return last_event.samples_per_s, late


def main() -> int:
    args = parse_args(__doc__.splitlines()[0])
    print_header("Training in the window vs layerloom train")
    from PySide6.QtCore import QSettings

    from layerloom.core.project import Project
    from layerloom.gui.app import create_app
    from layerloom.gui.main_window import MainWindow
    from layerloom.gui.recovery import Recovery
    from layerloom.gui.training.worker import load_bundle
    from layerloom.resources import load_template

    epochs = 2 if args.quick else 4
    repeats = 2 if args.quick else 3
    tmp = tempfile.mkdtemp(prefix="layerloom-bench-")
    project = load_template("lenet5")
    project.training.epochs = epochs
    bundle = load_bundle(project.data.source, dict(project.data.options), project.training.val_fraction,
                         project.training.seed)
    app = create_app()
    settings = QSettings(os.path.join(tmp, "settings.ini"), QSettings.Format.IniFormat)
    settings.setValue("training/runs_dir", os.path.join(tmp, "runs-window"))
    window = MainWindow(settings=settings, recovery=Recovery(os.path.join(tmp, "recovery")))
    window.set_project(Project.from_dict(project.to_dict()), None)
    window.resize(1500, 950)
    window.show()
    window.canvas.select_nodes([window.document.graph.find("conv1")])
    window.live_views.show_view("features")
    app.processEvents()

    cli_rate(project, bundle, os.path.join(tmp, "warm"))  # warm-up (first-call costs)
    cli, gui, lateness = [], [], []
    for _ in range(repeats):
        cli.append(cli_rate(project, bundle, os.path.join(tmp, "runs-cli")))
        rate, late = window_run(app, window)
        gui.append(rate)
        lateness.extend(late)
    ratios = [g / c for g, c in zip(gui, cli, strict=True)]
    lateness.sort()
    p99 = lateness[min(len(lateness) - 1, int(0.99 * len(lateness)))] if lateness else float("nan")
    import torch

    title = f"lenet5 on digits 28×28, {epochs} epochs × {repeats} runs, torch threads {torch.get_num_threads()}"
    results = Results(title)
    results.add("layerloom train (Trainer.run, no window)", statistics.median(cli), None, "samples/s",
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
