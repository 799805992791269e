"""Screenshots of a training run for the README (run under Xvfb for a real window):

    xvfb-run -a -s "-screen 0 1600x1000x24" env QT_QPA_PLATFORM=xcb .venv/bin/python docs/make_screenshots.py

It opens the lenet5 template on the built-in digits, trains, and grabs the window and each live view. Then (or
alone, with `--recurrent`, offscreen is enough) it renders the recurrent views from a real trace of a small LSTM
and a simple RNN: docs/recurrent_view.png and docs/gradients_through_time.png."""

from __future__ import annotations

import os
import sys
import tempfile
import time

from PySide6.QtCore import QSettings

from layerloom.core.templates import load_template
from layerloom.gui.app import create_app
from layerloom.gui.main_window import MainWindow
from layerloom.gui.plots.demo import render_recurrent
from layerloom.gui.recovery import Recovery

OUT = os.path.dirname(os.path.abspath(__file__))


def main(seconds: float = 10.0) -> None:
    tmp = tempfile.mkdtemp()
    app = create_app()
    settings = QSettings(os.path.join(tmp, "s.ini"), QSettings.Format.IniFormat)
    settings.setValue("training/runs_dir", os.path.join(tmp, "runs"))
    w = MainWindow(settings=settings, recovery=Recovery(os.path.join(tmp, "rec")))
    project = load_template("lenet5")
    project.training.epochs = 40  # still running when the pictures are taken
    w.set_project(project, None)
    w.resize(1600, 1000)
    w.show()

    def pump(s: float) -> None:
        end = time.perf_counter() + s
        while time.perf_counter() < end:
            app.processEvents()
            time.sleep(0.005)

    pump(1.0)
    w.editor.select([w.document.graph.find("conv1")])
    w.live_views.show_view("curves")
    w.commands["train"].trigger()
    pump(seconds)
    w.grab().save(os.path.join(OUT, "training_run.png"))
    for view, name in (("features", "training_features"), ("gradients", "training_gradients"),
                       ("confusion", "training_confusion"), ("predictions", "training_predictions")):
        w.live_views.show_view(view)
        pump(1.5)
        w.live_views.grab().save(os.path.join(OUT, f"{name}.png"))
    w.training.stop_and_wait()
    w.document.undo_stack.setClean()
    w.close()
    render_recurrent(OUT)


if __name__ == "__main__":
    if "--recurrent" in sys.argv[1:]:
        create_app()
        render_recurrent(OUT)
    else:
        main(float(sys.argv[1]) if len(sys.argv) > 1 else 10.0)
