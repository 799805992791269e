"""What the trainer reports, as small typed records given to `sink(event)` from the training thread.

Every event is a frozen dataclass with a `kind` name. Per-step numbers never come one event per step:
`Steps` carries numpy arrays for all the steps since the last one (about every 50 ms, and at every
epoch end), so a GUI that drains a bounded buffer on a ~30 Hz timer does a handful of appends a frame
however fast training runs. Feature maps come only for the blocks asked for through the control, at
most twice a second, as small float16 arrays.

The order of a run:

    RunStarted → (Steps | GradientStats | FeatureMaps | RecurrentInside | RecurrentNote | VAELook | GANLook
                 | GenerativeNote | StateChanged | Stepped)* → EpochEnd
               → CheckpointSaved → … → Finished | Failed            (always exactly one of the two, always last)

A step taken while paused (TrainControl.step / step_epoch) comes as StateChanged("running"), its Steps (and,
for an epoch step, EpochEnd and CheckpointSaved), GradientStats and FeatureMaps once, Stepped, then
StateChanged("paused").

`EventBuffer` is a ready-made thread-safe sink for a GUI: the trainer calls it, the GUI's timer calls
`drain()`; it is bounded (old steps are merged, only the latest frame of each block is kept) and never
drops an epoch end, a checkpoint, or the final event.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any

import numpy as np


class _Event:
    kind = "event"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data (numpy arrays become lists): for logs, `--json` and tests."""
        out: dict[str, Any] = {"kind": self.kind}
        for f in fields(self):  # type: ignore[arg-type]
            out[f.name] = _plain(getattr(self, f.name))
        return out


def _plain(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):  # a RecurrentTrace, a GradientTrace
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


@dataclass(frozen=True)
class RunStarted(_Event):
    """Training is about to take its first step (after the model, data and optimizer are ready)."""

    kind = "run_started"
    run_dir: str | None  # None when the run folder is off
    device: str  # "cpu", "cuda:0", "mps"
    device_name: str  # what a person reads: "NVIDIA H100 80GB HBM3", "CPU (8 threads)"
    precision: str  # "fp32", "bf16", "fp16": what is really used (fp32 when the device cannot)
    train_size: int
    val_size: int
    param_count: int
    epochs: int  # the epoch count the run goes to
    start_epoch: int  # 0 for a new run; the epoch it picks up at when resumed
    start_step: int  # optimizer steps already done (resume)
    batch_size: int  # per process
    steps_per_epoch: int
    task: str  # "classification", "regression", "reconstruction"
    metric: str  # the headline metric: "val_accuracy" for classifiers, else "val_loss"
    num_classes: int | None
    class_names: tuple[str, ...] | None
    world_size: int = 1
    notes: tuple[str, ...] = ()  # e.g. "bf16 needs CUDA; training in fp32"


@dataclass(frozen=True, eq=False)
class Steps(_Event):
    """The optimizer steps since the previous Steps event, all within one epoch."""

    kind = "steps"
    epoch: int  # 0-based epoch these steps belong to
    step: np.ndarray  # int64, global step numbers (1 = the first optimizer step of the run)
    loss: np.ndarray  # float32 training loss of each step
    lr: np.ndarray  # float32 learning rate used by each step
    time: np.ndarray  # float64 seconds since the run started, at the end of each step (pauses left out)
    samples_per_s: np.ndarray  # float32, per step: training samples per second over this event's window
    batch: int  # batches done in this epoch after the last step here
    batches_per_epoch: int
    accuracy: float | None  # running training accuracy of this epoch (one batch sampled per event), classifiers
    eta_s: float | None  # seconds left in this epoch at the current rate

    @property
    def count(self) -> int:
        return len(self.step)


@dataclass(frozen=True, eq=False)
class EpochEnd(_Event):
    """An epoch is done and validated."""

    kind = "epoch_end"
    epoch: int  # 0-based
    epochs: int
    step: int  # global step at the end of the epoch
    train_loss: float  # mean over the epoch's steps
    val_loss: float | None  # None when there is no validation data
    metrics: dict[str, float]  # val_accuracy / train_accuracy (classifiers), val_mae / val_r2 (regression)
    confusion: np.ndarray | None  # int64 [true class, predicted class] counts on validation, classifiers
    misclassified: np.ndarray | None  # int64 indices into the validation split (at most 64), classifiers
    lr: float
    seconds: float  # wall time of the epoch including validation
    samples_per_s: float  # training samples per second over the epoch's steps
    best: float | None  # best value so far of the watched metric
    is_best: bool


@dataclass(frozen=True, eq=False)
class GradientStats(_Event):
    """Per-layer (per-block) gradient and weight L2 norms at one step, every N steps."""

    kind = "gradient_stats"
    step: int
    epoch: int
    layers: tuple[str, ...]  # block names with trainable parameters, in model order
    grad_norms: np.ndarray  # float32, one per layer (0 when a layer got no gradient)
    weight_norms: np.ndarray  # float32, one per layer
    vanishing: tuple[str, ...]  # layers with a gradient norm below VANISHING
    exploding: tuple[str, ...]  # layers with a gradient norm above EXPLODING


