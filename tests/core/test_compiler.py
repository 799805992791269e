"""The compiler against hand-written PyTorch modules with the same weights, and its promises: parameter
names are block names and survive save/load, seeds make weights repeatable, the generated code is
readable, input and output order follow the graph, broken graphs list their problems, and
`torch.export.export` accepts every compiled model."""

from __future__ import annotations

import re
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from layerloom.core import CompileError, Graph, build_model, infer
from layerloom.core.compiler import example_inputs

TOL = 1e-5


def seq(g: Graph, prev: str, *blocks) -> str:
    """Append (type, params) blocks after `prev`; returns the last id."""
    for type_id, params in blocks:
        nid = g.add(type_id, **params)
        g.connect(prev, nid)
        prev = nid
    return prev


def copy_weights(compiled: nn.Module, hand: nn.Module, rename) -> None:
    """Load the compiled model's weights (and BatchNorm buffers) into `hand`, strictly, by name."""
    mapped = {}
    for key, value in compiled.state_dict().items():
        new = rename(key)
        assert new not in mapped, f"two weights map to {new}"
        mapped[new] = value.clone()
    hand.load_state_dict(mapped, strict=True)


def prefix_map(table: dict[str, str]):
    """A renaming that replaces the longest matching prefix from `table`."""

    def rename(key: str) -> str:
        for old in sorted(table, key=len, reverse=True):
            if key == old or key.startswith(old + "."):
                return table[old] + key[len(old):]
        raise AssertionError(f"no mapping for {key}")

    return rename


def randomize_bn_stats(model: nn.Module, seed: int = 1) -> None:
    """Non-trivial running statistics, so eval mode really tests that BatchNorm uses them."""
    gen = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.running_mean.copy_(torch.randn(m.num_features, generator=gen) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=gen) * 0.1)


def assert_same(a, b):
    if isinstance(a, tuple):
        assert isinstance(b, tuple) and len(a) == len(b)
        for x, y in zip(a, b):
            assert_same(x, y)
        return
    assert a.shape == b.shape
    torch.testing.assert_close(a, b, atol=TOL, rtol=TOL)


def compare(g: Graph, hand: nn.Module, rename, *, train: bool = True, batch: int = 3):
    model = build_model(g, seed=0)
    randomize_bn_stats(model)
    copy_weights(model, hand, rename)
    inputs = example_inputs(g, batch=batch, seed=1)
    model.eval()
    hand.eval()
    with torch.no_grad():
        assert_same(model(*inputs), hand(*inputs))
    if train:  # BatchNorm uses batch statistics; nothing random here
        model.train()
        hand.train()
        with torch.no_grad():
            assert_same(model(*inputs), hand(*inputs))
        for (ka, va), (kb, vb) in zip(model.state_dict().items(), hand.state_dict().items()):
            torch.testing.assert_close(va, vb, atol=TOL, rtol=TOL, msg=f"{ka} vs {kb}")
    return model


def exported(model, g):
    """torch.export.export of a compiled model (strict=False: the fx module is already a graph; strict
    tracing through dynamo is not needed and is slower)."""
    inputs = example_inputs(g, batch=2, seed=3)
    with warnings.catch_warnings():  # RNNs re-assign their _flat_weights during export: harmless
        warnings.filterwarnings("ignore", message=".*were assigned during export")
        ep = torch.export.export(model.eval(), inputs, strict=False)
    with torch.no_grad():
        assert_same(ep.module()(*inputs), model(*inputs))
    return ep


# --- LeNet-5 -------------------------------------------------------------------------------------------


def lenet5_graph() -> Graph:
    g = Graph()
    seq(g, g.add("Input", shape=[1, 28, 28]),
        ("Conv2d", {"out_channels": 6, "kernel_size": 5, "padding": 2}), ("Tanh", {}),
        ("AvgPool2d", {"kernel_size": 2}),
        ("Conv2d", {"out_channels": 16, "kernel_size": 5}), ("Tanh", {}),
        ("AvgPool2d", {"kernel_size": 2}),
        ("Flatten", {}),
        ("Dense", {"out_features": 120}), ("Tanh", {}),
        ("Dense", {"out_features": 84}), ("Tanh", {}),
        ("Dense", {"out_features": 10}),
        ("Output", {}))
    return g


