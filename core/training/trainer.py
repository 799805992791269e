"""The training loop: a compiled graph, a DataBundle and TrainingSettings in, events out.

    trainer = Trainer(project, bundle)                 # or Trainer(graph, bundle, settings=TrainingSettings(...))
    result = trainer.run(sink=print, control=TrainControl())
    result.status, result.final["val_accuracy"], result.run_dir

`run` never raises for a failed run: a NaN loss, an out-of-memory error, bad data or any other error
ends it with a `Failed` event (and `result.status == "failed"`), keeping the last good checkpoint.

Speed: batches come from TensorSplit.batches (whole-batch indexing, no per-sample collation); losses
stay on the device and are fetched together about every 50 ms (one synchronisation), as are the
sampled training-accuracy counts; gradient norms take one foreach call every `grad_every` steps;
feature maps one small forward at most every `feature_interval` seconds, only while asked for.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from layerloom.core.cleanup import cleanup_stale
from layerloom.core.errors import LayerloomError
from layerloom.core.errors_text import describe
from layerloom.core.training import events as ev
from layerloom.core.training.checkpoint import CheckpointError, atomic_write, checkpoint_bytes, load_checkpoint
from layerloom.core.training.control import TrainControl, fail_predictions
from layerloom.core.training.instrument import FeatureTap, GradientMonitor, feature_map_events, probe_sample
from layerloom.core.training.losses import class_logits, loss_function, output_losses
from layerloom.core.training.metrics import ClassificationMeter, LossMeter, RegressionMeter
from layerloom.core.training.optim import (
    build_optimizer,
    build_scheduler,
    freeze_blocks,
    init_weights,
    is_per_step,
    rescale_lr,
)
from layerloom.core.training.run_folder import BEST, LAST, RunFolder, check_run_files, new_run_dir, truncate_logs
from layerloom.core.training.run_status import StatusFile, read_status

CLASSIFICATION, REGRESSION = "classification", "regression"
DEVICE_DATA_LIMIT = 2 * 2**30  # data sets up to this size (and a quarter of the free GPU memory) live on the GPU


class TrainingError(LayerloomError):
    """A run that cannot start or go on; `reason` is "setup", "data", "nan", "out_of_memory" or "error"."""

    def __init__(self, message: str, reason: str = "setup"):
        super().__init__(message)
        self.reason = reason


class _NonFiniteLoss(Exception):
    def __init__(self, step: int, epoch: int, batch: int, value: float):
        self.step, self.epoch, self.batch, self.value = step, epoch, batch, value


@dataclass
class TrainResult:
    """What `Trainer.run` returns (the content of its last event)."""

    status: str  # "finished", "stopped", "failed"
    reason: str
    message: str = ""
    epochs: int = 0
    step: int = 0
    metric: str = "val_loss"
    best: float | None = None
    best_epoch: int | None = None
    final: dict[str, float | None] = field(default_factory=dict)
    samples_per_s: float = 0.0
    seconds: float = 0.0
    run_dir: str | None = None
    checkpoint: str | None = None
    train_cpu_s: float = 0.0  # CPU time of the training thread over the training steps of this run

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status, "reason": self.reason, "message": self.message, "epochs": self.epochs,
            "step": self.step, "metric": self.metric, "best": self.best, "best_epoch": self.best_epoch,
            "final": dict(self.final), "samples_per_s": self.samples_per_s, "seconds": self.seconds,
            "run_dir": self.run_dir, "checkpoint": self.checkpoint, "train_cpu_s": self.train_cpu_s,
        }


# --- devices ----------------------------------------------------------------------------------------


def resolve_device(name: str = "auto") -> torch.device:
    """`auto` → CUDA, then Apple MPS, then CPU; or the named one, checked to exist."""
    name = (name or "auto").strip().lower()
    cuda = torch.cuda.is_available()
    mps = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    if name == "auto":
        return torch.device("cuda") if cuda else torch.device("mps") if mps else torch.device("cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "mps":
        if not mps:
            raise TrainingError("the device 'mps' (Apple GPU) is not available on this machine; use --device cpu "
                                "or auto")
        return torch.device("mps")
    if name == "cuda" or name.startswith("cuda:"):
        if not cuda:
            raise TrainingError(f"the device {name!r} was asked for but no CUDA GPU is available here; use "
                                "--device cpu or auto")
        if ":" in name:
            try:
                index = int(name.split(":", 1)[1])
            except ValueError:
                raise TrainingError(f"{name!r} is not a device; use cuda:0, cuda:1, …") from None
            if index >= torch.cuda.device_count():
                raise TrainingError(f"there is no GPU {index}: this machine has {torch.cuda.device_count()} "
                                    f"(cuda:0 to cuda:{torch.cuda.device_count() - 1})")
            return torch.device("cuda", index)
        return torch.device("cuda", torch.cuda.current_device())
    raise TrainingError(f"unknown device {name!r}; use auto, cpu, cuda, cuda:N or mps")


def device_description(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "mps":
        return "Apple GPU (MPS)"
    n = torch.get_num_threads()
    return f"CPU ({n} thread{'s' if n != 1 else ''})"


# --- the trainer ----------------------------------------------------------------------------------------


class Trainer:
    """Trains one project on one DataBundle. A Trainer runs once; make another for the next run.

    project:   a Project (graph, training, data, meta), or a Graph (then `settings` gives the training)
    data:      a DataBundle (info, train split, val split)
    settings:  TrainingSettings overriding the project's
    run_root:  the folder that gets `<project>-<time>/` run folders; None writes no files
    resume:    a run folder to continue (its last.safetensors), writing on into the same folder; or a
               `.layerloom` bundle, unpacked into a new run folder under run_root that training continues
    weights:   a state dict to start from instead of fresh weights (fine-tuning): matched by name and shape,
               the blocks it does not fit keep their fresh weights (named in RunStarted's notes)
    grad_every:        gradient/weight norms every this many steps (0: off), but at most once every
    grad_interval:     this many seconds (a plot cannot show more, and each costs a device sync)
    feature_interval:  at least this many seconds between two feature-map captures
    event_interval:    at most this many seconds between two Steps events (0: one per step); at each, the
                       training accuracy is sampled on the last batch (classifiers)
    distributed:       a DistContext when run under torchrun (see distributed.py)
    checkpoint_interval:  last.safetensors is written at every epoch's end, and within an epoch once this many
                       seconds have passed since the previous write (so a killed run loses at most that much);
                       a write is flushed to disk (fsync) at most this often, and always after the last epoch
                       and on a stop; best.safetensors at every epoch end that improved the watched metric.
                       The folder's status.json says what the run is and what its checkpoints hold
    """

    def __init__(self, project, data, *, settings=None, run_root: str | None = "runs", resume: str | None = None,
                 project_name: str | None = None, grad_every: int = 25, grad_interval: float = 0.1,
                 feature_interval: float = 0.5,
                 event_interval: float = 0.05, tensorboard: bool = True,
                 distributed=None, check_data: bool = True, checkpoint_interval: float = 10.0,
                 weights: dict | None = None):
        from layerloom.core.graph import Graph
        from layerloom.core.project import Project
        from layerloom.core.settings import TrainingSettings

        if isinstance(project, Graph):
            project = Project(project, training=settings or TrainingSettings())
        self.project = project
        self.graph = project.graph
        self.settings = settings if settings is not None else project.training
        self.data = data
        self.run_root = run_root
        self.resume_dir = resume
        self.project_name = project_name or project.name or "run"
        self.grad_every = max(0, int(grad_every))
        self.grad_interval = float(grad_interval)
        self.feature_interval = float(feature_interval)
        self.event_interval = float(event_interval)
        self.tensorboard = tensorboard
        self.dist = distributed
        self.check_data = check_data
        self.checkpoint_interval = float(checkpoint_interval)
        self.initial_weights = weights
        self.val_batch_size: int | None = None  # None: the training batch size
        self.model: torch.nn.Module | None = None  # the trained model (unwrapped) after run()
        self.run_dir: str | None = None
        self.device: torch.device | None = None
        self.result: TrainResult | None = None
        self._ran = False

    # --- public ---------------------------------------------------------------------------------

    def run(self, sink=None, control: TrainControl | None = None) -> TrainResult:
        if self._ran:
            raise RuntimeError("a Trainer runs once; make a new one for the next run")
        self._ran = True
        self._sink = sink
        self._control = control or TrainControl()
        self._main = self.dist is None or self.dist.is_main
        self._folder: RunFolder | None = None
        self._last_ckpt: str | None = None
        self._status: StatusFile | None = None
        self._pending_start: tuple[bytes, dict] | None = None
        self._last_durable = -math.inf  # when a checkpoint was last flushed to disk
        self._next_clock_save = math.inf  # when the next checkpoint within an epoch is due
        self._last_position: tuple | None = None  # (epochs, batch, step) of the last write of last.safetensors
        self._t_start = time.perf_counter()
        saved_threads = torch.get_num_threads()
        saved_cudnn = (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
        try:
            self._setup()
            result = self._loop()
        except _NonFiniteLoss as bad:
            what = "NaN" if math.isnan(bad.value) else "infinite"
            kept = f"; the last good checkpoint is kept: {self._last_ckpt}" if self._last_ckpt else ""
            result = self._failure(
                f"the training loss became {what} at step {bad.step} (epoch {bad.epoch + 1}, batch {bad.batch}); "
                f"training stopped{kept}. Try a lower learning rate, gradient clipping, or check the data "
                "for NaN values", "nan", epoch=bad.epoch, step=bad.step)
        except TrainingError as err:
            result = self._failure(str(err), err.reason)
        except torch.OutOfMemoryError:
            result = self._failure(self._oom_message(), "out_of_memory")
        except (CheckpointError, LayerloomError) as err:
            result = self._failure(str(err), "setup")
        except MemoryError:
            result = self._failure(self._oom_message(), "out_of_memory")
        except RuntimeError as err:
            if "out of memory" in str(err).lower() or "can't allocate memory" in str(err):
                result = self._failure(self._oom_message(), "out_of_memory")
            else:
                result = self._failure(f"training failed: {describe(err)}", "error", details=traceback.format_exc())
        except Exception as err:
            result = self._failure(f"training failed: {describe(err)}", "error", details=traceback.format_exc())
        finally:
            if self._folder is not None:
                self._folder.close()
            torch.set_num_threads(saved_threads)
            torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = saved_cudnn
            fail_predictions(self._control.take_predictions(), "training has ended")
            self._release()
        self._end_status(result.status, result.reason, result.message)  # (done already unless the event failed)
        self.result = result
        return result

    # --- events ---------------------------------------------------------------------------------------

    def _emit(self, event) -> None:
        if self._sink is not None and self._main:
            self._sink(event)

    def _failure(self, message: str, reason: str, *, epoch=None, step=None, details: str = "") -> TrainResult:
        try:
            self._write_pending_start()
        except CheckpointError as err:
            message = f"{message}; also, {err}"
        step = self._state_step() if step is None else step
        if epoch is None:
            epoch = getattr(self, "_epoch", None)
        self._end_status("failed", reason, message)  # before the event: whoever reads the folder then sees it
        self._emit(ev.Failed(message=message, reason=reason, epoch=epoch, step=step, run_dir=self.run_dir,
                             checkpoint=self._last_ckpt, details=details))
        return TrainResult(status="failed", reason=reason, message=message, epochs=getattr(self, "_epochs_done", 0),
                           step=step or 0, metric=getattr(self, "_metric", "val_loss"),
                           best=getattr(self, "_best", None), best_epoch=getattr(self, "_best_epoch", None),
                           final=dict(getattr(self, "_final", {})), run_dir=self.run_dir,
                           checkpoint=self._last_ckpt, seconds=time.perf_counter() - self._t_start,
                           samples_per_s=self._rate())

    def _end_status(self, state: str, reason: str, message: str = "") -> None:
        """status.json says how the run ended (once); unwritable, the run reads as interrupted later."""
        status, self._status = self._status, None
        if status is not None:
            with contextlib.suppress(CheckpointError):
                status.end(state, reason, message)

    def _state_step(self) -> int | None:
        return getattr(self, "_step", None)

    def _oom_message(self) -> str:
        bs = int(self.settings.batch_size)
        where = "the GPU" if self.device is not None and self.device.type != "cpu" else "the computer"
        smaller = max(1, bs // 2)
        return (f"{where} ran out of memory with a batch size of {bs}; try a smaller batch size "
                f"(--batch-size {smaller}) or a smaller model")

    def _rate(self) -> float:
        t = getattr(self, "_train_time", 0.0)
        return getattr(self, "_train_samples", 0) / t if t > 0 else 0.0

    # --- setup ----------------------------------------------------------------------------------------

    def _setup(self) -> None:
        from layerloom.core import build_model

        s = self.settings
        problems = s.problems("training")
        if problems:
            raise TrainingError("the training settings are not valid:\n" + "\n".join(f"  - {p}" for p in problems))
        if self.dist is not None:
            try:
                self.device = self.dist.init(s.device)
            except RuntimeError as err:
                raise TrainingError(str(err)) from None
        else:
            self.device = resolve_device(s.device)
        device = self.device
        if s.threads:
            torch.set_num_threads(int(s.threads))
        if device.type == "cuda":
            torch.backends.cudnn.deterministic = True
            torch.backends.cudnn.benchmark = False
        rank = self.dist.rank if self.dist is not None else 0
        self._seed = int(s.seed)
        torch.manual_seed(self._seed + rank)  # dropout and other in-model randomness

        info = self.data.info
        self._task = info.task
        self._train_split, self._val_split = self._on_device(self.data.train, self.data.val)
        train, val = self.data.train, self.data.val
        if len(train) == 0:
            raise TrainingError("the training data is empty", "data")
        if self.check_data:
            self._check_data()

        model = build_model(self.graph, seed=self._seed)
        init_weights(model, s.init, seed=self._seed)
        weight_notes: list[str] = []
        if self.initial_weights is not None:
            from layerloom.core.export.weights import apply_weights

            weight_notes = apply_weights(model, self.initial_weights).notes()
        if freeze_blocks(model, [n.name for n in self.graph if n.frozen]) and not any(
                p.requires_grad for p in model.parameters()):
            raise TrainingError("every block with weights is frozen, so there is nothing to train; unfreeze at "
                                "least one block")
        self._losses = output_losses(self.graph, model.output_names)
        self._loss_fn = loss_function(self._losses)
        model.to(device)
        self.model = model
        self._param_count = sum(p.numel() for p in model.parameters())
        primary = self._losses[0]
        self._classifier = primary in ("cross_entropy", "bce_with_logits") and info.task != REGRESSION
        self._binary = primary == "bce_with_logits"
        self._num_classes = info.num_classes
        if self._classifier and not self._binary and not self._num_classes:
            self._num_classes = self._guess_classes(model)
        self._metric = "val_accuracy" if self._classifier else "val_loss"
        if s.early_stopping:
            self._metric = s.early_stopping_metric
            if self._metric == "val_accuracy" and not self._classifier:
                self._metric = "val_loss"
        if len(val) == 0 and self._metric.startswith("val_"):
            self._metric = "train_loss"
        self._mode = "max" if self._metric.endswith("accuracy") else "min"

        # precision
        self._notes: list[str] = list(weight_notes)
        precision = s.precision
        if precision != "fp32" and device.type != "cuda":
            self._notes.append(f"{precision} mixed precision needs a CUDA GPU; training in fp32")
            precision = "fp32"
        if precision == "bf16" and not torch.cuda.is_bf16_supported():
            self._notes.append("this GPU has no bf16; training in fp16 with a gradient scaler")
            precision = "fp16"
        self._precision = precision
        self._amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
        self._scaler = torch.amp.GradScaler("cuda") if precision == "fp16" else None

        # sharding
        world = self.dist.world_size if self.dist is not None else 1
        self._world = world
        self._bs = int(s.batch_size)
        n_train = len(train)
        self._per_rank_train = -(-n_train // world)
        self._steps_per_epoch = max(1, -(-self._per_rank_train // self._bs))
        self._epochs = int(s.epochs)

        self._opt = build_optimizer(s, model.parameters())
        self._sched = build_scheduler(s, self._opt, epochs=self._epochs, steps_per_epoch=self._steps_per_epoch,
                                      mode=self._mode)
        self._sched_per_step = is_per_step(s.scheduler)
        self._base_lr = float(s.lr)
        self._gen = torch.Generator().manual_seed(self._seed + 7919 * rank)  # shuffling and augmentation

        # position in the run
        self._epoch = 0
        self._epochs_done = 0
        self._step = 0
        self._skip_batches = 0
        self._perm: torch.Tensor | None = None
        self._best: float | None = None
        self._best_epoch: int | None = None
        self._bad_epochs = 0
        self._final: dict[str, float | None] = {}
        self._train_time = 0.0
        self._train_cpu = 0.0
        self._train_samples = 0
        self._resumed_from = None
        if self.resume_dir is not None:
            self._load_resume()

        self._ddp = None
        if self.dist is not None:
            from torch.nn.parallel import DistributedDataParallel

            self._ddp = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
        self._forward = self._ddp if self._ddp is not None else model

        self._monitor = GradientMonitor(model) if self.grad_every and self._main else None
        self._tap = FeatureTap(model) if self._main else None
        self._blocks_seen = self._control.feature_blocks
        self._next_feature = 0.0  # the first capture comes with the first step
        self._next_grad_time = 0.0
        self._open_folder()
        if self._main and self._resumed_from is None and self._folder is not None:
            # the starting weights, written only if the run fails or stops before its first checkpoint (an
            # fsync just before the first steps would slow them down): there is always a good checkpoint
            self._pending_start = self._snapshot(0, 0)

        self._emit(ev.RunStarted(
            run_dir=self.run_dir, device=str(device), device_name=device_description(device),
            precision=self._precision, train_size=len(train), val_size=len(val), param_count=self._param_count,
            epochs=self._epochs, start_epoch=self._epochs_done, start_step=self._step, batch_size=self._bs,
            steps_per_epoch=self._steps_per_epoch, task=info.task, metric=self._metric,
            num_classes=self._num_classes if self._classifier else None,
            class_names=tuple(info.class_names) if info.class_names else None, world_size=world,
            notes=tuple(self._notes),
        ))

    def _on_device(self, train, val):
        """On a GPU, copy small data sets to it once, so batches are gathered (and augmented) there instead
        of being copied over for every step. Falls back to the CPU copies when they do not fit."""
        from layerloom.core.data.base import TensorSplit

        device = self.device
        if device.type == "cpu":
            return train, val
        tensors = [*train.inputs, *train.targets, *val.inputs, *val.targets]
        size = sum(t.numel() * t.element_size() for t in tensors)
        limit = DEVICE_DATA_LIMIT
        if device.type == "cuda":
            free, _total = torch.cuda.mem_get_info(device)
            limit = min(limit, free // 4)
        if size > limit:
            return train, val
        try:
            return tuple(TensorSplit(tuple(t.to(device) for t in split.inputs),
                                     tuple(t.to(device) for t in split.targets), split.transform)
                         if len(split) else split for split in (train, val))
        except (RuntimeError, torch.OutOfMemoryError):
            return train, val

    def _guess_classes(self, model) -> int:
        # the width of the first output, from the graph's inference
        from layerloom.core import infer

        report = infer(self.graph)
        for node in self.graph:
            if node.type == "Output" and node.name == model.output_names[0]:
                src = self.graph.in_edges(node.id)[0].src
                shape = report[src].output_shape
                return int(shape[-1] if len(shape) == 2 else shape[0])
        return 2

    def _check_data(self) -> None:
        """The data must fit the graph's Inputs and Outputs; a message that says what to change."""
        problems = data_problems(self.data.info, self.graph)
        if problems:
            raise TrainingError("the data does not fit the model:\n" + "\n".join(f"  - {p}" for p in problems),
                                "data")

    def _load_resume(self) -> None:
        from layerloom.core.export.bundle import is_bundle

        if is_bundle(self.resume_dir):
            ckpt, path = self._bundle_checkpoint(), self.resume_dir
        else:
            if os.path.isdir(self.resume_dir):
                check_run_files(self.resume_dir)
            path = os.path.join(self.resume_dir, LAST) if os.path.isdir(self.resume_dir) else self.resume_dir
            if not os.path.exists(path):
                raise TrainingError(f"{self.resume_dir}: there is no checkpoint to resume from ({LAST} is missing)")
            ckpt = load_checkpoint(path)
        try:
            self.model.load_state_dict(ckpt.model)
        except RuntimeError as err:
            first = str(err).splitlines()[1:2] or [str(err)]
            raise TrainingError(f"{path}: the checkpoint does not fit this model (was the graph changed?): "
                                f"{first[0].strip()}") from None
        if ckpt.optimizer is not None:
            try:
                self._opt.load_state_dict(ckpt.optimizer)
            except (ValueError, KeyError, TypeError, IndexError, RuntimeError, AttributeError) as err:
                raise TrainingError(f"{path}: the optimizer state does not fit ({err}); resume with the optimizer "
                                    "the run used") from None
        meta = ckpt.meta
        try:
            self._restore_state(ckpt)
            self._epochs_done = _count(meta, "epoch")
            self._skip_batches = _count(meta, "batch")
            self._step = _count(meta, "step")
            self._best_epoch = _count(meta, "best_epoch") if meta.get("best_epoch") is not None else None
            self._bad_epochs = _count(meta, "bad_epochs")
            self._train_samples = _count(meta, "train_samples")
            final = meta.get("final", {})
            if not isinstance(final, dict):
                raise ValueError("its final metrics are not an object")
        except (ValueError, KeyError, TypeError, IndexError, RuntimeError, AttributeError, OverflowError) as err:
            raise TrainingError(f"{path}: the checkpoint is damaged ({err}); resume from another one") from None
        self._epoch = self._epochs_done
        self._best = _real(meta, "best")
        self._final = {str(k): _real(final, k) for k in final}
        self._train_time = _real(meta, "train_time") or 0.0
        self._resumed_from = path
        if self._skip_batches >= self._steps_per_epoch:  # stopped after the last batch of an epoch
            self._skip_batches = 0

    def _restore_state(self, ckpt) -> None:
        """The schedule, gradient scaler, random generators and the order of a part-done epoch of a checkpoint."""
        meta = ckpt.meta
        if ckpt.scheduler is not None and self._sched is not None and meta.get("scheduler") == self.settings.scheduler:
            self._sched.load_state_dict(ckpt.scheduler)
            if hasattr(self._sched, "total_steps"):
                self._sched.total_steps = max(self._sched.total_steps, self._epochs * self._steps_per_epoch)
            if hasattr(self._sched, "T_max"):
                self._sched.T_max = max(1, self._epochs)
        if ckpt.scaler is not None and self._scaler is not None:
            self._scaler.load_state_dict(ckpt.scaler)
        if "cpu" in ckpt.rng:
            torch.set_rng_state(ckpt.rng["cpu"])
        if "cuda" in ckpt.rng and self.device.type == "cuda":
            torch.cuda.set_rng_state(ckpt.rng["cuda"], self.device)
        if "shuffle" in ckpt.rng:
            self._gen.set_state(ckpt.rng["shuffle"])
        if "perm" in ckpt.rng and meta.get("batch", 0) and self.dist is None:
            perm, n = ckpt.rng["perm"], len(self.data.train)
            if perm.dtype != torch.int64 or perm.shape != (n,) or not torch.equal(perm.sort().values, torch.arange(n)):
                raise ValueError(f"its epoch order is not an order of the {n} training samples")
            self._perm = perm

    def _bundle_checkpoint(self):
        """The checkpoint inside a bundle; rank 0 unpacks the bundle into a new run folder that the run
        continues in (none without a run_root)."""
        from layerloom.core.export.bundle import bundle_to_run_folder, load_bundle

        bundle = load_bundle(self.resume_dir)
        if self.run_root is None:
            self.resume_dir = None  # no files: train on in memory
        if not self._main or self.run_root is None:
            return bundle.training_checkpoint()
        self.resume_dir = bundle_to_run_folder(bundle, self.run_root, self.project_name)
        return load_checkpoint(os.path.join(self.resume_dir, LAST))

    def _open_folder(self) -> None:
        if not self._main or (self.run_root is None and self.resume_dir is None):
            return
        cleanup_stale(self.run_root)  # what killed runs left behind
        if self.resume_dir is not None and os.path.isdir(self.resume_dir):
            self.run_dir = self.resume_dir
            running = read_status(self.run_dir)
            if running.running:
                where = f" on {running.host}" if running.elsewhere else ""
                raise TrainingError(f"{self.run_dir}: this run is still running (process {running.pid}{where}); "
                                    "stop it before resuming it")
            cleanup_stale(self.run_dir, depth=0)
            cleanup_stale(os.path.dirname(os.path.abspath(self.run_dir)), depth=0)  # the runs folder it is in
            truncate_logs(self.run_dir, epochs_done=self._epochs_done, step=self._step)
        else:
            self.run_dir = new_run_dir(self.run_root, self.project_name)
        self._status = StatusFile(self.run_dir)
        self._status.start()
        self._folder = RunFolder(self.run_dir, tensorboard=self.tensorboard)
        if self._folder.tensorboard_note:
            self._notes.append(self._folder.tensorboard_note)
        from layerloom.core.project import Project

        trained = Project(self.graph, training=self.settings, data=self.project.data, meta=dict(self.project.meta))
        self._folder.write_project(trained.to_dict())
        info = self.data.info
        resolved = {
            "training": self.settings.to_dict(),
            "data": {"source": self.project.data.source, "options": dict(self.project.data.options),
                     "name": info.name, "task": info.task, "train_size": info.train_size or len(self.data.train),
                     "val_size": info.val_size or len(self.data.val), "num_classes": info.num_classes,
                     "class_names": info.class_names, "input_shapes": info.input_shapes,
                     "target_shapes": info.target_shapes, "normalization": info.normalization,
                     "notes": info.notes},
            "device": str(self.device), "device_name": device_description(self.device),
            "precision": self._precision, "world_size": self._world, "global_batch_size": self._bs * self._world,
            "param_count": self._param_count, "metric": self._metric, "losses": self._losses,
            "torch_version": torch.__version__, "resumed_from": self._resumed_from, "notes": self._notes,
        }
        self._folder.write_settings(resolved)
        self._folder.write_preprocessing(self.data.info)

    # --- the loop -------------------------------------------------------------------------------------

    def _loop(self) -> TrainResult:
        control = self._control
        reason = "completed"
        self._batch_in_epoch = 0
        if self._folder is not None:
            self._next_clock_save = time.perf_counter() + self.checkpoint_interval
        while self._epoch < self._epochs:
            if self._any_rank_flag(control.stop_requested):  # asked to stop during the last epoch's end
                reason = "stopped"
                break
            stopped = self._train_epoch()
            if stopped and self._batch_in_epoch < self._steps_per_epoch:
                reason = "stopped"
                break
            self._end_epoch()  # also when the stop came at the epoch's last step: validate and save it
            if stopped:
                reason = "stopped"
                break
            if self._should_stop_early():
                reason = "early_stopping"
                break
        if reason == "stopped":
            batch = self._batch_in_epoch if self._batch_in_epoch < self._steps_per_epoch else 0
            self._save("stop", self._epochs_done, batch)
        status = "stopped" if reason == "stopped" else "finished"
        seconds = time.perf_counter() - self._t_start
        self._end_status(status, reason)
        self._emit(ev.Finished(status=status, reason=reason, epochs=self._epochs_done, step=self._step,
                               metric=self._metric, best=self._best, best_epoch=self._best_epoch,
                               final=dict(self._final), samples_per_s=self._rate(), seconds=seconds,
                               run_dir=self.run_dir, checkpoint=self._last_ckpt))
        return TrainResult(status=status, reason=reason, epochs=self._epochs_done, step=self._step,
                           metric=self._metric, best=self._best, best_epoch=self._best_epoch, final=dict(self._final),
                           samples_per_s=self._rate(), seconds=seconds, run_dir=self.run_dir,
                           checkpoint=self._last_ckpt, train_cpu_s=self._train_cpu)

    def _epoch_order(self) -> torch.Tensor:
        n = len(self.data.train)
        if self._perm is not None:  # resumed in the middle of an epoch
            perm, self._perm = self._perm, None
            return perm
        if self.dist is not None:
            from layerloom.core.training.distributed import shard_indices

            return shard_indices(n, epoch=self._epoch, seed=self._seed, rank=self.dist.rank,
                                 world_size=self.dist.world_size)
        return torch.randperm(n, generator=self._gen)

    def _train_epoch(self) -> bool:
        """One epoch of training steps; True when stopped by the control.

        The step loop does only what a hand-written loop does plus a few list appends: everything else
        (fetching losses, sampling the training accuracy, gradient norms, feature maps, control requests)
        happens at a check that costs one float comparison per step."""
        model, forward, opt, loss_fn = self.model, self._forward, self._opt, self._loss_fn
        device, gen, control = self.device, self._gen, self._control
        scaler, sched = self._scaler, (self._sched if self._sched_per_step else None)
        clip = self.settings.grad_clip
        params = [p for p in model.parameters() if p.requires_grad] if clip else None
        amp = torch.autocast(device.type, dtype=self._amp_dtype) if self._amp_dtype is not None else None
        split = self._train_split
        move = device.type != "cpu" and split.inputs[0].device != device
        non_blocking = device.type == "cuda"
        on_cpu = device.type == "cpu"
        grad_every = self.grad_every if self._monitor is not None else 0
        interval = self.event_interval
        distributed = self.dist is not None
        perf = time.perf_counter

        model.train()
        order = self._epoch_order()
        self._perm_now = order
        skip = self._skip_batches
        self._skip_batches = 0
        self._epoch_indices = len(order)
        self._batch_in_epoch = self._window_start_batch = skip
        self._pending_losses: list[torch.Tensor | float] = []  # floats on the CPU, tensors on a GPU (no sync)
        self._pending_lr: list[float] = []
        self._pending_time: list[float] = []
        self._epoch_losses: list[np.ndarray] = []
        self._epoch_acc = [0.0, 0]  # correct, seen (one batch sampled at each check)
        self._epoch_samples = 0
        self._paused_time = 0.0
        t_epoch = perf()
        cpu0 = time.thread_time()
        self._t_window = t_epoch
        self._t_epoch = t_epoch
        step = self._step
        batch_i = skip
        stopped = False
        out = loss = ys = None
        indices = order[skip * self._bs:]
        if not move and device.type != "cpu":
            indices = indices.to(device)  # gather on the device
        lr = opt.param_groups[0]["lr"]
        due = t_epoch + interval  # the next check
        next_grad = (step // grad_every + 1) * grad_every if grad_every else -1
        # bound methods of lists that _flush empties in place: no attribute lookups per step
        add_loss, add_lr, add_time = self._pending_losses.append, self._pending_lr.append, self._pending_time.append
        for xs, ys in split.batches(self._bs, shuffle=False, generator=gen, indices=indices):
            if move:
                xs = tuple(x.to(device, non_blocking=non_blocking) for x in xs)
                ys = tuple(y.to(device, non_blocking=non_blocking) for y in ys)
            if amp is not None:
                with amp:
                    out = forward(*xs)
                    loss = loss_fn(out, ys)
            else:
                out = forward(*xs)
                loss = loss_fn(out, ys)
            opt.zero_grad(set_to_none=True)
            if scaler is not None:
                scaler.scale(loss).backward()
                if clip:
                    scaler.unscale_(opt)
                    torch.nn.utils.clip_grad_norm_(params, clip, foreach=True)
                scaler.step(opt)
                scaler.update()
            else:
                loss.backward()
                if clip:
                    torch.nn.utils.clip_grad_norm_(params, clip, foreach=True)
                opt.step()
            step += 1
            batch_i += 1
            add_loss(loss.item() if on_cpu else loss.detach())  # on the CPU a float costs less than a tensor
            add_lr(lr)
            if sched is not None:
                sched.step()
                lr = opt.param_groups[0]["lr"]
            now = perf()
            add_time(now)
            if step == next_grad:
                next_grad += grad_every
                if now >= self._next_grad_time:
                    self._step, self._batch_in_epoch = step, batch_i
                    self._gradient_stats()
                    self._next_grad_time = now + self.grad_interval
            if control.pending:
                self._step, self._batch_in_epoch = step, batch_i
                lr = self._handle_control(lr)
                stopped = control.stop_requested
            if distributed:
                if batch_i % 20 == 0 or batch_i == self._steps_per_epoch:  # the same steps on every process
                    self._step, self._batch_in_epoch = step, batch_i
                    self._check(out, ys, now)
                    self._flush(perf(), collective=True)
                    stopped = self._any_rank_flag(stopped)
                    if stopped:
                        break
            elif now >= due or stopped:
                self._step, self._batch_in_epoch = step, batch_i
                self._check(out, ys, now)
                self._flush(now)
                due = now + interval
                if stopped:
                    break
                if now >= self._next_clock_save and batch_i < self._steps_per_epoch:
                    self._clock_save(batch_i)
        self._step, self._batch_in_epoch = step, batch_i
        if out is not None and self._pending_losses:
            self._check(out, ys, perf())
        del out, loss, ys
        self._flush(perf())
        self._epoch_train_time = perf() - t_epoch - self._paused_time
        self._train_time += self._epoch_train_time
        self._train_cpu += time.thread_time() - cpu0
        self._train_samples += self._epoch_samples
        return stopped

    def _check(self, out, ys, now: float) -> None:
        """The periodic work between two steps: sample the training accuracy on the last batch (kept as a
        tensor, fetched with the losses), capture the feature maps when they are due."""
        if self._classifier:
            o = (out[0] if isinstance(out, tuple) else out).detach()
            y = ys[0]
            if self._binary:
                match = (o > 0) == (y > 0.5).reshape(o.shape)
            elif y.dtype.is_floating_point and y.shape == o.shape:  # class probabilities
                match = o.argmax(1) == y.argmax(1)
            else:
                match = class_logits(o, y).argmax(1) == y
            self._acc_sample = (match.sum(), match.numel())
        if self._tap is not None and now >= self._next_feature and self._control.feature_blocks:
            self._capture_features()

    def _any_rank_flag(self, flag: bool) -> bool:
        if self.dist is None:
            return flag
        from layerloom.core.training.distributed import all_reduce_sum

        t = torch.tensor([1.0 if flag else 0.0], device=self.device)
        return bool(all_reduce_sum(t).item() > 0)

    def _flush(self, now: float, collective: bool = False) -> None:
        """Fetch the pending step losses (one sync), check them, emit one Steps event, log them.
        `collective`: a point every process reaches at the same step (distributed), where they agree on
        a non-finite loss so that all of them stop together."""
        if not self._pending_losses:
            if collective and self._any_rank_flag(False):
                raise _NonFiniteLoss(self._step, self._epoch, self._batch_in_epoch, float("nan"))
            return
        pending = self._pending_losses
        if isinstance(pending[0], float):  # few numpy calls: right after the steps each one is slow (cold caches)
            finite = math.isfinite(sum(pending))
            losses, lrs = np.array((pending, self._pending_lr), dtype=np.float32)
        else:
            losses = torch.stack(pending).float().cpu().numpy()
            finite = math.isfinite(losses.sum(dtype=np.float64))
            lrs = np.array(self._pending_lr, dtype=np.float32)
        count = len(losses)
        if collective and self._any_rank_flag(not finite) and finite:
            raise _NonFiniteLoss(self._step, self._epoch, self._batch_in_epoch, float("nan"))  # on another process
        steps = np.arange(self._step - count + 1, self._step + 1, dtype=np.int64)
        times = np.array(self._pending_time, dtype=np.float64)
        times -= self._t_start
        self._pending_losses.clear()
        self._pending_lr.clear()
        self._pending_time.clear()
        if not finite and not np.isfinite(losses).all():  # (a finite sum can overflow)
            i = int(np.flatnonzero(~np.isfinite(losses))[0])
            batch = self._batch_in_epoch - (count - 1 - i)
            raise _NonFiniteLoss(int(steps[i]), self._epoch, batch, float(losses[i]))
        sample, self._acc_sample = getattr(self, "_acc_sample", None), None
        if sample is not None:
            self._epoch_acc[0] += int(sample[0])
            self._epoch_acc[1] += sample[1]
        self._epoch_losses.append(losses)
        window = max(now - self._t_window, 1e-9)
        done = min(self._batch_in_epoch * self._bs, self._epoch_indices)
        window_samples = done - min(self._window_start_batch * self._bs, self._epoch_indices)
        self._window_start_batch = self._batch_in_epoch
        rate = window_samples / window
        self._epoch_samples += window_samples
        self._t_window = now
        if not self._main:
            return
        left = self._steps_per_epoch - self._batch_in_epoch
        eta = left * self._bs / rate if rate > 0 else None
        acc = self._epoch_acc[0] / self._epoch_acc[1] if self._epoch_acc[1] else None
        self._emit(ev.Steps(epoch=self._epoch, step=steps, loss=losses, lr=lrs,
                            time=times, samples_per_s=np.full(count, rate, dtype=np.float32),
                            batch=self._batch_in_epoch, batches_per_epoch=self._steps_per_epoch, accuracy=acc,
                            eta_s=eta))
        if self._folder is not None:
            self._folder.log_steps(self._epoch, steps, losses, lrs, times)

    # --- between steps ------------------------------------------------------------------------------

    def _handle_control(self, lr: float) -> float:
        control = self._control
        control.clear_pending()
        self._serve_predictions()
        if control.paused and not control.stop_requested:
            t0 = time.perf_counter()
            self._flush(t0)
            if self._folder is not None:
                self._folder.write_logs()
            self._emit(ev.StateChanged(state="paused", step=self._step))
            while control.wait_while_paused(0.05):
                self._serve_predictions()
            self._serve_predictions()
            paused = time.perf_counter() - t0
            self._paused_time += paused
            self._t_window += paused
            self._t_start += paused
            self._emit(ev.StateChanged(state="running", step=self._step))
        new_lr = control.take_lr()
        if new_lr is not None:
            self._base_lr = rescale_lr(self._opt, self._sched, new_lr, self._base_lr)
            lr = self._opt.param_groups[0]["lr"]
        if control.feature_blocks != self._blocks_seen:  # newly asked for: capture at once
            self._blocks_seen = control.feature_blocks
            self._next_feature = min(self._next_feature, time.perf_counter())
        return lr

    def _serve_predictions(self) -> None:
        requests = self._control.take_predictions()
        if not requests:
            return
        model = self.model
        modes = [(m, m.training) for m in model.modules()]
        model.eval()
        try:
            for inputs, future in requests:
                if not future.set_running_or_notify_cancel():
                    continue
                try:
                    xs = tuple(torch.as_tensor(x).to(self.device) for x in inputs)
                    with torch.no_grad():
                        out = model(*xs)
                    if isinstance(out, tuple):
                        future.set_result(tuple(o.float().cpu().numpy() for o in out))
                    else:
                        future.set_result(out.float().cpu().numpy())
                except Exception as err:
                    future.set_exception(err)
        finally:
            for m, mode in modes:
                m.training = mode

    def _gradient_stats(self) -> None:
        grads, weights = self._monitor.norms()
        layers = self._monitor.layers
        vanishing, exploding = GradientMonitor.classify(layers, grads)
        self._emit(ev.GradientStats(step=self._step, epoch=self._epoch, layers=layers, grad_norms=grads,
                                    weight_norms=weights, vanishing=vanishing, exploding=exploding))
        if self._folder is not None:
            self._folder.log_gradients(self._step, layers, grads)

    def _probe(self):
        split = self.data.val if len(self.data.val) else self.data.train
        i = min(self._control.probe_index, len(split) - 1)
        key = (id(split), i)
        if getattr(self, "_probe_key", None) != key:
            i, xs, self._probe_label = probe_sample(self.data, i)
            self._probe_inputs = tuple(x.to(self.device) for x in xs)
            self._probe_key = key
        return i, self._probe_inputs, self._probe_label

    def _capture_features(self) -> None:
        blocks = self._control.feature_blocks
        self._next_feature = time.perf_counter() + self.feature_interval
        blocks = self._tap.known(blocks)
        if not blocks:
            return
        index, inputs, label = self._probe()
        for event in feature_map_events(self._tap, blocks, inputs, sample_index=index, label=label, step=self._step,
                                        epoch=self._epoch):
            self._emit(event)

    # --- epoch end ------------------------------------------------------------------------------------

    def _validate(self) -> dict[str, Any]:
        val = self._val_split
        out_metrics: dict[str, Any] = {}
        if len(val) == 0:
            return out_metrics
        model, device, loss_fn = self.model, self.device, self._loss_fn
        move = device.type != "cpu" and val.inputs[0].device != device
        loss_meter = LossMeter(device)
        cls = reg = None
        if self._classifier:
            cls = ClassificationMeter(self._num_classes or 2, device, binary=self._binary)
        else:
            reg = RegressionMeter(device)
        indices = None
        if self.dist is not None:
            from layerloom.core.training.distributed import val_indices

            indices = val_indices(len(val), rank=self.dist.rank, world_size=self.dist.world_size)
        amp = torch.autocast(device.type, dtype=self._amp_dtype) if self._amp_dtype is not None else \
            contextlib.nullcontext()
        model.eval()
        try:
            with torch.no_grad():
                for xs, ys in val.batches(self.val_batch_size or self._bs, indices=indices):
                    if move:
                        xs = tuple(x.to(device, non_blocking=True) for x in xs)
                        ys = tuple(y.to(device, non_blocking=True) for y in ys)
                    with amp:
                        out = model(*xs)
                        loss = loss_fn(out, ys)
                    o = out[0] if isinstance(out, tuple) else out
                    loss_meter.update(loss, xs[0].shape[0])
                    if cls is not None:
                        cls.update(o.float(), ys[0], track_wrong=self.dist is None)
                    else:
                        reg.update(o.float(), ys[0])
        finally:
            model.train()
        if self.dist is not None:
            from layerloom.core.training.distributed import all_reduce_sum

            count = torch.tensor([float(loss_meter.count)], dtype=loss_meter.total.dtype, device=device)
            sums = all_reduce_sum(torch.cat([loss_meter.total.reshape(1), count]))
            loss_meter.total, loss_meter.count = sums[0], int(sums[1].item())
            if cls is not None:
                all_reduce_sum(cls.confusion)
            else:
                counts = torch.tensor([float(reg.count)], dtype=reg.sums.dtype, device=device)
                both = all_reduce_sum(torch.cat([reg.sums, counts]))
                reg.sums, reg.count = both[:4], int(both[4].item())
        out_metrics["val_loss"] = loss_meter.result()
        if cls is not None:
            r = cls.result()
            out_metrics["val_accuracy"] = r["accuracy"]
            out_metrics["confusion"] = r["confusion"]
            out_metrics["misclassified"] = r["misclassified"]
        else:
            r = reg.result()
            out_metrics["val_mae"] = r["mae"]
            out_metrics["val_r2"] = r["r2"]
        return out_metrics

    def _end_epoch(self) -> None:
        losses = np.concatenate(self._epoch_losses) if self._epoch_losses else np.zeros(0, np.float32)
        train_loss = float(losses.mean()) if len(losses) else float("nan")
        if self.dist is not None:
            from layerloom.core.training.distributed import all_reduce_sum

            t = all_reduce_sum(torch.tensor([float(losses.sum()), float(len(losses))], dtype=torch.float64,
                                            device=self.device))
            train_loss = float(t[0] / t[1]) if float(t[1]) else train_loss
        val = self._validate()
        metrics: dict[str, float] = {}
        if self._classifier and self._epoch_acc[1]:
            metrics["train_accuracy"] = self._epoch_acc[0] / self._epoch_acc[1]
        for key in ("val_accuracy", "val_mae", "val_r2"):
            if val.get(key) is not None:
                metrics[key] = val[key]
        val_loss = val.get("val_loss")
        watched = {"val_loss": val_loss, "train_loss": train_loss, **metrics}.get(self._metric)
        if self._sched is not None and not self._sched_per_step:
            if isinstance(self._sched, torch.optim.lr_scheduler.ReduceLROnPlateau):
                if watched is not None and math.isfinite(watched):
                    self._sched.step(watched)
            else:
                self._sched.step()
        is_best = False
        if watched is not None and math.isfinite(watched):
            better = self._best is None or (watched > self._best if self._mode == "max" else watched < self._best)
            if better:
                self._best, self._best_epoch, is_best = float(watched), self._epoch, True
                self._bad_epochs = 0
            else:
                self._bad_epochs += 1
        self._epochs_done = self._epoch + 1
        epoch_time = time.perf_counter() - self._t_epoch - self._paused_time
        samples = self._epoch_samples
        train_part = max(1e-9, self._epoch_train_time)
        self._final = {"train_loss": train_loss, "val_loss": val_loss, **metrics}
        lr = float(self._opt.param_groups[0]["lr"])
        if self._folder is not None:
            self._folder.log_epoch({"epoch": self._epoch, "step": self._step, "train_loss": train_loss,
                                    "val_loss": val_loss, **metrics, "lr": lr, "seconds": epoch_time,
                                    "samples_per_s": samples / train_part, "confusion": val.get("confusion")})
        self._epoch += 1
        saved = []
        if self._main and self._folder is not None:
            last_epoch = self._epoch >= self._epochs or self._should_stop_early() or self._control.stop_requested
            durable = last_epoch or time.perf_counter() - self._last_durable >= self.checkpoint_interval
            saved = self._save(["last", "best"] if is_best else ["last"], self._epochs_done, 0, emit=False,
                               durable=durable)
        self._emit(ev.EpochEnd(epoch=self._epoch - 1, epochs=self._epochs, step=self._step, train_loss=train_loss,
                               val_loss=val_loss, metrics=metrics, confusion=val.get("confusion"),
                               misclassified=val.get("misclassified"), lr=lr, seconds=epoch_time,
                               samples_per_s=samples / train_part, best=self._best, is_best=is_best))
        for role, path in saved:
            self._emit(ev.CheckpointSaved(path=path, role=role, epoch=self._epochs_done, step=self._step))

    def _should_stop_early(self) -> bool:
        s = self.settings
        return bool(s.early_stopping) and self._bad_epochs >= int(s.patience)

    # --- checkpoints ----------------------------------------------------------------------------------

    def _snapshot(self, epochs_done: int, batch: int) -> tuple[bytes, dict]:
        """The run as it is now: the bytes of a checkpoint file, and what they hold (for status.json)."""
        rng = {"cpu": torch.get_rng_state(), "shuffle": self._gen.get_state()}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        if batch:
            rng["perm"] = self._perm_now
        value = self._final.get(self._metric) if batch == 0 and epochs_done > 0 else None  # these weights' metric
        held = {"epoch": epochs_done, "batch": batch, "step": self._step, "metric": self._metric, "value": value}
        meta = {"epoch": epochs_done, "batch": batch, "step": self._step, "best": self._best,
                "best_epoch": self._best_epoch, "bad_epochs": self._bad_epochs, "final": self._final,
                "epochs": self._epochs, "scheduler": self.settings.scheduler, "optimizer": self.settings.optimizer,
                "train_time": self._train_time, "train_samples": self._train_samples, "seed": self._seed,
                "world_size": self._world, "metric": self._metric, "value": value}
        data = checkpoint_bytes(model_state=self.model.state_dict(), optimizer=self._opt.state_dict(),
                                scheduler=self._sched.state_dict() if self._sched is not None else None,
                                scaler=self._scaler.state_dict() if self._scaler is not None else None, rng=rng,
                                meta=meta)
        return data, held

    def _save(self, roles, epochs_done: int, batch: int, *, emit: bool = True,
              durable: bool = True) -> list[tuple[str, str]]:
        """Write the run as it is now as the checkpoint of each role: "last", "best", or "stop" (written as
        the last one); atomically, in this thread. last.safetensors is not written again when it already
        holds this position (unless this write must reach the disk and that one did not).
        `durable=False` leaves out the fsync. Returns [(role, path)]."""
        if not self._main or self._folder is None:
            return []
        roles = [roles] if isinstance(roles, str) else list(roles)
        position = (epochs_done, batch, self._step)
        saved = [(role, self._folder.file(BEST if role == "best" else LAST)) for role in roles]
        self._pending_start = None
        snapshot, written = None, []
        for role, path in saved:
            if role != "best" and self._last_position in ((position, True), (position, durable)):
                continue  # nothing changed since it was written
            snapshot = snapshot or self._snapshot(epochs_done, batch)
            self._write_checkpoint(path, snapshot, role, durable=durable, status=False)
            written.append((role, path))
            if role != "best":
                self._last_ckpt = path
                self._last_position = (position, durable)
        if written and self._status is not None:  # one write for both
            self._status.checkpoints({"best" if role == "best" else "last": {"file": os.path.basename(path),
                                                                              **snapshot[1]}
                                      for role, path in written})
        if emit:
            for role, path in saved:
                self._emit(ev.CheckpointSaved(path=path, role=role, epoch=epochs_done, step=self._step))
        if durable and snapshot is not None:
            self._last_durable = time.perf_counter()
        self._next_clock_save = time.perf_counter() + self.checkpoint_interval
        return saved

    def _write_checkpoint(self, path: str, snapshot: tuple[bytes, dict], role: str, *, durable: bool = True,
                          status: bool = True) -> None:
        """One checkpoint file, atomically, then (`status`) status.json says what it holds. The logs are written
        first, so a checkpoint is never ahead of them (resuming truncates the logs to the checkpoint, which
        would otherwise lose epochs' records)."""
        data, held = snapshot
        self._folder.write_logs(tensorboard=False)
        atomic_write(path, data, durable=durable)
        if status and self._status is not None:
            self._status.checkpoints({"best" if role == "best" else "last": {"file": os.path.basename(path), **held}})

    def _write_pending_start(self) -> None:
        snapshot, self._pending_start = self._pending_start, None
        if snapshot is None or self._folder is None or self._last_ckpt is not None:
            return
        path = self._folder.file(LAST)
        self._write_checkpoint(path, snapshot, "last")
        self._last_ckpt = path

    def _clock_save(self, batch: int) -> None:
        """A checkpoint within a long epoch (checkpoint_interval); its time does not count as training time."""
        t0 = time.perf_counter()
        self._save("last", self._epochs_done, batch)
        spent = time.perf_counter() - t0
        self._paused_time += spent
        self._t_window += spent

    # --- cleanup --------------------------------------------------------------------------------------

    def _release(self) -> None:
        """Drop everything but the trained model, so many runs in one process do not pile up memory."""
        for name in ("_opt", "_sched", "_scaler", "_ddp", "_forward", "_monitor", "_tap", "_probe_inputs",
                     "_pending_losses", "_acc_sample", "_epoch_losses", "_train_split", "_val_split", "_perm_now",
                     "_perm", "_loss_fn", "_gen"):
            if hasattr(self, name):
                setattr(self, name, None)
        self._sink = None
        if self.model is not None:
            for p in self.model.parameters():
                p.grad = None
        if self.dist is not None:
            self.dist.close()
        if self.device is not None and self.device.type == "cuda":
            torch.cuda.empty_cache()


def _count(meta: dict, key: str) -> int:
    """A whole number ≥ 0 of a checkpoint's position (0 when absent); ValueError when it is something else."""
    value = meta.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"its {key} is {str(value)[:40]!r}, not a whole number")
    return value


def _real(meta: dict, key: str) -> float | None:
    value = meta.get(key)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def data_problems(info, graph) -> list[str]:
    """What to change so the data fits the graph (the data package's check, or a basic one without it)."""
    try:
        from layerloom.core.data import check_against_graph

        found = check_against_graph(info, graph)
    except ImportError:
        found = basic_data_check(info, graph)
    return [getattr(p, "message", str(p)) for p in found or []]


def basic_data_check(info, graph) -> list[str]:
    """Inputs and Outputs against the data's shapes (used when the data package's check is missing)."""
    inputs = [n for n in graph if n.type == "Input"]
    outputs = [n for n in graph if n.type == "Output"]
    problems = []
    if len(info.input_shapes) != len(inputs):
        problems.append(f"the data gives {len(info.input_shapes)} input(s) but the model has {len(inputs)} Input "
                        "block(s)")
    else:
        for node, shape, dtype in zip(inputs, info.input_shapes, info.input_dtypes):
            want = tuple(node.params["shape"])
            if tuple(shape) != want:
                got = "×".join(map(str, shape)) or "a scalar"
                problems.append(f"the data gives samples of {got}; the Input block {node.name!r} expects "
                                f"{'×'.join(map(str, want))} — change the Input's shape or prepare the data to fit")
            if dtype != node.params["dtype"]:
                problems.append(f"the data gives {dtype} values; the Input block {node.name!r} expects "
                                f"{node.params['dtype']}")
    if len(info.target_shapes) != len(outputs):
        problems.append(f"the data gives {len(info.target_shapes)} target(s) but the model has {len(outputs)} "
                        "Output block(s)")
    return problems
