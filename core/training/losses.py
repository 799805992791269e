"""The loss of each Output block (its `loss` parameter), summed over Outputs.

Targets are matched to outputs the way the data sources give them: class labels (N,) or (N, T) for
cross_entropy (logits N×C, or N×T×C from a sequence model, or N×C×… maps), float targets of the
output's shape (or any shape with as many values) for bce_with_logits, mse and l1.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

LOSSES = ("cross_entropy", "bce_with_logits", "mse", "l1")


def output_losses(graph, output_names) -> list[str]:
    """The loss name of each model output, in the model's output order."""
    by_name = {n.name: n for n in graph if n.type == "Output"}
    return [by_name[name].params["loss"] for name in output_names]


def class_logits(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Logits laid out as cross_entropy wants them: N×C or N×C×d… . A sequence output N×T×C with
    labels N×T is turned into N×C×T."""
    if out.dim() == 3 and target.dim() == 2 and out.shape[1] == target.shape[1] and out.shape[2] != target.shape[1]:
        return out.transpose(1, 2)
    return out


class _Loss:
    """One Output's loss. The way targets are matched to outputs (layout, shape, dtype) is worked out on the
    first batch and reused: only the batch size changes between batches, and the checks would cost about as
    much as a small model's loss itself."""

    def __init__(self, name: str):
        self.name = name
        self._call = None

    def __call__(self, out, target):
        call = self._call
        if call is None:
            call = self._call = self._plan(out, target)
        return call(out, target)

    def _plan(self, out, target):
        name = self.name
        if name == "cross_entropy":
            if target.dtype.is_floating_point and target.shape == out.shape:
                return F.cross_entropy  # class probabilities
            transpose = class_logits(out, target) is not out
            long = target.dtype != torch.int64
            if not transpose and not long:
                return F.cross_entropy
            return lambda o, t: F.cross_entropy(o.transpose(1, 2) if transpose else o, t.long() if long else t)
        fn = {"bce_with_logits": F.binary_cross_entropy_with_logits, "mse": F.mse_loss, "l1": F.l1_loss}[name]
        if target.shape[1:] == out.shape[1:] and target.dtype == out.dtype:
            return fn
        return lambda o, t: fn(o, _matched(o, t))


def _matched(out, target):
    if target.shape != out.shape:
        target = target.reshape(out.shape)
    if target.dtype != out.dtype:
        target = target.to(out.dtype)
    return target


def loss_function(names: list[str]):
    """A function (outputs, targets) → scalar loss for a model with these Output losses; `outputs` is the
    model's result (a tensor for one Output, a tuple for several), `targets` a tuple of tensors."""
    for name in names:
        if name not in LOSSES:
            raise ValueError(f"unknown loss {name!r}; choose one of {', '.join(LOSSES)}")
    fns = [_Loss(n) for n in names]
    if len(fns) == 1:
        fn = fns[0]

        def single(out, targets):
            return fn(out, targets[0])

        return single

    def several(outs, targets):
        total = fns[0](outs[0], targets[0])
        for f, o, t in zip(fns[1:], outs[1:], targets[1:]):
            total = total + f(o, t)
        return total

    return several
