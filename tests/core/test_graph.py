"""The graph document: JSON round trip, change events, refused edits that change nothing, unique and
valid names, and loading that reports every problem with its place."""

from __future__ import annotations

import copy
import json

import pytest

from layerloom.core import Edge, Graph, GraphError, ParamError, ProjectError
from layerloom.core.block_names import RESERVED_NAMES
from layerloom.core.graph_parts import EVENT_KINDS


def sample() -> Graph:
    g = Graph()
    a = g.add("Input", shape=[3, 16, 16], pos=(0, 0))
    b = g.add("Input", shape=[3, 16, 16], name="other", pos=(0, 120.5))
    c = g.add("Conv2d", out_channels=8, kernel_size=[3, 5], padding="same", pos=(200, 0))
    d = g.add("Conv2d", out_channels=8, kernel_size=1, pos=(200, 120))
    cat = g.add("Concat", dim=1)
    pool = g.add("MaxPool2d", stride=None)
    out = g.add("Output", loss="mse")
    g.connect(a, c)
    g.connect(b, d)
    g.connect(d, cat)
    g.connect(c, cat)
    g.connect(cat, pool)
    g.connect(pool, out)
    return g


# --- serialization -------------------------------------------------------------------------------------


def test_json_round_trip_is_exact():
    g = sample()
    text = g.to_json()
    g2 = Graph.from_json(text)
    assert g2.to_json() == text
    assert g2.to_dict() == g.to_dict()
    assert [n.id for n in g2] == [n.id for n in g]
    assert g2.edges == g.edges  # edge order orders Concat's branches
    assert Graph.from_json(json.loads(text)).to_dict() == g.to_dict()
    assert Graph.from_json(g.to_json(indent=None).encode()).to_dict() == g.to_dict()


def test_json_shape():
    data = json.loads(sample().to_json())
    assert set(data) == {"nodes", "edges"}
    node = data["nodes"][2]
    assert node == {"id": "n3", "type": "Conv2d", "name": "conv2d_1",
                    "params": {"out_channels": 8, "kernel_size": [3, 5], "stride": 1, "padding": "same",
                               "dilation": 1, "groups": 1, "bias": True},
                    "ui": {"pos": [200.0, 0.0]}}
    assert data["edges"][0] == {"src": {"node": "n1", "port": "out"}, "dst": {"node": "n3", "port": "in"}}


def test_loaded_graph_gives_new_ids_after_the_largest():
    g = Graph.from_json(sample().to_json())
    assert g.add("ReLU") == "n8"
    h = Graph.from_dict({"nodes": [{"id": "n41", "type": "ReLU", "name": "r"}], "edges": []})
    assert h.add("ReLU") == "n42"


def test_copy_is_independent():
    g = sample()
    h = g.copy()
    h.set_params(h.find("conv2d_1"), out_channels=2)
    assert g.node(g.find("conv2d_1")).params["out_channels"] == 8
    seen = []
    g.subscribe(seen.append)
    h.add("ReLU")
    assert seen == []


def test_to_dict_is_a_copy():
    g = sample()
    d = g.to_dict()
    d["nodes"][2]["params"]["kernel_size"].append(7)
    assert g.node("n3").params["kernel_size"] == [3, 5]


def test_position_that_json_cannot_hold_is_refused():
    g = sample()
    before = g.to_json()
    for bad in [(float("nan"), 0), (0, float("inf")), ("a", "b"), (1, 2, 3), 5]:
        with pytest.raises(GraphError, match="a position must be two"):
            g.move("n3", bad)
    assert g.to_json() == before
    with pytest.raises(GraphError):
        g.add("ReLU", pos=(float("nan"), 1))
    assert g.to_json() == before
    assert Graph.from_json(g.to_json()).to_json() == before


# --- loading problems ----------------------------------------------------------------------------------


def _problems(data) -> list[str]:
    with pytest.raises(ProjectError) as err:
        Graph.from_dict(data)
    return err.value.problems


