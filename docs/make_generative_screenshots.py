"""A screenshot of a VAE training in the window for the README (built-in data only):

    QT_QPA_PLATFORM=offscreen .venv/bin/python docs/make_generative_screenshots.py [epochs]

vae_digits on the built-in digits (28×28, a 2-D latent space) trains a few epochs (default 8) with the Generative
tab on show, and the whole window is grabbed while it is still training into docs/vae_training.png: input and
reconstruction pairs, samples from a fixed z, the latent means coloured by class, and the traversal grid."""

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


def main(epochs: int = 8) -> None:
    tmp = tempfile.mkdtemp()
    app = create_app()
    QMessageBox.exec = lambda box: QMessageBox.StandardButton.Discard  # closing asks nothing here
    settings = QSettings(os.path.join(tmp, "s.ini"), QSettings.Format.IniFormat)
    settings.setValue("training/runs_dir", os.path.join(tmp, "runs"))
    w = MainWindow(settings=settings, recovery=Recovery(os.path.join(tmp, "rec")))
    w.resize(1600, 1000)
    project = load_template("vae_digits")
    project.training.epochs = epochs + 20  # still training when grabbed
    w.set_project(project, None)
    w.show()
    pump(app, 0.5)
    w.resizeDocks([w.views_dock], [640], Qt.Orientation.Vertical)  # room for the views below a short canvas
    w.live_views.show_view("generative")
    pump(app, 0.3)
    ends: list = []
    w.training.events_drained.connect(lambda events: ends.extend(e for e in events if e.kind == "epoch_end"))
    w.commands["train"].trigger()
    while w.training.running and len(ends) < epochs:
        pump(app, 0.2)
    pump(app, 1.5)  # the latest look drawn
    w.grab().save(os.path.join(OUT, "vae_training.png"))
    print("wrote vae_training.png after", len(ends), "epochs")
    w.training.stop_and_wait()
    w.document.undo_stack.setClean()
    w.close()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 8)
