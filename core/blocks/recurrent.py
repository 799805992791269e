"""Recurrent blocks: simple RNN, LSTM and GRU (stacked, bidirectional, batch-first)."""

from __future__ import annotations

import operator

from layerloom.core.blocks.registry import register
from layerloom.core.blocks.rules import describe, require_float
from layerloom.core.blocks.spec import BlockProblem, BlockSpec, Inferred, ParamSpec, TensorSpec

GATES = {"RNN": 1, "LSTM": 4, "GRU": 3}


def _infer(kind: str):
    gates = GATES[kind]

    def infer(p, inputs):
        x = inputs[0]
        require_float(x)
        if x.rank != 2:
            fix = "add an Embedding for token ids" if x.rank == 1 else "flatten or pool it first"
            raise BlockProblem(f"expects a T×F sequence (time steps × features) but got {describe(x)}; {fix}")
        steps, feat = x.shape
        h, layers = p["hidden_size"], p["num_layers"]
        dirs = 2 if p["bidirectional"] else 1
        params = 0
        macs = 0
        for layer in range(layers):
            fin = feat if layer == 0 else h * dirs
            params += dirs * gates * h * (fin + h + 2)
            macs += dirs * steps * gates * h * (fin + h)
        warnings = ()
        if p["dropout"] > 0 and layers == 1:
            warnings = ("has dropout but one layer; dropout only acts between stacked layers",)
        out = (steps, h * dirs) if p["return_sequences"] else (h * dirs,)
        return Inferred(TensorSpec(out), params, macs, warnings)

    return infer


FORGET_BIAS_ATTRIBUTE = "layerloom_forget_bias"


def set_forget_bias(lstm, value):
    """Start an nn.LSTM's forget gates at `value`: bias_ih's forget rows to it, bias_hh's to 0, in every layer
    and direction (PyTorch's gate order is i, f, g, o; Jozefowicz et al. 2015, Keras' unit_forget_bias)."""
    import torch

    h = lstm.hidden_size
    lstm.layerloom_forget_bias = float(value)  # a re-initialisation (xavier, kaiming) starts them here again
    with torch.no_grad():
        for name, param in lstm.named_parameters():
            if name.startswith("bias_ih"):
                param[h:2 * h] = value
            elif name.startswith("bias_hh"):
                param[h:2 * h] = 0.0


def _build(kind: str):
    def build(p, inputs):
        from torch import nn

        module = getattr(nn, kind)(
            inputs[0].shape[-1],
            p["hidden_size"],
            num_layers=p["num_layers"],
            bidirectional=p["bidirectional"],
            dropout=p["dropout"] if p["num_layers"] > 1 else 0.0,
            batch_first=True,
        )
        if p.get("forget_bias") is not None:  # setting biases draws no random numbers: the rest is as before
            set_forget_bias(module, p["forget_bias"])
        return module

    return build


def _emit(ctx, p, inputs, args):
    """out, _ = rnn(x); then all steps, or the last step of each direction."""
    raw = ctx.call_module(args, final=False, suffix="rnn")
    seq = ctx.call_function(operator.getitem, (raw, 0), final=p["return_sequences"], suffix="seq")
    if p["return_sequences"]:
        return seq
    h = p["hidden_size"]
    if not p["bidirectional"]:
        return ctx.call_function(operator.getitem, (seq, (slice(None), -1)))
    import torch

    fwd = ctx.call_function(operator.getitem, (seq, (slice(None), -1, slice(None, h))), final=False,
                            suffix="fwd")
    bwd = ctx.call_function(operator.getitem, (seq, (slice(None), 0, slice(h, None))), final=False,
                            suffix="bwd")
    return ctx.call_function(torch.cat, ([fwd, bwd],), {"dim": -1})


_HELP = {
    "RNN": (
        "A simple recurrent network reads a sequence one step at a time and keeps a hidden state: "
        "h_t = tanh(W·x_t + U·h_(t−1) + b). The same weights are used at every step. Over long "
        "sequences its gradients shrink or blow up as they flow back through time (vanishing and "
        "exploding gradients), which LSTM and GRU were designed to fix."
    ),
    "LSTM": (
        "A Long Short-Term Memory layer keeps a cell state c_t beside its hidden state. Three gates "
        "decide what happens to it at each step: the forget gate what to erase, the input gate what "
        "to write (from a tanh candidate), the output gate what to show as h_t. Because the cell "
        "state is updated by addition, gradients survive long sequences."
    ),
    "GRU": (
        "A Gated Recurrent Unit merges the LSTM's cell and hidden state and uses two gates: the "
        "update gate blends the old state with a new candidate, the reset gate decides how much of "
        "the old state the candidate sees. Fewer parameters than an LSTM, often as accurate."
    ),
}

_COUNT = (
    "\n\nInput: a T×F sequence, batch first. Output: T × (hidden_size·directions) with "
    "return_sequences, else the last step only (forward direction's last step and backward "
    "direction's first, joined). num_layers stacks layers; bidirectional adds a second layer "
    "reading backwards; dropout acts between stacked layers.\n"
    "Parameters per layer and direction: {g} × hidden × (inputs + hidden + 2) — {g} weight sets "
    "({what}), each with an input matrix, a recurrent matrix and two bias vectors."
)
_FORGET = (
    "\n\nforget_bias (LSTM): the forget gates' starting bias. 1 (the default, as Keras) starts them mostly "
    "open, sigmoid(1) ≈ 0.73, so the cell keeps what it holds and gradients reach early steps from the "
    "first batch; empty keeps PyTorch's random start, which leaves them about half shut (projects saved "
    "before this option open that way)."
)
_WHAT = {"RNN": "one", "LSTM": "input, forget, cell and output gates", "GRU": "reset, update and new gates"}

FORGET_BIAS = ParamSpec(
    "forget_bias", "optional_float", 1.0,
    "Starting bias of the forget gates (1: start remembering, as Keras); empty: PyTorch's random start.",
    min=-10.0, max=10.0)

for _kind in ("RNN", "LSTM", "GRU"):
    register(
        BlockSpec(
            type_id=_kind,
            category="Recurrent",
            summary={
                "RNN": "Simple recurrent layer: a hidden state updated at every time step.",
                "LSTM": "Recurrent layer with a cell state and forget, input and output gates.",
                "GRU": "Recurrent layer with update and reset gates (a lighter LSTM).",
            }[_kind],
            help=_HELP[_kind] + _COUNT.format(g=GATES[_kind], what=_WHAT[_kind]) + (_FORGET if _kind == "LSTM" else ""),
            infer=_infer(_kind),
            build=_build(_kind),
            emit=_emit,
            params=(
                ParamSpec("hidden_size", "int", 64, "Size of the hidden state.", min=1),
                ParamSpec("num_layers", "int", 1, "Number of stacked layers.", min=1, max=16),
                ParamSpec("bidirectional", "bool", False, "Also read the sequence backwards."),
                ParamSpec("dropout", "float", 0.0, "Dropout between stacked layers.", min=0.0, max=1.0,
                          exclusive_max=True),
                ParamSpec("return_sequences", "bool", False,
                          "Output every time step (for stacking or per-step outputs); off: the last only."),
            ) + ((FORGET_BIAS,) if _kind == "LSTM" else ()),
            key_params=("hidden_size", "num_layers", "bidirectional", "return_sequences"),
        )
    )
