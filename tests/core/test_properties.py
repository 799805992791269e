"""Property-based tests: random valid chains (and branch-and-merge steps) of blocks with random
parameters on image, sequence, vector and token inputs. Wherever inference accepts a block, a real
forward pass of the compiled model must give exactly the inferred shape, dtype and parameter count."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from layerloom.core import Graph, build_model, infer
from layerloom.core.compiler import example_inputs

MAX_VALUES = 20_000  # keep every tensor small so that each example runs in milliseconds
TORCH_DTYPE = {"float32": torch.float32, "int64": torch.int64}
SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

ACTIVATIONS = ["ReLU", "LeakyReLU", "ELU", "GELU", "Tanh", "Sigmoid", "Softmax", "Dropout"]
CANDIDATES = {
    # (rank, dtype) of the current tensor → blocks worth trying on it
    (1, "int64"): ["Embedding", "Embedding", "Reshape", "Flatten", "Permute"],
    (2, "int64"): ["Embedding", "Reshape", "Flatten", "Permute"],
    (1, "float32"): ["Dense", "Dense", "BatchNorm", "LayerNorm", "Reshape", "Reshape", "Flatten", *ACTIVATIONS],
    (2, "float32"): ["RNN", "LSTM", "GRU", "LSTM", "Conv1d", "Conv1d", "MaxPool1d", "AvgPool1d", "Dense",
                     "LayerNorm", "BatchNorm", "GlobalAvgPool", "Flatten", "Reshape", "Permute", *ACTIVATIONS],
    (3, "float32"): ["Conv2d", "Conv2d", "Conv2d", "ConvTranspose2d", "MaxPool2d", "AvgPool2d",
                     "AdaptiveAvgPool2d", "GlobalAvgPool", "Inception", "Residual", "Residual", "BatchNorm",
                     "LayerNorm", "Flatten", "Reshape", "Permute", *ACTIVATIONS],
}
OTHER = ["Flatten", "Reshape", "Permute", "ReLU", "LayerNorm", "Dropout", "Softmax"]  # any other rank


def size(data, arity: int, lo: int, hi: int):
    """An int, or a list of `arity` ints (as kernel_size, stride... accept)."""
    if data.draw(st.booleans()):
        return data.draw(st.integers(lo, hi))
    return data.draw(st.lists(st.integers(lo, hi), min_size=arity, max_size=arity))


def divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def draw_params(data, type_id: str, shape: tuple[int, ...]) -> dict:
    rank = len(shape)
    b = data.draw
    if type_id in ("Conv1d", "Conv2d"):
        n = 1 if type_id == "Conv1d" else 2
        groups = b(st.sampled_from(divisors(shape[0])))
        p = {"out_channels": groups * b(st.integers(1, 3)), "kernel_size": size(data, n, 1, 4),
             "stride": size(data, n, 1, 3), "dilation": size(data, n, 1, 2), "groups": groups,
             "bias": b(st.booleans())}
        p["padding"] = b(st.sampled_from(["same", "valid", "int", "list"]))
        if p["padding"] in ("int", "list"):
            p["padding"] = size(data, n, 0, 2)
        if p["padding"] == "same" and b(st.booleans()):
            p["stride"] = 1
        return p
    if type_id == "ConvTranspose2d":
        return {"out_channels": b(st.integers(1, 4)), "kernel_size": size(data, 2, 1, 4),
                "stride": size(data, 2, 1, 3), "padding": size(data, 2, 0, 1), "output_padding": size(data, 2, 0, 1)}
    if type_id in ("MaxPool1d", "AvgPool1d", "MaxPool2d", "AvgPool2d"):
        n = int(type_id[-2])
        stride = None if b(st.booleans()) else size(data, n, 1, 3)
        return {"kernel_size": size(data, n, 1, 3), "stride": stride, "padding": size(data, n, 0, 1)}
    if type_id == "AdaptiveAvgPool2d":
        return {"output_size": size(data, 2, 1, 3)}
    if type_id == "Dense":
        return {"out_features": b(st.integers(1, 12)), "bias": b(st.booleans())}
    if type_id == "Embedding":
        return {"num_embeddings": b(st.integers(2, 20)), "embedding_dim": b(st.integers(1, 6))}
    if type_id in ("RNN", "LSTM", "GRU"):
        return {"hidden_size": b(st.integers(1, 6)), "num_layers": b(st.integers(1, 3)),
                "bidirectional": b(st.booleans()), "dropout": b(st.sampled_from([0.0, 0.3])),
                "return_sequences": b(st.booleans())}
    if type_id == "Inception":
        keys = ("ch1x1", "ch3x3red", "ch3x3", "ch5x5red", "ch5x5", "pool_proj")
        return {k: b(st.integers(1, 4)) for k in keys}
    if type_id == "Residual":
        return {"out_channels": b(st.sampled_from([2, 4, 5, 8, shape[0]])), "stride": b(st.integers(1, 3)),
                "bottleneck": b(st.booleans())}
    if type_id == "Reshape":
        numel = math.prod(shape)
        sizes, rest = [], numel
        for _ in range(b(st.integers(0, 2))):
            d = b(st.sampled_from(divisors(rest)))
            sizes.append(d)
            rest //= d
        sizes.append(rest)
        if b(st.booleans()):
            sizes[b(st.integers(0, len(sizes) - 1))] = -1
        return {"shape": b(st.permutations(sizes))}
    if type_id == "Permute":
        rest = b(st.permutations(list(range(1, rank + 1))))
        return {"dims": [0, *(d - (rank + 1) if b(st.booleans()) else d for d in rest)]}
    if type_id == "Softmax":
        return {"dim": b(st.integers(-rank, rank))}
    if type_id == "LeakyReLU":
        return {"negative_slope": b(st.floats(0, 1))}
    if type_id == "ELU":
        return {"alpha": b(st.floats(0, 2))}
    if type_id == "GELU":
        return {"approximate": b(st.sampled_from(["none", "tanh"]))}
    if type_id == "Dropout":
        return {"p": b(st.sampled_from([0.0, 0.2, 0.5]))}
    return {}


def try_block(g: Graph, data, src: str, type_id: str | None = None, tries: int = 3) -> str | None:
    """Add a random block after `src`; keep it if inference accepts it (and it stays small)."""
    x = infer(g)[src].output
    for _ in range(tries):
        kind = type_id or data.draw(st.sampled_from(CANDIDATES.get((x.rank, x.dtype), OTHER)), label="block")
        nid = g.add(kind, **draw_params(data, kind, x.shape))
        g.connect(src, nid)
        r = infer(g)[nid]
        if r.status == "ok" and r.output.numel <= MAX_VALUES:
            return nid
        g.remove(nid)
    return None


def try_merge(g: Graph, data, src: str) -> str | None:
    """x → a block → merge(x or another block, that block): a skip connection or two branches."""
    a = try_block(g, data, src)
    if a is None:
        return None
    other = src if data.draw(st.booleans()) else try_block(g, data, src)
    if other is None:
        g.remove(a)
        return None
    # sums of token ids are ids no Embedding knows: join int64 branches by Concat only
    ints = infer(g)[a].output.dtype == "int64"
    kind = "Concat" if ints else data.draw(st.sampled_from(["Add", "Multiply", "Concat"]))
    params = {"dim": data.draw(st.integers(-4, 4))} if kind == "Concat" else {}
    m = g.add(kind, **params)
    g.connect(other, m)
    g.connect(a, m)
    if infer(g)[m].status == "ok":
        return m
    for nid in {m, a, other} - {src}:
        g.remove(nid)
    return None


INPUTS = st.one_of(
    st.tuples(st.integers(1, 4), st.integers(3, 12), st.integers(3, 12)).map(lambda s: (list(s), "float32")),
    st.tuples(st.integers(1, 8), st.integers(1, 6)).map(lambda s: (list(s), "float32")),
    st.tuples(st.integers(1, 32)).map(lambda s: (list(s), "float32")),
    st.lists(st.integers(1, 6), min_size=1, max_size=2).map(lambda s: (s, "int64")),
)


def random_network(data, merges: bool) -> Graph:
    shape, dtype = data.draw(INPUTS, label="input")
    g = Graph()
    prev = g.add("Input", shape=shape, dtype=dtype)
    for _ in range(data.draw(st.integers(1, 6), label="length")):
        step = try_merge(g, data, prev) if merges and data.draw(st.booleans()) else try_block(g, data, prev)
        prev = step or prev
    if infer(g)[prev].output.dtype == "int64":  # an Output needs numbers
        prev = try_block(g, data, prev, "Embedding") or prev
    out = g.add("Output", loss="mse")
    g.connect(prev, out)
    event(f"{len(g) - 2} blocks")  # shown by --hypothesis-show-statistics
    return g


def block_values(model, inputs):
    """Run `model`; return {block name: the tensor that block produced}."""
    import torch.fx

    values = {}

    class Recorder(torch.fx.Interpreter):
        def run_node(self, n):
            values[n.name] = out = super().run_node(n)
            return out

    Recorder(model).run(*inputs)
    return {block: values[fx_name] for block, fx_name in model.block_nodes.items()}


def block_params(model, name: str) -> int:
    children = dict(model.named_children())
    return sum(p.numel() for p in children[name].parameters()) if name in children else 0


def check_against_torch(g: Graph) -> None:
    report = infer(g)
    assert report.ok, report.problems
    model = build_model(g, seed=0).eval()
    with torch.no_grad():
        values = block_values(model, example_inputs(g, batch=2))
    for node in g:
        if node.type == "Output":
            continue
        r = report[node.id]
        y = values[node.name]
        assert tuple(y.shape) == (2, *r.output_shape), (node.label(), node.params)
        assert y.dtype == TORCH_DTYPE[r.output.dtype], node.label()
        assert r.param_count == block_params(model, node.name), (node.label(), node.params)
    assert report.total_params == sum(p.numel() for p in model.parameters())


@SETTINGS
@given(data=st.data())
def test_random_chains_match_torch(data):
    g = random_network(data, merges=False)
    check_against_torch(g)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_branches_and_merges_match_torch(data):
    g = random_network(data, merges=True)
    check_against_torch(g)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_json_round_trip_and_incremental_edits_keep_inference(data):
    g = random_network(data, merges=True)
    first = dict(infer(g))
    g2 = Graph.from_json(g.to_json())
    assert dict(infer(g2)) == first
    # change one block's parameters to other random values; incremental equals fresh, valid or not
    candidates = [n for n in g if n.type not in ("Input", "Output") and n.params]
    if candidates:
        node = data.draw(st.sampled_from(candidates))
        upstream = g.in_edges(node.id)[0].src
        g.set_params(node.id, **draw_params(data, node.type, infer(g)[upstream].output.shape))
        assert dict(infer(g)) == dict(infer(Graph.from_json(g.to_json())))


@pytest.mark.parametrize("type_id", ["Conv2d", "Conv1d", "MaxPool2d", "AvgPool1d", "ConvTranspose2d"])
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_sliding_windows_match_torch_or_are_refused(type_id, data):
    """Single windowed blocks over the whole parameter space: accepted ones compile and match torch."""
    n = 1 if type_id.endswith("1d") else 2
    spatial = data.draw(st.lists(st.integers(1, 9), min_size=n, max_size=n))
    g = Graph()
    x = g.add("Input", shape=[data.draw(st.integers(1, 4)), *spatial])
    nid = g.add(type_id, **draw_params(data, type_id, tuple(infer(g)[x].output.shape)))
    g.connect(x, nid)
    g.connect(nid, g.add("Output", loss="mse"))
    r = infer(g)[nid]
    if r.status == "ok":
        check_against_torch(g)
    else:
        assert r.error.startswith(f"{type_id} '{g.node(nid).name}' ")
