"""Inside a recurrent block (RNN, LSTM, GRU): its states and gates over one probe sequence, and the loss
gradient with respect to its hidden state at every step.

`trace_block` recomputes, from the module's own weights in PyTorch's gate layout, every layer and
direction of an `nn.RNN` / `nn.LSTM` / `nn.GRU` (batch first, as Layerloom compiles them);
`gradients_through_time` gives ‖∂loss/∂h_t‖ for every step of a block inside a model.
Both are Qt-free; views draw their results.
"""

from __future__ import annotations

from layerloom.core.recurrent.capture import block_input, recurrent_blocks
from layerloom.core.recurrent.gradients import GradientTrace, gradients_through_time
from layerloom.core.recurrent.trace import (
    QUANTITIES,
    DirectionTrace,
    Quantity,
    RecurrentTrace,
    kind_of,
    trace_block,
)

__all__ = [
    "QUANTITIES",
    "DirectionTrace",
    "GradientTrace",
    "Quantity",
    "RecurrentTrace",
    "block_input",
    "gradients_through_time",
    "kind_of",
    "recurrent_blocks",
    "trace_block",
]