def test_from_dict_reports_every_problem_with_its_place():
    data = json.loads(sample().to_json())
    data["nodes"][0]["type"] = "Conv2D"
    data["nodes"][1]["name"] = "conv2d_1"
    data["nodes"][3]["params"]["kernel_size"] = -1
    data["nodes"][4]["params"]["dimension"] = 1
    data["nodes"][5]["ui"] = {"pos": [0, "x"]}
    data["edges"].append({"src": {"node": "n99", "port": "out"}, "dst": {"node": "n7", "port": "in"}})
    data["edges"].append({"src": {"node": "n2", "port": "bogus"}, "dst": {"node": "n6", "port": "in"}})
    problems = _problems(data)
    assert "nodes[0] ('input_1'): unknown block type 'Conv2D'; did you mean 'Conv2d'?" in problems
    assert "nodes[2] ('conv2d_1'): the name 'conv2d_1' is used by two blocks" in problems
    assert any(p.startswith("nodes[3] ('conv2d_2'): Conv2d 'conv2d_2': kernel_size must be at least 1")
               for p in problems)
    assert "nodes[4] ('concat_1'): Concat has no parameter 'dimension'" in problems
    assert "nodes[5] ('max_pool2d_1'): ui.pos must be two numbers [x, y]" in problems
    assert "edges[6]: src names block id 'n99', which is missing or broken" in problems
    assert "edges[7]: Input 'conv2d_1' has no src port 'bogus' (ports: out)" in problems
    # edges into broken blocks are reported too, as missing or broken
    assert "edges[0]: src names block id 'n1', which is missing or broken" in problems


def test_from_dict_duplicate_names_and_ids():
    data = json.loads(sample().to_json())
    data["nodes"][3]["name"] = "conv2d_1"
    data["nodes"][4]["id"] = "n3"
    problems = _problems(data)
    assert "nodes[3] ('conv2d_1'): the name 'conv2d_1' is used by two blocks" in problems
    assert "nodes[4] ('concat_1'): id 'n3' is used twice" in problems


def test_from_dict_refuses_cycles_and_taken_ports():
    g = Graph()
    a = g.add("Add")
    r = g.add("ReLU")
    g.connect(a, r)
    data = g.to_dict()
    data["edges"].append({"src": {"node": r, "port": "out"}, "dst": {"node": a, "port": "in"}})
    assert _problems(data) == [
        "edges[1]: connecting ReLU 'relu_1' to Add 'add_1' would make a cycle; a network must flow in one direction"
    ]
    data = g.to_dict()
    i = {"id": "x", "type": "Input", "name": "x", "params": {}}
    data["nodes"].append(i)
    data["edges"].append({"src": {"node": "x", "port": "out"}, "dst": {"node": r, "port": "in"}})
    assert "already has an input" in _problems(data)[0]


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ([], "the graph must be an object with 'nodes' and 'edges'"),
        ({"edges": []}, "nodes is missing or is not a list"),
        ({"nodes": [], "edges": {}}, "edges is not a list"),
        ({"nodes": [3]}, "nodes[0]: a block must be an object, got int"),
        ({"nodes": [{"type": "ReLU", "name": "r"}]}, "nodes[0] ('r'): 'id' is missing or not a text"),
        ({"nodes": [{"id": "a", "name": "r"}]}, "nodes[0] ('r'): 'type' is missing or not a text"),
        ({"nodes": [{"id": "a", "type": "ReLU"}]}, "nodes[0]: 'name' is missing or not a text"),
        ({"nodes": [{"id": "a", "type": "ReLU", "name": "for"}]}, "reserved in Python or PyTorch"),
        ({"nodes": [{"id": "a", "type": "ReLU", "name": "r", "params": []}]}, "'params' must be an object"),
        ({"nodes": [{"id": "a", "type": "ReLU", "name": "r", "ui": 3}]}, "'ui' must be an object"),
        ({"nodes": [{"id": "a", "type": "Input", "name": "r", "params": {"shape": "28"}}]},
         "Input 'r': shape must be a non-empty list of sizes"),
        ({"nodes": [], "edges": [7]}, "edges[0]: a connection must be an object with 'src' and 'dst'"),
        ({"nodes": [], "edges": [{"src": "n1"}]}, "edges[0]: 'src' must be {\"node\": id, \"port\": name}"),
    ],
)
def test_from_dict_problem_messages(data, fragment):
    problems = _problems(data)
    assert any(fragment in p for p in problems), problems


