"""Inside recurrent blocks: the recomputed states and gates equal nn.RNN / nn.LSTM / nn.GRU, and the
gradients through time equal a hand-unrolled network's."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from layerloom.core import build_model
from layerloom.core.compiler import example_inputs
from layerloom.core.recurrent import (
    block_input,
    gradients_through_time,
    recurrent_blocks,
    trace_block,
)
from layerloom.core.recurrent.gradients import unrolled
from layerloom.core.training.losses import loss_function, output_losses

OPTIONS = [
    (layers, bidi, bias)
    for layers in (1, 2) for bidi in (False, True) for bias in (True, False)
]
MODULES = {
    "lstm": lambda f, h, **kw: nn.LSTM(f, h, batch_first=True, **kw),
    "gru": lambda f, h, **kw: nn.GRU(f, h, batch_first=True, **kw),
    "rnn_tanh": lambda f, h, **kw: nn.RNN(f, h, batch_first=True, nonlinearity="tanh", **kw),
    "rnn_relu": lambda f, h, **kw: nn.RNN(f, h, batch_first=True, nonlinearity="relu", **kw),
}


def close(a, b, tol=1e-5):
    b = b.detach().numpy() if isinstance(b, torch.Tensor) else b
    assert a.shape == b.shape
    np.testing.assert_allclose(a, b, atol=tol, rtol=0)


def _made(name, layers, bidi, bias, seed=0):
    torch.manual_seed(seed)
    m = MODULES[name](6, 9, num_layers=layers, bidirectional=bidi, bias=bias)
    if bias:  # default biases are small; make them matter
        with torch.no_grad():
            for n, p in m.named_parameters():
                if n.startswith("bias"):
                    p.uniform_(-0.5, 0.5)
    return m


@pytest.mark.parametrize("name", list(MODULES))
@pytest.mark.parametrize(("layers", "bidi", "bias"), OPTIONS)
def test_recomputed_states_equal_the_module(name, layers, bidi, bias):
    m = _made(name, layers, bidi, bias)
    x = torch.randn(1, 13, 6) * 2
    with torch.no_grad():
        out, state = m(x)
    tr = trace_block(m, x[0])
    dirs = 2 if bidi else 1
    assert (tr.layers, tr.directions, tr.hidden_size, tr.steps) == (layers, dirs, 9, 13)
    close(tr.output(), out[0])
    h_n, c_n = state if name == "lstm" else (state, None)
    close(tr.final("h"), h_n[:, 0])
    if c_n is not None:
        close(tr.final("c"), c_n[:, 0])
    assert len(tr.traces) == layers * dirs
    assert tr.trace(layers - 1, dirs - 1).values["h"].dtype == np.float32


@pytest.mark.parametrize(("layers", "bidi"), [(1, False), (2, True)])
def test_every_layer_equals_a_stack_of_one_layer_modules(layers, bidi):
    """Lower layers too: a stack of single-layer LSTMs with the same weights gives each layer's sequence."""
    m = _made("lstm", layers, bidi, True)
    x = torch.randn(1, 8, 6)
    tr = trace_block(m, x)
    inp = x
    for layer in range(layers):
        one = nn.LSTM(inp.shape[-1], 9, bidirectional=bidi, batch_first=True)
        with torch.no_grad():
            for n, p in one.named_parameters():
                p.copy_(getattr(m, n.replace("_l0", f"_l{layer}")))
            inp, (_h_n, c_n) = one(inp)
        for d in range(2 if bidi else 1):
            close(tr.trace(layer, d).h, inp[0, :, d * 9:(d + 1) * 9])
            close(tr.trace(layer, d)["c"][-1 if d == 0 else 0], c_n[d, 0])


def test_lstm_gates_follow_pytorchs_layout():
    """i, f, g, o rebuilt from the weights by hand at step 0 (h and c start at zero) and step 1."""
    m = _made("lstm", 1, False, True)
    x = torch.randn(4, 6)
    tr = trace_block(m, x).trace(0)
    with torch.no_grad():
        a0 = m.weight_ih_l0 @ x[0] + m.bias_ih_l0 + m.bias_hh_l0
        i, f, g, o = a0.chunk(4)
        close(tr["i"][0], torch.sigmoid(i))
        close(tr["f"][0], torch.sigmoid(f))
        close(tr["g"][0], torch.tanh(g))
        close(tr["o"][0], torch.sigmoid(o))
        c0 = torch.sigmoid(i) * torch.tanh(g)
        close(tr["c"][0], c0)
        h0 = torch.from_numpy(tr.h[0])
        a1 = m.weight_ih_l0 @ x[1] + m.bias_ih_l0 + m.weight_hh_l0 @ h0 + m.bias_hh_l0
        i1, f1, g1, _o1 = a1.chunk(4)
        close(tr["f"][1], torch.sigmoid(f1))
        close(tr["c"][1], torch.sigmoid(f1) * c0 + torch.sigmoid(i1) * torch.tanh(g1))
    for gate in "ifo":
        assert tr[gate].min() >= 0 and tr[gate].max() <= 1


