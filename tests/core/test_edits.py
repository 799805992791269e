"""Reversible edits: each one's revert restores the exact JSON (node and edge order included), and long
random sequences undone to the start and redone to the end give back the same documents."""

from __future__ import annotations

import random

import pytest

from layerloom.core import Edge, Graph, GraphError, ParamError, build_model, infer
from layerloom.core.edits import (
    AddNode,
    Connect,
    Disconnect,
    Macro,
    Move,
    RemoveNode,
    Rename,
    SetParams,
    remove_nodes,
)


def sample() -> Graph:
    g = Graph()
    a = g.add("Input", shape=[3, 16, 16], pos=(0, 0))
    b = g.add("Conv2d", out_channels=8, padding=1, pos=(100, 0))
    c = g.add("Conv2d", out_channels=8, kernel_size=1, pos=(100, 100))
    cat = g.add("Concat", pos=(200, 50))
    flat = g.add("GlobalAvgPool", pos=(300, 50))
    d = g.add("Dense", out_features=4, pos=(400, 50))
    out = g.add("Output", pos=(500, 50))
    for s, t in [(a, b), (a, c), (c, cat), (b, cat), (cat, flat), (flat, d), (d, out)]:
        g.connect(s, t)
    return g


EDITS = [
    ("add", lambda g: AddNode("Dense", {"out_features": 3}, pos=(5, 6))),
    ("add named", lambda g: AddNode("ReLU", name="act")),
    ("remove middle", lambda g: RemoveNode("n4")),  # the Concat: two edges in, one out
    ("remove input", lambda g: RemoveNode("n1")),
    ("remove output", lambda g: RemoveNode("n7")),
    ("connect", lambda g: Connect("n1", "n4")),
    ("disconnect first branch", lambda g: Disconnect(g.edges[2])),
    ("disconnect last", lambda g: Disconnect(g.edges[-1])),
    ("set params", lambda g: SetParams("n2", {"kernel_size": [5, 3], "padding": "same"})),
    ("set stride none", lambda g: SetParams("n2", {"stride": 2})),
    ("rename", lambda g: Rename("n6", "classifier")),
    ("move", lambda g: Move({"n2": (1.5, -2), "n3": (0, 0)})),
    ("macro", lambda g: Macro([AddNode("ReLU", node_id="n20"), Connect("n6", "n20"), Rename("n20", "r")])),
    ("delete several", lambda g: remove_nodes(g, ["n2", "n4", "n3"])),
]


@pytest.mark.parametrize(("label", "make"), EDITS, ids=[e[0] for e in EDITS])
def test_apply_then_revert_restores_exact_json(label, make):
    g = sample()
    before = g.to_json()
    edit = make(g)
    edit.apply(g)
    after = g.to_json()
    assert after != before
    edit.revert(g)
    assert g.to_json() == before
    assert [e for e in g.edges] == Graph.from_json(before).edges
    edit.apply(g)  # redo
    assert g.to_json() == after
    edit.revert(g)
    assert g.to_json() == before
    assert isinstance(edit.text, str) and edit.text


def test_revert_restores_inference_and_model_order():
    g = sample()
    report = dict(infer(g))
    edit = remove_nodes(g, ["n4", "n1"])
    edit.apply(g)
    assert not infer(g).ok
    edit.revert(g)
    assert dict(infer(g)) == report
    assert [e.src for e in g.in_edges("n4")] == ["n3", "n2"]  # Concat's branch order is back
    model = build_model(g)
    assert model.input_names == ["input_1"]


def test_add_node_redo_keeps_id_and_name():
    g = sample()
    edit = AddNode("Conv2d")
    edit.apply(g)
    nid, name = edit.node_id, edit.name
    assert name == "conv2d_3"
    edit.revert(g)
    g.add("ReLU")  # takes the next id in between
    edit.apply(g)
    assert edit.node_id == nid and g.node(nid).name == name


def test_set_params_merges_a_run_of_edits():
    g = sample()
    before = g.to_json()
    first = SetParams("n6", {"out_features": 5})
    first.apply(g)
    for value in (6, 7, 8):
        nxt = SetParams("n6", {"out_features": value})
        nxt.apply(g)
        assert first.merge(nxt)
    assert not first.merge(SetParams("n6", {"bias": False}))
    assert not first.merge(SetParams("n2", {"out_features": 3}))
    assert not first.merge(Rename("n6", "x"))
    assert g.node("n6").params["out_features"] == 8
    first.revert(g)
    assert g.to_json() == before
    first.apply(g)
    assert g.node("n6").params["out_features"] == 8
    assert first.text == "Change out_features"


def test_refused_edits_raise_and_change_nothing():
    g = sample()
    before = g.to_json()
    for edit, error in [
        (SetParams("n2", {"kernel_size": -1}), ParamError),
        (SetParams("n2", {"kernal_size": 3}), ParamError),
        (Connect("n7", "n1"), GraphError),
        (Connect("n6", "n2"), GraphError),
        (Rename("n2", "conv2d_2"), GraphError),
        (AddNode("Conv2d", {"groups": 0}), ParamError),
        (RemoveNode("n99"), GraphError),
        (Disconnect(Edge("n1", "out", "n6", "in")), GraphError),
        (Move({"n2": (float("nan"), 0)}), GraphError),
    ]:
        with pytest.raises(error):
            edit.apply(g)
        assert g.to_json() == before, edit