def test_from_json_bad_text():
    with pytest.raises(ProjectError, match="not valid JSON"):
        Graph.from_json("{nodes: ")
    with pytest.raises(ProjectError) as err:
        Graph.from_json('{"nodes": [1, 2]}')
    assert len(err.value.problems) == 2
    assert "2 problems" in str(err.value)


def test_from_dict_does_not_change_its_input():
    data = json.loads(sample().to_json())
    kept = copy.deepcopy(data)
    g = Graph.from_dict(data)
    g.set_params("n3", kernel_size=[1, 1])
    assert data == kept


# --- events --------------------------------------------------------------------------------------------


def test_every_kind_of_change_emits_an_event():
    g = Graph()
    events = []
    unsubscribe = g.subscribe(events.append)
    i = g.add("Input", shape=[4])
    d = g.add("Dense")
    e = g.connect(i, d)
    g.set_params(d, out_features=3, bias=False)
    g.rename(d, "head")
    g.move(d, (10, 20))
    g.set_frozen(d, True)
    g.disconnect(i, d)
    g.connect(i, d)
    g.move_many({i: (5, 5), d: (10, 20)})  # d is already there: only i moves
    removed = g.remove(d)
    kinds = [ev.kind for ev in events]
    assert kinds == ["node_added", "node_added", "edge_added", "params_changed", "node_renamed", "node_moved",
                     "frozen_changed", "edge_removed", "edge_added", "nodes_moved", "edge_removed", "node_removed"]
    assert set(kinds) == set(EVENT_KINDS)
    assert events[0].node == i and events[0].new.type == "Input"
    assert events[2].edge == e == Edge(i, "out", d, "in") and events[2].node == d
    assert events[3].old == {"out_features": 10, "bias": True} and events[3].new == {"out_features": 3,
                                                                                     "bias": False}
    assert (events[4].old, events[4].new) == ("dense_1", "head")
    assert (events[5].old, events[5].new) == ((0.0, 0.0), (10.0, 20.0))
    assert events[9].node is None and (events[9].old, events[9].new) == ({i: (0.0, 0.0)}, {i: (5.0, 5.0)})
    assert events[10].edge == e  # removing a node first removes its edges, each announced
    assert events[11].node == d and events[11].old is removed and removed.name == "head"
    assert g.revision == len(events)

    unsubscribe()
    g.add("ReLU")
    assert len(events) == 12
    unsubscribe()  # twice is harmless


def test_no_event_when_nothing_changes():
    g = Graph()
    d = g.add("Dense", pos=(5, 5))
    events = []
    g.subscribe(events.append)
    assert g.set_params(d, out_features=10) == {}
    assert g.rename(d, "dense_1") == "dense_1"
    assert g.move(d, (5.0, 5.0)) == (5.0, 5.0)
    assert events == []


def test_subscriber_sees_the_graph_after_the_change():
    g = Graph()
    seen = []
    g.subscribe(lambda ev: seen.append((ev.kind, len(g), len(g.edges))))
    a = g.add("Input", shape=[2])
    b = g.add("ReLU")
    g.connect(a, b)
    g.remove(a)
    assert seen == [("node_added", 1, 0), ("node_added", 2, 0), ("edge_added", 2, 1), ("edge_removed", 2, 0),
                    ("node_removed", 1, 0)]


# --- refused edits leave the graph unchanged --------------------------------------------------------


