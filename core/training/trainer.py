"""The trainer: a compiled graph, a PreparedData and TrainingSettings in, events out.

    trainer = Trainer(project, prepared)               # or Trainer(graph, prepared, settings=TrainingSettings(...))
    result = trainer.run(sink=print, control=TrainControl())
    result.status, result.final["val_accuracy"], result.run_dir

`run` never raises for a failed run: a NaN loss, an out-of-memory error, bad data or any other error
ends it with a `Failed` event (and `result.status == "failed"`), keeping the last good checkpoint.

The Trainer puts a run together and sees it to its end; the parts have modules of their own:
device.py (where it computes, precision), recipe.py (losses, metrics: supervised), state.py (RunPosition,
RunParts), run_checkpoints.py (checkpoints, resuming), live.py (control, gradient norms, feature maps),
loop.py (the epochs and their steps) and validation.py.
"""

from __future__ import annotations

import math
import os
import time
import traceback

import torch

from layerloom.core.cleanup import cleanup_stale
from layerloom.core.errors import LayerloomError
from layerloom.core.errors_text import describe
from layerloom.core.training import events as ev
from layerloom.core.training import thread_policy
from layerloom.core.training.checkpoint import CheckpointError
from layerloom.core.training.control import TrainControl, fail_predictions
from layerloom.core.training.device import (
    TorchState,
    choose_precision,
    data_on_device,
    device_description,
    out_of_memory_message,
    run_device,
)
from layerloom.core.training.live import LiveServices
from layerloom.core.training.loop import EpochLoop
from layerloom.core.training.optim import build_optimizer, build_scheduler, freeze_blocks, init_weights, is_per_step
from layerloom.core.training.outcome import NonFiniteLoss, TrainingError, TrainResult
from layerloom.core.training.recipe import recipe_for
from layerloom.core.training.run_checkpoints import RunCheckpoints
from layerloom.core.training.run_folder import RunFolder, new_run_dir, truncate_logs
from layerloom.core.training.run_status import StatusFile, read_status
from layerloom.core.training.state import RunParts, RunPosition


