"""A generative model's look (a VAE's reconstructions, samples, latent scatter and traversal; a GAN's samples)
asked for through the control, while a run trains: the recipe's `look` on a fixed batch, as its event.

    looks = GenerativeLooks(recipe.look, data, device, interval=0.5)
    if looks.due(now, control.generative_looks):
        event = looks.look(model, step, epoch)      # a VAELook (…), or a GenerativeNote once

The fixed batch is the first BATCH samples of the validation split (of the training split when there is none),
taken once and kept on the run's device, with their class labels when the data has them. Paced by cost as
core/training/recurrent_looks.py: a look comes no sooner than its cost / BUDGET seconds after the previous one
(the least of the last three costs), and never sooner than `interval`. Turned on anew, it looks at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch

from layerloom.core.model_modes import eval_mode
from layerloom.core.training import events as ev
from layerloom.core.training.vae_look import BATCH, fixed_batch

BUDGET = 0.02  # the share of training time the looks may take


class GenerativeLooks:
    def __init__(self, look: Callable, data, device, *, interval: float = 0.5, budget: float | None = None):
        self.look_fn = look
        self.data = data
        self.device = device
        self.interval = float(interval)
        self.budget = budget  # None: BUDGET
        self.on = False  # asked for at the latest check
        self.failed = False  # the look raised: no more tries this run
        self.next_time = 0.0
        self.last_cost = 0.0
        self.costs: list[float] = []  # the latest looks' seconds (up to three)
        self.batch: tuple | None = None  # (inputs on the device, labels)

    def due(self, now: float, on: bool) -> bool:
        """Whether to look now: at once when newly asked for, else when its time came."""
        if on and not self.on:
            self.next_time = 0.0
        self.on = bool(on)
        return self.on and not self.failed and now >= self.next_time

    def fixed(self) -> tuple:
        """The fixed batch's inputs on the device and its labels (taken at the first look)."""
        if self.batch is None:
            xs, labels = fixed_batch(self.data, BATCH)
            self.batch = (tuple(x.to(self.device) for x in xs), labels)
        return self.batch

    def look(self, model, step: int, epoch: int):
        """The recipe's look on the fixed batch (eval mode, no gradients, each module's mode given back); a
        GenerativeNote once when it cannot be made. Schedules the next look by this one's cost."""
        t0 = time.perf_counter()
        try:
            xs, labels = self.fixed()
            with torch.no_grad(), eval_mode(model):
                event = self.look_fn(xs, labels, step, epoch)
        except Exception as err:  # a model the look cannot run: say so once
            self.failed = True
            return ev.GenerativeNote(step=step, message=f"The generative views cannot be made: {err}")
        end = time.perf_counter()
        budget = self.budget or BUDGET
        self.last_cost = end - t0
        self.costs = [*self.costs[-2:], self.last_cost]
        cost = min(self.costs) if len(self.costs) > 1 else min(self.last_cost, self.interval * budget)
        self.next_time = end + max(self.interval, cost / budget)
        return event