def test_gru_gates_follow_pytorchs_layout():
    m = _made("gru", 1, False, True)
    x = torch.randn(3, 6)
    tr = trace_block(m, x).trace(0)
    with torch.no_grad():
        xr, xz, xn = (m.weight_ih_l0 @ x[0] + m.bias_ih_l0).chunk(3)
        hr, hz, hn = m.bias_hh_l0.chunk(3)  # h starts at zero
        r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
        n = torch.tanh(xn + r * hn)
        close(tr["r"][0], r)
        close(tr["z"][0], z)
        close(tr["n"][0], n)
        close(tr.h[0], (1 - z) * n)


def test_quantities_and_ranges_name_their_scales():
    lstm = trace_block(_made("lstm", 1, True, True), torch.randn(5, 6) * 3)
    assert [q.name for q in lstm.quantities] == ["h", "c", "i", "f", "g", "o"]
    assert lstm.kind == "lstm"
    assert lstm.value_range("f") == (0.0, 1.0)
    assert lstm.value_range("g") == (-1.0, 1.0)
    low, high = lstm.value_range("c")
    top = max(np.abs(t["c"]).max() for t in lstm.traces)
    assert (low, high) == pytest.approx((-top, top))
    gru = trace_block(_made("gru", 1, False, True), torch.randn(5, 6))
    assert [q.name for q in gru.quantities] == ["h", "r", "z", "n"]
    assert gru.quantity("z").label == "update gate"
    relu = trace_block(_made("rnn_relu", 1, False, True), torch.randn(5, 6))
    assert relu.nonlinearity == "relu" and relu.quantity("h").scale == "positive"
    assert relu.value_range("h") == pytest.approx((0.0, float(relu.trace(0).h.max())))
    with pytest.raises(KeyError, match="no quantity 'c'"):
        gru.quantity("c")
    with pytest.raises(IndexError, match="no layer 1"):
        gru.trace(1)


def test_plain_errors():
    with pytest.raises(TypeError, match=r"nn\.RNN, nn\.LSTM or nn\.GRU"):
        trace_block(nn.Linear(3, 3), torch.randn(4, 3))
    with pytest.raises(ValueError, match="T × 6"):
        trace_block(_made("gru", 1, False, True), torch.randn(2, 4, 6))
    with pytest.raises(ValueError, match="proj_size"):
        trace_block(nn.LSTM(6, 9, proj_size=3, batch_first=True), torch.randn(4, 6))


# --- a block compiled by Layerloom ---------------------------------------------------------------------


def _text_model(chain, **lstm):
    g, _ids = chain([12], ("Embedding", {"num_embeddings": 30, "embedding_dim": 8}),
                   ("LSTM", {"hidden_size": 10, **lstm}), ("Dense", {"out_features": 3}),
                   dtype="int64", loss="cross_entropy")
    return g, build_model(g, seed=3)


@pytest.mark.parametrize("lstm", [{}, {"num_layers": 2, "bidirectional": True, "dropout": 0.3},
                                  {"bidirectional": True, "return_sequences": True}])
def test_compiled_block_traced_from_its_captured_input(chain, lstm):
    g, model = _text_model(chain, **lstm)
    model.train()  # the capture runs in eval mode and gives the mode back
    assert recurrent_blocks(model) == ["lstm_1"]
    (tokens,) = example_inputs(g, batch=1, seed=1)
    x = block_input(model, "lstm_1", tokens)
    assert x.shape == (1, 12, 8) and model.training
    with torch.no_grad():
        model.eval()
        emb = model.get_submodule("embedding_1")(tokens)
        out, (_h_n, c_n) = model.get_submodule("lstm_1")(emb)
    close(x.numpy(), emb)
    tr = trace_block(model.get_submodule("lstm_1"), x)
    close(tr.output(), out[0])
    close(tr.final("c"), c_n[:, 0])


def test_block_input_names_missing_blocks(chain):
    g, model = _text_model(chain)
    with pytest.raises(KeyError, match=r"no block 'gru_1'.*lstm_1"):
        block_input(model, "gru_1", example_inputs(g, batch=1))
    with pytest.raises(TypeError, match=r"dense_1.*Linear"):
        block_input(model, "dense_1", example_inputs(g, batch=1))


# --- gradients through time ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(MODULES))
def test_unrolled_module_equals_the_module(name):
    m = _made(name, 2, True, True)
    x = torch.randn(3, 7, 6)
    with torch.no_grad():
        out, state = m(x)
        mine, my_state = unrolled(m, x, {})
    close(mine.numpy(), out)
    if name == "lstm":
        close(my_state[0].numpy(), state[0])
        close(my_state[1].numpy(), state[1])
    else:
        close(my_state.numpy(), state)


