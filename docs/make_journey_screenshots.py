"""Screenshots of one model's journey for the README: a trained project reopened with its weights, the export
dialog with the preprocessing the file carries, and a text model predicting a typed message.

    xvfb-run -a -s "-screen 0 1600x1000x24" env QT_QPA_PLATFORM=xcb .venv/bin/python docs/make_journey_screenshots.py

(QT_QPA_PLATFORM=offscreen works too.) Built-in data only: lenet5 on `digits`, lstm_text on `synthetic_text`."""

from __future__ import annotations

import os
import tempfile
import time

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QMessageBox

from layerloom.core.templates import load_template
from layerloom.gui.app import create_app
from layerloom.gui.main_window import MainWindow
from layerloom.gui.model_actions import open_export_dialog
from layerloom.gui.recovery import Recovery

OUT = os.path.dirname(os.path.abspath(__file__))


def main() -> None:
    tmp = tempfile.mkdtemp()
    app = create_app()
    QMessageBox.exec = lambda box: QMessageBox.StandardButton.Discard  # closing asks nothing here
    settings = QSettings(os.path.join(tmp, "s.ini"), QSettings.Format.IniFormat)
    settings.setValue("training/runs_dir", os.path.join(tmp, "runs"))

    def pump(s: float) -> None:
        end = time.perf_counter() + s
        while time.perf_counter() < end:
            app.processEvents()
            time.sleep(0.005)

    def window() -> MainWindow:
        w = MainWindow(settings=settings, recovery=Recovery(os.path.join(tmp, "rec")))
        w.resize(1600, 1000)
        w.show()
        pump(0.5)
        return w

    def train(w: MainWindow) -> None:
        w.commands["train"].trigger()
        pump(1.0)
        while w.training.running:
            pump(0.2)

    # an image model: train, save, close, reopen with its weights, export
    w = window()
    project = load_template("lenet5")
    project.training.epochs = 3
    w.set_project(project, None)
    train(w)
    path = os.path.join(tmp, "lenet5.json")
    assert w._save_to(path)
    w.close()
    w = window()
    assert w.open_path(path)
    pump(2.0)
    w.editor.select([w.document.graph.find("conv2")])
    w.live_views.show_view("features")
    pump(1.5)
    w.grab().save(os.path.join(OUT, "reopened_with_weights.png"))
    dialog = open_export_dialog(w)
    dialog.set_format("onnx")
    dialog.path_edit.setText(os.path.join(tmp, "lenet5.onnx"))
    dialog.show()
    dialog.export_button.click()
    while not os.path.exists(os.path.join(tmp, "lenet5.onnx.preprocessing.json")):
        pump(0.2)
    pump(0.5)
    dialog.grab().save(os.path.join(OUT, "export_dialog.png"))
    dialog.close()
    w.document.undo_stack.setClean()
    w.close()

    # a text model: type a message, see the tokens and the classes
    w = window()
    project = load_template("lstm_text")
    project.training.epochs = 3
    w.set_project(project, None)
    train(w)
    w.live_views.show_view("predictions")
    pump(0.5)
    view = w.live_views.view("predictions")
    view.bodies["text"].edit.setPlainText("this film was a wonderful delight, the acting was great")
    pump(1.0)
    w.grab().save(os.path.join(OUT, "text_prediction.png"))
    w.document.undo_stack.setClean()
    w.close()


if __name__ == "__main__":
    main()
