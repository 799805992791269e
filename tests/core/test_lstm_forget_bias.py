"""The LSTM block's forget_bias: the compiled biases against a hand-built nn.LSTM, the exported model.py, bad
values, and projects saved before the option (schema 1) starting exactly as PyTorch starts them."""

from __future__ import annotations

import importlib.util
import json
import math

import pytest
import torch
from torch import nn

from layerloom.core.compiler import build_model
from layerloom.core.errors import GraphError, ParamError, ProjectError
from layerloom.core.export.python_source import generate_source
from layerloom.core.export.source import source_from
from layerloom.core.graph import Graph
from layerloom.core.project import SCHEMA_VERSION, Project, load_project, save_project

FEATURES, HIDDEN = 5, 6


def _graph(**lstm) -> Graph:
    g = Graph()
    x = g.add("Input", shape=[7, FEATURES], name="x")
    r = g.add("LSTM", hidden_size=HIDDEN, name="lstm", **lstm)
    d = g.add("Dense", out_features=2, name="logits")
    o = g.add("Output", loss="cross_entropy", name="y")
    for a, b in ((x, r), (r, d), (d, o)):
        g.connect(a, b)
    return g


def _hand_built(seed: int, layers: int, bidirectional: bool, forget_bias: float | None) -> nn.LSTM:
    """nn.LSTM made under the same seed as the compiler (it is the first module), forget rows set by hand."""
    gen_state = torch.random.get_rng_state()
    torch.default_generator.manual_seed(seed)
    lstm = nn.LSTM(FEATURES, HIDDEN, num_layers=layers, bidirectional=bidirectional, batch_first=True)
    torch.random.set_rng_state(gen_state)
    if forget_bias is not None:
        with torch.no_grad():
            for layer in range(layers):
                for suffix in ("", "_reverse") if bidirectional else ("",):
                    getattr(lstm, f"bias_ih_l{layer}{suffix}")[HIDDEN:2 * HIDDEN] = forget_bias
                    getattr(lstm, f"bias_hh_l{layer}{suffix}")[HIDDEN:2 * HIDDEN] = 0.0
    return lstm


def _lstm_state(model) -> dict[str, torch.Tensor]:
    return {k.split(".", 1)[1]: v for k, v in model.state_dict().items() if k.startswith("lstm.")}


def test_a_new_lstm_starts_with_forget_bias_one():
    g = _graph()
    assert g.node(g.find("lstm")).params["forget_bias"] == 1.0


@pytest.mark.parametrize("layers,bidirectional", [(1, False), (2, False), (1, True), (3, True)])
@pytest.mark.parametrize("forget_bias", [1.0, -0.5, None])
def test_compiled_biases_equal_a_hand_built_lstm(layers, bidirectional, forget_bias):
    model = build_model(_graph(num_layers=layers, bidirectional=bidirectional, forget_bias=forget_bias), seed=3)
    expected = _hand_built(3, layers, bidirectional, forget_bias).state_dict()
    got = _lstm_state(model)
    assert set(got) == set(expected)
    for name, value in expected.items():
        assert torch.equal(got[name], value), name
    if forget_bias is not None:  # the forget rows are the value and 0; the other gates keep their random start
        for name, value in got.items():
            if name.startswith("bias_ih"):
                assert torch.all(value[HIDDEN:2 * HIDDEN] == forget_bias)
                assert not torch.all(value[:HIDDEN] == forget_bias)
            elif name.startswith("bias_hh"):
                assert torch.all(value[HIDDEN:2 * HIDDEN] == 0.0)


def test_the_option_leaves_every_other_weight_as_pytorch_draws_it():
    with_bias = build_model(_graph(num_layers=2, forget_bias=1.0), seed=0).state_dict()
    without = build_model(_graph(num_layers=2, forget_bias=None), seed=0).state_dict()
    for name, value in without.items():
        if "bias" in name and name.startswith("lstm."):
            keep = torch.ones_like(value, dtype=torch.bool)
            keep[HIDDEN:2 * HIDDEN] = False
            assert torch.equal(with_bias[name][keep], value[keep]), name
        else:
            assert torch.equal(with_bias[name], value), name


