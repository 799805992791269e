"""The window's side of a training run: the worker thread, the event buffer and its 30 Hz drain timer, the
control (pause, resume, stop, live learning rate, feature-map block), and the predictor.

    controller = TrainingController(document, runs_root="runs")
    controller.add_view(curves_view)          # reset(run_started) once at each run, on_event(e) for every event
    controller.start()                        # loads the data and trains in a worker thread
    controller.pause(); controller.resume(); controller.stop()
    controller.step(); controller.step_epoch()   # while paused: one batch / the rest of the epoch

The trainer never touches Qt: it writes typed events into an `EventBuffer` from the worker thread, and a QTimer on
the GUI thread drains it 1–30 times a second (a handful of appends per frame however fast training runs; slower when
the updates would take more than GUI_CPU_BUDGET of a core, and heavy pictures then redraw less often: pacing.py).
Feature maps are captured only for the block on show (the canvas selection), at most twice a second and no sooner
than the next drain; the inside of a recurrent block (set_recurrent_capture) only while a view shows it, at
the same rate paced by its cost. With no run going, gui/training/idle_probe.py computes both.

Threads: the run takes the cores other work leaves free, unless the project says otherwise (the `threads`
setting), as on the command line (core/training/thread_policy.py): the GUI thread needs little CPU (30 drains
and repaints a second) and the Python GIL is released inside every torch kernel, so the GUI's timers stay on
time. The GUI thread itself computes serially (`keep_this_thread_serial`): an OpenMP pool of its own would halve
the training thread's speed on a small CPU (core/training/threads.py; benchmarks/bench_training_window.py has
the figures).
"""

from __future__ import annotations

import sys
import threading

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from layerloom.core.runs import default_runs_root
from layerloom.core.training.metric_text import metric_text
from layerloom.gui.gc_guard import guard_thread
from layerloom.gui.training.generative_probe import GenerativeProbe
from layerloom.gui.training.idle_probe import RECURRENT_TYPES, IdleProbe
from layerloom.gui.training.pacing import DRAIN_INTERVAL_MS, UpdatePacer
from layerloom.gui.training.worker import TrainWorker, data_key

# None: the thread policy's choice (core/training/thread_policy.py). A number is the trainer's thread count when
# the project leaves `threads` unset.
TRAIN_THREADS: int | None = None

IDLE, LOADING, RUNNING, PAUSED, STOPPING = "idle", "loading", "running", "paused", "stopping"


