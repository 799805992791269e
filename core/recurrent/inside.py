"""One look inside a recurrent block of a model on one probe sample: its states and gates over time (recomputed
from its weights), the loss gradient with respect to its hidden state at each step, and what to write along the
time axis (the words of a text, the values of a series).

    look = look_inside(model, "lstm", inputs, targets, loss_fn, vocabulary=info.vocabulary)
    look.trace.trace(0, 0)["f"]      # T × hidden forget gate of layer 0, forward
    look.gradients.of(0, 0)          # ‖∂loss/∂h_t‖ for t = 0 … T−1
    look.time_labels                 # ("free", "entry", "now", …) or ("0.53", …) or ("1", "2", …)
    unit_lines(look.trace, 0, 0, 5)  # (core/recurrent/trace.py) unit 5's i, f, g, o, c, h over time

The trainer emits it as a `RecurrentInside` event (core/training/events.py) at the feature-map rate; the window
computes it itself for a trained or opened model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from layerloom.core.recurrent.capture import block_input, module_of
from layerloom.core.recurrent.gradients import GradientTrace, gradients_through_time
from layerloom.core.recurrent.trace import RecurrentTrace, trace_block

PADDING_LABEL = "·"  # a padding token (id 0) along the time axis


@dataclass(frozen=True)
class Inside:
    """What `look_inside` found: the trace, the gradients through time (None, with `gradient_note` saying why,
    when they could not be computed), and one label per time step."""

    trace: RecurrentTrace
    gradients: GradientTrace | None
    time_labels: tuple[str, ...]
    gradient_note: str = ""


def time_labels(inputs: Sequence[torch.Tensor], steps: int, vocabulary: Sequence[str] | None = None) -> tuple[str, ...]:
    """One label per step of a recurrent block that reads `steps` steps of the model's first input (a batch of
    one): the token of a text (token ids with a vocabulary; padding as "·"), the value of a one-feature series,
    else the step number from 1. A block whose sequence is not the input's (pooled, strided) gets numbers."""
    x = inputs[0][0] if len(inputs) and len(inputs[0]) else None
    if x is not None and x.dim() >= 1 and x.shape[0] == steps:
        if not x.is_floating_point() and x.dim() == 1 and vocabulary:
            ids = x.tolist()
            return tuple(PADDING_LABEL if i == 0 else (vocabulary[i] if 0 <= i < len(vocabulary) else "?")
                         for i in ids)
        if x.is_floating_point() and (x.dim() == 1 or (x.dim() == 2 and x.shape[1] == 1)):
            return tuple(f"{v:.3g}" for v in x.reshape(-1).tolist())
    return tuple(str(t + 1) for t in range(steps))


def look_inside(model: torch.nn.Module, block: str, inputs: Sequence[torch.Tensor], targets=None,
                loss_fn: Callable | None = None, *, vocabulary: Sequence[str] | None = None,
                gradients: bool = True) -> Inside:
    """Trace the recurrent block `block` of `model` on `inputs` (the probe sample, a batch of one); with `targets`
    and `loss_fn` (the training loss: `loss_fn(model(*inputs), targets)`) also the gradient through time.
    The model's modes and parameters' gradients are left as they were. Raises KeyError/TypeError for a block
    that is not a recurrent block of the model."""
    inputs = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
    module = module_of(model, block)
    x = block_input(model, block, inputs)
    trace = trace_block(module, x[:1])
    grads, note = None, ""
    if gradients and loss_fn is not None and targets is not None:
        try:
            grads = gradients_through_time(model, inputs, targets, loss_fn, block)
        except Exception as err:  # e.g. a loss that cannot take one sample: the states still show
            note = f"the gradient through time could not be computed: {err}"
    elif gradients:
        note = "the gradient through time needs the sample's target"
    return Inside(trace, grads, time_labels(inputs, trace.steps, vocabulary), note)
