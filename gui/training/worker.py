"""Work that runs off the GUI thread: a training run (data loading, then `Trainer.run`) and a data load for
the data panel's preview (with download progress and cancel).

A worker is a plain Python object whose `run` executes in a plain `threading.Thread`: it touches no Qt
object and emits no signal. It leaves its outcome in attributes that the GUI thread polls on its timer, and
a training run's events go to an `EventBuffer` that the GUI drains ~30 times a second. (Qt objects shared
with worker threads, QThread subclasses and signals emitted from workers crashed PySide6 here when Python's
garbage collector ran on the GUI thread during training.)
"""

from __future__ import annotations

import json
import traceback


def data_key(source: str, options: dict, val_fraction: float, seed: int) -> str:
    """What identifies a loaded PreparedData: the same key gives the same tensors."""
    return json.dumps([source, options, float(val_fraction), int(seed)], sort_keys=True, default=str)


def load_prepared(source: str, options: dict, val_fraction: float, seed: int, progress=None, cancel=None):
    """`load_data` with every failure turned into a DataError-like message (LayerloomError)."""
    from layerloom.core.data import DataError, load_data

    try:
        return load_data(source, dict(options), val_fraction=val_fraction, seed=seed, progress=progress,
                         cancel=cancel)
    except DataError:
        raise
    except FileNotFoundError as err:
        raise DataError(f"{err.filename or source}: the data file does not exist") from None
    except OSError as err:
        raise DataError(f"{err.filename or source}: {err.strerror or err}") from None


def _run_settings(settings, threads: int | None):
    """The settings the run trains with: `threads` (the window's own count) when the project leaves `threads`
    unset. The trainer chooses the count from them (core/training/thread_policy.py), as on the command line."""
    import dataclasses

    return dataclasses.replace(settings, threads=threads) if threads and not settings.threads else settings


class TrainWorker:
    """One training run: loads the data (unless loaded data is given), then `Trainer.run(buffer, control)`,
    from `weights` when given (fine-tuning: matched by block name and shape), else from fresh weights.

    Every outcome reaches `buffer` as the run's last event (Finished or Failed), including failures before
    the trainer starts (the data cannot be loaded). The GUI polls `loaded` (the prepared data and its key, once the
    data is in) and `done` (set last, with `result` the TrainResult or None when the trainer never ran)."""

    def __init__(self, project, settings, buffer, control, *, run_root: str | None, prepared=None,
                 prepared_key: str = "", threads: int | None = None, weights: dict | None = None):
        self.project = project  # a private copy: the window's graph may move on while this trains
        self.settings = settings
        self.buffer = buffer
        self.control = control
        self.run_root = run_root
        self.prepared = prepared
        self.prepared_key = prepared_key
        self.threads = threads
        self.weights = weights  # a state dict to start from (trained weights the window holds), None: fresh
        self.trainer = None
        self.loaded: tuple | None = None  # (PreparedData, data_key) once this run loaded its data
        self.result = None
        self.done = False

    def run(self) -> None:
        from layerloom.core.errors import LayerloomError
        from layerloom.core.training.events import Failed
        from layerloom.core.training.threads import run_in_background

        result = None
        run_in_background()  # the window's GUI thread comes first when it has work (and the run's OpenMP threads)
        try:
            if self.prepared is None:
                data = self.project.data
                key = data_key(data.source, dict(data.options), self.settings.val_fraction, self.settings.seed)
                try:
                    self.prepared = load_prepared(data.source, dict(data.options), self.settings.val_fraction,
                                              self.settings.seed)
                except LayerloomError as err:
                    self.buffer(Failed(message=f"the data could not be loaded: {err}", reason="data"))
                    return
                self.prepared_key = key
                self.loaded = (self.prepared, key)
            if self.control.stop_requested:
                self.buffer(Failed(message="stopped before training started", reason="setup"))
                return
            from layerloom.core.training.trainer import Trainer

            settings = _run_settings(self.settings, self.threads)
            self.trainer = Trainer(self.project, self.prepared, settings=settings, run_root=self.run_root,
                                   project_name=self.project.name or "project", weights=self.weights)
            result = self.trainer.run(self.buffer, self.control)  # puts torch's thread count back at the end
        except Exception as err:  # anything the trainer did not catch itself: a message, not a dead thread
            from layerloom.core.errors_text import describe

            self.buffer(Failed(message=f"training failed: {describe(err)}", reason="error",
                               details=traceback.format_exc()))
        finally:
            self.result = result
            self.done = True