@dataclass(frozen=True, eq=False)
class FeatureMaps(_Event):
    """The value of one block on the fixed probe sample (eval mode), batch dimension removed.

    `maps` is float16: C×H×W for images (downsampled to at most 64×64, all channels kept), T×F for
    sequences (recurrent blocks: the hidden state over time), F for vectors. `filters` holds a Conv2d
    block's weights (out×in×kh×kw, float16) when they are small, for showing them as images.
    """

    kind = "feature_maps"
    step: int
    epoch: int
    block: str
    sample_index: int  # index into the validation split (or training split when there is none)
    maps: np.ndarray
    shape: tuple[int, ...]  # the block's real output shape (before any downsampling)
    filters: np.ndarray | None = None
    label: Any = None  # the probe sample's target (class index or values)


@dataclass(frozen=True, eq=False)
class RecurrentInside(_Event):
    """Inside the recurrent block `block` on the probe sample (eval mode): every layer's and direction's states
    and gates over time (`trace`, core/recurrent/trace.py), ‖∂loss/∂h_t‖ at every step (`gradients`, None with
    `gradient_note` saying why), and one label per time step (the sample's words or values). Emitted at the
    feature-map rate for the block asked for through the control, only while a view shows it."""

    kind = "recurrent_inside"
    step: int
    epoch: int
    block: str
    sample_index: int
    trace: Any  # RecurrentTrace
    gradients: Any  # GradientTrace | None
    time_labels: tuple[str, ...]
    label: Any = None  # the probe sample's target
    gradient_note: str = ""


@dataclass(frozen=True, eq=False)
class GANLook(_Event):
    """A GAN's generator and discriminator seen on fixed batches (eval mode): `samples` decoded from the same
    noise at every look (float16, n × the sample shape), the mean D(x) on fixed real samples and D(G(z)) on
    those samples; `train` the means of the training steps since the last look (d_loss, g_loss, d_real,
    d_fake; empty when none); `diversity` the spread of the samples over that of the real ones (≈1 when as
    varied, near 0 when they collapse to one); `warning` plain words when the samples collapse or D wins."""

    kind = "gan_look"
    latest_only = True  # the EventBuffer keeps only the newest look
    step: int
    epoch: int
    samples: np.ndarray
    d_real: float
    d_fake: float
    train: dict = field(default_factory=dict)
    diversity: float | None = None
    warning: str | None = None


@dataclass(frozen=True)
class RecurrentNote(_Event):
    """Why the recurrent block asked for through the control cannot be looked inside (not a recurrent block, a
    model it cannot run on): said once per block asked for, in plain words naming the block."""

    kind = "recurrent_note"
    step: int
    block: str
    message: str


@dataclass(frozen=True, eq=False)
class VAELook(_Event):
    """What a VAE makes of a fixed batch of validation samples (core/training/vae_look.py), in eval mode. Emitted
    while a view asks (TrainControl.set_generative_looks), paced by its cost; the EventBuffer keeps the latest.

    Arrays are float32 numpy shaped as the model gives them (images N×C×H×W), or N×F vectors when the output is not
    an image (then `note` says so)."""

    kind = "vae_look"
    latest_only = True  # the EventBuffer keeps only the newest look
    step: int
    epoch: int
    inputs: np.ndarray  # the first 8 samples of the fixed batch
    reconstructions: np.ndarray  # … and what the model makes of them
    samples: np.ndarray | None  # 16 decodes of a fixed seeded z ~ N(0, 1); None when z cannot be decoded alone
    latent: np.ndarray  # float32 N×2 (N×1 for a 1-D latent space): the Sample block's mean input, first 2 dims
    labels: np.ndarray | None  # int64 (N,) class indices of the fixed batch, when the data has them
    traversal: np.ndarray | None  # k×k×… decodes: [r, c] at z = (grid[c], grid[r], 0, …), grid over the extent
    traversal_extent: tuple[float, float, float, float]  # (first dim from, to, second dim from, to)
    note: str = ""  # a view that cannot be made, in plain words


@dataclass(frozen=True)
class GenerativeNote(_Event):
    """Why the generative look asked for cannot be made (a model it cannot run): said once per run."""

    kind = "generative_note"
    step: int
    message: str


@dataclass(frozen=True)
class CheckpointSaved(_Event):
    kind = "checkpoint_saved"
    path: str
    role: str  # "last", "best", "stop"
    epoch: int  # epochs completed when it was written
    step: int


@dataclass(frozen=True)
class StateChanged(_Event):
    """Pause and resume as the trainer sees them (the control's request took effect)."""

    kind = "state_changed"
    state: str  # "paused" or "running"
    step: int


