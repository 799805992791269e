"""Run a model in eval mode for a moment (a probe, a prediction) and give every submodule its own mode back:
a training model may hold frozen blocks kept in eval mode, so `model.train()` afterwards would be wrong.

    with eval_mode(model):
        outputs = model(*inputs)
"""

from __future__ import annotations

import contextlib


@contextlib.contextmanager
def eval_mode(model):
    """Every submodule of `model` in eval mode inside the block; each one's own mode restored afterwards."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for m, training in modes:
            m.training = training
