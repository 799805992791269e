"""The Training panel: the project's training settings as a form (generated from TrainingSettings and its
one-line help), the device in use, Start / Pause-Resume / Stop, and a progress bar with the epoch, the
batch, samples per second and the time left. While a run goes on only the learning rate can change (it is
applied to the running optimizer); the other settings apply to the next run."""

from __future__ import annotations

import math
import time
from dataclasses import fields

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from layerloom.core import settings as settings_mod
from layerloom.core.settings import TrainingSettings, setting_help
from layerloom.core.training.metric_text import metric_text
from layerloom.gui.quiet_text import QuietText
from layerloom.gui.training.controller import IDLE, LOADING, PAUSED, RUNNING, STOPPING

CHOICES = {"optimizer": settings_mod.OPTIMIZERS, "scheduler": settings_mod.SCHEDULERS, "init": settings_mod.INITS,
           "early_stopping_metric": settings_mod.EARLY_STOPPING_METRICS, "device": settings_mod.DEVICES,
           "precision": settings_mod.PRECISIONS}
LABELS = {"lr": "Learning rate", "batch_size": "Batch size", "weight_decay": "Weight decay",
          "step_size": "Step size", "grad_clip": "Gradient clip", "init": "Initialization",
          "early_stopping": "Early stopping", "early_stopping_metric": "Watch", "val_fraction": "Validation share",
          "nesterov": "Nesterov", "discriminator_lr": "Discriminator learning rate",
          "d_steps": "Discriminator steps", "g_steps": "Generator steps", "beta1": "Adam β1"}
# settings shown first; the rest under them
ORDER = ("epochs", "batch_size", "optimizer", "lr", "discriminator_lr", "d_steps", "g_steps", "beta1", "scheduler",
         "momentum", "weight_decay", "device")
GAN_ONLY = settings_mod.QUIET_DEFAULTS  # shown for a GAN project (a Noise block), or when changed from the default
LIVE = ("lr",)  # settings that change a running run


def fmt_duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "–"
    s = round(seconds)
    if s >= 3600:
        return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"
    return f"{s // 60}:{s % 60:02d}"


