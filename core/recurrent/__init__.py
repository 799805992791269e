"""Inside a recurrent block (RNN, LSTM, GRU): its states and gates over one probe sequence, and the loss
gradient with respect to its hidden state at every step.

`trace_block` recomputes, from the module's own weights in PyTorch's gate layout, every layer and
direction of an `nn.RNN` / `nn.LSTM` / `nn.GRU` (batch first, as Layerloom compiles them);
`gradients_through_time` gives ‖∂loss/∂h_t‖ for every step of a block inside a model; `look_inside` does
both for one probe sample, with labels for the time axis. Both are Qt-free; views draw their results.
Names load their module on first use: a view that draws a trace (trace.py: NumPy only) does not import torch.
"""

from __future__ import annotations

_EXPORTS = {
    "QUANTITIES": "trace",
    "DirectionTrace": "trace",
    "Quantity": "trace",
    "RecurrentTrace": "trace",
    "kind_of": "trace",
    "trace_block": "trace",
    "unit_lines": "trace",
    "block_input": "capture",
    "recurrent_blocks": "capture",
    "GradientTrace": "gradients",
    "gradients_through_time": "gradients",
    "Inside": "inside",
    "look_inside": "inside",
    "time_labels": "inside",
}

from layerloom.core.lazy import lazy_exports  # noqa: E402

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