class Head(nn.Module):
    """RNN → the last step → Linear."""

    def __init__(self, rnn, out=2):
        super().__init__()
        self.rnn = rnn
        self.fc = nn.Linear(rnn.hidden_size * (2 if rnn.bidirectional else 1), out)

    def forward(self, x):
        seq, _ = self.rnn(x)
        return self.fc(seq[:, -1])


def test_gradient_norms_equal_a_hand_unrolled_rnn():
    torch.manual_seed(4)
    model = Head(nn.RNN(3, 5, batch_first=True))
    x, y = torch.randn(1, 9, 3), torch.randn(1, 2)
    rnn = model.rnn
    h = torch.zeros(1, 5)
    hs = []
    for t in range(9):
        h = torch.tanh(x[:, t] @ rnn.weight_ih_l0.T + rnn.bias_ih_l0 + h @ rnn.weight_hh_l0.T + rnn.bias_hh_l0)
        h.retain_grad()
        hs.append(h)
    hand_loss = F.mse_loss(model.fc(h), y)
    hand_loss.backward()
    expected = np.array([float(hh.grad.norm()) for hh in hs])
    model.zero_grad(set_to_none=True)

    got = gradients_through_time(model, x, y, F.mse_loss, "rnn")
    assert got.norms.shape == (1, 1, 9)
    np.testing.assert_allclose(got.of(0), expected, rtol=1e-5, atol=1e-9)
    assert got.loss == pytest.approx(float(hand_loss.detach()), rel=1e-6)
    assert all(p.grad is None for p in model.parameters())  # parameter gradients are left alone


def test_small_tanh_rnn_gradients_vanish_toward_early_steps():
    torch.manual_seed(0)
    rnn = nn.RNN(2, 16, batch_first=True)
    with torch.no_grad():
        for p in rnn.parameters():
            p.uniform_(-0.1, 0.1)
    model = Head(rnn)
    got = gradients_through_time(model, torch.randn(1, 60, 2), torch.randn(1, 2), F.mse_loss, "rnn").of(0)
    assert got[-1] > 0
    assert got[0] < 1e-8 * got[-1]
    assert np.all(np.diff(np.log(got[-40:])) > 0)  # every step further back carries less


def test_lstm_keeps_gradients_alive_longer_than_the_rnn():
    """With the forget gate biased open (as LSTM lessons do), gradients 50 steps back stay far larger."""
    torch.manual_seed(0)
    x, y = torch.randn(1, 50, 2), torch.randn(1, 2)
    rnn, lstm = nn.RNN(2, 16, batch_first=True), nn.LSTM(2, 16, batch_first=True)
    with torch.no_grad():
        for m in (rnn, lstm):
            for p in m.parameters():
                p.uniform_(-0.1, 0.1)
        lstm.bias_ih_l0[16:32] = 5.0
    r = gradients_through_time(Head(rnn), x, y, F.mse_loss, "rnn").of(0)
    s = gradients_through_time(Head(lstm), x, y, F.mse_loss, "rnn").of(0)
    assert s[0] / s[-1] > 1e6 * (r[0] / r[-1])


def test_compiled_model_gradients_end_where_the_output_gradient_is(chain):
    """The last step of a one-way LSTM that returns its last state feeds only the output: ‖∂loss/∂h_T‖ is
    the norm of the gradient on the block's output, taken from the real model."""
    g, model = _text_model(chain)
    (tokens,) = example_inputs(g, batch=1, seed=5)
    target = (torch.tensor([2]),)
    loss_fn = loss_function(output_losses(g, model.output_names))
    got = gradients_through_time(model, tokens, target, loss_fn, "lstm_1")

    caught = []
    handle = model.get_submodule("lstm_1").register_forward_hook(
        lambda m, a, out: out[0].register_hook(caught.append) and None)
    model.eval()
    loss = loss_fn(model(tokens), target)
    loss.backward()
    handle.remove()
    assert got.loss == pytest.approx(float(loss.detach()), rel=1e-5)
    assert got.of(0)[-1] == pytest.approx(float(caught[0][0, -1].norm()), rel=1e-5)
    assert got.of(0)[:-1].min() > 0
    per_step = caught[0][0].norm(dim=1).numpy()  # only the direct part: the total at earlier steps differs
    assert per_step[:-1].max() == 0


def test_bidirectional_stacked_gradients_have_a_row_per_layer_and_direction(chain):
    g, model = _text_model(chain, num_layers=2, bidirectional=True)
    (tokens,) = example_inputs(g, batch=1, seed=5)
    loss_fn = loss_function(output_losses(g, model.output_names))
    got = gradients_through_time(model, tokens, (torch.tensor([0]),), loss_fn, "lstm_1")
    assert got.norms.shape == (2, 2, 12)
    assert np.all(got.norms > 0)
    # the top layer's backward direction is read at step 0 only: its last-read step gets the direct gradient
    assert got.of(1, 1)[0] > 0 and got.of(1, 0)[-1] > 0
