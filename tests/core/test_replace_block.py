"""ReplaceBlock: a block becomes another type of its kind in one undoable step (RNN → LSTM keeps its id,
place, wires and the parameters both have; a name made from its type follows the new one; the compiled model
holds the new layer), and a swap that cannot be made says which block and why."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from layerloom.core.block_swap import carried_params, replacements, swap_problem
from layerloom.core.compiler import build_model
from layerloom.core.edits import ReplaceBlock
from layerloom.core.errors import GraphError
from layerloom.core.graph import Graph
from layerloom.core.inference import infer
from layerloom.core.templates import load_template

RNN_PARAMS = {"hidden_size": 24, "num_layers": 2, "bidirectional": True, "return_sequences": True, "dropout": 0.25}


def sequence_graph(name: str | None = "rnn") -> tuple[Graph, str]:
    g = Graph()
    x = g.add("Input", shape=[12, 5], name="x", pos=(0, 0))
    rnn = g.add("RNN", name=name, pos=(230.0, -40.0), **RNN_PARAMS)
    flat = g.add("Flatten", name="flat", pos=(460, 0))
    out = g.add("Dense", out_features=3, name="logits", pos=(690, 0))
    y = g.add("Output", loss="cross_entropy", name="y", pos=(920, 0))
    g.connect(x, rnn)
    g.connect(rnn, flat)
    g.connect(flat, out)
    g.connect(out, y)
    return g, rnn


def test_rnn_to_lstm_keeps_id_place_wires_and_shared_parameters_and_undo_restores_exactly():
    g, rnn = sequence_graph()
    g.set_frozen(rnn, True)
    before = g.to_dict()
    order = [n.id for n in g]
    wires = list(g.edges)
    edit = ReplaceBlock(rnn, "LSTM")
    edit.apply(g)
    node = g.node(rnn)
    assert node.type == "LSTM" and node.name == "lstm"
    assert node.pos == (230.0, -40.0) and node.frozen
    assert node.params == {**RNN_PARAMS, "forget_bias": 1.0}  # LSTM's own parameter at its default
    assert [n.id for n in g] == order and g.edges == wires
    assert edit.text == "Replace rnn with LSTM"
    report = infer(g)
    assert report.ok and report[rnn].output_shape == (12, 48)  # 12 steps × 24 hidden × 2 directions
    assert report[g.find("logits")].output_shape == (3,)
    edit.revert(g)
    assert g.to_dict() == before
    edit.apply(g)  # redo
    assert g.node(rnn).type == "LSTM" and g.edges == wires


def test_the_compiled_model_after_the_swap_holds_an_lstm_of_the_same_sizes():
    g, rnn = sequence_graph()
    ReplaceBlock(rnn, "LSTM").apply(g)
    g.set_params(rnn, forget_bias=5.0)
    model = build_model(g, seed=0)
    lstm = model.get_submodule("lstm")
    assert type(lstm) is nn.LSTM
    assert (lstm.input_size, lstm.hidden_size, lstm.num_layers) == (5, 24, 2)
    assert lstm.bidirectional and lstm.batch_first and lstm.dropout == 0.25
    assert torch.all(lstm.bias_ih_l0[24:48] == 5.0) and torch.all(lstm.bias_hh_l0[24:48] == 0.0)
    out = model(torch.randn(4, 12, 5))
    assert out.shape == (4, 3)


def test_the_lesson_template_swaps_its_rnn_for_an_lstm_and_back():
    project = load_template("rnn_long_memory")
    g = project.graph
    rnn = g.find("rnn")
    ReplaceBlock(rnn, "LSTM").apply(g)
    assert [n.type for n in g] == ["Input", "Embedding", "LSTM", "Dense", "Output"]
    assert g.node(rnn).name == "lstm" and g.node(rnn).params["hidden_size"] == 32
    assert g.predecessors(rnn) == [g.find("embedding")] and g.successors(rnn) == [g.find("logits")]
    edit = ReplaceBlock(rnn, "GRU")
    edit.apply(g)
    assert g.node(rnn).name == "gru" and "forget_bias" not in g.node(rnn).params
    assert infer(g).ok


def test_names_follow_the_type_only_where_the_type_made_them():
    g, rnn = sequence_graph(name=None)  # the graph names it rnn_1
    assert g.node(rnn).name == "rnn_1"
    ReplaceBlock(rnn, "GRU").apply(g)
    assert g.node(rnn).name == "gru_1"
    g.add("LSTM", name="lstm_1")  # taken: the next free one
    ReplaceBlock(rnn, "LSTM").apply(g)
    assert g.node(rnn).name == "lstm_2"
    mine, rnn2 = sequence_graph(name="encoder")
    ReplaceBlock(rnn2, "LSTM").apply(mine)
    assert mine.node(rnn2).name == "encoder"  # a name of the user's own stays


def test_parameters_invalid_for_the_new_type_take_its_defaults():
    g = Graph()
    act = g.add("LeakyReLU", negative_slope=0.2)
    assert carried_params(g.node(act), "ELU") == {"alpha": 1.0}
    pool = g.add("MaxPool2d", kernel_size=[3, 3], stride=2, padding=1)
    ReplaceBlock(pool, "AvgPool2d").apply(g)
    assert g.node(pool).params == {"kernel_size": [3, 3], "stride": 2, "padding": 1}
    assert g.node(pool).name == "avg_pool2d_1"


def test_which_types_a_block_may_become():
    assert replacements("RNN") == ["LSTM", "GRU"]
    assert replacements("LSTM") == ["RNN", "GRU"]
    assert replacements("MaxPool1d") == ["AvgPool1d"]
    assert "Sigmoid" in replacements("ReLU") and "Softmax" not in replacements("ReLU")
    assert replacements("Conv2d") == [] and replacements("Dense") == []


@pytest.mark.parametrize(("new_type", "why"), [
    ("Conv1d", "RNN 'rnn' cannot become a Conv1d: a block can only be replaced by one of its kind (LSTM, GRU)"),
    ("Output", "RNN 'rnn' cannot become an Output: an Output has no output 'out' for its wire"),
    ("RNN", "RNN 'rnn' is already an RNN"),
])
def test_a_refused_replacement_names_the_block_and_why_and_changes_nothing(new_type, why):
    g, rnn = sequence_graph()
    before = g.to_dict()
    assert swap_problem(g, rnn, new_type) == why
    with pytest.raises(GraphError) as err:
        ReplaceBlock(rnn, new_type).apply(g)
    assert str(err.value) == why
    assert g.to_dict() == before


def test_a_merge_block_with_several_wires_swaps_and_an_unknown_type_is_refused():
    g = Graph()
    a = g.add("Input", shape=[4])
    b = g.add("Input", shape=[4])
    add = g.add("Add")
    g.connect(a, add)
    g.connect(b, add)
    ReplaceBlock(add, "Multiply").apply(g)
    assert g.node(add).type == "Multiply" and g.predecessors(add) == [a, b]
    with pytest.raises(GraphError, match="unknown block type 'LTSM'; did you mean 'LSTM'"):
        ReplaceBlock(add, "LTSM").apply(g)