REFUSED = [
    ("add unknown type", lambda g: g.add("Conv3d"), GraphError),
    ("add bad param", lambda g: g.add("Conv2d", kernel_size=0), ParamError),
    ("add unknown param", lambda g: g.add("Conv2d", kernal_size=3), ParamError),
    ("add taken name", lambda g: g.add("ReLU", name="conv2d_1"), GraphError),
    ("add reserved name", lambda g: g.add("ReLU", name="forward"), GraphError),
    ("add taken id", lambda g: g.add("ReLU", id="n1"), GraphError),
    ("connect into taken port", lambda g: g.connect("n2", "n3"), GraphError),
    ("connect cycle", lambda g: g.connect("n6", "n5"), GraphError),
    ("connect twice", lambda g: g.connect("n4", "n5"), GraphError),
    ("connect from Output", lambda g: g.connect("n7", "n5"), GraphError),
    ("connect into Input", lambda g: g.connect("n3", "n1"), GraphError),
    ("connect bad port", lambda g: g.connect(("n3", "out"), ("n5", "left")), GraphError),
    ("connect unknown block", lambda g: g.connect("n3", "n99"), GraphError),
    ("disconnect missing edge", lambda g: g.disconnect("n1", "n4"), GraphError),
    ("remove missing", lambda g: g.remove("n99"), GraphError),
    ("set one bad of two", lambda g: g.set_params("n3", out_channels=4, stride=0), ParamError),
    ("set unknown", lambda g: g.set_params("n3", filters=4), ParamError),
    ("rename taken", lambda g: g.rename("n3", "other"), GraphError),
    ("rename keyword", lambda g: g.rename("n3", "lambda"), GraphError),
    ("move bad", lambda g: g.move("n3", (1,)), GraphError),
    ("insert existing node", lambda g: g.insert_node(g.node("n3"), 0), GraphError),
    ("insert existing edge", lambda g: g.insert_edge(g.edges[0], 0), GraphError),
]


@pytest.mark.parametrize(("label", "edit", "error"), REFUSED, ids=[r[0] for r in REFUSED])
def test_refused_edit_changes_nothing(label, edit, error):
    g = sample()
    before = g.to_json()
    revision = g.revision
    events = []
    g.subscribe(events.append)
    with pytest.raises(error) as err:
        edit(g)
    assert str(err.value)  # a message for the user
    assert g.to_json() == before
    assert events == [] and g.revision == revision
    # the graph still works after the refusal
    assert g.add("ReLU") == "n8"


def test_error_messages_name_blocks():
    g = sample()
    with pytest.raises(GraphError, match=r"^Conv2d 'conv2d_1' already has an input; use Add or Concat"):
        g.connect("n2", "n3")
    with pytest.raises(GraphError, match=r"^Output 'output_1' has no outputs$"):
        g.connect("n7", "n5")
    with pytest.raises(GraphError, match=r"^Input 'input_1' has no inputs$"):
        g.connect("n3", "n1")
    with pytest.raises(GraphError, match=r"^Concat 'concat_1' has no input port 'left' \(in\)$"):
        g.connect(("n3", "out"), ("n5", "left"))
    with pytest.raises(GraphError, match=r"^Input 'input_1' is not connected to Conv2d 'conv2d_2'$"):
        g.disconnect("n1", "n4")
    with pytest.raises(GraphError, match="there is no block with id 'n99'"):
        g.node("n99")
    with pytest.raises(GraphError, match="there is no block named 'nope'"):
        g.find("nope")


# --- names ---------------------------------------------------------------------------------------------


