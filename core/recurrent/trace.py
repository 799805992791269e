"""Recompute a recurrent block step by step from its own weights: hidden state, cell state and gates.

PyTorch's gate layout, which this follows row for row:

    LSTM  rows i, f, g, o     i, f, o = σ(…), g = tanh(…), c_t = f·c_(t−1) + i·g, h_t = o·tanh(c_t)
    GRU   rows r, z, n        r, z = σ(…), n = tanh(W_in·x + b_in + r·(W_hn·h + b_hn)), h_t = (1−z)·n + z·h_(t−1)
    RNN   one row set         h_t = tanh or relu(W_ih·x + b_ih + W_hh·h + b_hh)

The states start at zero (the compiled model calls the module without initial states), dropout between
stacked layers is left out (eval mode), and the work is done in float64 NumPy: one sequence is a few hundred
small matrix-vector products, where NumPy's per-call cost is a fraction of torch's. Results are float32.
NumPy's BLAS runs on the calling thread alone meanwhile (`serial_blas`): a product this small gains nothing
from a thread pool, and on a busy 2-core machine waking the pool's threads made one trace 10× slower.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

KINDS = {"RNN_TANH": "rnn", "RNN_RELU": "rnn", "LSTM": "lstm", "GRU": "gru"}  # nn.RNNBase.mode → kind
DIRECTIONS = ("forward", "backward")


@dataclass(frozen=True)
class Quantity:
    """One quantity traced over time. `low`/`high` is its fixed range, None where it depends on the data
    (the LSTM cell state, a relu RNN's state); `scale` names the colour scale: "gate" (0–1),
    "tanh" (−1–1), "signed" (symmetric about 0, from the data) or "positive" (0 up, from the data)."""

    name: str
    label: str
    low: float | None
    high: float | None
    scale: str


_H_TANH = Quantity("h", "hidden state", -1.0, 1.0, "tanh")
_H_RELU = Quantity("h", "hidden state", 0.0, None, "positive")
_GATE = {
    "i": "input gate", "f": "forget gate", "o": "output gate", "r": "reset gate", "z": "update gate",
}
_TANH = {"g": "candidate", "n": "candidate"}


def _gate(name: str) -> Quantity:
    return Quantity(name, _GATE[name], 0.0, 1.0, "gate")


def _tanh(name: str) -> Quantity:
    return Quantity(name, _TANH[name], -1.0, 1.0, "tanh")


QUANTITIES: dict[str, tuple[Quantity, ...]] = {
    "rnn": (_H_TANH,),
    "rnn_relu": (_H_RELU,),
    "lstm": (_H_TANH, Quantity("c", "cell state", None, None, "signed"), _gate("i"), _gate("f"), _tanh("g"),
             _gate("o")),
    "gru": (_H_TANH, _gate("r"), _gate("z"), _tanh("n")),
}


@dataclass(frozen=True)
class DirectionTrace:
    """One layer and direction (0 forward, 1 backward). `values` maps a quantity name to a T × hidden
    float32 array whose row t is the value after reading input step t (for the backward direction too:
    rows follow the input, as in the module's output)."""

    layer: int
    direction: int
    values: dict[str, np.ndarray]

    def __getitem__(self, name: str) -> np.ndarray:
        return self.values[name]

    @property
    def h(self) -> np.ndarray:
        return self.values["h"]

    @property
    def direction_name(self) -> str:
        return DIRECTIONS[self.direction]


@dataclass(frozen=True)
class RecurrentTrace:
    """Every layer and direction of a recurrent block over one probe sequence."""

    kind: str  # "rnn", "lstm" or "gru"
    nonlinearity: str  # "tanh" or "relu" (relu only for an RNN)
    layers: int
    directions: int
    hidden_size: int
    steps: int
    quantities: tuple[Quantity, ...]
    traces: tuple[DirectionTrace, ...]  # layer by layer, forward before backward

    def trace(self, layer: int, direction: int = 0) -> DirectionTrace:
        if not 0 <= layer < self.layers:
            raise IndexError(f"the {self.kind.upper()} has {self.layers} layer(s); there is no layer {layer}")
        if not 0 <= direction < self.directions:
            raise IndexError(f"the {self.kind.upper()} has {self.directions} direction(s); "
                             f"there is no direction {direction}")
        return self.traces[layer * self.directions + direction]

    def quantity(self, name: str) -> Quantity:
        for q in self.quantities:
            if q.name == name:
                return q
        names = ", ".join(q.name for q in self.quantities)
        raise KeyError(f"a {self.kind.upper()} has no quantity {name!r}; it has {names}")

    def value_range(self, name: str) -> tuple[float, float]:
        """The colour range of a quantity: its fixed range, or one from the data over every layer and
        direction (symmetric for "signed", from 0 for "positive"; never empty)."""
        q = self.quantity(name)
        if q.low is not None and q.high is not None:
            return q.low, q.high
        top = max((float(np.abs(t.values[name]).max()) for t in self.traces if t.values[name].size), default=0.0)
        top = top or 1.0
        return (0.0, top) if q.scale == "positive" else (-top, top)

    def output(self) -> np.ndarray:
        """The last layer's hidden states, directions side by side: T × hidden·directions, like the
        module's output sequence."""
        last = self.traces[-self.directions:]
        return np.concatenate([t.h for t in last], axis=1)

    def final(self, name: str = "h") -> np.ndarray:
        """Each layer and direction's final state ((layers·directions) × hidden, like h_n / c_n): the last
        step for the forward direction, the first for the backward one."""
        return np.stack([t.values[name][-1 if t.direction == 0 else 0] for t in self.traces])


def kind_of(module) -> str:
    """ "rnn", "lstm" or "gru" for an nn.RNN / nn.LSTM / nn.GRU; a plain error for anything else."""
    from torch import nn

    kind = KINDS.get(module.mode) if isinstance(module, nn.RNNBase) else None
    if kind is None:
        raise TypeError(f"expected an nn.RNN, nn.LSTM or nn.GRU module but got {type(module).__name__}")
    if getattr(module, "proj_size", 0):
        raise ValueError("an LSTM with proj_size is not supported (Layerloom's LSTM block has none)")
    return kind


def _sequence(module, x) -> np.ndarray:
    arr = x.detach().cpu().double().numpy() if hasattr(x, "detach") else np.asarray(x, dtype=np.float64)
    if arr.ndim == 3 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 2 or arr.shape[1] != module.input_size:
        raise ValueError(f"the {type(module).__name__} expects one sequence of T × {module.input_size} "
                         f"(time steps × features) but got shape {tuple(arr.shape)}")
    return arr


def _weights(module, layer: int, direction: int):
    sfx = f"_l{layer}" + ("_reverse" if direction else "")

    def get(name):
        return getattr(module, name + sfx).detach().cpu().double().numpy()

    w_ih, w_hh = get("weight_ih"), get("weight_hh")
    rows = w_ih.shape[0]
    if module.bias:
        b_ih, b_hh = get("bias_ih"), get("bias_hh")
    else:
        b_ih = b_hh = np.zeros(rows)
    return w_ih, np.ascontiguousarray(w_hh.T), b_ih, b_hh


def _sigmoid(a: np.ndarray) -> np.ndarray:
    return 0.5 * np.tanh(0.5 * a) + 0.5  # exact, and never overflows


def _run_lstm(xp, whh_t, hidden, order):
    steps = xp.shape[0]
    pre = np.empty((steps, 4 * hidden))
    cs = np.empty((steps, hidden))
    hs = np.empty((steps, hidden))
    h = np.zeros(hidden)
    c = np.zeros(hidden)
    H, H2, H3 = hidden, 2 * hidden, 3 * hidden
    for t in order:
        a = xp[t] + h @ whh_t
        s = _sigmoid(a)
        g = np.tanh(a[H2:H3])
        c = s[H:H2] * c + s[:H] * g
        h = s[H3:] * np.tanh(c)
        pre[t] = a
        cs[t] = c
        hs[t] = h
    gates = _sigmoid(pre)
    return hs, {"c": cs, "i": gates[:, :H], "f": gates[:, H:H2], "g": np.tanh(pre[:, H2:H3]), "o": gates[:, H3:]}


def _run_gru(xp, whh_t, b_hn, hidden, order):
    steps = xp.shape[0]
    H, H2 = hidden, 2 * hidden
    rz = np.empty((steps, H2))
    ns = np.empty((steps, hidden))
    hs = np.empty((steps, hidden))
    h = np.zeros(hidden)
    for t in order:
        hp = h @ whh_t
        s = _sigmoid(xp[t, :H2] + hp[:H2])
        n = np.tanh(xp[t, H2:] + s[:H] * (hp[H2:] + b_hn))
        z = s[H:]
        h = n + z * (h - n)
        rz[t] = s
        ns[t] = n
        hs[t] = h
    return hs, {"r": rz[:, :H], "z": rz[:, H:], "n": ns}


def _run_rnn(xp, whh_t, hidden, order, relu: bool):
    hs = np.empty((xp.shape[0], hidden))
    h = np.zeros(hidden)
    for t in order:
        a = xp[t] + h @ whh_t
        h = np.maximum(a, 0.0) if relu else np.tanh(a)
        hs[t] = h
    return hs, {}


_blas: list = []  # the ThreadpoolController of NumPy's BLAS, made on first use


def serial_blas():
    """A context manager that keeps NumPy's BLAS on the calling thread: its thread pool made the first trace
    about 10× slower on a busy 2-core machine."""
    if not _blas:
        from threadpoolctl import ThreadpoolController

        _blas.append(ThreadpoolController().select(user_api="blas"))
    return _blas[0].limit(limits=1)


def trace_block(module, x) -> RecurrentTrace:
    """Recompute `module` (an nn.RNN, nn.LSTM or nn.GRU, batch first) over one sequence `x` (T × features,
    or 1 × T × features; a tensor or an array) and return every layer's and direction's states and gates."""
    kind = kind_of(module)
    seq = _sequence(module, x)
    hidden = module.hidden_size
    dirs = 2 if module.bidirectional else 1
    relu = kind == "rnn" and module.nonlinearity == "relu"
    steps = seq.shape[0]
    traces = []
    with serial_blas():
        _layers(module, kind, seq, relu, traces)
    quantities = QUANTITIES["rnn_relu" if relu else kind]
    return RecurrentTrace(kind, "relu" if relu else "tanh", module.num_layers, dirs, hidden, steps, quantities,
                          tuple(traces))


def _layers(module, kind: str, seq: np.ndarray, relu: bool, traces: list) -> None:
    hidden = module.hidden_size
    dirs = 2 if module.bidirectional else 1
    steps = seq.shape[0]
    inp = seq
    for layer in range(module.num_layers):
        outs = []
        for d in range(dirs):
            w_ih, whh_t, b_ih, b_hh = _weights(module, layer, d)
            order = range(steps - 1, -1, -1) if d else range(steps)
            if kind == "gru":
                xp = inp @ w_ih.T + b_ih
                xp[:, : 2 * hidden] += b_hh[: 2 * hidden]
                hs, extra = _run_gru(xp, whh_t, b_hh[2 * hidden:], hidden, order)
            else:
                xp = inp @ w_ih.T + (b_ih + b_hh)
                run = _run_lstm if kind == "lstm" else lambda *a: _run_rnn(*a, relu=relu)
                hs, extra = run(xp, whh_t, hidden, order)
            values = {"h": hs.astype(np.float32)}
            values.update({k: v.astype(np.float32) for k, v in extra.items()})
            traces.append(DirectionTrace(layer, d, values))
            outs.append(hs)
        inp = np.concatenate(outs, axis=1) if dirs == 2 else outs[0]


def unit_lines(trace: RecurrentTrace, layer: int, direction: int, unit: int) -> dict[str, np.ndarray]:
    """Every quantity of one unit over time (name → T values), for the per-unit line plot."""
    d = trace.trace(layer, direction)
    if not 0 <= unit < trace.hidden_size:
        raise IndexError(f"the block has {trace.hidden_size} units; there is no unit {unit}")
    return {q.name: d.values[q.name][:, unit] for q in trace.quantities}
