"""The epoch loop: epochs of training steps, each epoch ended by validation, the schedule, the best metric,
its log line and checkpoints, until the last epoch, a stop or early stopping.

    reason = EpochLoop(parts, position, checkpoints, live, emit, folder, settings=settings, ...).run()
    # "completed", "stopped" or "early_stopping"; the position says where it ended

The step loop does only what a hand-written loop does plus a few list appends: everything else (fetching
losses, sampling the training accuracy, gradient norms, feature maps, control requests) happens at a check
that costs one float comparison per step. Batches come from TensorSplit.batches (whole-batch indexing, no
per-sample collation); losses stay on the device and are fetched together about every `event_interval`
seconds (one synchronisation), with the sampled training-accuracy counts; gradient norms take one foreach
call every `grad_every` steps; feature maps one small forward at most every `feature_interval` seconds, only
while asked for.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from layerloom.core.training import events as ev
from layerloom.core.training.live import LiveServices
from layerloom.core.training.outcome import NonFiniteLoss
from layerloom.core.training.run_checkpoints import RunCheckpoints
from layerloom.core.training.state import RunParts, RunPosition
from layerloom.core.training.validation import validate


@dataclass
class EpochTally:
    """What one epoch gathers: losses and learning rates of steps not yet fetched (floats on the CPU, tensors
    on a GPU, no sync) with their times; the fetched losses; sampled training accuracy (correct, seen); the
    samples trained; and its clock (paused time and checkpoints within it do not count as training)."""

    indices: int = 0  # the samples this process trains on in this epoch
    pending_losses: list = field(default_factory=list)
    pending_lr: list[float] = field(default_factory=list)
    pending_time: list[float] = field(default_factory=list)
    losses: list[np.ndarray] = field(default_factory=list)
    accuracy: list = field(default_factory=lambda: [0.0, 0])
    accuracy_sample: tuple | None = None  # (correct as a tensor, seen) of the last check's batch
    samples: int = 0
    window_start_batch: int = 0
    started: float = 0.0
    window_started: float = 0.0
    paused: float = 0.0
    train_time: float = 0.0


class EpochLoop:
    """Trains the epochs of one run from `position` on. Every process of a distributed run goes through the
    same steps; they agree at checks every 20 batches on stopping and on a non-finite loss."""

    def __init__(self, parts: RunParts, position: RunPosition, checkpoints: RunCheckpoints, live: LiveServices,
                 emit: Callable, folder, *, settings, dist=None, main: bool = True, event_interval: float = 0.05,
                 val_batch_size: int | None = None):
        self.parts = parts
        self.position = position
        self.checkpoints = checkpoints
        self.live = live
        self.control = live.control
        self.emit = emit
        self.folder = folder
        self.settings = settings
        self.dist = dist
        self.main = main
        self.event_interval = event_interval
        self.val_batch_size = val_batch_size or parts.batch_size
        self.tally = EpochTally()
        if dist is not None:  # one process pausing alone would hold the others at their next collective
            self.control.steps_refused = f"a distributed run ({dist.world_size} processes) cannot step one batch " \
                                         "at a time"

    # --- the run ------------------------------------------------------------------------------------

    def run(self) -> str:
        """Train to the end; returns why it ended: "completed", "stopped" or "early_stopping". A stop within an
        epoch saves the stop checkpoint at its batch; a stop at an epoch's last step validates and saves it."""
        position, steps_per_epoch = self.position, self.parts.steps_per_epoch
        reason = "completed"
        position.batch = 0
        if self.folder is not None:
            self.checkpoints.next_clock_save = time.perf_counter() + self.checkpoints.interval
        while position.epoch < self.parts.epochs:
            if self.any_rank_flag(self.control.stop_requested):  # asked to stop during the last epoch's end
                reason = "stopped"
                break
            stopped = self.train_epoch()
            if stopped and position.batch < steps_per_epoch:
                reason = "stopped"
                break
            self.end_epoch()  # also when the stop came at the epoch's last step: validate and save it
            if self.live.stepping_epoch:
                self.after_epoch_step(stopped)
            if stopped:
                reason = "stopped"
                break
            if self.should_stop_early():
                reason = "early_stopping"
                break
        if reason == "stopped":
            batch = position.batch if position.batch < steps_per_epoch else 0
            self.emit_saved(self.checkpoints.save("stop", position.epochs_done, batch))
        return reason

    def emit_saved(self, saved: list[tuple[str, str]]) -> None:
        """A CheckpointSaved event for each (role, path) just written."""
        position = self.position
        for role, path in saved:
            self.emit(ev.CheckpointSaved(path=path, role=role, epoch=position.epochs_done, step=position.step))

    def epoch_order(self) -> torch.Tensor:
        """The order of this epoch's samples: a resumed epoch's own, this process's shard, or a shuffle."""
        position = self.position
        if position.resumed_order is not None:  # resumed in the middle of an epoch
            perm, position.resumed_order = position.resumed_order, None
            return perm
        n = len(self.parts.train)
        if self.dist is not None:
            from layerloom.core.training.distributed import shard_indices

            return shard_indices(n, epoch=position.epoch, seed=self.parts.seed, rank=self.dist.rank,
                                 world_size=self.dist.world_size)
        return torch.randperm(n, generator=self.parts.generator)

    # --- one epoch of steps -------------------------------------------------------------------------

    def train_epoch(self) -> bool:
        """One epoch of training steps; True when stopped by the control."""
        parts, position, live, checkpoints = self.parts, self.position, self.live, self.checkpoints
        model, forward, opt, loss_fn = parts.model, parts.forward, parts.optimizer, parts.recipe.loss_fn
        own_step = parts.recipe.step
        device, gen, control = parts.device, parts.generator, self.control
        scaler, sched = parts.precision.scaler, (parts.scheduler if parts.scheduler_per_step else None)
        clip = self.settings.grad_clip
        params = [p for p in model.parameters() if p.requires_grad] if clip else None
        amp = parts.precision.autocast(device)
        split, bs, steps_per_epoch = parts.train, parts.batch_size, parts.steps_per_epoch
        move = device.type != "cpu" and split.inputs[0].device != device
        non_blocking = device.type == "cuda"
        on_cpu = device.type == "cpu"
        grad_every = live.grad_every
        interval = self.event_interval
        distributed = self.dist is not None
        perf = time.perf_counter

        model.train()
        order = self.epoch_order()
        position.order = order
        skip, position.skip = position.skip, 0
        t_epoch = perf()
        cpu0 = time.thread_time()
        self.tally = tally = EpochTally(indices=len(order), window_start_batch=skip, started=t_epoch,
                                        window_started=t_epoch)
        position.batch = skip
        step = position.step
        batch_i = skip
        stopped = False
        out = loss = ys = None
        indices = order[skip * bs:]
        if not move and device.type != "cpu":
            indices = indices.to(device)  # gather on the device
        lr = opt.param_groups[0]["lr"]
        due = t_epoch + interval  # the next check
        next_grad = (step // grad_every + 1) * grad_every if grad_every else -1
        # bound methods of lists that flush empties in place: no attribute lookups per step
        add_loss, add_lr, add_time = tally.pending_losses.append, tally.pending_lr.append, tally.pending_time.append
        for xs, ys in split.batches(bs, shuffle=False, generator=gen, indices=indices):
            if move:
                xs = tuple(x.to(device, non_blocking=non_blocking) for x in xs)
                ys = tuple(y.to(device, non_blocking=non_blocking) for y in ys)
            if own_step is not None:  # the recipe's own step
                out, loss = own_step(xs, ys)
            else:  # forward, the recipe's loss, backward, the optimizer's step
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
                if now >= live.next_grad_time:
                    position.step, position.batch = step, batch_i
                    live.gradient_stats(now, step, position.epoch)
            if control.pending:
                position.step, position.batch = step, batch_i
                lr, paused = live.serve_requests(step, lr, self.before_pause, position.epoch,
                                                 batch_i == steps_per_epoch)
                if paused:
                    tally.paused += paused
                    tally.window_started += paused
                    position.started += paused
                stopped = control.stop_requested
            if distributed:
                if batch_i % 20 == 0 or batch_i == steps_per_epoch:  # the same steps on every process
                    position.step, position.batch = step, batch_i
                    self.check(out, ys, now)
                    self.flush(perf(), collective=True)
                    stopped = self.any_rank_flag(stopped)
                    if stopped:
                        break
            elif now >= due or stopped:
                position.step, position.batch = step, batch_i
                self.check(out, ys, now)
                self.flush(now)
                due = now + interval
                if stopped:
                    break
                if now >= checkpoints.next_clock_save and batch_i < steps_per_epoch:
                    self.clock_save(batch_i)
        position.step, position.batch = step, batch_i
        if out is not None and tally.pending_losses:
            self.check(out, ys, perf())
        del out, loss, ys
        self.flush(perf())
        tally.train_time = perf() - t_epoch - tally.paused
        position.train_time += tally.train_time
        position.train_cpu += time.thread_time() - cpu0
        position.train_samples += tally.samples
        return stopped

    def after_epoch_step(self, stopped: bool) -> None:
        """An epoch stepped while paused has ended (validated, saved): pause again before the next epoch, or
        only say so (Stepped) when the run ends here."""
        position, live = self.position, self.live
        if stopped or position.epoch >= self.parts.epochs or self.should_stop_early():
            live.end_step(position.step, position.epoch - 1)
            return
        lr = self.parts.optimizer.param_groups[0]["lr"]
        _lr, paused = live.serve_requests(position.step, lr, self.before_pause, position.epoch)
        position.started += paused

    def clock_save(self, batch: int) -> None:
        """A checkpoint within a long epoch, after `batch` batches; its time does not count as training time."""
        t0 = time.perf_counter()
        self.emit_saved(self.checkpoints.save("last", self.position.epochs_done, batch))
        spent = time.perf_counter() - t0
        self.tally.paused += spent
        self.tally.window_started += spent

    def before_pause(self, now: float) -> None:
        """Everything so far reaches the sink and the logs before a pause."""
        self.flush(now)
        if self.folder is not None:
            self.folder.write_logs()

    def check(self, out, ys, now: float) -> None:
        """The periodic work between two steps: sample the training accuracy on the last batch (kept as a
        tensor, fetched with the losses), capture the feature maps when they are due."""
        sample = self.parts.recipe.sample(out, ys)
        if sample is not None:
            self.tally.accuracy_sample = sample
        self.live.at_check(now, self.position.step, self.position.epoch)

    def any_rank_flag(self, flag: bool) -> bool:
        """True when `flag` is true in any process (itself when not distributed)."""
        if self.dist is None:
            return flag
        from layerloom.core.training.distributed import all_reduce_sum

        t = torch.tensor([1.0 if flag else 0.0], device=self.parts.device)
        return bool(all_reduce_sum(t).item() > 0)

    def flush(self, now: float, collective: bool = False) -> None:
        """Fetch the pending step losses (one sync), check them, emit one Steps event, log them.
        `collective`: a point every process reaches at the same step (distributed), where they agree on
        a non-finite loss so that all of them stop together."""
        tally, position, bs = self.tally, self.position, self.parts.batch_size
        pending = tally.pending_losses
        if not pending:
            if collective and self.any_rank_flag(False):
                raise NonFiniteLoss(position.step, position.epoch, position.batch, float("nan"))
            return
        if isinstance(pending[0], float):  # few numpy calls: right after the steps each one is slow (cold caches)
            finite = math.isfinite(sum(pending))
            losses, lrs = np.array((pending, tally.pending_lr), dtype=np.float32)
        else:
            losses = torch.stack(pending).float().cpu().numpy()
            finite = math.isfinite(losses.sum(dtype=np.float64))
            lrs = np.array(tally.pending_lr, dtype=np.float32)
        count = len(losses)
        if collective and self.any_rank_flag(not finite) and finite:
            raise NonFiniteLoss(position.step, position.epoch, position.batch, float("nan"))  # on another process
        steps = np.arange(position.step - count + 1, position.step + 1, dtype=np.int64)
        times = np.array(tally.pending_time, dtype=np.float64)
        times -= position.started
        pending.clear()
        tally.pending_lr.clear()
        tally.pending_time.clear()
        if not finite and not np.isfinite(losses).all():  # (a finite sum can overflow)
            i = int(np.flatnonzero(~np.isfinite(losses))[0])
            batch = position.batch - (count - 1 - i)
            raise NonFiniteLoss(int(steps[i]), position.epoch, batch, float(losses[i]))
        sample, tally.accuracy_sample = tally.accuracy_sample, None
        if sample is not None:
            tally.accuracy[0] += int(sample[0])
            tally.accuracy[1] += sample[1]
        tally.losses.append(losses)
        window = max(now - tally.window_started, 1e-9)
        done = min(position.batch * bs, tally.indices)
        window_samples = done - min(tally.window_start_batch * bs, tally.indices)
        tally.window_start_batch = position.batch
        rate = window_samples / window
        tally.samples += window_samples
        tally.window_started = now
        if not self.main:
            return
        steps_per_epoch = self.parts.steps_per_epoch
        left = steps_per_epoch - position.batch
        eta = left * bs / rate if rate > 0 else None
        acc = tally.accuracy[0] / tally.accuracy[1] if tally.accuracy[1] else None
        self.emit(ev.Steps(epoch=position.epoch, step=steps, loss=losses, lr=lrs,
                           time=times, samples_per_s=np.full(count, rate, dtype=np.float32),
                           batch=position.batch, batches_per_epoch=steps_per_epoch, accuracy=acc, eta_s=eta))
        if self.folder is not None:
            self.folder.log_steps(position.epoch, steps, losses, lrs, times)

    # --- an epoch's end -----------------------------------------------------------------------------

    def end_epoch(self) -> None:
        """Validate, step an epoch-wise schedule, count the best metric, log the epoch, save its checkpoints
        and emit EpochEnd (then CheckpointSaved)."""
        parts, position, tally = self.parts, self.position, self.tally
        losses = np.concatenate(tally.losses) if tally.losses else np.zeros(0, np.float32)
        train_loss = float(losses.mean()) if len(losses) else float("nan")
        if self.dist is not None:
            from layerloom.core.training.distributed import all_reduce_sum

            t = all_reduce_sum(torch.tensor([float(losses.sum()), float(len(losses))], dtype=torch.float64,
                                            device=parts.device))
            train_loss = float(t[0] / t[1]) if float(t[1]) else train_loss
        val = validate(parts, batch_size=self.val_batch_size, dist=self.dist)
        metrics: dict[str, float] = {}
        if tally.accuracy[1]:
            metrics["train_accuracy"] = tally.accuracy[0] / tally.accuracy[1]
        own = getattr(parts.recipe, "epoch_metrics", None)  # a recipe's figures of the epoch's steps (a GAN's)
        if own is not None:
            metrics.update(own())
        for key in parts.recipe.val_metrics:
            if val.get(key) is not None:
                metrics[key] = val[key]
        val_loss = val.get("val_loss")
        watched = {"val_loss": val_loss, "train_loss": train_loss, **metrics}.get(parts.metric)
        sched = parts.scheduler
        if sched is not None and not parts.scheduler_per_step:
            if isinstance(sched, torch.optim.lr_scheduler.ReduceLROnPlateau):
                if watched is not None and math.isfinite(watched):
                    sched.step(watched)
            else:
                sched.step()
        is_best = False
        if watched is not None and math.isfinite(watched):
            is_best = position.improved(watched, parts.mode)
        position.epochs_done = position.epoch + 1
        epoch_time = time.perf_counter() - tally.started - tally.paused
        samples_per_s = tally.samples / max(1e-9, tally.train_time)
        position.final = {"train_loss": train_loss, "val_loss": val_loss, **metrics}
        lr = float(parts.optimizer.param_groups[0]["lr"])
        if self.folder is not None:
            self.folder.log_epoch({"epoch": position.epoch, "step": position.step, "train_loss": train_loss,
                                   "val_loss": val_loss, **metrics, "lr": lr, "seconds": epoch_time,
                                   "samples_per_s": samples_per_s, "confusion": val.get("confusion")})
        position.epoch += 1
        saved = []
        if self.main and self.folder is not None:
            last_epoch = position.epoch >= parts.epochs or self.should_stop_early() or self.control.stop_requested
            saved = self.checkpoints.save_at_epoch_end(["last", "best"] if is_best else ["last"],
                                                       last_epoch=last_epoch)
        self.emit(ev.EpochEnd(epoch=position.epoch - 1, epochs=parts.epochs, step=position.step,
                              train_loss=train_loss, val_loss=val_loss, metrics=metrics,
                              confusion=val.get("confusion"), misclassified=val.get("misclassified"), lr=lr,
                              seconds=epoch_time, samples_per_s=samples_per_s, best=position.best, is_best=is_best))
        self.emit_saved(saved)

    def should_stop_early(self) -> bool:
        s = self.settings
        return bool(s.early_stopping) and self.position.bad_epochs >= int(s.patience)
