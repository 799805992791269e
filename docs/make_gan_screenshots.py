"""A screenshot of a GAN training in the window for the docs (built-in data only):

    QT_QPA_PLATFORM=offscreen .venv/bin/python docs/make_gan_screenshots.py [epochs]

dcgan_digits on the built-in digits (28×28) trains a few epochs (default 10) with the Generative tab on show, and
the whole window is grabbed while it is still training into docs/gan_training.png: the canvas with the generator
and the discriminator framed and labelled, the discriminator's and generator's losses, the mean D(real) and
D(fake), the 8×8 grid of samples from a fixed noise batch and the strip of samples over time."""

from __future__ import annotations

import os
import sys
import tempfile
import time

from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QMessageBox

from layerloom.core.templates import load_template
from layerloom.gui.app import create_app
from layerloom.gui.main_window import MainWindow
from layerloom.gui.recovery import Recovery

OUT = os.path.dirname(os.path.abspath(__file__))


def pump(app, s: float) -> None:
    end = time.perf_counter() + s
    while time.perf_counter() < end:
        app.processEvents()
        time.sleep(0.005)


def main(epochs: int = 10) -> None:
    tmp = tempfile.mkdtemp()
    app = create_app()
    QMessageBox.exec = lambda box: QMessageBox.StandardButton.Discard  # closing asks nothing here
    settings = QSettings(os.path.join(tmp, "s.ini"), QSettings.Format.IniFormat)
    settings.setValue("training/runs_dir", os.path.join(tmp, "runs"))
    w = MainWindow(settings=settings, recovery=Recovery(os.path.join(tmp, "rec")))
    w.resize(1600, 1000)
    project = load_template("dcgan_digits")
    project.training.epochs = epochs + 20  # still training when grabbed
    w.set_project(project, None)
    w.show()
    pump(app, 0.5)
    w.resizeDocks([w.views_dock], [560], Qt.Orientation.Vertical)  # room for the views below the canvas
    w.live_views.show_view("generative")
    pump(app, 0.3)
    w.canvas.fit_all()  # both networks and their frames
    ends: list = []
    w.training.events_drained.connect(lambda events: ends.extend(e for e in events if e.kind == "epoch_end"))
    w.commands["train"].trigger()
    while w.training.running and len(ends) < epochs:
        pump(app, 0.2)
    pump(app, 1.5)  # the latest look drawn
    w.grab().save(os.path.join(OUT, "gan_training.png"))
    print("wrote gan_training.png after", len(ends), "epochs")
    w.training.stop_and_wait()
    w.document.undo_stack.setClean()
    w.close()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)
