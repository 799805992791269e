"""Every block's shape rule and parameter count against a real PyTorch forward pass, MACs against hand
formulas, the course figures, and the parameter schema (coercion, ranges, help texts)."""

from __future__ import annotations

import pytest
import torch

from layerloom.core import Graph, ParamError, build_model, infer
from layerloom.core.blocks import all_specs, get_spec
from layerloom.core.compiler import example_inputs

F, INT = "float32", "int64"
TORCH_DTYPE = {F: torch.float32, INT: torch.int64}

# (block type, params, [(input shape, dtype), ...]); several settings per block type.
CASES = [
    # --- pretrained backbones (random weights here: tests never download)
    ("ResNet18", {"weights": "none"}, [((3, 32, 32), F)]),
    ("ResNet18", {"weights": "none", "pool": False}, [((1, 64, 64), F)]),
    ("MobileNetV3Small", {"weights": "none"}, [((3, 40, 32), F)]),
    # --- convolution
    ("Conv2d", {"out_channels": 6, "kernel_size": 5}, [((3, 32, 32), F)]),
    ("Conv2d", {"out_channels": 6, "kernel_size": 5, "padding": 2}, [((1, 28, 28), F)]),
    ("Conv2d", {"out_channels": 5, "kernel_size": 3, "stride": 2, "padding": 1}, [((4, 15, 17), F)]),
    ("Conv2d", {"out_channels": 3, "kernel_size": [3, 5], "stride": [1, 2], "padding": [1, 0],
                "dilation": [2, 1]}, [((2, 12, 14), F)]),
    ("Conv2d", {"out_channels": 4, "kernel_size": 4, "padding": "same", "dilation": 2}, [((3, 9, 9), F)]),
    ("Conv2d", {"out_channels": 4, "kernel_size": [2, 3], "padding": "same"}, [((3, 6, 5), F)]),
    ("Conv2d", {"out_channels": 2, "kernel_size": 3, "padding": "valid"}, [((1, 7, 7), F)]),
    ("Conv2d", {"out_channels": 8, "kernel_size": 3, "groups": 2, "bias": False}, [((4, 10, 10), F)]),
    ("Conv2d", {"out_channels": 12, "kernel_size": 3, "groups": 6, "padding": 1}, [((6, 5, 5), F)]),
    ("Conv2d", {"out_channels": 7, "kernel_size": 1, "stride": 3}, [((2, 10, 11), F)]),
    ("Conv1d", {"out_channels": 8, "kernel_size": 3}, [((4, 20), F)]),
    ("Conv1d", {"out_channels": 6, "kernel_size": 3, "stride": 2, "padding": 2, "dilation": 3}, [((3, 31), F)]),
    ("Conv1d", {"out_channels": 4, "kernel_size": 5, "padding": "same", "groups": 2}, [((4, 16), F)]),
    ("Conv1d", {"out_channels": 2, "kernel_size": [4], "padding": "valid", "bias": False}, [((2, 9), F)]),
    ("ConvTranspose2d", {}, [((8, 7, 7), F)]),
    ("ConvTranspose2d", {"out_channels": 3, "kernel_size": 3, "stride": 2, "padding": 1, "output_padding": 1},
     [((4, 5, 6), F)]),
    ("ConvTranspose2d", {"out_channels": 2, "kernel_size": [3, 4], "stride": [1, 2], "padding": [0, 1],
                         "output_padding": [0, 1]}, [((2, 4, 4), F)]),
    # --- pooling
    ("MaxPool2d", {"kernel_size": 2}, [((3, 8, 9), F)]),
    ("MaxPool2d", {"kernel_size": 3, "stride": 2, "padding": 1}, [((2, 11, 10), F)]),
    ("MaxPool2d", {"kernel_size": [2, 3], "stride": [1, 2], "padding": [1, 1]}, [((1, 6, 7), F)]),
    ("AvgPool2d", {"kernel_size": 2}, [((3, 8, 9), F)]),
    ("AvgPool2d", {"kernel_size": 3, "stride": 2, "padding": 1}, [((2, 11, 10), F)]),
    ("AvgPool2d", {"kernel_size": [3, 1], "stride": [3, 1]}, [((2, 10, 4), F)]),
    ("MaxPool1d", {"kernel_size": 2}, [((4, 9), F)]),
    ("MaxPool1d", {"kernel_size": 3, "stride": 1, "padding": 1}, [((2, 10), F)]),
    ("AvgPool1d", {"kernel_size": 4, "stride": 3}, [((3, 14), F)]),
    ("AvgPool1d", {"kernel_size": [2], "padding": 1}, [((1, 5), F)]),
    ("GlobalAvgPool", {}, [((5, 4, 3), F)]),
    ("GlobalAvgPool", {}, [((6, 7), F)]),
    ("AdaptiveAvgPool2d", {}, [((4, 9, 9), F)]),
    ("AdaptiveAvgPool2d", {"output_size": [3, 2]}, [((2, 10, 7), F)]),
    # --- dense and shape
    ("Dense", {"out_features": 7}, [((20,), F)]),
    ("Dense", {"out_features": 3, "bias": False}, [((5, 12), F)]),
    ("Flatten", {}, [((3, 4, 5), F)]),
    ("Flatten", {}, [((6,), F)]),
    ("Flatten", {}, [((2, 3), INT)]),
    ("Reshape", {"shape": [2, -1]}, [((4, 6), F)]),
    ("Reshape", {"shape": [2, 3, 4]}, [((24,), F)]),
    ("Reshape", {"shape": [-1]}, [((2, 3, 4), F)]),
    ("Reshape", {"shape": [3, -1, 2]}, [((12,), INT)]),
    ("Permute", {"dims": [0, 2, 1]}, [((4, 5), F)]),
    ("Permute", {"dims": [0, 3, 1, 2]}, [((2, 3, 4), F)]),
    ("Permute", {"dims": [0, -1, 2, 1]}, [((2, 3, 4), F)]),
    ("Embedding", {"num_embeddings": 30, "embedding_dim": 8}, [((7,), INT)]),
    ("Embedding", {"num_embeddings": 5, "embedding_dim": 3}, [((3, 4), INT)]),
    # --- recurrent
    ("RNN", {"hidden_size": 4}, [((6, 5), F)]),
    ("RNN", {"hidden_size": 3, "num_layers": 2, "bidirectional": True, "return_sequences": True}, [((5, 2), F)]),
    ("LSTM", {"hidden_size": 4}, [((6, 5), F)]),
    ("LSTM", {"hidden_size": 4, "return_sequences": True}, [((6, 5), F)]),
    ("LSTM", {"hidden_size": 3, "num_layers": 2, "bidirectional": True}, [((5, 2), F)]),
    ("LSTM", {"hidden_size": 3, "num_layers": 3, "bidirectional": True, "dropout": 0.2,
              "return_sequences": True}, [((4, 6), F)]),
    ("GRU", {"hidden_size": 5}, [((7, 3), F)]),
    ("GRU", {"hidden_size": 5, "bidirectional": True}, [((7, 3), F)]),
    ("GRU", {"hidden_size": 2, "num_layers": 2, "return_sequences": True}, [((3, 4), F)]),
    # --- composite
    ("Inception", {"ch1x1": 4, "ch3x3red": 3, "ch3x3": 5, "ch5x5red": 2, "ch5x5": 3, "pool_proj": 2},
     [((8, 6, 6), F)]),
    ("Inception", {}, [((3, 5, 4), F)]),
    ("Residual", {"out_channels": 4}, [((4, 8, 8), F)]),
    ("Residual", {"out_channels": 8, "stride": 2}, [((4, 8, 8), F)]),
    ("Residual", {"out_channels": 6}, [((4, 7, 7), F)]),
    ("Residual", {"out_channels": 16, "stride": 2, "bottleneck": True}, [((4, 9, 9), F)]),
    ("Residual", {"out_channels": 8, "bottleneck": True}, [((8, 5, 5), F)]),
    ("Residual", {"out_channels": 8, "stride": 3, "bottleneck": True}, [((8, 7, 5), F)]),
    # --- merge
    ("Add", {}, [((3, 4, 4), F), ((3, 4, 4), F)]),
    ("Add", {}, [((3, 1, 1), F), ((3, 4, 4), F)]),
    ("Add", {}, [((1, 5), F), ((4, 5), F), ((4, 1), F)]),
    ("Multiply", {}, [((6,), F), ((6,), F)]),
    ("Multiply", {}, [((2, 1, 4), F), ((2, 3, 1), F)]),
    ("Concat", {}, [((2, 4, 4), F), ((3, 4, 4), F)]),
    ("Concat", {"dim": -1}, [((5, 3), F), ((5, 2), F)]),
    ("Concat", {"dim": 2}, [((2, 3), F), ((2, 4), F), ((2, 1), F)]),
    ("Concat", {"dim": 3}, [((2, 3, 4), F), ((2, 3, 5), F)]),
    ("Concat", {"dim": -2}, [((2, 3, 4), F), ((2, 6, 4), F)]),
    ("Concat", {}, [((3,), INT), ((4,), INT)]),
    # --- normalization and regularization
    ("Dropout", {"p": 0.3}, [((3, 4), F)]),
    ("BatchNorm", {}, [((5,), F)]),
    ("BatchNorm", {}, [((4, 7), F)]),
    ("BatchNorm", {}, [((3, 5, 5), F)]),
    ("LayerNorm", {}, [((6,), F)]),
    ("LayerNorm", {}, [((4, 8), F)]),
    # --- activations
    ("ReLU", {}, [((3, 4), F)]),
    ("LeakyReLU", {"negative_slope": 0.2}, [((5,), F)]),
    ("ELU", {"alpha": 0.5}, [((2, 3, 3), F)]),
    ("GELU", {"approximate": "tanh"}, [((4,), F)]),
    ("Tanh", {}, [((3, 4), F)]),
    ("Sigmoid", {}, [((3,), F)]),
    ("Softmax", {"dim": 1}, [((5,), F)]),
    ("Softmax", {}, [((3, 4), F)]),
    ("Softmax", {"dim": 2}, [((2, 3, 4), F)]),
]