class Trainer:
    """Trains one project on one PreparedData. A Trainer runs once; make another for the next run.

    project:   a Project (graph, training, data, meta), or a Graph (then `settings` gives the training)
    data:      a PreparedData (info, train split, val split)
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
        self.threads: thread_policy.ThreadChoice | None = None  # the CPU threads of the run, and why
        self.result: TrainResult | None = None
        # the run, put together by run()
        self._ran = False
        self._main = distributed is None or distributed.is_main  # the process that emits events and writes files
        self._sink = None
        self._control = TrainControl()
        self._position = RunPosition()
        self._parts: RunParts | None = None  # the position is the run's once these exist
        self._checkpoints: RunCheckpoints | None = None
        self._live: LiveServices | None = None
        self._loop: EpochLoop | None = None
        self._folder: RunFolder | None = None
        self._notes: list[str] = []  # for RunStarted and settings.json

    # --- public ---------------------------------------------------------------------------------

    def run(self, sink=None, control: TrainControl | None = None) -> TrainResult:
        if self._ran:
            raise RuntimeError("a Trainer runs once; make a new one for the next run")
        self._ran = True
        self._sink = sink
        self._control = control or TrainControl()
        self._position.started = time.perf_counter()
        torch_state = TorchState()
        try:
            self._setup()
            result = self._finished(self._loop.run())
        except NonFiniteLoss as bad:
            what = "NaN" if math.isnan(bad.value) else "infinite"
            last = self._checkpoints.last if self._checkpoints is not None else None
            kept = f"; the last good checkpoint is kept: {last}" if last else ""
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
            torch_state.restore()
            fail_predictions(self._control.take_predictions(), "training has ended")
            self._release()
        self._end_status(result.status, result.reason, result.message)  # (done already unless the event failed)
        self.result = result
        return result

    # --- how a run ends -------------------------------------------------------------------------------

    def _emit(self, event) -> None:
        if self._sink is not None and self._main:
            self._sink(event)

    def _finished(self, reason: str) -> TrainResult:
        """The end of a run that was not failed: "completed", "stopped" or "early_stopping"."""
        position, parts = self._position, self._parts
        status = "stopped" if reason == "stopped" else "finished"
        seconds = time.perf_counter() - position.started
        last = self._checkpoints.last
        self._end_status(status, reason)
        self._emit(ev.Finished(status=status, reason=reason, epochs=position.epochs_done, step=position.step,
                               metric=parts.metric, best=position.best, best_epoch=position.best_epoch,
                               final=dict(position.final), samples_per_s=position.samples_per_s(), seconds=seconds,
                               run_dir=self.run_dir, checkpoint=last))
        return TrainResult(status=status, reason=reason, epochs=position.epochs_done, step=position.step,
                           metric=parts.metric, best=position.best, best_epoch=position.best_epoch,
                           final=dict(position.final), samples_per_s=position.samples_per_s(), seconds=seconds,
                           run_dir=self.run_dir, checkpoint=last, train_cpu_s=position.train_cpu)

    def _failure(self, message: str, reason: str, *, epoch=None, step=None, details: str = "") -> TrainResult:
        checkpoints, position, parts = self._checkpoints, self._position, self._parts
        if checkpoints is not None:
            try:
                checkpoints.write_pending_start()
            except CheckpointError as err:
                message = f"{message}; also, {err}"
        if step is None and parts is not None:
            step = position.step
        if epoch is None and parts is not None:
            epoch = position.epoch
        last = checkpoints.last if checkpoints is not None else None
        self._end_status("failed", reason, message)  # before the event: whoever reads the folder then sees it
        self._emit(ev.Failed(message=message, reason=reason, epoch=epoch, step=step, run_dir=self.run_dir,
                             checkpoint=last, details=details))
        return TrainResult(status="failed", reason=reason, message=message, epochs=position.epochs_done,
                           step=step or 0, metric=parts.metric if parts is not None else "val_loss",
                           best=position.best, best_epoch=position.best_epoch, final=dict(position.final),
                           run_dir=self.run_dir, checkpoint=last,
                           seconds=time.perf_counter() - position.started, samples_per_s=position.samples_per_s())

    def _end_status(self, state: str, reason: str, message: str = "") -> None:
        if self._checkpoints is not None:
            self._checkpoints.end_status(state, reason, message)

    def _oom_message(self) -> str:
        return out_of_memory_message(int(self.settings.batch_size), self.device)

    # --- setup ----------------------------------------------------------------------------------------

    def _setup(self) -> None:
        """Put the run together: device, data, model, recipe, precision, optimizer and schedule, the resumed
        position, live services and the run folder; then RunStarted."""
        from layerloom.core import build_model

        s = self.settings
        problems = s.problems("training")
        if problems:
            raise TrainingError("the training settings are not valid:\n" + "\n".join(f"  - {p}" for p in problems))
        self.threads = threads = thread_policy.choice_for_run(s, self.dist)
        self.device = device = run_device(s, self.dist, threads)
        if threads.lowered and device.type == "cpu":
            self._notes.append(f"CPU threads: {threads.reason}")
        rank = self.dist.rank if self.dist is not None else 0
        seed = int(s.seed)
        torch.manual_seed(seed + rank)  # dropout and other in-model randomness

        info = self.data.info
        train_split, val_split = data_on_device(self.data.train, self.data.val, device)
        train, val = self.data.train, self.data.val
        if len(train) == 0:
            raise TrainingError("the training data is empty", "data")
        if self.check_data:
            self._check_data()

        model = build_model(self.graph, seed=seed)
        init_weights(model, s.init, seed=seed)
        if self.initial_weights is not None:
            from layerloom.core.export.weights import apply_weights

            self._notes.extend(apply_weights(model, self.initial_weights).notes())
        if freeze_blocks(model, [n.name for n in self.graph if n.frozen]) and not any(
                p.requires_grad for p in model.parameters()):
            raise TrainingError("every block with weights is frozen, so there is nothing to train; unfreeze at "
                                "least one block")
        recipe = recipe_for(self.graph, model, info, s)
        model.to(device)
        self.model = model
        metric = recipe.default_metric(s, has_val=len(val) > 0)
        mode = "max" if metric.endswith("accuracy") else "min"
        precision = choose_precision(s.precision, device)
        self._notes.extend(precision.notes)

        # sharding: each process trains on its share of every epoch
        world = self.dist.world_size if self.dist is not None else 1
        bs = int(s.batch_size)
        per_rank = -(-len(train) // world)
        steps_per_epoch = max(1, -(-per_rank // bs))
        epochs = int(s.epochs)
        groups = getattr(recipe, "param_groups", None)  # a GAN's two networks
        opt = build_optimizer(s, groups(s) if groups is not None else model.parameters())
        sched = build_scheduler(s, opt, epochs=epochs, steps_per_epoch=steps_per_epoch, mode=mode)
        generator = torch.Generator().manual_seed(seed + 7919 * rank)  # shuffling and augmentation
        parts = self._parts = RunParts(
            device=device, model=model, forward=model, recipe=recipe, optimizer=opt, scheduler=sched,
            scheduler_per_step=is_per_step(s.scheduler), precision=precision, train=train_split, val=val_split,
            generator=generator, seed=seed, world=world, batch_size=bs, steps_per_epoch=steps_per_epoch,
            epochs=epochs, metric=metric, mode=mode)
        checkpoints = self._checkpoints = RunCheckpoints(parts, self._position, s, main=self._main,
                                                         interval=self.checkpoint_interval)
        if self.resume_dir is not None:
            self.resume_dir = checkpoints.resume(self.resume_dir, run_root=self.run_root,
                                                 project_name=self.project_name, dist=self.dist)
        distribute = getattr(recipe, "distribute", None)  # a recipe that wraps its own networks (a GAN's)
        if self.dist is not None and distribute is not None:
            parts.forward = distribute(device)
        elif self.dist is not None:
            from torch.nn.parallel import DistributedDataParallel

            parts.forward = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
        bind = getattr(recipe, "bind", None)  # a recipe with a step of its own makes it now (optimizer, position)
        if bind is not None:
            bind(parts, self._position.step)

        param_count = sum(p.numel() for p in model.parameters())
        self._open_folder(param_count)
        self._live = LiveServices(self._control, parts, self.data, self._emit, self._folder, main=self._main,
                                  grad_every=self.grad_every, grad_interval=self.grad_interval,
                                  feature_interval=self.feature_interval, lr=float(s.lr))
        self._loop = EpochLoop(parts, self._position, checkpoints, self._live, self._emit, self._folder,
                               settings=s, dist=self.dist, main=self._main, event_interval=self.event_interval,
                               val_batch_size=self.val_batch_size)
        self._emit(ev.RunStarted(
            run_dir=self.run_dir, device=str(device), device_name=device_description(device),
            precision=precision.name, train_size=len(train), val_size=len(val),
            param_count=param_count, epochs=epochs,
            start_epoch=self._position.epochs_done, start_step=self._position.step, batch_size=bs,
            steps_per_epoch=steps_per_epoch, task=info.task, metric=metric,
            num_classes=recipe.num_classes if recipe.classifier else None,
            class_names=tuple(info.class_names) if info.class_names else None, world_size=world,
            notes=tuple(self._notes),
        ))

    def _check_data(self) -> None:
        """The data must fit the graph's Inputs and Outputs; a message that says what to change."""
        from layerloom.core.data import check_against_graph

        problems = check_against_graph(self.data.info, self.graph)
        if problems:
            raise TrainingError("the data does not fit the model:\n" + "\n".join(f"  - {p}" for p in problems),
                                "data")

    def _open_folder(self, param_count: int) -> None:
        """The run folder (the main process's, with a run_root or a resumed folder): a new one, or the resumed
        one with its logs cut back to the checkpoint; status.json started; the project, the resolved settings
        and the preprocessing written."""
        if not self._main or (self.run_root is None and self.resume_dir is None):
            return
        position, checkpoints = self._position, self._checkpoints
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
            truncate_logs(self.run_dir, epochs_done=position.epochs_done, step=position.step)
        else:
            self.run_dir = new_run_dir(self.run_root, self.project_name)
        checkpoints.status = StatusFile(self.run_dir)
        checkpoints.status.start()
        self._folder = folder = RunFolder(self.run_dir, tensorboard=self.tensorboard)
        if folder.tensorboard_note:
            self._notes.append(folder.tensorboard_note)
        from layerloom.core.project import Project

        trained = Project(self.graph, training=self.settings, data=self.project.data, meta=dict(self.project.meta))
        folder.write_project(trained.to_dict())
        folder.write_settings(self._resolved_settings(param_count))
        folder.write_preprocessing(self.data.info)
        checkpoints.open(folder)

    def _resolved_settings(self, param_count: int) -> dict:
        """settings.json: the training and data settings as the run uses them, and where it runs."""
        info, parts = self.data.info, self._parts
        return {
            "training": self.settings.to_dict(),
            "data": {"source": self.project.data.source, "options": dict(self.project.data.options),
                     "name": info.name, "task": info.task, "train_size": info.train_size or len(self.data.train),
                     "val_size": info.val_size or len(self.data.val), "num_classes": info.num_classes,
                     "class_names": info.class_names, "input_shapes": info.input_shapes,
                     "target_shapes": info.target_shapes, "normalization": info.normalization,
                     "notes": info.notes},
            "device": str(self.device), "device_name": device_description(self.device),
            "cpu_threads": self.threads.to_dict() if self.threads is not None else None,
            "precision": parts.precision.name, "world_size": parts.world,
            "global_batch_size": parts.batch_size * parts.world,
            "param_count": param_count, "metric": parts.metric,
            "losses": parts.recipe.losses, "torch_version": torch.__version__,
            "resumed_from": self._checkpoints.resumed, "notes": self._notes,
        }

    # --- cleanup --------------------------------------------------------------------------------------

    def _release(self) -> None:
        """Drop everything but the trained model, so many runs in one process do not pile up memory."""
        self._parts = self._live = self._loop = None
        if self._checkpoints is not None:
            self._checkpoints.release()
        self._position.order = self._position.resumed_order = None
        self._sink = None
        if self.model is not None:
            for p in self.model.parameters():
                p.grad = None
        if self.dist is not None:
            self.dist.close()
        if self.device is not None and self.device.type == "cuda":
            torch.cuda.empty_cache()
