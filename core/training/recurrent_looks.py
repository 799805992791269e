"""Looks inside the recurrent block asked for through the control, while a run trains: its states and gates over
time and the gradient through time on the probe sample (core/recurrent/inside.py), as RecurrentInside events.

    looks = RecurrentLooks(model, loss_fn, vocabulary=info.vocabulary, interval=0.5)
    if looks.due(now, "lstm"):
        event = looks.look("lstm", probe, step, epoch)   # RecurrentInside, a RecurrentNote once, or None

Paced by cost: a look (a trace plus a forward and backward pass for the gradients) is timed, and the next one
comes no sooner than its cost / BUDGET seconds later — never sooner than `interval` (the feature-map rate) — so
that the looks take at most about BUDGET of the training time. The cost counted is the least of the last three
looks: the first look of a run pays one-off set-up (thread pools, caches; 0.3 s against 8 ms afterwards for
lstm_text) and one the training thread waited on the GIL for is slow too; counting those would leave the view
still for many seconds. A block it cannot look inside (not recurrent, a
model it cannot run) gets one RecurrentNote and no further tries until another block is asked for.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from layerloom.core.training import events as ev

BUDGET = 0.02  # the share of training time the looks may take


class RecurrentLooks:
    def __init__(self, model, loss_fn: Callable | None, *, vocabulary: Sequence[str] | None = None,
                 interval: float = 0.5, budget: float | None = None):
        self.model = model
        self.loss_fn = loss_fn
        self.vocabulary = vocabulary
        self.interval = float(interval)
        self.budget = budget  # None: BUDGET
        self.block: str | None = None  # the block of the latest look
        self.failed: str | None = None  # a block that could not be looked inside (no more tries)
        self.next_time = 0.0
        self.last_cost = 0.0  # seconds the latest look took
        self.costs: list[float] = []  # the latest looks' seconds (up to three)

    def due(self, now: float, block: str | None) -> bool:
        """Whether to look inside `block` now: a block newly asked for at once, the same one when its time came."""
        if not block:
            return False
        if block != self.block:
            self.block, self.failed, self.next_time, self.costs = block, None, 0.0, []
        return self.failed != block and now >= self.next_time

    def look(self, block: str, probe: tuple, step: int, epoch: int):
        """The RecurrentInside event of `block` on `probe` = (index, inputs, targets, label) — inputs and targets
        as tuples of tensors of a batch of one on the model's device — or a RecurrentNote (once) when it cannot
        be computed. Schedules the next look by this one's cost."""
        from layerloom.core.recurrent.inside import look_inside

        index, inputs, targets, label = probe
        t0 = time.perf_counter()
        try:
            inside = look_inside(self.model, block, inputs, targets, self.loss_fn, vocabulary=self.vocabulary)
        except Exception as err:  # not a recurrent block, a model it cannot run: say so once
            self.failed = block
            reason = err.args[0] if isinstance(err, KeyError) and err.args else err
            return ev.RecurrentNote(step=step, block=block, message=f"Cannot look inside {block}: {reason}")
        end = time.perf_counter()
        self.last_cost = end - t0
        self.costs = [*self.costs[-2:], self.last_cost]
        cost = min(self.costs) if len(self.costs) > 1 else min(self.last_cost, self.interval * (self.budget or BUDGET))
        self.next_time = end + max(self.interval, cost / (self.budget or BUDGET))
        return ev.RecurrentInside(step=step, epoch=epoch, block=block, sample_index=index, trace=inside.trace,
                                  gradients=inside.gradients, time_labels=inside.time_labels, label=label,
                                  gradient_note=inside.gradient_note)
