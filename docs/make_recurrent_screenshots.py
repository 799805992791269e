"""Screenshots of the recurrent views for the README, on trained models (built-in data only):

    QT_QPA_PLATFORM=offscreen .venv/bin/python docs/make_recurrent_screenshots.py [lstm_text] [lesson]

lstm_text on `synthetic_text`: the Inside RNN tab while it trains, then after training, and the gradient through
time beside the gradient flow. The lesson (rnn_long_memory on `long_memory`): the simple RNN's vanishing gradient
through time, then the same canvas with the RNN replaced by an LSTM (forget_bias 5) trained again — its
gradient line and its forget gate."""

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


class Session:
    """A window in a temporary settings folder, pumped by hand."""

    def __init__(self):
        self.tmp = tempfile.mkdtemp()
        self.app = create_app()
        QMessageBox.exec = lambda box: QMessageBox.StandardButton.Discard  # closing asks nothing here
        self.settings = QSettings(os.path.join(self.tmp, "s.ini"), QSettings.Format.IniFormat)
        self.settings.setValue("training/runs_dir", os.path.join(self.tmp, "runs"))

    def pump(self, s: float) -> None:
        end = time.perf_counter() + s
        while time.perf_counter() < end:
            self.app.processEvents()
            time.sleep(0.005)

    def window(self, template: str, epochs: int) -> MainWindow:
        w = MainWindow(settings=self.settings, recovery=Recovery(os.path.join(self.tmp, "rec")))
        w.resize(1600, 1000)
        project = load_template(template)
        project.training.epochs = epochs
        w.set_project(project, None)
        w.show()
        self.pump(0.5)
        w.resizeDocks([w.views_dock], [640], Qt.Orientation.Vertical)  # room for the views below a short canvas
        self.pump(0.3)
        return w

    def train(self, w: MainWindow, until_epoch: int | None = None) -> None:
        """Train to the end (or until `until_epoch` epochs are done, leaving the run going)."""
        ends = []
        w.training.events_drained.connect(lambda events: ends.extend(e for e in events if e.kind == "epoch_end"))
        w.commands["train"].trigger()
        self.pump(1.0)
        while w.training.running:
            self.pump(0.2)
            if until_epoch is not None and len(ends) >= until_epoch:
                return

    def grab(self, widget, name: str) -> None:
        self.pump(1.0)
        widget.grab().save(os.path.join(OUT, name))
        print("wrote", name)


def lstm_text(s: Session) -> None:
    w = s.window("lstm_text", 40)
    w.editor.select([w.document.graph.find("lstm")])
    w.live_views.show_view("recurrent")
    s.train(w, until_epoch=2)
    s.grab(w, "recurrent_live_lstm_text.png")  # the whole window, while training
    w.training.stop_and_wait()
    s.grab(w.live_views, "recurrent_lstm_text.png")
    w.live_views.show_view("gradients")
    s.grab(w.live_views, "gradients_through_time_lstm_text.png")
    w.document.undo_stack.setClean()
    w.close()


def lesson(s: Session) -> None:
    w = s.window("rnn_long_memory", 6)
    rnn = w.document.graph.find("rnn")
    w.editor.select([rnn])
    w.live_views.show_view("gradients")
    s.train(w)
    s.grab(w, "lesson_rnn_gradients.png")
    w.editor.run("replace_block", node_id=rnn, type_id="LSTM")  # the block keeps its id
    w.editor.run("set_params", node_id=rnn, values={"forget_bias": 5.0})
    w.editor.select([rnn])
    s.train(w)
    s.grab(w, "lesson_lstm_gradients.png")
    w.live_views.show_view("recurrent")
    s.grab(w.live_views, "lesson_lstm_inside.png")
    w.document.undo_stack.setClean()
    w.close()


if __name__ == "__main__":
    wanted = sys.argv[1:] or ["lstm_text", "lesson"]
    session = Session()
    for name in wanted:
        {"lstm_text": lstm_text, "lesson": lesson}[name](session)