def _show_number(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


class TrainingPanel(QWidget):
    start_requested = Signal()

    def __init__(self, editor, controller, parent=None):
        super().__init__(parent)
        self.editor = editor  # settings change through its table ("set_settings"), so a refusal is shown
        self.document = editor.document
        self.controller = controller
        self._rate_ema: float | None = None
        self._progress_origin: tuple[float, int] | None = None
        self.editors: dict[str, QWidget] = {}
        self._loading = False

        outer = QVBoxLayout(self)
        outer.setContentsMargins(8, 8, 8, 8)
        buttons = QHBoxLayout()
        self.start_button = QPushButton("Train", self)
        self.start_button.setObjectName("trainStart")
        self.start_button.setToolTip("Train the network on the project's data (F5)")
        self.pause_button = QPushButton("Pause", self)
        self.pause_button.setToolTip("Pause or resume the run")
        self.step_button, self.step_menu = self._step_button(controller)
        self.stop_button = QPushButton("Stop", self)
        self.stop_button.setToolTip("Stop after the current step and keep a checkpoint")
        for b in (self.start_button, self.pause_button, self.step_button, self.stop_button):
            buttons.addWidget(b)
        outer.addLayout(buttons)
        self.progress = QProgressBar(self)
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.setTextVisible(True)
        self.progress.setFormat("Not started")
        outer.addWidget(self.progress)
        self.progress.setAutoFillBackground(True)  # opaque: its many updates do not repaint the panel behind it
        # the epoch line changes many times a run: QuietText repaints itself alone (a QLabel re-laid out the window)
        self.status = QuietText(self, lines=2)
        outer.addWidget(self.status)
        self.device_label = QLabel("Device: auto (chosen when training starts)", self)
        self.device_label.setWordWrap(True)
        outer.addWidget(self.device_label)

        form_host = QWidget(self)
        self.form = QFormLayout(form_host)
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        names = [f.name for f in fields(TrainingSettings)]
        for name in [*ORDER, *[n for n in names if n not in ORDER]]:
            self._add_editor(name)
        self.problem_label = QLabel("", self)
        self.problem_label.setWordWrap(True)
        self.problem_label.setStyleSheet("color: #d9534f")
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setWidget(form_host)
        outer.addWidget(scroll, 1)
        outer.addWidget(self.problem_label)

        self.start_button.clicked.connect(self.start_requested)
        self.pause_button.clicked.connect(controller.toggle_pause)
        self.stop_button.clicked.connect(controller.stop)
        controller.state_changed.connect(self._on_state)
        controller.run_started.connect(self._on_run_started)
        controller.events_drained.connect(self._on_events)
        controller.run_finished.connect(self._on_finished)
        self.document.settings_changed.connect(self._on_settings_changed)
        self.document.project_replaced.connect(self.load_settings)
        self.document.graph_changed.connect(self._on_graph_changed)
        self._bpe = 0
        self._epochs = 0
        self._batch_size = 1
        self.load_settings()
        self._on_state(controller.state)

    def _step_button(self, controller) -> tuple[QToolButton, QMenu]:
        """Step: one batch while paused (F10); its menu also steps the rest of the epoch (Ctrl+F10)."""
        button = QToolButton(self)
        button.setText("Step")
        button.setObjectName("trainStep")
        button.setToolTip("While paused: train exactly one batch, then pause again (F10); the arrow also "
                          "steps one epoch (Ctrl+F10)")
        button.setPopupMode(QToolButton.ToolButtonPopupMode.MenuButtonPopup)
        button.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)  # as wide as the others
        button.setMinimumWidth(button.fontMetrics().horizontalAdvance("Step") + 40)  # the text and its arrow
        menu = QMenu(button)
        menu.addAction("Step one batch\tF10", controller.step)
        menu.addAction("Step one epoch (to its validation)\tCtrl+F10", controller.step_epoch)
        button.setMenu(menu)
        button.clicked.connect(controller.step)
        return button, menu

    # --- the form -------------------------------------------------------------------------------------

    def _add_editor(self, name: str) -> None:
        help_text = setting_help(TrainingSettings, name)
        default = TrainingSettings().__getattribute__(name)
        if name in CHOICES:
            w = QComboBox(self)
            w.addItems(list(CHOICES[name]))
            if name == "device":
                w.setEditable(True)  # cuda:N
                w.lineEdit().editingFinished.connect(lambda n=name: self._commit(n))
                w.activated.connect(lambda _i, n=name: self._commit(n))
            else:
                w.currentTextChanged.connect(lambda _t, n=name: self._commit(n))
        elif isinstance(default, bool):
            w = QCheckBox(self)
            w.toggled.connect(lambda _c, n=name: self._commit(n))
        elif isinstance(default, int) and name != "seed":
            w = QSpinBox(self)
            w.setRange(1, 1_000_000)
            w.setKeyboardTracking(False)
            w.valueChanged.connect(lambda _v, n=name: self._commit(n))
        else:  # floats, optional numbers, the seed: typed text, checked by the setting itself
            w = QLineEdit(self)
            if default is None:
                w.setPlaceholderText("automatic" if name == "threads" else "none")
            w.editingFinished.connect(lambda n=name: self._commit(n))
        w.setObjectName(f"setting_{name}")
        w.setToolTip(help_text)
        label = QLabel(LABELS.get(name, name.replace("_", " ").capitalize()), self)
        label.setToolTip(help_text)
        self.form.addRow(label, w)
        self.editors[name] = w

    def _value_of(self, name: str):
        w = self.editors[name]
        if isinstance(w, QComboBox):
            return w.currentText().strip()
        if isinstance(w, QCheckBox):
            return w.isChecked()
        if isinstance(w, QSpinBox):
            return w.value()
        text = w.text().strip()
        if not text:
            return None
        try:
            return int(text) if name == "seed" or name == "threads" else float(text)
        except ValueError:
            return text

    def load_settings(self) -> None:
        """Show the project's settings (after an edit elsewhere, an undo or another project)."""
        self._loading = True
        try:
            t = self.document.project.training
            for name, w in self.editors.items():
                v = getattr(t, name)
                if isinstance(w, QComboBox):
                    if w.findText(str(v)) < 0:
                        w.addItem(str(v))
                    w.setCurrentText(str(v))
                elif isinstance(w, QCheckBox):
                    w.setChecked(bool(v))
                elif isinstance(w, QSpinBox):
                    w.setValue(int(v))
                else:
                    w.setText(_show_number(v))
                w.setStyleSheet("")
            self.problem_label.setText("")
        finally:
            self._loading = False
        self.show_gan_rows()

    def show_gan_rows(self) -> None:
        """The GAN settings only for a GAN project (or when one was changed from its default)."""
        from layerloom.core.gan import is_gan

        gan = is_gan(self.document.graph)
        t, default = self.document.project.training, TrainingSettings()
        for name in GAN_ONLY:
            self.form.setRowVisible(self.editors[name], gan or getattr(t, name) != getattr(default, name))
        label = self.form.labelForField(self.editors["lr"])
        label.setText("Generator learning rate" if gan else LABELS["lr"])

    def _on_graph_changed(self, ev) -> None:
        if ev.kind in ("node_added", "node_removed"):
            self.show_gan_rows()

    def _on_settings_changed(self, section: str) -> None:
        if section == "training":
            self.load_settings()

    def _commit(self, name: str) -> None:
        if self._loading:
            return
        value = self._value_of(name)
        problems: list[str] = []
        values = self.document.project.training.to_dict()
        values[name] = value
        TrainingSettings.from_dict(values, problems)
        mine = [p for p in problems if p.startswith(name + " ")]
        w = self.editors[name]
        if mine:
            w.setStyleSheet("border: 1px solid #d9534f")
            self.problem_label.setText(mine[0])
            return
        w.setStyleSheet("")
        self.problem_label.setText("")
        check = next(f for f in fields(TrainingSettings) if f.name == name).metadata["check"]
        value = check(value)
        if getattr(self.document.project.training, name) == value:
            return
        self.editor.run("set_settings", section="training", values={name: value}, text=f"Set {LABELS.get(name, name)}")
        if name in LIVE and self.controller.running and self.controller.set_lr(value):
            self.status.setText(f"Learning rate changed to {value:g} for the running training.")

    # --- the run --------------------------------------------------------------------------------------

    def _on_state(self, state: str) -> None:
        running = state != IDLE
        self.start_button.setEnabled(not running)
        self.pause_button.setEnabled(state in (RUNNING, PAUSED, LOADING))
        self.pause_button.setText("Resume" if state == PAUSED else "Pause")
        self.step_button.setEnabled(state == PAUSED)
        self.stop_button.setEnabled(running and state != STOPPING)
        for name, w in self.editors.items():
            w.setEnabled(not running or name in LIVE)
        if state == LOADING:
            self.progress.setRange(0, 0)  # busy
            self.progress.setFormat("Loading the data…")
            self.status.setText("")
            self.status.setStyleSheet("")
        elif state == PAUSED:
            self.progress.setFormat(self.progress.format().split(" — ")[0] + " — paused")
        elif state == STOPPING:
            self.progress.setFormat("Stopping…")

    def _on_run_started(self, run) -> None:
        self.progress.setRange(0, 1000)
        # at least 1 ‰: the Fusion style stops the loading animation (~60 repaints a second) only once the bar shows
        # some progress, and the first steps may come a second later (gui/training/pacing.py)
        self.progress.setValue(max(1, round(1000 * run.start_epoch / max(1, run.epochs))))
        self._bpe = max(1, int(run.steps_per_epoch))
        self._epochs = int(run.epochs)
        self._batch_size = max(1, int(run.batch_size))
        self._start_epoch = int(run.start_epoch)
        self.device_label.setText(f"Device: {run.device_name} · {run.precision} · {run.param_count:,} parameters")
        notes = " ".join(run.notes)
        self.status.setText(f"Training on {run.train_size:,} samples, validating on {run.val_size:,}. {notes}".strip())
        self.progress.setFormat(f"Epoch {run.start_epoch + 1}/{run.epochs}")
        self._rate_ema = None
        self._progress_origin = None

    def _on_events(self, events: list) -> None:
        last_steps = None
        for e in events:
            if e.kind == "steps":
                last_steps = e
            elif e.kind == "epoch_end":
                self._epoch_line(e)
        if last_steps is not None:
            self._show_steps(last_steps)

    def _show_steps(self, e) -> None:
        bpe = max(1, e.batches_per_epoch)
        epochs = max(1, self._epochs)
        done = e.epoch * bpe + e.batch
        total = epochs * bpe
        # value and text change together, painted once at the next turn of the event loop (setValue alone
        # repaints the bar and the panels behind it at once, 1.5 ms of the GUI thread each time)
        self.progress.setUpdatesEnabled(False)
        try:
            self._show_progress(e, done, total, bpe, epochs)
        finally:
            self.progress.setUpdatesEnabled(True)

    def _show_progress(self, e, done: int, total: int, bpe: int, epochs: int) -> None:
        self.progress.setValue(int(1000 * min(1.0, done / total)))
        # The rate of the latest burst of steps jumps around: show a moving average, and estimate the time
        # left from the whole run so far (validation included), which is what the user waits for.
        burst = float(np.mean(e.samples_per_s)) if len(e.samples_per_s) else 0.0
        if burst > 0:
            self._rate_ema = burst if self._rate_ema is None else 0.8 * self._rate_ema + 0.2 * burst
        rate = self._rate_ema or 0.0
        now = time.monotonic()
        if self._progress_origin is None:
            self._progress_origin = (now, done)
        t0, done0 = self._progress_origin
        left = None
        if done > done0 and now > t0:
            left = (total - done) * (now - t0) / (done - done0)
        elif rate > 0:
            left = (total - done) * self._batch_size / rate
        paused = " — paused" if self.controller.state == PAUSED else ""
        self.progress.setFormat(f"Epoch {e.epoch + 1}/{epochs} · batch {e.batch}/{bpe} · {rate:,.0f} samples/s · "
                                f"{fmt_duration(left)} left{paused}")
        self.samples_per_s = rate
        self.time_left = left

    def _epoch_line(self, e) -> None:
        parts = [f"Epoch {e.epoch + 1}/{e.epochs}: {metric_text('train_loss', e.train_loss)}"]
        if e.val_loss is not None:
            parts.append(metric_text("val_loss", e.val_loss))
        acc = e.metrics.get("val_accuracy")
        if acc is not None:
            parts.append(metric_text("val_accuracy", acc))
        self.status.setText(", ".join(parts))

    def _on_finished(self, last) -> None:
        self.progress.setRange(0, 1000)
        if last.kind == "failed":
            self.progress.setFormat("Failed")
            self.status.setText(f"<b>Training failed:</b> {last.message}")
            self.status.setStyleSheet("color: #d9534f")
            return
        self.status.setStyleSheet("")
        if last.status == "finished":
            self.progress.setValue(1000)
        final = last.final or {}
        parts = [f"{'Finished' if last.status == 'finished' else 'Stopped'} after {last.epochs} "
                 f"epoch{'s' if last.epochs != 1 else ''} ({fmt_duration(last.seconds)}, "
                 f"{last.samples_per_s:,.0f} samples/s)"]
        if final.get("val_accuracy") is not None:
            parts.append(metric_text("val_accuracy", final["val_accuracy"]))
        elif final.get("val_loss") is not None:
            parts.append(metric_text("val_loss", final["val_loss"]))
        if last.checkpoint:
            parts.append(f"checkpoint: {last.checkpoint}")
        self.progress.setFormat("Finished" if last.status == "finished" else "Stopped")
        self.status.setText("; ".join(parts))