# Input and Output have no block between them to test; they are checked on their own below. Sample's two
# named inputs (mean, log_var) are checked in test_vae_recipe.py.
NOT_IN_CASES = {"Input", "Output", "Sample", "Noise"}  # Noise: tests/core/test_gan_recipe.py


def _ids():
    seen: dict[str, int] = {}
    out = []
    for type_id, _, _ in CASES:
        seen[type_id] = seen.get(type_id, 0) + 1
        out.append(f"{type_id}-{seen[type_id]}")
    return out


def test_cases_cover_every_block():
    covered = {t for t, _, _ in CASES} | NOT_IN_CASES
    assert {s.type_id for s in all_specs()} <= covered


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel lengths")
@pytest.mark.parametrize(("type_id", "params", "inputs"), CASES, ids=_ids())
def test_shape_and_params_match_torch(type_id, params, inputs, one_block, block_values, block_params):
    g, nid = one_block(type_id, params, inputs)
    if infer(g)[nid].output.dtype == INT:  # an Output cannot take token ids: embed them first (ids < 2)
        out = g.out_edges(nid)[0].dst
        g.disconnect(nid, out)
        emb = g.add("Embedding", num_embeddings=2, embedding_dim=1)
        g.connect(nid, emb)
        g.connect(emb, out)
    report = infer(g)
    r = report[nid]
    assert r.status == "ok", r.error
    assert report.ok, report.problems

    model = build_model(g, seed=0).eval()
    with torch.no_grad():
        _, values = block_values(model, example_inputs(g, batch=2))
    y = values[g.node(nid).name]
    assert tuple(y.shape) == (2, *r.output_shape)
    assert y.dtype == TORCH_DTYPE[r.output.dtype]
    assert r.param_count == block_params(model, g.node(nid).name)
    assert report.total_params == sum(p.numel() for p in model.parameters())


