"""What a run serves while it trains, gathered in one object the loop calls between steps: requests from the
control (pause, stop, a new learning rate, predictions on the live model, feature maps asked for), gradient
and weight norms, and feature-map captures of a probe sample.

    live = LiveServices(control, parts, data, emit, folder, main=True, grad_every=25, grad_interval=0.1,
                        feature_interval=0.5)
    if control.pending:  lr, paused_s = live.serve_requests(step, lr, before_pause, epoch)   # also: a step while paused
    live.gradient_stats(now, step, epoch)        # every grad_every steps, at most once per grad_interval
    live.at_check(now, step, epoch)              # feature maps, recurrent and generative looks when due and asked for
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch

from layerloom.core.model_modes import eval_mode
from layerloom.core.training import events as ev
from layerloom.core.training.control import TrainControl
from layerloom.core.training.generative_looks import GenerativeLooks
from layerloom.core.training.instrument import FeatureTap, GradientMonitor, feature_map_events, probe_sample
from layerloom.core.training.optim import rescale_lr
from layerloom.core.training.recurrent_looks import RecurrentLooks
from layerloom.core.training.state import RunParts


class LiveServices:
    """The control's requests, gradient statistics and feature maps of one run. Gradient norms and feature
    maps are computed only in the main process; `grad_every` is 0 when gradient norms are off."""

    def __init__(self, control: TrainControl, parts: RunParts, data, emit: Callable, folder, *, main: bool,
                 grad_every: int, grad_interval: float, feature_interval: float, lr: float):
        self.control = control
        self.model, self.device = parts.model, parts.device
        self.optimizer, self.scheduler = parts.optimizer, parts.scheduler
        self.data = data
        self.emit = emit
        self.folder = folder
        self.monitor = GradientMonitor(parts.model) if grad_every and main else None
        self.tap = FeatureTap(parts.model) if main else None
        self.grad_every = grad_every if self.monitor is not None else 0
        self.grad_interval = grad_interval
        self.feature_interval = feature_interval
        self.next_grad_time = 0.0
        self.next_feature = 0.0  # the first capture comes with the first step
        self.base_lr = lr
        self.blocks_seen = control.feature_blocks
        self.probe_key: tuple | None = None
        self.probe: tuple = (0, (), (), None)  # index, inputs and targets on the device, label
        self.probe_seen = control.probe_index  # the probe index of the latest captures
        self.stepping: tuple | None = None  # (unit, step at its start, target step or epoch, pauses, epoch)
        self.pause_after_epoch = False  # a batch step ended its epoch: pause again once the epoch is validated
        self.model_inputs = getattr(parts.recipe, "model_inputs", None)  # a GAN's model also takes its noise
        self.looks = RecurrentLooks(parts.model, parts.recipe.loss_fn, vocabulary=data.info.vocabulary,
                                    interval=feature_interval) if main else None
        look = getattr(parts.recipe, "look", None)  # a generative recipe's look on a fixed batch
        self.generative = GenerativeLooks(look, data, parts.device, interval=feature_interval) \
            if main and look is not None else None

    # --- the control ------------------------------------------------------------------------------

    def serve_requests(self, step: int, lr: float, before_pause: Callable[[float], None],
                       epoch: int = 0, last_batch: bool = False) -> tuple[float, float]:
        """Serve what the control asks for between two steps: predictions; a pause (calls `before_pause(now)`,
        then waits here serving predictions, until resumed, stopped or asked to step); a new learning rate;
        feature maps newly asked for (captured at the next check). Returns (the learning rate now, the seconds
        paused). `epoch`: the epoch the steps belong to (the next one's after an epoch's end); `last_batch`: the
        step just taken was its epoch's last (a batch step ending there pauses after the epoch's validation)."""
        control = self.control
        control.clear_pending()
        self.serve_predictions()
        paused = 0.0
        if self.stepping is not None and self._step_goes_on(step, epoch):
            if self.stepping[0] == "batch":
                control.pending = True  # back here after the next step
        elif self.stepping is not None and last_batch and control.paused and not control.stop_requested:
            self.pause_after_epoch = True  # validate the epoch first: EpochLoop.after_epoch_step pauses
        elif control.paused and not control.stop_requested:
            t0 = time.perf_counter()
            before_pause(t0)
            if self.stepping is not None:
                self._stepped(t0, step, epoch)
            self.emit(ev.StateChanged(state="paused", step=step))
            while control.wait_while_paused(0.05) and not self._start_step(step, epoch):
                self.serve_predictions()
                if self._asked_anew():  # another sample or block asked for while paused: show it with these weights
                    self.at_check(time.perf_counter(), step, epoch)
            self.serve_predictions()
            paused = time.perf_counter() - t0
            self.emit(ev.StateChanged(state="running", step=step))
        new_lr = control.take_lr()
        if new_lr is not None:
            self.base_lr = rescale_lr(self.optimizer, self.scheduler, new_lr, self.base_lr)
            lr = self.optimizer.param_groups[0]["lr"]
        if control.feature_blocks != self.blocks_seen:  # newly asked for: capture at once
            self.blocks_seen = control.feature_blocks
            self.next_feature = min(self.next_feature, time.perf_counter())
        self._probe_moved()
        return lr, paused

    def _asked_anew(self) -> bool:
        """Whether the control asks for another probe sample, other feature-map blocks or another recurrent block
        than the latest captures': they are due at once then (a paused run shows them with its weights)."""
        moved = self._probe_moved()
        if self.control.feature_blocks != self.blocks_seen:
            self.blocks_seen = self.control.feature_blocks
            self.next_feature = 0.0
            moved = True
        block = self.control.recurrent_block
        if self.looks is not None and block and block != self.looks.block:
            moved = True  # RecurrentLooks.due takes a new block at once
        if self.generative is not None and self.control.generative_looks and not self.generative.on:
            moved = True  # GenerativeLooks.due looks at once when newly asked for
        return moved

    def _probe_moved(self) -> bool:
        """Whether the control names another probe sample than the latest captures': they are due at once then."""
        if self.control.probe_index == self.probe_seen:
            return False
        self.probe_seen = self.control.probe_index
        self.next_feature = 0.0
        if self.looks is not None:
            self.looks.next_time = 0.0
        return True

    # --- stepping while paused ----------------------------------------------------------------------

    def _start_step(self, step: int, epoch: int) -> bool:
        """Take a step asked for while paused: True when there is one (the pause ends for it)."""
        batches, whole_epoch = self.control.take_step()
        if not batches and not whole_epoch:
            return False
        unit = "epoch" if whole_epoch else "batch"
        self.stepping = (unit, step, epoch if whole_epoch else step + batches, self.control.pauses, epoch)
        self.control.pending = not whole_epoch  # a batch step comes back here after each step
        return True

    def _step_goes_on(self, step: int, epoch: int) -> bool:
        """Whether the step in progress trains on; a resume or a stop ends it without a Stepped event, a
        pause ends it early (with one)."""
        control = self.control
        unit, _start, target, pauses, _epoch = self.stepping
        if not control.paused or control.stop_requested:
            self.stepping = None
            return False
        if control.pauses != pauses:
            return False
        return step < target if unit == "batch" else epoch == target

    @property
    def stepping_epoch(self) -> bool:
        """An epoch step is in progress, or a batch step that ended its epoch: the run pauses after the epoch's
        end (its validation, EpochEnd and checkpoints), so that the next step starts a fresh epoch."""
        return self.stepping is not None and (self.stepping[0] == "epoch" or self.pause_after_epoch)

    def _stepped(self, now: float, step: int, epoch: int) -> None:
        """After a step: gradient norms, feature maps and the recurrent look once (every view shows the new
        weights), then Stepped."""
        unit, start, _target, _pauses, epoch0 = self.stepping
        if not self.pause_after_epoch and unit == "batch":
            epoch0 = epoch
        self.stepping, self.pause_after_epoch = None, False
        if self.monitor is not None and step > start:
            self.gradient_stats(now, step, epoch)
        self.next_feature = 0.0
        if self.looks is not None:
            self.looks.next_time = 0.0
        if self.generative is not None:
            self.generative.next_time = 0.0
        self.at_check(now, step, epoch)
        self.emit(ev.Stepped(step_from=start, step_to=step, epoch=epoch0, unit=unit))

    def end_step(self, step: int, epoch: int) -> None:
        """The run ends right after a step (its last epoch): Stepped without a pause."""
        if self.stepping is not None:
            self._stepped(time.perf_counter(), step, epoch)

    def serve_predictions(self) -> None:
        """Run the model (eval mode, no gradients) on every prediction asked for; each future gets its outputs
        as numpy arrays, or the error."""
        requests = self.control.take_predictions()
        if not requests:
            return
        model = self.model
        with eval_mode(model):
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

    # --- gradient norms and feature maps ----------------------------------------------------------

    def gradient_stats(self, now: float, step: int, epoch: int) -> None:
        """Emit (and log) the gradient and weight norms of every block, naming vanishing and exploding ones."""
        grads, weights = self.monitor.norms()
        layers = self.monitor.layers
        vanishing, exploding = GradientMonitor.classify(layers, grads)
        self.emit(ev.GradientStats(step=step, epoch=epoch, layers=layers, grad_norms=grads, weight_norms=weights,
                                   vanishing=vanishing, exploding=exploding))
        if self.folder is not None:
            self.folder.log_gradients(step, layers, grads)
        self.next_grad_time = now + self.grad_interval

    def at_check(self, now: float, step: int, epoch: int) -> None:
        """At a check between steps: the feature maps, the recurrent look and the generative look asked for, when
        each is due."""
        interval = self.look_interval()
        if self.tap is not None and now >= self.next_feature and self.control.feature_blocks:
            self.capture_features(step, epoch)
        block = self.control.recurrent_block
        if self.looks is not None:
            self.looks.interval = interval
            if self.looks.due(now, block):
                self.look_inside(block, step, epoch)
        if self.generative is not None:
            self.generative.interval = interval
            if self.generative.due(now, self.control.generative_looks):
                self.emit(self.generative.look(self.model, step, epoch))

    def look_interval(self) -> float:
        """The least time between two captures or looks: their own rate, or the window's drain when slower (the
        event buffer keeps only the latest look between two drains)."""
        return max(self.feature_interval, self.control.look_interval)

    def look_inside(self, block: str, step: int, epoch: int) -> None:
        """A RecurrentInside event of `block` on the probe sample (or a RecurrentNote once, when it has none)."""
        self.emit(self.looks.look(block, self._probe(), step, epoch))

    def capture_features(self, step: int, epoch: int) -> None:
        blocks = self.control.feature_blocks
        self.next_feature = time.perf_counter() + self.look_interval()
        blocks = self.tap.known(blocks)
        if not blocks:
            return
        index, inputs, _targets, label = self._probe()
        for event in feature_map_events(self.tap, blocks, inputs, sample_index=index, label=label, step=step,
                                        epoch=epoch):
            self.emit(event)

    def _probe(self) -> tuple:
        """The probe sample the control names (index, inputs and targets on the device, label), taken again only
        when the index changes."""
        split = self.data.val if len(self.data.val) else self.data.train
        i = min(self.control.probe_index, len(split) - 1)
        key = (id(split), i)
        if self.probe_key != key:
            i, xs, ys, label = probe_sample(self.data, i)
            xs = tuple(x.to(self.device) for x in xs)
            if self.model_inputs is not None:
                xs = self.model_inputs(xs)
            self.probe = (i, xs, tuple(y.to(self.device) for y in ys), label)
            self.probe_key = key
        return self.probe