class LeNet5(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 6, 5, padding=2)
        self.c3 = nn.Conv2d(6, 16, 5)
        self.f5 = nn.Linear(400, 120)
        self.f6 = nn.Linear(120, 84)
        self.out = nn.Linear(84, 10)

    def forward(self, x):
        x = F.avg_pool2d(torch.tanh(self.c1(x)), 2)
        x = F.avg_pool2d(torch.tanh(self.c3(x)), 2)
        x = torch.flatten(x, 1)
        x = torch.tanh(self.f5(x))
        x = torch.tanh(self.f6(x))
        return self.out(x)


LENET_NAMES = {"conv2d_1": "c1", "conv2d_2": "c3", "dense_1": "f5", "dense_2": "f6", "dense_3": "out"}


def test_lenet5_matches_hand_written():
    g = lenet5_graph()
    hand = LeNet5()
    model = compare(g, hand, prefix_map(LENET_NAMES))
    assert sum(p.numel() for p in model.parameters()) == 61_706
    exported(model, g)


# --- a small ResNet ------------------------------------------------------------------------------------


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.proj = cin != cout or stride != 1
        if self.proj:
            self.down = nn.Conv2d(cin, cout, 1, stride, bias=False)
            self.down_bn = nn.BatchNorm2d(cout)

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        skip = self.down_bn(self.down(x)) if self.proj else x
        return F.relu(y + skip)