def test_macro_rolls_back_when_a_step_fails():
    g = sample()
    before = g.to_json()
    macro = Macro([AddNode("ReLU", node_id="n30"), Connect("n6", "n30"), Connect("n1", "n30")], label="Wire")
    with pytest.raises(GraphError, match="already has an input"):
        macro.apply(g)
    assert g.to_json() == before
    assert macro.text == "Wire"


def test_texts():
    g = sample()
    rm = RemoveNode("n2")
    assert rm.text == "Delete block"
    rm.apply(g)
    assert rm.text == "Delete conv2d_1"
    assert AddNode("LSTM").text == "Add LSTM"
    assert remove_nodes(g, ["n3", "n4"]).text == "Delete 2 blocks"


# --- long random sequences ------------------------------------------------------------------------------

TYPES = ["Input", "Conv2d", "ReLU", "MaxPool2d", "Flatten", "Dense", "Add", "Concat", "Output", "LSTM"]
PARAM_CHOICES = {
    "Conv2d": {"out_channels": [1, 4, 8], "kernel_size": [1, 3, [3, 5]], "padding": [0, 1, "same", "valid"]},
    "Dense": {"out_features": [2, 10], "bias": [True, False]},
    "MaxPool2d": {"kernel_size": [2, 3], "stride": [None, 1, [1, 2]]},
    "Concat": {"dim": [1, -1]},
    "Input": {"shape": [[3, 8, 8], [16], [5, 4]], "dtype": ["float32", "int64"]},
    "LSTM": {"hidden_size": [3, 8], "bidirectional": [True, False], "return_sequences": [True, False]},
    "Output": {"loss": ["mse", "cross_entropy"]},
}


def random_edit(g: Graph, rng: random.Random):
    """One edit that the graph accepts (None if the draw found nothing to do)."""
    ids = [n.id for n in g]
    kind = rng.choice(["add", "add", "remove", "connect", "connect", "connect", "disconnect", "params",
                       "params", "rename", "move", "macro"])
    if kind == "add" or not ids:
        return AddNode(rng.choice(TYPES), pos=(rng.uniform(-500, 500), rng.uniform(-500, 500)))
    if kind == "remove":
        return RemoveNode(rng.choice(ids))
    if kind == "connect":
        for _ in range(20):
            a, b = rng.choice(ids), rng.choice(ids)
            if g.can_connect(a, b) is None:
                return Connect(a, b)
        return None
    if kind == "disconnect":
        return Disconnect(rng.choice(g.edges)) if g.edges else None
    if kind == "params":
        nid = rng.choice(ids)
        choices = PARAM_CHOICES.get(g.node(nid).type)
        if not choices:
            return None
        keys = rng.sample(sorted(choices), rng.randint(1, len(choices)))
        return SetParams(nid, {k: rng.choice(choices[k]) for k in keys})
    if kind == "rename":
        nid = rng.choice(ids)
        name = f"blk{rng.randrange(100_000)}"
        return Rename(nid, name) if g.check_name(name, nid) is None else None
    if kind == "move":
        chosen = rng.sample(ids, min(len(ids), rng.randint(1, 3)))
        return Move({nid: (round(rng.uniform(-900, 900), 2), round(rng.uniform(-900, 900), 2)) for nid in chosen})
    return remove_nodes(g, rng.sample(ids, min(len(ids), rng.randint(1, 3))))


@pytest.mark.parametrize("seed", range(6))
def test_long_random_sequence_undoes_and_redoes(seed):
    rng = random.Random(seed)
    g = sample()
    states = [g.to_json()]
    done = []
    while len(done) < 150:
        edit = random_edit(g, rng)
        if edit is None:
            continue
        edit.apply(g)
        done.append(edit)
        states.append(g.to_json())
    end = states[-1]
    assert end != states[0]
    for k in range(len(done) - 1, -1, -1):  # undo everything, checking every step on the way
        done[k].revert(g)
        assert g.to_json() == states[k], f"undo of step {k} ({done[k]!r}) differs"
    assert g.to_json() == states[0]
    for k, edit in enumerate(done):  # redo everything
        edit.apply(g)
        assert g.to_json() == states[k + 1], f"redo of step {k} ({edit!r}) differs"
    assert g.to_json() == end
    # the document is still loadable and infers like a fresh copy
    assert dict(infer(g)) == dict(infer(Graph.from_json(end)))


def test_undo_redo_with_events_seen_by_inference():
    """Inference attached before the edits stays right through undo and redo."""
    rng = random.Random(42)
    g = sample()
    infer(g)
    done = []
    while len(done) < 60:
        edit = random_edit(g, rng)
        if edit is None:
            continue
        edit.apply(g)
        done.append(edit)
        infer(g)
    for edit in reversed(done):
        edit.revert(g)
        assert dict(infer(g)) == dict(infer(Graph.from_json(g.to_json())))
    assert dict(infer(g)) == dict(infer(sample()))
