"""Inference keeps which blocks reach an Output (and are reached from an Input) until the structure changes:
wires and blocks added or removed must be seen at once, moves and parameter changes keep the cache."""

from __future__ import annotations

from layerloom.core import Graph, infer
from layerloom.core.edits import Connect, Disconnect, Move, SetParams


def small() -> tuple[Graph, dict[str, str]]:
    g = Graph()
    ids = {"in": g.add("Input", shape=[4]), "dense": g.add("Dense", out_features=3), "out": g.add("Output")}
    g.connect(ids["in"], ids["dense"])
    g.connect(ids["dense"], ids["out"])
    return g, ids


def test_a_removed_wire_makes_the_output_unreachable_at_once_and_undo_mends_it():
    g, ids = small()
    assert infer(g).ok
    cut = Disconnect(g.edges[0])  # Input → Dense
    cut.apply(g)
    report = infer(g)
    assert not report.ok
    assert report[ids["in"]].warnings == ("Input 'input_1' is not used by any Output",)
    cut.revert(g)
    report = infer(g)
    assert report.ok and report[ids["in"]].warnings == ()


def test_a_new_side_branch_is_warned_unused_then_not_once_connected():
    g, ids = small()
    infer(g)
    side = g.add("ReLU")
    g.connect(ids["in"], side)
    assert infer(g)[side].warnings  # leads to no Output
    join = g.add("Add")
    Connect(side, join).apply(g)
    Connect(ids["dense"], join).apply(g)
    g.disconnect(ids["dense"], ids["out"])
    g.connect(join, ids["out"])
    report = infer(g)
    assert report[side].warnings == ()  # it leads to the Output now (the Add's shapes are another matter)


def test_moves_and_parameter_changes_keep_the_same_answers():
    g, ids = small()
    first = infer(g)
    Move({ids["dense"]: (50.0, 60.0), ids["out"]: (90.0, 0.0)}).apply(g)
    SetParams(ids["dense"], {"out_features": 5}).apply(g)
    report = infer(g)
    assert report.ok and first.ok
    assert report[ids["out"]].output_shape == (5,)
