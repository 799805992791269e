"""Gradients through time: ‖∂loss/∂h_t‖ at every step of a recurrent block, for one probe sample.

During one forward pass of the model, the block's module is swapped (by a forward hook that replaces its
output) for a step-by-step torch recomputation from the same weights whose hidden states h_t are kept;
`torch.autograd.grad` then gives the loss gradient with respect to each of them. h_t feeds both the layer's
output at t and step t+1, so this is the full gradient through time (what backpropagation through time
carries back to step t). Parameters' `.grad` are left untouched, and the model runs in eval mode.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from layerloom.core.model_modes import eval_mode
from layerloom.core.recurrent.capture import module_of
from layerloom.core.recurrent.trace import kind_of


@dataclass(frozen=True)
class GradientTrace:
    """`norms[layer, direction, t]` = ‖∂loss/∂h_t‖ over the batch and units; t follows the input (for the
    backward direction too). `loss` is the loss of the pass the gradients come from."""

    block: str
    kind: str
    layers: int
    directions: int
    steps: int
    norms: np.ndarray  # layers × directions × T, float64
    loss: float

    def of(self, layer: int, direction: int = 0) -> np.ndarray:
        if not (0 <= layer < self.layers and 0 <= direction < self.directions):
            raise IndexError(f"block {self.block!r} has {self.layers} layer(s) and {self.directions} "
                             f"direction(s); there is no layer {layer}, direction {direction}")
        return self.norms[layer, direction]


def _parts(module, layer: int, direction: int):
    sfx = f"_l{layer}" + ("_reverse" if direction else "")
    w_ih, w_hh = getattr(module, "weight_ih" + sfx), getattr(module, "weight_hh" + sfx)
    if module.bias:
        return w_ih, w_hh, getattr(module, "bias_ih" + sfx), getattr(module, "bias_hh" + sfx)
    return w_ih, w_hh, None, None


def unrolled(module: nn.RNNBase, x: torch.Tensor, kept: dict[tuple[int, int], list]):
    """What `module(x)` returns (batch first, zero initial states, no dropout), computed one step at a time;
    every hidden state h_t goes into kept[(layer, direction)][t]."""
    kind = kind_of(module)
    relu = module.mode == "RNN_RELU"
    n, steps, _ = x.shape
    hidden = module.hidden_size
    dirs = 2 if module.bidirectional else 1
    finals_h, finals_c = [], []
    inp = x
    for layer in range(module.num_layers):
        outs = []
        for d in range(dirs):
            w_ih, w_hh, b_ih, b_hh = _parts(module, layer, d)
            xp = torch.nn.functional.linear(inp, w_ih, b_ih)
            h = x.new_zeros(n, hidden).requires_grad_()
            c = x.new_zeros(n, hidden)
            hs: list = [None] * steps
            for t in (range(steps - 1, -1, -1) if d else range(steps)):
                hp = torch.nn.functional.linear(h, w_hh, b_hh)
                if kind == "lstm":
                    i, f, g, o = (xp[:, t] + hp).chunk(4, dim=1)
                    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
                    h = torch.sigmoid(o) * torch.tanh(c)
                elif kind == "gru":
                    xr, xz, xn = xp[:, t].chunk(3, dim=1)
                    hr, hz, hn = hp.chunk(3, dim=1)
                    r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
                    nn_ = torch.tanh(xn + r * hn)
                    h = (1 - z) * nn_ + z * h
                else:
                    a = xp[:, t] + hp
                    h = torch.relu(a) if relu else torch.tanh(a)
                hs[t] = h
            kept[(layer, d)] = hs
            finals_h.append(h)
            finals_c.append(c)
            outs.append(torch.stack(hs, dim=1))
        inp = torch.cat(outs, dim=2) if dirs == 2 else outs[0]
    h_n = torch.stack(finals_h)
    if kind == "lstm":
        return inp, (h_n, torch.stack(finals_c))
    return inp, h_n


def gradients_through_time(model: nn.Module, inputs, targets, loss_fn: Callable, block: str) -> GradientTrace:
    """‖∂loss/∂h_t‖ for every layer, direction and step of the recurrent block `block` of `model`.

    `inputs` is the model's input (a tensor or a tuple of them, the probe sample as a batch of 1);
    `loss_fn(model(*inputs), targets)` is the loss the model trains with (for a compiled Layerloom model,
    `loss_function(output_losses(graph, model.output_names))` with `targets` a tuple of tensors)."""
    module = module_of(model, block)
    kind = kind_of(module)
    inputs = inputs if isinstance(inputs, (tuple, list)) else (inputs,)
    kept: dict[tuple[int, int], list] = {}

    def replace(_module, args, _output):
        return unrolled(module, args[0], kept)

    handle = module.register_forward_hook(replace)
    try:
        with torch.enable_grad(), eval_mode(model):
            loss = loss_fn(model(*inputs), targets)
    finally:
        handle.remove()
    if not kept:
        raise RuntimeError(f"block {block!r} did not run when the model ran on these inputs")
    if loss.dim() != 0:
        raise ValueError(f"the loss must be one number but has shape {tuple(loss.shape)}")
    dirs = 2 if module.bidirectional else 1
    keys = [(layer, d) for layer in range(module.num_layers) for d in range(dirs)]
    flat = [h for key in keys for h in kept[key]]
    grads = torch.autograd.grad(loss, flat, allow_unused=True)
    norms = torch.stack([torch.linalg.vector_norm(g.double()) if g is not None else torch.zeros((), dtype=torch.float64)
                         for g in grads])
    steps = len(kept[keys[0]])
    return GradientTrace(block, kind, module.num_layers, dirs, steps,
                         norms.detach().cpu().numpy().reshape(module.num_layers, dirs, steps), float(loss.detach()))
