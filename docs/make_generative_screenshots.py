"""Screenshots of a VAE and a GAN training in the window, for the README (built-in data only):

    QT_QPA_PLATFORM=offscreen .venv/bin/python docs/make_generative_screenshots.py [vae|gan] [epochs]

- vae_digits on the built-in digits (28×28, a 2-D latent space) trains a few epochs (default 8) with the
  Generative tab on show; the whole window is grabbed while it is still training into docs/vae_training.png:
  input and reconstruction pairs, samples from a fixed z, the latent means coloured by class, the traversal.
- dcgan_digits (default 10 epochs) into docs/gan_training.png: the canvas with the generator and the
  discriminator framed and labelled, their losses, the mean D(real) and D(fake), the 8×8 grid of samples from a
  fixed noise batch and the strip of samples over time.
Without arguments both are made."""

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
SHOTS = {  # template, file, default epochs, height of the views dock, fit the canvas to the whole graph
    "vae": ("vae_digits", "vae_training.png", 8, 640, False),
    "gan": ("dcgan_digits", "gan_training.png", 10, 560, True),
}


def pump(app, s: float) -> None:
    end = time.perf_counter() + s
    while time.perf_counter() < end:
        app.processEvents()
        time.sleep(0.005)


def shoot(app, which: str, epochs: int | None = None) -> None:
    template, png, default_epochs, dock_height, fit = SHOTS[which]
    epochs = default_epochs if epochs is None else epochs
    tmp = tempfile.mkdtemp()
    settings = QSettings(os.path.join(tmp, "s.ini"), QSettings.Format.IniFormat)
    settings.setValue("training/runs_dir", os.path.join(tmp, "runs"))
    w = MainWindow(settings=settings, recovery=Recovery(os.path.join(tmp, "rec")))
    w.resize(1600, 1000)
    project = load_template(template)
    project.training.epochs = epochs + 20  # still training when grabbed
    w.set_project(project, None)
    w.show()
    pump(app, 0.5)
    w.resizeDocks([w.views_dock], [dock_height], Qt.Orientation.Vertical)  # room for the views below the canvas
    w.live_views.show_view("generative")
    pump(app, 0.3)
    if fit:
        w.canvas.fit_all()
    ends: list = []
    w.training.events_drained.connect(lambda events: ends.extend(e for e in events if e.kind == "epoch_end"))
    w.commands["train"].trigger()
    while w.training.running and len(ends) < epochs:
        pump(app, 0.2)
    pump(app, 1.5)  # the latest look drawn
    w.grab().save(os.path.join(OUT, png))
    print(f"wrote {png} after", len(ends), "epochs")
    w.training.stop_and_wait()
    w.document.undo_stack.setClean()
    w.close()


def main(argv: list[str]) -> None:
    app = create_app()
    QMessageBox.exec = lambda box: QMessageBox.StandardButton.Discard  # closing asks nothing here
    which = [argv[0]] if argv else list(SHOTS)
    for name in which:
        shoot(app, name, int(argv[1]) if len(argv) > 1 else None)


if __name__ == "__main__":
    main(sys.argv[1:])