def _exported_model(graph: Graph, tmp_path, seed: int):
    text = generate_source(source_from(graph))
    path = tmp_path / "model.py"
    path.write_text(text, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("exported_forget_bias_model", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    torch.manual_seed(seed)
    return text, module.load_model(weights_path=None)


@pytest.mark.parametrize("forget_bias", [2.5, None])
def test_exported_source_starts_like_the_compiled_model(forget_bias, tmp_path):
    graph = _graph(num_layers=2, bidirectional=True, forget_bias=forget_bias)
    text, exported = _exported_model(graph, tmp_path, seed=0)
    assert ("set_forget_bias(self.lstm, 2.5)" in text) == (forget_bias is not None)
    assert "layerloom_forget_bias" not in text  # Layerloom's own re-initialisation mark stays home
    compiled = build_model(graph, seed=0).state_dict()
    got = exported.state_dict()
    assert set(got) == set(compiled)
    for name, value in compiled.items():
        assert torch.equal(got[name], value), name
    assert torch.all(got["lstm.bias_ih_l1_reverse"][HIDDEN:2 * HIDDEN] == (forget_bias or 0.0)) == (
        forget_bias is not None)


@pytest.mark.parametrize("value,words", [
    (math.nan, "must be a finite number"),
    (math.inf, "must be a finite number"),
    (1e6, "must be at most 10"),
    (-11.0, "must be at least -10"),
    ("1", "must be a number"),
])
def test_bad_values_are_refused_naming_block_and_field(value, words):
    g = _graph()
    with pytest.raises(ParamError) as info:
        g.set_params(g.find("lstm"), forget_bias=value)
    assert "lstm" in str(info.value) and "forget_bias" in str(info.value) and words in str(info.value)
    assert g.node(g.find("lstm")).params["forget_bias"] == 1.0


def test_a_bad_value_in_a_file_is_reported_with_its_place(tmp_path):
    d = Project(_graph()).to_dict()
    d["nodes"][1]["params"]["forget_bias"] = 1e9
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(d), encoding="utf-8")
    with pytest.raises((ProjectError, GraphError)) as info:
        load_project(path)
    assert "lstm" in str(info.value) and "forget_bias must be at most 10" in str(info.value)


def _schema_1_file(tmp_path, **lstm):
    """A project file as Layerloom wrote it before forget_bias existed."""
    d = Project(_graph(num_layers=2, bidirectional=True, **lstm)).to_dict()
    d["schema_version"] = 1
    for node in d["nodes"]:
        node["params"].pop("forget_bias", None)
    path = tmp_path / "old.json"
    path.write_text(json.dumps(d), encoding="utf-8")
    return path


def test_an_old_project_starts_exactly_as_pytorch_starts_an_lstm(tmp_path):
    project = load_project(_schema_1_file(tmp_path))
    assert project.migrated_from == 1 and project.to_dict()["schema_version"] == SCHEMA_VERSION == 2
    assert project.graph.node(project.graph.find("lstm")).params["forget_bias"] is None
    got = _lstm_state(build_model(project.graph, seed=5))
    expected = _hand_built(5, 2, True, None).state_dict()  # PyTorch's default: what compiling gave before
    for name, value in expected.items():
        assert torch.equal(got[name], value), name
    # saved again, it keeps PyTorch's start
    again = tmp_path / "again.json"
    save_project(project, again)
    reopened = load_project(again)
    assert reopened.migrated_from is None
    assert reopened.graph.node(reopened.graph.find("lstm")).params["forget_bias"] is None


def test_an_old_file_without_params_or_with_broken_nodes_still_reads_as_before(tmp_path):
    d = json.loads(_schema_1_file(tmp_path).read_text(encoding="utf-8"))
    del d["nodes"][1]["params"]  # the loader fills missing params with their defaults
    path = tmp_path / "no_params.json"
    path.write_text(json.dumps(d), encoding="utf-8")
    project = load_project(path)
    assert project.graph.node(project.graph.find("lstm")).params["forget_bias"] is None
    d["nodes"] = "not a list"  # the migration leaves this to the graph loader's message
    path.write_text(json.dumps(d), encoding="utf-8")
    with pytest.raises((ProjectError, GraphError)) as info:
        load_project(path)
    assert "upgrade" not in str(info.value)


def test_the_golden_schema_1_lstm_file_starts_as_before():
    """lstm_text as Layerloom wrote it before forget_bias: its LSTM (64 units on 64-wide embeddings) starts
    as PyTorch starts one, drawn right after the embedding's weights, as the compiler always drew it."""
    from pathlib import Path

    project = load_project(Path(__file__).parent.parent / "golden" / "project_v1_lstm.json")
    assert project.migrated_from == 1
    assert project.graph.node(project.graph.find("lstm")).params["forget_bias"] is None
    model = build_model(project.graph, seed=0)
    gen_state = torch.random.get_rng_state()
    torch.default_generator.manual_seed(0)
    embedding = nn.Embedding(5000, 64)
    lstm = nn.LSTM(64, 64, batch_first=True)
    torch.random.set_rng_state(gen_state)
    state = model.state_dict()
    assert torch.equal(state["embedding.weight"], embedding.weight.detach())
    for name, value in lstm.state_dict().items():
        assert torch.equal(state[f"lstm.{name}"], value), name


@pytest.mark.parametrize("mode", ["xavier", "kaiming"])
def test_a_new_start_keeps_the_forget_bias(mode):
    """The training setting init = xavier / kaiming zeroes recurrent biases; the LSTM's forget gates start at
    the block's forget_bias again (the rest of the biases stay zero)."""
    from layerloom.core.blocks.recurrent import set_forget_bias
    from layerloom.core.training.optim import init_weights

    torch.manual_seed(0)
    lstm = nn.LSTM(3, 4, num_layers=2, bidirectional=True, batch_first=True)
    set_forget_bias(lstm, 2.5)
    init_weights(lstm, mode, seed=0)
    for name, p in lstm.named_parameters():
        if name.startswith("bias_ih"):
            assert torch.equal(p[4:8], torch.full((4,), 2.5)) and not p[:4].any() and not p[8:].any()
        elif name.startswith("bias_hh"):
            assert not p.any()
    plain = nn.LSTM(3, 4, batch_first=True)  # no forget_bias: every bias zero, as before
    init_weights(plain, mode, seed=0)
    assert not plain.bias_ih_l0.any() and not plain.bias_hh_l0.any()