def test_names_are_unique_and_numbered():
    g = Graph()
    ids = [g.add("Conv2d") for _ in range(3)]
    assert [g.node(i).name for i in ids] == ["conv2d_1", "conv2d_2", "conv2d_3"]
    g.remove(ids[1])
    assert g.node(g.add("Conv2d")).name == "conv2d_2"
    g.rename(ids[0], "conv2d_9")
    assert g.node(g.add("Conv2d")).name == "conv2d_1"
    assert len({n.name for n in g}) == len(g)


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("", "must start with a letter"),
        ("2conv", "must start with a letter"),
        ("conv-1", "must start with a letter"),
        ("conv 1", "must start with a letter"),
        ("conv\n", "must start with a letter"),
        ("_modules", "must start with a letter"),
        ("_parameters", "must start with a letter"),
        ("__init__", "must start with a letter"),
        ("convé", "must start with a letter"),
        ("class", "reserved in Python or PyTorch"),
        ("None", "reserved in Python or PyTorch"),
        ("forward", "reserved in Python or PyTorch"),
        ("state_dict", "reserved in Python or PyTorch"),
        ("training", "reserved in Python or PyTorch"),
        ("input_names", "reserved in Python or PyTorch"),
        ("shape_env", "reserved in Python or PyTorch"),
        ("a" * 65, "longer than 64 characters"),
        (3, "must start with a letter"),
    ],
)
def test_invalid_names(name, why):
    g = Graph()
    d = g.add("Dense")
    assert why in g.check_name(name)
    with pytest.raises(GraphError, match=why):
        g.rename(d, name)
    with pytest.raises(GraphError, match=why):
        g.add("ReLU", name=name)
    assert [n.name for n in g] == ["dense_1"]


@pytest.mark.parametrize("name", ["a", "conv2d_1", "Classifier", "x_", "a" * 64, "torch", "print", "input"])
def test_valid_names(name):
    g = Graph()
    d = g.add("Dense")
    assert g.check_name(name) is None
    g.rename(d, name)
    assert g.find(name) == d


def test_check_name_ignores_the_block_itself():
    g = Graph()
    d = g.add("Dense")
    assert g.check_name("dense_1", node_id=d) is None
    assert "already used" in g.check_name("dense_1")


def test_reserved_names_cover_module_attributes():
    import torch
    import torch.fx

    model = torch.fx.GraphModule(torch.nn.Module(), torch.fx.Graph())
    public = {n for n in dir(model) if not n.startswith("_")}
    assert public <= RESERVED_NAMES, sorted(public - RESERVED_NAMES)


def test_block_names_that_shadow_python_names_still_compile():
    import torch

    from layerloom.core import build_model

    g = Graph()
    i = g.add("Input", shape=[3, 4, 4], name="input")
    c = g.add("Concat", name="torch")
    j = g.add("Input", shape=[3, 4, 4], name="operator")
    g.connect(i, c)
    g.connect(j, c)
    f = g.add("Flatten", name="print")
    g.connect(c, f)
    o = g.add("Output", loss="mse", name="getattr")
    g.connect(f, o)
    model = build_model(g)
    x, y = torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 4)
    assert torch.equal(model(x, y), torch.cat([x, y], 1).flatten(1))


# --- queries -------------------------------------------------------------------------------------------


def test_queries():
    g = sample()
    assert len(g) == 7 and "n3" in g and "n99" not in g
    assert g.topological_order() == ["n1", "n3", "n2", "n4", "n5", "n6", "n7"]
    assert g.predecessors("n5") == ["n4", "n3"]
    assert g.successors("n1") == ["n3"]
    assert g.descendants("n2") == {"n4", "n5", "n6", "n7"}
    assert [e.src for e in g.in_edges("n5")] == ["n4", "n3"]
    assert [e.dst for e in g.out_edges("n5")] == ["n6"]
    assert g.index_of("n5") == 4
    assert g.edge_index(Edge("n5", "out", "n6", "in")) == 4
    assert g.node("n3").label() == "Conv2d 'conv2d_1'"
    assert g.find("other") == "n2"


def test_topological_order_is_valid_after_edits():
    g = sample()
    g.disconnect("n4", "n5")
    g.remove("n3")
    r = g.add("ReLU")
    g.connect("n4", r)
    g.connect(r, "n5")
    g.connect("n1", "n5")
    order = g.topological_order()
    assert sorted(order) == sorted(n.id for n in g)
    pos = {nid: k for k, nid in enumerate(order)}
    assert all(pos[e.src] < pos[e.dst] for e in g.edges)
