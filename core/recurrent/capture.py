"""Find the recurrent blocks of a model and catch what one of them is fed."""

from __future__ import annotations

import torch
from torch import nn

from layerloom.core.model_modes import eval_mode


class _Caught(Exception):
    """Raised by the capturing hook: the rest of the model need not run."""


def recurrent_blocks(model: nn.Module) -> list[str]:
    """Names of the model's nn.RNN / nn.LSTM / nn.GRU submodules (for a compiled model, block names)."""
    return [name for name, m in model.named_modules() if isinstance(m, nn.RNNBase) and name]


def module_of(model: nn.Module, block: str) -> nn.RNNBase:
    """The recurrent module named `block`; a plain error when there is none."""
    try:
        module = model.get_submodule(block)
    except AttributeError:
        found = ", ".join(recurrent_blocks(model)) or "none"
        raise KeyError(f"the model has no block {block!r} (its recurrent blocks: {found})") from None
    if not isinstance(module, nn.RNNBase):
        raise TypeError(f"block {block!r} is a {type(module).__name__}, not an RNN, LSTM or GRU")
    return module


def block_input(model: nn.Module, block: str, inputs) -> torch.Tensor:
    """The tensor the recurrent block `block` receives when `model` runs on `inputs` (a tensor or a tuple of
    them), detached; eval mode, no gradients, and the model stops running once the block is reached."""
    module = module_of(model, block)
    inputs = inputs if isinstance(inputs, (tuple, list)) else (inputs,)
    caught: list[torch.Tensor] = []

    def hook(_module, args):
        caught.append(args[0].detach())
        raise _Caught

    handle = module.register_forward_pre_hook(hook)
    try:
        with torch.no_grad(), eval_mode(model):
            model(*inputs)
    except _Caught:
        pass
    finally:
        handle.remove()
    if not caught:
        raise RuntimeError(f"block {block!r} did not run when the model ran on these inputs")
    return caught[0]
