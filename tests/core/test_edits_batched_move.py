"""A Move of many blocks is one graph event and one reversible step (Graph.move_many): undo puts every block
back at once, and a refused move (unknown block, bad position) moves nothing."""

from __future__ import annotations

import pytest

from layerloom.core import Graph, GraphError
from layerloom.core.edits import Move


def chain(n: int) -> Graph:
    g = Graph()
    ids = [g.add("Input", shape=[4], pos=(0, 0))]
    for i in range(1, n):
        ids.append(g.add("Dense", out_features=4, pos=(i * 10.0, (i % 7) * 3.0)))
        g.connect(ids[-2], ids[-1])
    return g


def positions(g: Graph) -> dict[str, tuple[float, float]]:
    return {node.id: node.pos for node in g}


def test_move_of_many_blocks_is_one_event_and_undoes_in_one_step():
    g = chain(300)
    before, json_before = positions(g), g.to_json()
    events = []
    g.subscribe(events.append)
    target = {nid: (x + 40.0, y - 5.0) for nid, (x, y) in before.items()}
    edit = Move(target)
    edit.apply(g)
    assert positions(g) == target
    assert [e.kind for e in events] == ["nodes_moved"]
    assert events[0].node is None and events[0].new == target and events[0].old == before
    assert edit.old == before

    edit.revert(g)
    assert positions(g) == before and g.to_json() == json_before
    assert [e.kind for e in events] == ["nodes_moved", "nodes_moved"]
    assert events[1].new == before and events[1].old == target

    edit.apply(g)  # redo
    assert positions(g) == target and len(events) == 3


def test_move_many_announces_only_the_blocks_that_moved():
    g = chain(4)
    ids = [n.id for n in g]
    events = []
    g.subscribe(events.append)
    old = g.move_many({ids[0]: (0, 0), ids[1]: (10, 3), ids[2]: (99, 98)})  # only ids[2] changes
    assert old == {ids[0]: (0.0, 0.0), ids[1]: (10.0, 3.0), ids[2]: (20.0, 6.0)}
    assert len(events) == 1 and events[0].new == {ids[2]: (99.0, 98.0)} and events[0].old == {ids[2]: (20.0, 6.0)}
    assert g.move_many({ids[0]: (0.0, 0.0)}) == {ids[0]: (0.0, 0.0)}
    assert len(events) == 1  # nothing moved: no event
    assert g.move_many({}) == {} and len(events) == 1


@pytest.mark.parametrize("bad", [{"nope": (1, 2)}, {"n2": (float("nan"), 0)}, {"n2": (1, 2, 3)}])
def test_refused_move_moves_nothing(bad):
    g = chain(5)
    before = positions(g)
    events = []
    g.subscribe(events.append)
    with pytest.raises(GraphError):
        Move({"n1": (500.0, 500.0), **bad}).apply(g)
    assert positions(g) == before and events == []


def test_block_moved_twice_in_one_move_keeps_its_first_old_position():
    g = chain(3)
    edit = Move({"n1": (7.0, 8.0)})
    edit.apply(g)
    edit.positions = {"n1": (9.0, 9.0), "n2": (1.0, 1.0)}  # a drag that went on (merged positions)
    edit.apply(g)
    edit.revert(g)
    assert g.node("n1").pos == (0.0, 0.0) and g.node("n2").pos == (10.0, 3.0)