@dataclass(frozen=True)
class Stepped(_Event):
    """A step taken while paused is done: the optimizer steps step_from+1 … step_to were trained one at a time
    (unit "batch": TrainControl.step) or as the rest of an epoch (unit "epoch": step_epoch, through its EpochEnd)."""

    kind = "stepped"
    step_from: int  # the optimizer steps done before the step
    step_to: int  # … and after it
    epoch: int  # the epoch trained (0-based)
    unit: str  # "batch" or "epoch"


@dataclass(frozen=True)
class Finished(_Event):
    """The run ended without an error: all epochs done, early stopping, or a stop from the control."""

    kind = "finished"
    status: str  # "finished" or "stopped"
    reason: str  # "completed", "early_stopping", "stopped"
    epochs: int  # epochs completed
    step: int
    metric: str  # the watched metric ("val_loss", "val_accuracy")
    best: float | None
    best_epoch: int | None  # 0-based
    final: dict[str, float | None] = field(default_factory=dict)  # train_loss, val_loss, val_accuracy, …
    samples_per_s: float = 0.0  # training samples per second over all training steps of this run
    seconds: float = 0.0
    run_dir: str | None = None
    checkpoint: str | None = None  # the last checkpoint written


@dataclass(frozen=True)
class Failed(_Event):
    """The run could not go on. `message` is for people; `reason` for code."""

    kind = "failed"
    message: str
    reason: str  # "nan", "out_of_memory", "data", "setup", "error"
    epoch: int | None = None
    step: int | None = None
    run_dir: str | None = None
    checkpoint: str | None = None  # the last good checkpoint, when there is one
    details: str = ""  # the traceback of an unexpected error, for logs

    status = "failed"


EVENT_TYPES = (RunStarted, Steps, EpochEnd, GradientStats, FeatureMaps, RecurrentInside, RecurrentNote, VAELook,
               GenerativeNote, CheckpointSaved, StateChanged, Stepped, Finished, Failed)


def merge_steps(a: Steps, b: Steps) -> Steps:
    """One Steps event holding the steps of `a` then `b` (same epoch); the later counters win."""
    return Steps(
        epoch=b.epoch,
        step=np.concatenate([a.step, b.step]),
        loss=np.concatenate([a.loss, b.loss]),
        lr=np.concatenate([a.lr, b.lr]),
        time=np.concatenate([a.time, b.time]),
        samples_per_s=np.concatenate([a.samples_per_s, b.samples_per_s]),
        batch=b.batch,
        batches_per_epoch=b.batches_per_epoch,
        accuracy=b.accuracy,
        eta_s=b.eta_s,
    )


class EventBuffer:
    """A bounded, thread-safe sink: `buffer(event)` from the trainer, `buffer.drain()` from the GUI.

    Holds at most `max_events` events. When full, the oldest Steps events of the same epoch are merged
    (no step is lost) and the oldest GradientStats are dropped; FeatureMaps and RecurrentInside keep only the
    latest frame per block, a VAELook (any event with `latest_only`) the latest of its kind; RunStarted, EpochEnd,
    CheckpointSaved, StateChanged, Stepped, Finished and Failed are always kept.
    """

    def __init__(self, max_events: int = 256):
        self._lock = threading.Lock()
        self._events: deque = deque()
        self._max = max(8, max_events)
        self.dropped = 0  # gradient stats thrown away because nobody drained

    def __call__(self, event) -> None:
        with self._lock:
            if isinstance(event, FeatureMaps | RecurrentInside):
                for i, old in enumerate(self._events):
                    if type(old) is type(event) and old.block == event.block:
                        del self._events[i]
                        break
            elif getattr(event, "latest_only", False):  # a generative look: the newest of its kind only
                self._events = deque(old for old in self._events if type(old) is not type(event))
            elif isinstance(event, Steps) and self._events and isinstance(self._events[-1], Steps) \
                    and self._events[-1].epoch == event.epoch and len(self._events) >= self._max // 2:
                self._events[-1] = merge_steps(self._events[-1], event)
                return
            self._events.append(event)
            if len(self._events) > self._max:
                self._shrink()

    def _shrink(self) -> None:
        events = list(self._events)
        for i, ev in enumerate(events):  # drop the oldest gradient stats first
            if isinstance(ev, GradientStats):
                del events[i]
                self.dropped += 1
                break
        else:
            merged: list = []
            for ev in events:  # merge neighbouring Steps of one epoch
                if merged and isinstance(ev, Steps) and isinstance(merged[-1], Steps) \
                        and merged[-1].epoch == ev.epoch:
                    merged[-1] = merge_steps(merged[-1], ev)
                else:
                    merged.append(ev)
            events = merged
        self._events = deque(events)

    def drain(self) -> list:
        """Every event since the last drain, oldest first."""
        with self._lock:
            events = list(self._events)
            self._events.clear()
        return events

    def __len__(self) -> int:
        with self._lock:
            return len(self._events)