def test_input_output_pass_through():
    g = Graph()
    i = g.add("Input", shape=[3, 4])
    o = g.add("Output", loss="l1")
    g.connect(i, o)
    report = infer(g)
    assert report[i].output_shape == (3, 4) and report[o].output_shape == (3, 4)
    assert report[i].param_count == report[o].param_count == 0
    model = build_model(g)
    x = torch.randn(2, 3, 4)
    assert torch.equal(model(x), x)


def test_int64_input_declares_int_dtype():
    g = Graph()
    i = g.add("Input", shape=[5], dtype="int64")
    assert infer(g)[i].output.dtype == "int64"


# --- MACs against hand formulas (and torch's own FLOP counter) ---------------------------------------

CONV2D = [(p, ins) for t, p, ins in CASES if t == "Conv2d"]


@pytest.mark.parametrize(("params", "inputs"), CONV2D)
def test_conv2d_macs(params, inputs, one_block):
    from torch.utils.flop_counter import FlopCounterMode

    g, nid = one_block("Conv2d", params, inputs)
    r = infer(g)[nid]
    cin = inputs[0][0][0]
    out_c, oh, ow = r.output_shape
    k = params["kernel_size"]
    kh, kw = (k, k) if isinstance(k, int) else k
    groups = params.get("groups", 1)
    assert r.macs == out_c * oh * ow * (cin // groups) * kh * kw
    model = build_model(g, seed=0)
    with FlopCounterMode(display=False) as counter:
        model(*example_inputs(g, batch=1))
    assert counter.get_total_flops() == 2 * r.macs


@pytest.mark.parametrize(("shape", "out"), [((20,), 7), ((5, 12), 3), ((400,), 120)])
def test_dense_macs(shape, out, one_block):
    from torch.utils.flop_counter import FlopCounterMode

    g, nid = one_block("Dense", {"out_features": out}, [(shape, F)])
    r = infer(g)[nid]
    steps = shape[0] if len(shape) == 2 else 1
    assert r.macs == steps * shape[-1] * out
    with FlopCounterMode(display=False) as counter:
        build_model(g)(*example_inputs(g, batch=1))
    assert counter.get_total_flops() == 2 * r.macs


@pytest.mark.parametrize(
    ("steps", "feat", "hidden", "layers", "bidir"),
    [(6, 5, 4, 1, False), (10, 3, 8, 2, False), (5, 2, 3, 2, True), (7, 16, 32, 3, True)],
)
def test_lstm_macs_and_params(steps, feat, hidden, layers, bidir, one_block):
    g, nid = one_block("LSTM", {"hidden_size": hidden, "num_layers": layers, "bidirectional": bidir},
                       [((steps, feat), F)])
    r = infer(g)[nid]
    dirs = 2 if bidir else 1
    macs = params = 0
    for layer in range(layers):
        fin = feat if layer == 0 else hidden * dirs
        # four gates, each an input and a recurrent matrix-vector product per step
        macs += dirs * steps * 4 * hidden * (fin + hidden)
        params += dirs * 4 * (hidden * fin + hidden * hidden + 2 * hidden)
    assert r.macs == macs
    assert r.param_count == params


# --- figures from the course ---------------------------------------------------------------------------


@pytest.mark.parametrize(("channels", "expected"), [(3, 456), (1, 156)])
def test_six_5x5_filters(channels, expected, one_block):
    g, nid = one_block("Conv2d", {"out_channels": 6, "kernel_size": 5}, [((channels, 32, 32), F)])
    assert infer(g)[nid].param_count == expected
    assert sum(p.numel() for p in build_model(g).parameters()) == expected


def lenet5() -> Graph:
    g = Graph()
    prev = g.add("Input", shape=[1, 28, 28])
    for type_id, params in [
        ("Conv2d", {"out_channels": 6, "kernel_size": 5, "padding": 2}), ("Tanh", {}),
        ("AvgPool2d", {"kernel_size": 2}),
        ("Conv2d", {"out_channels": 16, "kernel_size": 5}), ("Tanh", {}),
        ("AvgPool2d", {"kernel_size": 2}),
        ("Flatten", {}),
        ("Dense", {"out_features": 120}), ("Tanh", {}),
        ("Dense", {"out_features": 84}), ("Tanh", {}),
        ("Dense", {"out_features": 10}),
        ("Output", {}),
    ]:
        nid = g.add(type_id, **params)
        g.connect(prev, nid)
        prev = nid
    return g


def test_lenet5_has_61706_parameters():
    g = lenet5()
    report = infer(g)
    assert report.ok
    assert report.total_params == 61_706
    assert report[g.find("flatten_1")].output_shape == (400,)
    assert report[g.find("dense_1")].param_count == 48_120
    assert sum(p.numel() for p in build_model(g).parameters()) == 61_706


# --- the parameter schema ------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", all_specs(), ids=lambda s: s.type_id)
def test_spec_is_documented_and_defaults_are_valid(spec):
    assert spec.summary and spec.help
    assert "Parameters" in spec.help
    for p in spec.params:
        assert p.help, f"{spec.type_id}.{p.name} has no help"
        assert p.coerce(p.default, spec.type_id) == p.default
    assert set(spec.key_params) <= set(spec.param_map)
    assert get_spec(spec.type_id) is spec


@pytest.mark.parametrize(
    ("type_id", "base"),
    [("Conv2d", "conv2d"), ("BatchNorm", "batch_norm"), ("LeakyReLU", "leaky_relu"), ("LSTM", "lstm"),
     ("GlobalAvgPool", "global_avg_pool"), ("ConvTranspose2d", "conv_transpose2d"), ("GELU", "gelu")],
)
def test_name_bases(type_id, base):
    assert get_spec(type_id).name_base == base
    g = Graph()
    assert g.node(g.add(type_id)).name == f"{base}_1"


def test_unknown_block_type_suggests_the_closest():
    from layerloom.core import GraphError

    with pytest.raises(GraphError, match="unknown block type 'Conv2D'; did you mean 'Conv2d'"):
        get_spec("Conv2D")


@pytest.mark.parametrize(
    ("type_id", "params", "fragment"),
    [
        ("Conv2d", {"kernel_size": 0}, "kernel_size must be at least 1 (got 0)"),
        ("Conv2d", {"kernel_size": -3}, "kernel_size must be at least 1 (got -3)"),
        ("Conv2d", {"kernel_size": [3]}, "kernel_size must be one number or a list of 2"),
        ("Conv2d", {"kernel_size": [3, 3, 3]}, "kernel_size must be one number or a list of 2"),
        ("Conv2d", {"padding": "full"}, "padding must be a number, 'same' or 'valid'"),
        ("Conv2d", {"padding": -1}, "padding must be at least 0"),
        ("Conv2d", {"out_channels": 2.5}, "out_channels must be a whole number"),
        ("Conv2d", {"out_channels": True}, "out_channels must be a whole number"),
        ("Conv2d", {"bias": 1}, "bias must be true or false"),
        ("Dropout", {"p": 1.0}, "p must be less than 1"),
        ("Dropout", {"p": float("nan")}, "p must be a finite number"),
        ("LSTM", {"num_layers": 17}, "num_layers must be at most 16"),
        ("GELU", {"approximate": "fast"}, "approximate must be one of 'none', 'tanh'"),
        ("Input", {"shape": []}, "shape must be a non-empty list"),
        ("Input", {"shape": [1, 0]}, "sizes must be at least 1"),
        ("Input", {"shape": [-1, 4]}, "sizes must be at least 1 (got -1)"),
        ("Input", {"dtype": "float64"}, "dtype must be one of"),
        ("Reshape", {"shape": [-1, -1]}, "may hold at most one -1"),
        ("Permute", {"dims": [0, 1.5]}, "must hold whole numbers only"),
        ("MaxPool2d", {"stride": 0}, "stride must be at least 1"),
    ],
)
def test_bad_params_are_refused_naming_block_and_field(type_id, params, fragment):
    g = Graph()
    with pytest.raises(ParamError) as err:
        g.add(type_id, name="blk", **params)
    assert f"{type_id} 'blk': " in str(err.value)
    assert fragment in str(err.value)
    assert len(g) == 0


@pytest.mark.parametrize(
    ("type_id", "params", "stored"),
    [
        ("Conv2d", {"kernel_size": 3.0}, {"kernel_size": 3}),
        ("Conv2d", {"kernel_size": (3, 5)}, {"kernel_size": [3, 5]}),
        ("Conv2d", {"padding": "same"}, {"padding": "same"}),
        ("MaxPool2d", {"stride": None}, {"stride": None}),
        ("LeakyReLU", {"negative_slope": 1}, {"negative_slope": 1.0}),
        ("Reshape", {"shape": (2, -1)}, {"shape": [2, -1]}),
    ],
)
def test_params_are_stored_in_canonical_form(type_id, params, stored):
    g = Graph()
    node = g.node(g.add(type_id, **params))
    for key, value in stored.items():
        assert node.params[key] == value
        assert type(node.params[key]) is type(value)


def test_unknown_param_suggests_the_closest():
    g = Graph()
    with pytest.raises(ParamError, match=r"Conv2d has no parameter 'kernel'; did you mean 'kernel_size'\?"):
        g.add("Conv2d", kernel=3)


def test_all_specs_are_in_palette_order():
    from layerloom.core.blocks import CATEGORIES

    cats = [CATEGORIES.index(s.category) for s in all_specs()]
    assert cats == sorted(cats)
    assert [s.type_id for s in all_specs()] == [s.type_id for s in all_specs()]
