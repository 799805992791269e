"""A long run in the window: the mlp template trained for 2,000 epochs with the Curves view on show in a 1600×1000
window; at epochs 10, 500 and 2,000 the process's resident memory (/proc/self/status VmRSS) and the time of one
redraw of the curves view (its refresh(), and refresh plus a full paint of its plots; medians of nine). The run
pauses for the figures at epochs 10 and 500 (Pause, then Resume), so that every redraw is timed as the one after
the run ended: with no training thread beside it.

Bars (issue 16 point 4): memory growth from epoch 10 to epoch 2,000 < 50 MB; the redraw at epoch 2,000 within
2× the one at epoch 10 and 1.5× the one at epoch 500 (flat: the view keeps and draws a bounded number of points
however long the run; at epoch 10 it draws a few hundred, from a few thousand steps on about two per pixel).

To keep the run practical each epoch is short: the first SAMPLES of the built-in digits (a .npz of them), so
an epoch is about a dozen optimizer steps; the events and curves are those of a real 2,000-epoch run (every
step's loss, every epoch's validation, a checkpoint at every epoch end).

    QT_QPA_PLATFORM=offscreen python benchmarks/bench_long_run.py [--quick] [--check]
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

SAMPLES = 480  # digits kept: 384 to train (12 steps of 32), 96 to validate


def rss_mb() -> float:
    """This process's resident memory in MB (VmRSS)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def redraw_ms(view, repeats: int = 9) -> tuple[float, float]:
    """Median ms of the view's refresh(), and of refresh() plus painting its plots."""
    alone, painted = [], []
    for _ in range(repeats):
        t = time.perf_counter()
        view.refresh()
        alone.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        view.refresh()
        view.graphics.grab()
        painted.append((time.perf_counter() - t) * 1000)
    return statistics.median(alone), statistics.median(painted)


def digits_npz(path: str) -> str:
    import numpy as np
    from sklearn.datasets import load_digits

    d = load_digits()
    np.savez(path, x=(d.data[:SAMPLES] / 16.0).astype(np.float32), y=d.target[:SAMPLES].astype(np.int64))
    return path


def main() -> int:
    args = parse_args(__doc__.splitlines()[0])
    print_header("A 2,000-epoch run in the window")
    from PySide6.QtCore import QEventLoop, QSettings, QTimer

    from layerloom.core.project import Project
    from layerloom.core.templates import load_template
    from layerloom.gui.app import create_app
    from layerloom.gui.main_window import MainWindow
    from layerloom.gui.recovery import Recovery

    epochs = 200 if args.quick else 2000
    marks = sorted({10, epochs // 4, epochs}) if args.quick else [10, 500, 2000]
    tmp = tempfile.mkdtemp(prefix="layerloom-long-")
    project = load_template("mlp")
    project.data.source = digits_npz(os.path.join(tmp, "digits.npz"))
    project.data.options = {}
    project.training.epochs = epochs
    project.training.threads = 1  # a 64-128-10 MLP: one torch thread (a practical 2,000 epochs on a busy machine)
    app = create_app()
    settings = QSettings(os.path.join(tmp, "settings.ini"), QSettings.Format.IniFormat)
    settings.setValue("training/runs_dir", os.path.join(tmp, "runs"))
    window = MainWindow(settings=settings, recovery=Recovery(os.path.join(tmp, "recovery")))
    window.set_project(Project.from_dict(project.to_dict()), None)
    window.resize(1600, 1000)
    window.show()
    window.live_views.show_view("curves")
    curves = window.live_views.view("curves")
    app.processEvents()

    figures: dict[int, tuple] = {}  # mark → (RSS MB, refresh ms, painted ms, step points kept, epochs done)

    def measure(epoch: int) -> None:
        alone, painted = redraw_ms(curves)
        figures[epoch] = (rss_mb(), alone, painted, len(curves.step), len(curves.epochs))

    waiting: list[int] = []  # the mark whose figures are due: the run pauses for them (a quiet GUI thread)

    def drained(_events) -> None:
        done = len(curves.epochs)
        for mark in marks[:-1]:
            if done >= mark and mark not in figures and not waiting:
                waiting.append(mark)
                window.training.pause()

    def tick() -> None:
        if waiting and window.training.state == "paused":
            measure(waiting.pop())
            window.training.resume()
        elif not window.training.running:
            loop.quit()

    window.training.events_drained.connect(drained)
    loop = QEventLoop()
    poll = QTimer()
    poll.setInterval(50)
    poll.timeout.connect(tick)
    t0 = time.perf_counter()
    window.commands["train"].trigger()
    poll.start()
    loop.exec()
    poll.stop()
    app.processEvents()
    seconds = time.perf_counter() - t0
    last = window.training.last
    assert last is not None and last.kind == "finished", getattr(last, "message", last)
    assert len(curves.epochs) == epochs, (len(curves.epochs), epochs)
    measure(epochs)

    first, end = figures[marks[0]], figures[marks[-1]]
    results = Results(f"mlp, {epochs} epochs of {SAMPLES} digits ({last.step:,} steps, {seconds:.0f} s), "
                      f"1600×1000 window, Curves on show ({os.cpu_count()} cores)")
    for mark in marks:
        rss, alone, painted, points, done = figures[mark]
        results.add(f"epoch {mark:,}: resident memory", rss, None, "MB",
                    extra=f"paused after epoch {done:,}; {points:,} step points kept")
        results.add(f"epoch {mark:,}: curves refresh()", alone, None, "ms", extra=f"with a full paint {painted:.1f} ms")
    results.add(f"memory growth, epoch {marks[0]} → {marks[-1]:,}", end[0] - first[0], 50.0, "MB")
    results.add(f"redraw with paint, epoch {marks[-1]:,} / epoch {marks[0]}", end[2] / first[2], 2.0, "×")
    middle = figures[marks[1]]
    results.add(f"redraw with paint, epoch {marks[-1]:,} / epoch {marks[1]:,}", end[2] / middle[2], 1.5, "×")
    results.print_table()
    window.document.undo_stack.setClean()
    window.close()
    return results.exit_code(args.check)


if __name__ == "__main__":
    sys.exit(main())
