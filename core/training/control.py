"""Steering a run from another thread: pause, resume, stop, the live learning rate, the blocks whose
feature maps to capture, and predictions on the live model.

    control = TrainControl()
    worker = threading.Thread(target=trainer.run, args=(sink, control)); worker.start()
    control.set_feature_blocks(["conv2d_1"])    # start capturing that block's maps (≤ 2 per second)
    control.set_recurrent_block("lstm")         # look inside that recurrent block at the same rate (None: off)
    control.set_generative_looks(True)          # a VAE's / GAN's look on a fixed batch, paced by its cost
    control.set_look_interval(1.0)              # the window drains once a second: no look sooner than that
    control.pause(); control.resume()
    control.step(); control.step_epoch()        # while paused: one batch / the rest of the epoch, paused again
    future = control.request_prediction((image,))   # served between two steps; future.result() → outputs
    control.stop()                              # ends the current step, saves a checkpoint, Finished("stopped")

Every method is thread-safe and cheap: the trainer reads plain attributes between steps.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future


class TrainControl:
    def __init__(self) -> None:
        self._stop = threading.Event()
        self._run = threading.Event()  # set = running, clear = paused
        self._run.set()
        self._lock = threading.Lock()
        self._feature_blocks: tuple[str, ...] = ()
        self._recurrent_block: str | None = None
        self._generative_looks = False
        self._probe_index = 0
        self._look_interval = 0.0  # seconds: no feature maps or look sooner than this after the last (0: no floor)
        self._lr: float | None = None
        self._predictions: list[tuple[tuple, Future]] = []
        self._step_batches = 0  # batches asked for by step(), not yet taken by the trainer
        self._step_epoch = False
        self._pauses = 0  # pause() calls: one during a step ends it
        self.steps_refused: str | None = None  # why this run cannot step (set by the trainer), or None
        # read without the lock by the trainer at every step: one attribute load
        self.pending = False

    # --- requests (any thread) ------------------------------------------------------------------

    def stop(self) -> None:
        """Finish the current step, save a checkpoint and end the run as "stopped"."""
        self._stop.set()
        self._run.set()  # a paused run must wake up to stop
        self.pending = True

    def pause(self) -> None:
        with self._lock:
            self._pauses += 1
            self._step_batches, self._step_epoch = 0, False
        self._run.clear()
        self.pending = True

    def resume(self) -> None:
        with self._lock:
            self._step_batches, self._step_epoch = 0, False
        self._run.set()
        self.pending = True

    def step(self, batches: int = 1) -> bool:
        """While paused: train exactly `batches` more batches, then pause again (a second request before the
        first is done adds to it). False, and nothing happens, when the run is not paused or cannot step."""
        batches = int(batches)
        if batches < 1:
            raise ValueError(f"a step is one batch or more (got {batches})")
        with self._lock:
            if not self._can_step():
                return False
            self._step_batches += batches
        self.pending = True
        return True

    def step_epoch(self) -> bool:
        """While paused: train the rest of the current epoch, through its validation (EpochEnd), then pause
        again. False, and nothing happens, when the run is not paused or cannot step."""
        with self._lock:
            if not self._can_step():
                return False
            self._step_epoch = True
        self.pending = True
        return True

    def _can_step(self) -> bool:
        return self.paused and not self.stop_requested and self.steps_refused is None

    def set_feature_blocks(self, names) -> None:
        """Capture the feature maps of these blocks (names); an empty list turns capture off."""
        with self._lock:
            self._feature_blocks = tuple(str(n) for n in names)
        self.pending = True

    def set_recurrent_block(self, name: str | None) -> None:
        """Look inside this recurrent block (states, gates, gradients through time) on the probe sample at the
        feature-map rate, paced by its cost (core/training/recurrent_looks.py); None turns it off."""
        with self._lock:
            self._recurrent_block = str(name) if name else None
        self.pending = True

    def set_generative_looks(self, on: bool) -> None:
        """Make the recipe's look (a VAE's reconstructions, samples, latent scatter and traversal) at the
        feature-map rate, paced by its cost (core/training/generative_looks.py); False turns it off."""
        self._generative_looks = bool(on)
        self.pending = True

    def set_look_interval(self, seconds: float) -> None:
        """At least `seconds` between two captures of feature maps, two recurrent looks, two generative looks (on
        top of their own pace): the window sets how often it drains the run's events, so that the run computes no
        look the event buffer would drop for a newer one. 0: their own pace alone."""
        self._look_interval = max(0.0, float(seconds))

    def set_probe_index(self, index: int) -> None:
        """Which validation sample the feature maps are computed on (default 0)."""
        with self._lock:
            self._probe_index = max(0, int(index))
        self.pending = True

    def set_lr(self, lr: float) -> None:
        """Change the learning rate of the running optimizer (a schedule keeps its shape, rescaled)."""
        lr = float(lr)
        if not lr > 0:
            raise ValueError(f"the learning rate must be a positive number (got {lr})")
        with self._lock:
            self._lr = lr
        self.pending = True

    def request_prediction(self, inputs: tuple) -> Future:
        """Run the live model (eval mode, no gradients) on `inputs` — one array or tensor per model Input,
        with a batch dimension — between two training steps (or while paused). The future's result is
        the model output as a numpy array (a tuple of arrays for several Outputs)."""
        future: Future = Future()
        with self._lock:
            self._predictions.append((tuple(inputs), future))
        self.pending = True
        return future

    # --- state (any thread) ---------------------------------------------------------------------

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    @property
    def paused(self) -> bool:
        return not self._run.is_set()

    @property
    def feature_blocks(self) -> tuple[str, ...]:
        return self._feature_blocks

    @property
    def recurrent_block(self) -> str | None:
        return self._recurrent_block

    @property
    def generative_looks(self) -> bool:
        return self._generative_looks

    @property
    def look_interval(self) -> float:
        return self._look_interval

    @property
    def probe_index(self) -> int:
        return self._probe_index

    # --- used by the trainer --------------------------------------------------------------------

    def take_lr(self) -> float | None:
        with self._lock:
            lr, self._lr = self._lr, None
        return lr

    def take_predictions(self) -> list[tuple[tuple, Future]]:
        with self._lock:
            out, self._predictions = self._predictions, []
        return out

    def take_step(self) -> tuple[int, bool]:
        """The step asked for: (batches, the rest of the epoch), and forget it."""
        with self._lock:
            out = self._step_batches, self._step_epoch
            self._step_batches, self._step_epoch = 0, False
        return out

    @property
    def step_requested(self) -> bool:
        return bool(self._step_batches or self._step_epoch)

    @property
    def pauses(self) -> int:
        """How many times pause() was called (a pause during a step ends the step)."""
        return self._pauses

    def clear_pending(self) -> None:
        self.pending = False

    def wait_while_paused(self, timeout: float = 0.1) -> bool:
        """Block until resumed or stopped, or `timeout` seconds; True when still paused."""
        return not self._run.wait(timeout)

    def reset(self) -> None:
        """Make the control usable for another run."""
        self._stop.clear()
        self._run.set()
        with self._lock:
            self._lr = None
            self._step_batches, self._step_epoch, self.steps_refused = 0, False, None
            pending, self._predictions = self._predictions, []
        for _, fut in pending:
            fut.cancel()
        self.pending = bool(self._feature_blocks) or self._recurrent_block is not None or self._generative_looks


def fail_predictions(requests: list[tuple[tuple, Future]], message: str) -> None:
    for _, fut in requests:
        if not fut.done():
            fut.set_exception(RuntimeError(message))