class TrainingController(QObject):
    """Runs the document's project in a worker thread and feeds the live views."""

    state_changed = Signal(str)  # IDLE, LOADING, RUNNING, PAUSED, STOPPING
    run_started = Signal(object)  # RunStarted
    events_drained = Signal(list)  # every drained batch of events (the training panel's progress)
    run_finished = Signal(object)  # the last event: Finished or Failed
    message = Signal(str)  # for the status bar
    data_loaded = Signal(object, str)  # a PreparedData loaded by a run, its data key
    data_available = Signal(object, str)  # a PreparedData to show samples of (loaded by a run or the data panel)
    predictor_changed = Signal(object)

    def __init__(self, document, parent: QObject | None = None, *, runs_root: str | None = None):
        super().__init__(parent)
        self.document = document
        self.runs_root = runs_root or default_runs_root()
        self.views: list = []
        self.state = IDLE
        self.run = None  # the RunStarted of the current or latest run
        self.last = None  # the Finished / Failed of the latest run
        self.result = None  # the TrainResult of the latest run
        self.model = None  # the latest trained model (for predictions after a run)
        self.data_info = None  # DataInfo of the data the latest run used
        self.trained_source = None  # the trained model as a core.export.source.Source (a run's or adopted)
        self._model_graph = None  # the graph self.model was compiled from
        self._model_step = (0, 0)  # (step, epoch) self.model's weights are from
        self._pre_cache: tuple | None = None  # (the DataInfo it was built from, its Preprocessing)
        self._idle = IdleProbe(self)  # feature maps and recurrent looks of the trained model with no run going
        self.feature_block: str | None = None  # block name whose feature maps are on show
        self.feature_block_type: str | None = None
        self.feature_capture = True  # off while no view shows feature maps
        self.recurrent_capture = False  # on while a view shows the inside of a recurrent block
        self.generative_capture = False  # on while a view shows a VAE's (a GAN's) looks
        self._generative = GenerativeProbe(self)  # the trained model's look with no run going
        self.probe_index = 0  # the validation sample both look at
        self.threads = TRAIN_THREADS
        self._prepared = None
        self._prepared_key = ""
        self._adopted = None  # a Source made live by adopt_trained: Train starts from its weights
        self._thread: threading.Thread | None = None
        self._worker: TrainWorker | None = None
        self._buffer = None
        self._control = None
        self._timer = QTimer(self)
        self._timer.setInterval(DRAIN_INTERVAL_MS)
        self._timer.timeout.connect(self.drain)
        self.pacer = UpdatePacer()  # how often the drain and the views' redraws come while training (pacing.py)
        from layerloom.gui.training.predictor import Predictor

        self.predictor = Predictor(self)

    # --- views ------------------------------------------------------------------------------------

    def add_view(self, view) -> None:
        self.views.append(view)

    def _each_view(self, method: str, *args) -> None:
        for view in self.views:
            fn = getattr(view, method, None)
            if fn is not None:
                fn(*args)

    # --- data shared with the data panel ------------------------------------------------------------

    def offer_prepared(self, prepared, key: str) -> None:
        """Data the data panel loaded: a run on the same data starts without loading it again, and the
        views get its samples at once."""
        self._prepared, self._prepared_key = prepared, key
        self.data_available.emit(prepared, key)
        self._features_when_idle()

    # --- state ------------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self.state != IDLE

    @property
    def control(self):
        return self._control

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self.state_changed.emit(state)

    # --- commands -----------------------------------------------------------------------------------

    def start(self) -> bool:
        """Train the document's project (a copy of it, taken now). False when it cannot start."""
        if self.running:
            return False
        from layerloom.core.errors import LayerloomError
        from layerloom.core.project import Project

        doc = self.document
        report = doc.infer_now()
        errors = [p.message for p in report.errors]
        if not any(n.type == "Output" for n in doc.graph):
            errors.append("the network has no Output block, so there is nothing to train")
        if not any(n.type == "Input" for n in doc.graph):
            errors.append("the network has no Input block")
        if errors:
            self._announce_failure("The network has errors and cannot be trained: " + "; ".join(errors[:3]))
            return False
        problems = doc.project.training.problems("training")
        if problems:
            self._announce_failure("The training settings are not valid: " + "; ".join(problems))
            return False
        try:
            project = Project.from_dict(doc.project.to_dict())
        except LayerloomError as err:
            self._announce_failure(str(err))
            return False
        if not project.name:
            project.meta["name"] = doc.title
        settings = project.training
        if "torch" in sys.modules:  # (not imported yet: this thread has no pool to keep from starting)
            from layerloom.core.training.threads import keep_this_thread_serial

            keep_this_thread_serial()  # the run's own threads get the cores (core/training/threads.py)
        from layerloom.core.training.control import TrainControl
        from layerloom.core.training.events import EventBuffer

        self._buffer = EventBuffer(max_events=512)
        self._control = TrainControl()
        self._control.set_probe_index(self.probe_index)
        self._update_capture()
        self._each_view("set_feature_note", None)  # the run captures them now
        self._each_view("set_recurrent_note", None)
        self._each_view("set_generative_note", self._generative.running_note(project.graph))
        key = data_key(project.data.source, dict(project.data.options), settings.val_fraction, settings.seed)
        prepared = self._prepared if key == self._prepared_key else None
        self.run, self.last, self.result = None, None, None
        weights = self._adopted.state if self._adopted is not None else None
        worker = TrainWorker(project, settings, self._buffer, self._control, run_root=self.runs_root,
                             prepared=prepared, prepared_key=key, threads=self.threads, weights=weights)
        thread = threading.Thread(target=worker.run, name="layerloom-training", daemon=True)
        self._thread, self._worker = thread, worker
        doc.set_locked("The network is training: stop training to change its structure (moving blocks is fine).")
        self._set_state(LOADING)
        self.pacer.start()
        self._timer.setInterval(DRAIN_INTERVAL_MS)  # while the data loads; the pace once the run trains
        self._apply_pace()
        self._timer.start()
        guard_thread(thread)  # no garbage collection in the worker (gc_guard.py)
        thread.start()
        self.message.emit("Loading the data…" if prepared is None else "Starting training…")
        return True

    def pause(self) -> None:
        if self._control is not None and self.state in (RUNNING, LOADING):
            self._control.pause()

    def resume(self) -> None:
        if self._control is not None and self.state == PAUSED:
            self._control.resume()

    def toggle_pause(self) -> None:
        if self.state == PAUSED:
            self.resume()
        else:
            self.pause()

    def step(self) -> bool:
        """Train exactly one batch, then pause again: only while paused (else a note on the status bar)."""
        return self._step("batch", lambda control: control.step())

    def step_epoch(self) -> bool:
        """Train the rest of this epoch, through its validation, then pause again: only while paused."""
        return self._step("epoch", lambda control: control.step_epoch())

    def _step(self, unit: str, ask) -> bool:
        if self._control is not None and self.state == PAUSED and ask(self._control):
            return True
        why = getattr(self._control, "steps_refused", None) or "pause the training first"
        self.message.emit(f"Step one {unit}: {why}.")
        return False

    def stop(self) -> None:
        if self._control is not None and self.running:
            self._control.stop()
            self._set_state(STOPPING)
            self.message.emit("Stopping after this step; a checkpoint is kept…")

    def set_lr(self, lr: float) -> bool:
        """Change the learning rate of the running optimizer; False when nothing is running."""
        if self._control is None or not self.running:
            return False
        self._control.set_lr(lr)
        return True

    def stop_and_wait(self, timeout_ms: int = 60000) -> bool:
        """Stop the run and wait for the worker to finish (its stop checkpoint written). True when it ended."""
        if self._thread is None:
            return True
        self.stop()
        self._thread.join(timeout_ms / 1000)
        ended = not self._thread.is_alive()
        if ended:
            self._finish()
        return ended

    # --- feature maps -------------------------------------------------------------------------------

    def set_feature_block(self, name: str | None, block_type: str | None = None) -> None:
        """Show this block's feature maps (None: none)."""
        self.feature_block, self.feature_block_type = name, block_type
        self._idle.forget()  # a view that shows another block has let the maps go
        self._each_view("set_block", name, block_type)
        self._update_capture()
        self._features_when_idle()

    def set_feature_capture(self, on: bool) -> None:
        """Capture feature maps only while a view shows them."""
        self.feature_capture = bool(on)
        self._update_capture()
        self._features_when_idle()

    def set_recurrent_capture(self, on: bool) -> None:
        """Look inside the selected block, when it is recurrent, only while a view shows it: during a run the
        trainer does, at the feature-map rate; with no run going, the trained model here."""
        self.recurrent_capture = bool(on)
        self._update_capture()
        self._features_when_idle()

    def set_generative_capture(self, on: bool) -> None:
        """Ask the run for its generative looks (a VAE's reconstructions, samples, latent space) only while a view
        shows them; with no run going, the trained model's look is computed here."""
        self.generative_capture = bool(on)
        self._update_capture()
        self._features_when_idle()

    def set_probe_index(self, index: int) -> None:
        """Look at this validation sample in the feature maps and inside a recurrent block: the run's control is
        told; with no run going, the trained model looks at it now."""
        self.probe_index = max(0, int(index))
        if self._control is not None:
            self._control.set_probe_index(self.probe_index)
        self._features_when_idle()

    def _update_capture(self) -> None:
        if self._control is not None:
            blocks = [self.feature_block] if self.feature_block and self.feature_capture else []
            self._control.set_feature_blocks(blocks)
            recurrent = self.feature_block and self.recurrent_capture and self.feature_block_type in RECURRENT_TYPES
            self._control.set_recurrent_block(self.feature_block if recurrent else None)
            self._control.set_generative_looks(self.generative_capture)

    def _features_when_idle(self) -> None:
        """With no run going, what the views show of the trained model for the selected block (its feature maps,
        the inside of a recurrent block: gui/training/idle_probe.py; a VAE's look: generative_probe.py), or a note
        saying what is missing."""
        if not self.running and self.generative_capture:
            self._each_view("set_generative_note", self._generative.note())
        if self.running or not self.feature_block:
            return
        if self.feature_capture:
            self._each_view("set_feature_note", self._idle.features(self.feature_block))
        if self.recurrent_capture:
            self._each_view("set_recurrent_note", self._idle.recurrent(self.feature_block, self.feature_block_type))

    # --- the drain timer ------------------------------------------------------------------------------

    @Slot()
    def drain(self) -> None:
        if self._buffer is None:
            return
        self._pace()
        worker = self._worker
        if worker is not None and worker.loaded is not None:  # the run loaded its data: share it
            prepared, key = worker.loaded
            worker.loaded = None
            self._on_data_loaded(prepared, key)
        events = self._buffer.drain()
        if events:
            self._dispatch(events)
        if worker is not None and worker.done and self._thread is not None and not self._thread.is_alive():
            self._finish()

    def _pace(self) -> None:
        """The live updates' pace while training (pacing.py): slower when they cost the GUI thread more than its
        budget, faster when less."""
        pacing = self.state in (RUNNING, PAUSED)
        changed = self.pacer.tick(pacing)
        if pacing and self._timer.interval() != self.pacer.drain_interval_ms:
            self._timer.setInterval(self.pacer.drain_interval_ms)
        if changed:
            self._apply_pace()

    def _apply_pace(self) -> None:
        """The pace's redraw gap to the views, its look interval to the run."""
        self._each_view("set_redraw_gap", self.pacer.redraw_gap_ms)
        if self._control is not None:
            self._control.set_look_interval(self.pacer.look_interval_s)

    def _dispatch(self, events: list) -> None:
        for e in events:
            kind = e.kind
            if kind == "run_started":
                self.run = e
                self._each_view("reset", e)
                self._set_state(PAUSED if self._control is not None and self._control.paused else RUNNING)
                self.run_started.emit(e)
                self.predictor_changed.emit(self.predictor)
            elif kind == "state_changed" and self.state != STOPPING:
                self._set_state(PAUSED if e.state == "paused" else RUNNING)
            elif kind in ("finished", "failed"):
                self.last = e
            elif kind == "recurrent_note":
                self._each_view("set_recurrent_note", e.message)
            elif kind == "generative_note":
                self._each_view("set_generative_note", e.message)
            self._each_view("on_event", e)
        self.events_drained.emit(events)

    @Slot(object, str)
    def _on_data_loaded(self, prepared, key: str) -> None:
        self._prepared, self._prepared_key = prepared, key
        self.data_loaded.emit(prepared, key)
        self.data_available.emit(prepared, key)

    def _finish(self) -> None:
        worker = self._worker
        if worker is not None and worker.loaded is not None:
            self._on_data_loaded(*worker.loaded)
            worker.loaded = None
        self._thread, self._worker = None, None
        self.drain()
        self._timer.stop()
        self._each_view("set_redraw_gap", 0)  # the run's last pictures now, not a paced redraw later
        last = self.last
        if last is None:  # should not happen: the worker always ends with one
            from layerloom.core.training.events import Failed

            last = self.last = Failed(message="training ended without a result", reason="error")
        if worker is not None:
            trainer = worker.trainer
            if trainer is not None and trainer.model is not None:
                self.model = trainer.model
                self.model.eval()
                self.data_info = worker.prepared.info if worker.prepared is not None else self.data_info
                self._model_graph = worker.project.graph
                self._model_step = (getattr(last, "step", 0), max(0, getattr(last, "epochs", 0) - 1))  # its index
                self.trained_source = self._run_source(worker, last) if last.kind == "finished" else None
                self._adopted = None  # the run's weights are the trained model now; the next Train starts fresh
                self._idle.forget()
            elif worker.prepared is not None:
                self.data_info = worker.prepared.info
            self.result = trainer.result if trainer is not None else None
        self._control = None
        self.document.set_locked(None)
        self._set_state(IDLE)
        if last.kind == "failed":
            self.message.emit(f"Training failed: {last.message}")
        else:
            best = f", best {metric_text(last.metric, last.best)}" if last.best is not None else ""
            word = "stopped" if last.status == "stopped" else "finished"
            self.message.emit(f"Training {word} after {last.epochs} epoch{'s' if last.epochs != 1 else ''}{best}")
        self.run_finished.emit(last)
        self.predictor_changed.emit(self.predictor if self.model is not None else None)
        self._features_when_idle()

    def _announce_failure(self, message: str) -> None:
        from layerloom.core.training.events import Failed

        self.last = Failed(message=message, reason="setup")
        self.message.emit(message)
        self.run_finished.emit(self.last)

    def info_for_predictions(self):
        """The DataInfo (normalization, class names) of the data in use."""
        if self._worker is not None and self._worker.prepared is not None:
            return self._worker.prepared.info
        return self.data_info

    # --- the trained model ----------------------------------------------------------------------------

    def _run_source(self, worker, last):
        """The finished run as a Source: its run folder (history, settings, preprocessing), or else the
        trained weights in memory with the data's preprocessing."""
        from layerloom.core.errors import LayerloomError
        from layerloom.core.export.reading import open_source
        from layerloom.core.export.source import source_from

        if getattr(last, "run_dir", None):
            try:
                return open_source(last.run_dir, "last")
            except LayerloomError:
                pass
        from layerloom.core.data.preprocessing import Preprocessing

        pre = Preprocessing.from_info(worker.prepared.info) if worker.prepared is not None else None
        state = {k: v.detach().cpu() for k, v in self.model.state_dict().items()}
        return source_from(worker.project, state, preprocessing=pre)

    def adopt_trained(self, source) -> None:
        """Make a trained model (a `layerloom.core.export.source.Source`: a run folder, a bundle…) the one that
        predictions, feature maps and the confusion view use, with its preprocessing (class names,
        normalization, vocabulary). Not while a run trains (RuntimeError)."""
        if self.running:
            raise RuntimeError("a run is training: stop it before opening a trained model")
        from layerloom.core.training.threads import keep_this_thread_serial

        keep_this_thread_serial()  # building the model is torch work on the GUI thread
        model = source.live_model()
        self.model, self.trained_source, self.data_info = model, source, None
        self._adopted = source  # Train fine-tunes from these weights
        self._model_graph = source.graph
        history = source.history or []
        self._model_step = (int(history[-1].get("step", 0)), len(history) - 1) if history else (0, 0)
        self._idle.forget()
        self.predictor_changed.emit(self.predictor)
        names = self.predictor.class_names
        self._each_view("show_trained_history", list(history), names)
        self._features_when_idle()

    def forget_trained(self) -> None:
        """No trained model any more (another project was opened)."""
        self.model = self.trained_source = self.data_info = self._model_graph = self._adopted = None
        self._model_step = (0, 0)
        self._idle.forget()
        self.predictor_changed.emit(None)
        self._features_when_idle()

    def model_graph(self):
        """The graph of the model predictions use: the running project's, the trained model's, else the
        window's."""
        if self._worker is not None:
            return self._worker.project.graph
        if self.model is not None and self._model_graph is not None:
            return self._model_graph
        return self.document.graph

    def preprocessing(self):
        """The Preprocessing in use (raw data → model input): from the running or last run's data, else the
        trained model's own (an adopted one), else the loaded data's; None when unknown."""
        info = self.info_for_predictions()
        if info is None and self.trained_source is not None and self.trained_source.preprocessing is not None:
            return self.trained_source.preprocessing
        if info is None and self._prepared is not None:
            info = self._prepared.info
        if info is None:
            return None
        if self._pre_cache is None or self._pre_cache[0] is not info:
            from layerloom.core.data.preprocessing import Preprocessing

            self._pre_cache = (info, Preprocessing.from_info(info))
        return self._pre_cache[1]