class Bottleneck(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        mid = cout // 4
        self.conv1 = nn.Conv2d(cin, mid, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(mid)
        self.conv2 = nn.Conv2d(mid, mid, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(mid)
        self.conv3 = nn.Conv2d(mid, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.down = nn.Conv2d(cin, cout, 1, stride, bias=False)
        self.down_bn = nn.BatchNorm2d(cout)

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return F.relu(y + self.down_bn(self.down(x)))


class SmallResNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, padding=1, bias=False)
        self.stem_bn = nn.BatchNorm2d(16)
        self.layer1 = BasicBlock(16, 16, 1)
        self.layer2 = BasicBlock(16, 32, 2)
        self.layer3 = Bottleneck(32, 64, 2)
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        x = F.relu(self.stem_bn(self.stem(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(x.mean(dim=(2, 3)))


def resnet_graph() -> Graph:
    g = Graph()
    seq(g, g.add("Input", shape=[3, 16, 16]),
        ("Conv2d", {"out_channels": 16, "kernel_size": 3, "padding": 1, "bias": False}),
        ("BatchNorm", {}), ("ReLU", {}),
        ("Residual", {"out_channels": 16}),
        ("Residual", {"out_channels": 32, "stride": 2}),
        ("Residual", {"out_channels": 64, "stride": 2, "bottleneck": True}),
        ("GlobalAvgPool", {}),
        ("Dense", {"out_features": 10}),
        ("Output", {}))
    return g


RESNET_NAMES = {
    "conv2d_1": "stem", "batch_norm_1": "stem_bn", "dense_1": "fc",
    **{f"residual_{i}.{a}": f"layer{i}.{b}" for i in (1, 2) for a, b in [
        ("body.0", "conv1"), ("body.1", "bn1"), ("body.3", "conv2"), ("body.4", "bn2"),
        ("shortcut.0", "down"), ("shortcut.1", "down_bn")]},
    **{f"residual_3.{a}": f"layer3.{b}" for a, b in [
        ("body.0", "conv1"), ("body.1", "bn1"), ("body.3", "conv2"), ("body.4", "bn2"), ("body.6", "conv3"),
        ("body.7", "bn3"), ("shortcut.0", "down"), ("shortcut.1", "down_bn")]},
}


def test_small_resnet_matches_hand_written():
    g = resnet_graph()
    hand = SmallResNet()
    model = compare(g, hand, prefix_map(RESNET_NAMES))
    assert infer(g).total_params == sum(p.numel() for p in hand.parameters())
    exported(model, g)


# --- an Inception stack --------------------------------------------------------------------------------


class InceptionBlock(nn.Module):
    def __init__(self, cin, c1, c3r, c3, c5r, c5, pp):
        super().__init__()
        self.b1 = nn.Conv2d(cin, c1, 1)
        self.b2_reduce = nn.Conv2d(cin, c3r, 1)
        self.b2 = nn.Conv2d(c3r, c3, 3, padding=1)
        self.b3_reduce = nn.Conv2d(cin, c5r, 1)
        self.b3 = nn.Conv2d(c5r, c5, 5, padding=2)
        self.b4 = nn.Conv2d(cin, pp, 1)

    def forward(self, x):
        return torch.cat([
            F.relu(self.b1(x)),
            F.relu(self.b2(F.relu(self.b2_reduce(x)))),
            F.relu(self.b3(F.relu(self.b3_reduce(x)))),
            F.relu(self.b4(F.max_pool2d(x, 3, stride=1, padding=1))),
        ], dim=1)


class InceptionNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 12, 3, padding=1)
        self.inc1 = InceptionBlock(12, 8, 6, 8, 2, 4, 4)
        self.inc2 = InceptionBlock(24, 16, 8, 12, 4, 6, 6)
        self.head = nn.Linear(40, 5)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.stem(x)), 2)
        x = self.inc2(self.inc1(x))
        return self.head(x.mean(dim=(2, 3)))


def inception_graph() -> Graph:
    g = Graph()
    names = ("ch1x1", "ch3x3red", "ch3x3", "ch5x5red", "ch5x5", "pool_proj")
    seq(g, g.add("Input", shape=[3, 16, 16]),
        ("Conv2d", {"out_channels": 12, "kernel_size": 3, "padding": 1}), ("ReLU", {}),
        ("MaxPool2d", {"kernel_size": 2}),
        ("Inception", dict(zip(names, (8, 6, 8, 2, 4, 4)))),
        ("Inception", dict(zip(names, (16, 8, 12, 4, 6, 6)))),
        ("GlobalAvgPool", {}),
        ("Dense", {"out_features": 5}),
        ("Output", {}))
    return g


INCEPTION_NAMES = {
    "conv2d_1": "stem", "dense_1": "head",
    **{f"inception_{i}.{a}": f"inc{i}.{b}" for i in (1, 2) for a, b in [
        ("branch1.0", "b1"), ("branch2.0", "b2_reduce"), ("branch2.2", "b2"), ("branch3.0", "b3_reduce"),
        ("branch3.2", "b3"), ("branch4.1", "b4")]},
}


def test_inception_stack_matches_hand_written():
    g = inception_graph()
    model = compare(g, InceptionNet(), prefix_map(INCEPTION_NAMES))
    assert infer(g)[g.find("inception_2")].output_shape == (40, 8, 8)
    exported(model, g)


# --- Embedding → 2-layer bidirectional LSTM → Dense -------------------------------------------------


class TextClassifier(nn.Module):
    def __init__(self, vocab=50, dim=16, hidden=20, classes=3, dropout=0.25):
        super().__init__()
        self.hidden = hidden
        self.emb = nn.Embedding(vocab, dim)
        self.rnn = nn.LSTM(dim, hidden, num_layers=2, bidirectional=True, batch_first=True, dropout=dropout)
        self.fc = nn.Linear(2 * hidden, classes)

    def forward(self, tokens):
        out, _ = self.rnn(self.emb(tokens))
        last = torch.cat([out[:, -1, :self.hidden], out[:, 0, self.hidden:]], dim=-1)
        return self.fc(last)


def text_graph() -> Graph:
    g = Graph()
    seq(g, g.add("Input", shape=[12], dtype="int64", name="tokens"),
        ("Embedding", {"num_embeddings": 50, "embedding_dim": 16}),
        ("LSTM", {"hidden_size": 20, "num_layers": 2, "bidirectional": True, "dropout": 0.25}),
        ("Dense", {"out_features": 3}),
        ("Output", {}))
    return g


def test_embedding_bilstm_dense_matches_hand_written():
    g = text_graph()
    hand = TextClassifier()
    model = compare(g, hand, prefix_map({"embedding_1": "emb", "lstm_1": "rnn", "dense_1": "fc"}), train=False)
    # train mode: LSTM dropout draws from the global RNG, so the same seed gives the same masks
    (tokens,) = example_inputs(g, batch=4, seed=2)
    model.train()
    hand.train()
    torch.manual_seed(7)
    a = model(tokens)
    torch.manual_seed(7)
    b = hand(tokens)
    assert_same(a, b)
    exported(model, g)


def test_bidirectional_last_step_is_forward_last_and_backward_first():
    g = Graph()
    lstm = seq(g, g.add("Input", shape=[5, 3]), ("GRU", {"hidden_size": 4, "bidirectional": True}))
    seq(g, lstm, ("Output", {"loss": "mse"}))
    model = build_model(g, seed=0).eval()
    x = torch.randn(2, 5, 3)
    _, h_n = model.get_submodule("gru_1")(x)
    # h_n holds each direction's final state: forward after step T-1, backward after step 0
    expected = torch.cat([h_n[0], h_n[1]], dim=-1)
    torch.testing.assert_close(model(x), expected)


# --- a GRU regressor -----------------------------------------------------------------------------------


class GRURegressor(nn.Module):
    def __init__(self):
        super().__init__()
        self.g1 = nn.GRU(3, 16, batch_first=True)
        self.g2 = nn.GRU(16, 8, batch_first=True)
        self.norm = nn.LayerNorm(8)
        self.fc = nn.Linear(8, 1)

    def forward(self, x):
        x, _ = self.g1(x)
        x, _ = self.g2(x)
        return self.fc(self.norm(x[:, -1]))


def gru_graph() -> Graph:
    g = Graph()
    seq(g, g.add("Input", shape=[10, 3]),
        ("GRU", {"hidden_size": 16, "return_sequences": True}),
        ("GRU", {"hidden_size": 8}),
        ("LayerNorm", {}),
        ("Dense", {"out_features": 1}),
        ("Output", {"loss": "mse"}))
    return g


def test_gru_regressor_matches_hand_written():
    g = gru_graph()
    model = compare(g, GRURegressor(),
                    prefix_map({"gru_1": "g1", "gru_2": "g2", "layer_norm_1": "norm", "dense_1": "fc"}))
    assert infer(g)[g.find("gru_2")].output_shape == (8,)
    exported(model, g)


# --- two inputs, two outputs -----------------------------------------------------------------------


class TwoInTwoOut(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.img_fc = nn.Linear(4 * 5 * 5, 8)
        self.meta_fc = nn.Linear(5, 8)
        self.cls = nn.Linear(16, 4)
        self.reg = nn.Linear(8, 1)

    def forward(self, image, extras):
        a = F.relu(self.img_fc(torch.flatten(F.max_pool2d(F.relu(self.conv(image)), 2), 1)))
        b = torch.tanh(self.meta_fc(extras))
        return self.reg(b), self.cls(torch.cat([a, b], dim=1))


def two_io_graph() -> tuple[Graph, dict[str, str]]:
    """Two Inputs (image first, then extras) and two Outputs added in an order the data does not flow in:
    the regression Output is added first although its value is computed after the image branch."""
    g = Graph()
    ids = {}
    ids["image"] = g.add("Input", shape=[1, 12, 12], name="image")
    ids["reg_out"] = g.add("Output", loss="mse", name="price")
    ids["extras"] = g.add("Input", shape=[5], name="extras")
    a = seq(g, ids["image"], ("Conv2d", {"out_channels": 4, "kernel_size": 3}), ("ReLU", {}),
            ("MaxPool2d", {"kernel_size": 2}), ("Flatten", {}), ("Dense", {"out_features": 8}), ("ReLU", {}))
    b = seq(g, ids["extras"], ("Dense", {"out_features": 8}), ("Tanh", {}))
    cat = g.add("Concat")
    g.connect(a, cat)
    g.connect(b, cat)
    ids["cls_out"] = seq(g, cat, ("Dense", {"out_features": 4}), ("Output", {"name": "label"}))
    seq(g, b, ("Dense", {"out_features": 1}))
    g.connect(g.find("dense_4"), ids["reg_out"])
    return g, ids


TWO_IO_NAMES = {"conv2d_1": "conv", "dense_1": "img_fc", "dense_2": "meta_fc", "dense_3": "cls", "dense_4": "reg"}


def test_two_inputs_two_outputs_match_hand_written():
    g, _ = two_io_graph()
    model = compare(g, TwoInTwoOut(), prefix_map(TWO_IO_NAMES))
    assert model.input_names == ["image", "extras"]
    assert model.output_names == ["price", "label"]
    assert list(inspect_signature(model)) == ["image", "extras"]
    image, extras = example_inputs(g, batch=2)
    price, label = model(image, extras)
    assert price.shape == (2, 1) and label.shape == (2, 4)
    exported(model, g)


def inspect_signature(model):
    import inspect

    return inspect.signature(model.forward).parameters


def test_input_and_output_order_follow_the_graph_not_the_wiring():
    # inputs in the order the Input blocks were added, even when the second one is wired first
    g = Graph()
    first = g.add("Input", shape=[2], name="first")
    second = g.add("Input", shape=[3], name="second")
    out_b = g.add("Output", loss="mse", name="out_b")
    out_a = g.add("Output", loss="mse", name="out_a")
    g.connect(second, out_a)
    g.connect(first, out_b)
    model = build_model(g)
    assert model.input_names == ["first", "second"]
    assert model.output_names == ["out_b", "out_a"]
    x, y = torch.randn(4, 2), torch.randn(4, 3)
    b, a = model(x, y)
    assert torch.equal(b, x) and torch.equal(a, y)


def test_order_survives_undo_of_a_removed_input():
    from layerloom.core.edits import RemoveNode

    g, ids = two_io_graph()
    edit = RemoveNode(ids["image"])
    edit.apply(g)
    edit.revert(g)
    model = build_model(g)
    assert model.input_names == ["image", "extras"]
    assert model.output_names == ["price", "label"]


def test_concat_joins_branches_in_connection_order():
    g = Graph()
    i = g.add("Input", shape=[2])
    a = seq(g, i, ("Dense", {"out_features": 3, "name": "a"}))
    b = seq(g, i, ("Dense", {"out_features": 5, "name": "b"}))
    cat = g.add("Concat")
    g.connect(b, cat)
    g.connect(a, cat)
    seq(g, cat, ("Output", {"loss": "mse"}))
    model = build_model(g).eval()
    x = torch.randn(2, 2)
    torch.testing.assert_close(model(x), torch.cat([model.b(x), model.a(x)], dim=1))


# --- names, determinism, code --------------------------------------------------------------------------


def test_parameter_names_are_block_names():
    model = build_model(lenet5_graph())
    names = [k for k, _ in model.named_parameters()]
    assert names == [
        "conv2d_1.weight", "conv2d_1.bias", "conv2d_2.weight", "conv2d_2.bias", "dense_1.weight", "dense_1.bias",
        "dense_2.weight", "dense_2.bias", "dense_3.weight", "dense_3.bias",
    ]
    g = resnet_graph()
    keys = build_model(g).state_dict()
    assert "residual_3.body.6.weight" in keys and "batch_norm_1.running_mean" in keys


def test_renamed_blocks_rename_parameters():
    g = lenet5_graph()
    g.rename(g.find("conv2d_1"), "features")
    assert "features.weight" in build_model(g).state_dict()


@pytest.mark.parametrize("make", [lenet5_graph, resnet_graph, text_graph, lambda: two_io_graph()[0]],
                         ids=["lenet", "resnet", "text", "two_io"])
def test_state_dict_survives_json_round_trip(make):
    g = make()
    model = build_model(g, seed=3)
    g2 = Graph.from_json(g.to_json())
    model2 = build_model(g2, seed=99)
    assert list(model2.state_dict()) == list(model.state_dict())
    model2.load_state_dict(model.state_dict(), strict=True)
    inputs = example_inputs(g, batch=2)
    assert_same(model.eval()(*inputs), model2.eval()(*inputs))


def test_seed_makes_weights_repeatable_and_leaves_global_rng_alone():
    g = resnet_graph()
    torch.manual_seed(123)
    state = torch.random.get_rng_state()
    a = build_model(g, seed=5).state_dict()
    assert torch.equal(torch.random.get_rng_state(), state)
    b = build_model(g, seed=5).state_dict()
    c = build_model(g, seed=6).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["conv2d_1.weight"], c["conv2d_1.weight"])


def test_seed_does_not_reseed_other_devices(monkeypatch):
    # weights are made on the CPU; reseeding CUDA (as torch.manual_seed does) would reset a GPU's
    # dropout masks to the same sequence at every compile
    calls = []
    monkeypatch.setattr(torch.cuda, "manual_seed_all", lambda seed: calls.append(seed))
    monkeypatch.setattr(torch.cuda, "manual_seed", lambda seed: calls.append(seed))
    build_model(lenet5_graph(), seed=11)
    assert calls == []


def test_code_is_readable_python_naming_the_blocks():
    g, _ = two_io_graph()
    model = build_model(g)
    code = model.code
    compile(code, "<model>", "exec")
    assert "def forward(self, image, extras):" in code
    for name in ("conv2d_1", "relu_1", "max_pool2d_1", "flatten_1", "dense_1", "dense_2", "concat_1", "dense_4"):
        assert re.search(rf"\b{name} = ", code), name
    assert "self.conv2d_1(image)" in code
    assert "torch.cat([relu_2, tanh_1], dim = 1)" in code
    assert re.search(r"return \(dense_4, dense_3\)", code)
    assert set(model.block_nodes) == {n.name for n in g if n.type != "Output"}


def test_recurrent_code_names_its_parts():
    code = build_model(text_graph()).code
    assert "lstm_1_rnn = self.lstm_1(embedding_1)" in code
    assert "lstm_1_seq = lstm_1_rnn[0]" in code
    assert "lstm_1 = torch.cat([lstm_1_fwd, lstm_1_bwd], dim = -1)" in code


def test_reshape_with_inferred_size_compiles():
    g = Graph()
    seq(g, g.add("Input", shape=[4, 6]), ("Reshape", {"shape": [3, -1]}), ("Output", {"loss": "mse"}))
    model = build_model(g)
    x = torch.randn(5, 4, 6)
    assert torch.equal(model(x), x.reshape(5, 3, 8))
    exported(model, g)


def test_only_blocks_leading_to_an_output_are_compiled():
    g = Graph()
    i = g.add("Input", shape=[4])
    seq(g, i, ("Dense", {"out_features": 2}), ("Output", {"loss": "mse"}))
    seq(g, i, ("Dense", {"out_features": 7, "name": "side"}))
    model = build_model(g)
    assert "side" not in dict(model.named_children())
    assert "side" not in model.code


# --- problems ------------------------------------------------------------------------------------------


def test_compile_error_lists_every_problem():
    g = Graph()
    i = g.add("Input", shape=[3, 8, 8])
    seq(g, i, ("Dense", {}), ("Output", {}))
    dangling = g.add("Conv2d", name="dangling")
    g.add("Output", name="empty")
    with pytest.raises(CompileError) as err:
        build_model(g)
    problems = err.value.problems
    assert problems == [
        "Dense 'dense_1' got a 3×8×8 map; flatten it first (add Flatten)",
        "Conv2d 'dangling' has no input; connect a block to it",
        "Output 'empty' has nothing connected; connect the network's last layer to it",
    ]
    assert str(err.value).startswith("the model cannot be built:\n  - Dense 'dense_1'")
    assert dangling in g


def test_compile_error_for_missing_input_and_output():
    with pytest.raises(CompileError) as err:
        build_model(Graph())
    assert len(err.value.problems) == 2
    assert "no Input block" in err.value.problems[0] and "no Output block" in err.value.problems[1]


def test_example_inputs_respect_dtypes_and_vocabulary():
    g = text_graph()
    (tokens,) = example_inputs(g, batch=8)
    assert tokens.dtype == torch.int64 and tokens.shape == (8, 12)
    assert int(tokens.min()) >= 0 and int(tokens.max()) < 50
    image, extras = example_inputs(two_io_graph()[0], batch=3)
    assert image.shape == (3, 1, 12, 12) and extras.shape == (3, 5) and image.dtype == torch.float32


def test_example_token_ids_fit_every_embedding_downstream():
    g = Graph()
    tokens = g.add("Input", shape=[6], dtype="int64")
    seq(g, tokens, ("Embedding", {"num_embeddings": 100, "embedding_dim": 2}), ("Flatten", {}),
        ("Output", {"loss": "mse", "name": "a"}))
    seq(g, tokens, ("Reshape", {"shape": [2, 3]}), ("Embedding", {"num_embeddings": 3, "embedding_dim": 2}),
        ("Flatten", {}), ("Output", {"loss": "mse", "name": "b"}))
    (ids,) = example_inputs(g, batch=64)
    assert int(ids.max()) < 3
    build_model(g)(ids)
