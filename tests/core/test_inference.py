"""Shape inference: problems in plain words naming the block and the fix, waiting blocks, warnings,
and incremental inference that recomputes only downstream of an edit and agrees with a fresh graph."""

from __future__ import annotations

import contextlib
import random

import pytest

from layerloom.core import Graph, GraphError, ParamError, infer
from layerloom.core.inference import Inferencer


def lenet_until_dense() -> tuple[Graph, dict[str, str]]:
    """LeNet-5 with its Flatten forgotten: the Dense gets a 16×5×5 map."""
    g = Graph()
    ids = {}
    prev = ids["input"] = g.add("Input", shape=[1, 32, 32])
    for key, type_id, params in [
        ("conv1", "Conv2d", {"out_channels": 6, "kernel_size": 5}),
        ("pool1", "MaxPool2d", {"kernel_size": 2}),
        ("conv2", "Conv2d", {"out_channels": 16, "kernel_size": 5}),
        ("pool2", "MaxPool2d", {"kernel_size": 2}),
        ("dense", "Dense", {"out_features": 120}),
        ("relu", "ReLU", {}),
        ("dense2", "Dense", {"out_features": 10}),
        ("output", "Output", {}),
    ]:
        ids[key] = g.add(type_id, **params)
        g.connect(prev, ids[key])
        prev = ids[key]
    return g, ids


def test_dense_after_conv_map_says_flatten_first():
    g, ids = lenet_until_dense()
    report = infer(g)
    assert report[ids["pool2"]].output_shape == (16, 5, 5)
    r = report[ids["dense"]]
    assert r.status == "error"
    assert r.error == "Dense 'dense_1' got a 16×5×5 map; flatten it first (add Flatten)"
    assert [p.message for p in report.errors] == [r.error]
    assert report.errors[0].node_id == ids["dense"]
    assert not report.ok


def test_blocks_downstream_of_an_error_are_waiting():
    g, ids = lenet_until_dense()
    report = infer(g)
    for key in ("relu", "dense2", "output"):
        r = report[ids[key]]
        assert r.status == "waiting", key
        assert r.error is None
        assert r.waiting_on == "dense_1"
        assert r.output is None
    for key in ("conv1", "pool1", "conv2", "pool2"):
        assert report[ids[key]].status == "ok"
    assert len(report.errors) == 1  # the waiting blocks add no problem of their own


def test_fixing_the_error_clears_waiting():
    g, ids = lenet_until_dense()
    infer(g)
    g.disconnect(ids["pool2"], ids["dense"])
    flat = g.add("Flatten")
    g.connect(ids["pool2"], flat)
    g.connect(flat, ids["dense"])
    report = infer(g)
    assert report.ok, report.problems
    assert report[ids["output"]].output_shape == (10,)
    assert report.total_params == 156 + 2416 + 48120 + 1210


def test_cycles_are_refused_by_connect():
    g = Graph()
    i = g.add("Input", shape=[4])
    c = g.add("Add", name="c")  # a multi-input port, so only the cycle check can refuse the edge
    a = g.add("Dense", name="a")
    b = g.add("Dense", name="b")
    g.connect(i, c)
    g.connect(c, a)
    g.connect(a, b)
    before = g.to_json()
    with pytest.raises(GraphError) as err:
        g.connect(b, c)
    assert str(err.value) == "connecting Dense 'b' to Add 'c' would make a cycle; a network must flow in one direction"
    with pytest.raises(GraphError, match="Add 'c' cannot be connected to itself"):
        g.connect(c, c)
    assert g.to_json() == before
    assert "would make a cycle" in g.can_connect(b, c)
    assert g.can_connect(i, b) is not None  # b's single input is taken
    assert g.can_connect(b, g.add("Output")) is None


def test_unconnected_input_port():
    g = Graph()
    c = g.add("Conv2d")
    o = g.add("Output")
    g.connect(c, o)
    report = infer(g)
    assert report[c].error == "Conv2d 'conv2d_1' has no input; connect a block to it"
    assert report[o].status == "waiting" and report[o].waiting_on == "conv2d_1"


def test_merge_with_one_input_asks_for_another_branch():
    g = Graph()
    i = g.add("Input", shape=[4])
    a = g.add("Add")
    g.connect(i, a)
    assert infer(g)[a].error == "Add 'add_1' needs at least 2 inputs (has 1); connect another branch"


def _merge(type_id, shapes, **params):
    g = Graph()
    ins = [g.add("Input", shape=list(s)) for s in shapes]
    m = g.add(type_id, **params)
    for i in ins:
        g.connect(i, m)
    o = g.add("Output", loss="mse")
    g.connect(m, o)
    return g, m, o


def test_incompatible_add():
    g, m, o = _merge("Add", [(16, 8, 8), (32, 8, 8)])
    report = infer(g)
    assert report[m].status == "error"
    assert report[m].error.startswith("Add 'add_1' gets 16×8×8 and 32×8×8, which cannot be added; ")
    assert "1×1 Conv2d to match channels" in report[m].error
    assert report[o].status == "waiting"


def test_add_of_different_ranks_is_refused():
    # with the batch in front, 8 and 4×8×8 would line up the batch with a height: torch fails or mixes samples
    g, m, _ = _merge("Multiply", [(8,), (4, 8, 8)])
    err = infer(g)[m].error
    assert err.startswith("Multiply 'multiply_1' gets 8 and 4×8×8, which cannot be multiplied")
    assert "different numbers of dimensions" in err


def test_incompatible_concat():
    g, m, _ = _merge("Concat", [(3, 8, 8), (3, 4, 4)])
    err = infer(g)[m].error
    assert err.startswith("Concat 'concat_1' gets 3×8×8 and 3×4×4; all sizes except along dim 1 must match")
    g, m, _ = _merge("Concat", [(3, 8, 8), (8, 8)])
    assert "different numbers of dimensions" in infer(g)[m].error
    g, m, _ = _merge("Concat", [(3, 8), (3, 8)], dim=0)
    assert "cannot join along the batch dimension" in infer(g)[m].error
    g, m, _ = _merge("Concat", [(3, 8), (3, 8)], dim=3)
    assert infer(g)[m].error == "Concat 'concat_1' has dim 3, but its inputs only have dims 1..2"


@pytest.mark.parametrize(
    ("type_id", "params", "shape", "fragment"),
    [
        ("Conv2d", {"kernel_size": 7}, [3, 5, 5],
         "Conv2d 'blk' has a 7×7 window larger than its 5×5 input; use a smaller kernel_size, add padding"),
        ("Conv2d", {"kernel_size": 7, "padding": 1}, [3, 4, 4],
         "Conv2d 'blk' has a 7×7 window larger than its 4×4 input even with padding 1"),
        ("Conv2d", {"kernel_size": 3, "dilation": 3}, [3, 6, 6], "window larger than its 6×6 input"),
        ("Conv1d", {"kernel_size": 9}, [2, 8], "Conv1d 'blk' has a 9 window larger than its 8 input"),
        ("MaxPool2d", {"kernel_size": 4}, [3, 3, 3], "MaxPool2d 'blk' has a 4×4 window larger than its 3×3"),
        ("AvgPool1d", {"kernel_size": 4}, [3, 3], "AvgPool1d 'blk' has a 4 window larger than its 3 input"),
    ],
)
def test_kernel_larger_than_input(type_id, params, shape, fragment, chain):
    g, ids = chain(shape, (type_id, dict(params, name="blk")))
    report = infer(g)
    assert report[ids[1]].status == "error"
    assert fragment in report[ids[1]].error
    assert report[ids[2]].status == "waiting"


@pytest.mark.parametrize(
    ("type_id", "params", "shape", "message"),
    [
        ("Conv2d", {}, [64], "Conv2d 'blk' expects C×H×W (channels × height × width) but got a vector of 64; "
                             "reshape it (add Reshape)"),
        ("Conv2d", {}, [10, 64], "Conv2d 'blk' expects C×H×W (channels × height × width) but got a 10×64 "
                                 "sequence; for sequences use the 1-D version of this block"),
        ("Conv1d", {}, [3, 8, 8], "Conv1d 'blk' expects C×L (channels × length) but got a 3×8×8 map; for images "
                                  "use the 2-D version"),
        ("LSTM", {}, [3, 8, 8], "LSTM 'blk' expects a T×F sequence (time steps × features) but got a 3×8×8 map; "
                                "flatten or pool it first"),
        ("GlobalAvgPool", {}, [12], "GlobalAvgPool 'blk' needs channels with a length or a height and width, but "
                                    "got a vector of 12; it already has one value per feature, so remove this block"),
        ("Conv2d", {"padding": "same", "stride": 2}, [3, 8, 8],
         "Conv2d 'blk' uses padding 'same', which needs stride 1; set stride to 1 or use a number"),
        ("Conv2d", {"out_channels": 6, "groups": 4}, [4, 8, 8],
         "Conv2d 'blk' has groups=4, which must divide both its 4 input channels and its 6 out_channels"),
        ("Reshape", {"shape": [5, 5]}, [24], "Reshape 'blk' cannot reshape 24 (24 values) to 5×5 (25 values); "
                                             "the number of values must stay the same"),
        ("Reshape", {"shape": [5, -1]}, [24], "Reshape 'blk' cannot reshape 24 (24 values) to 5×-1: 24 is not a "
                                              "multiple of 5"),
        ("Permute", {"dims": [0, 1]}, [3, 4], "Permute 'blk' needs 3 dims (batch first, then one per dimension "
                                              "of 3×4), got [0, 1]"),
        ("Permute", {"dims": [1, 0, 2]}, [3, 4], "Permute 'blk' must keep the batch dimension first"),
        ("Permute", {"dims": [0, 1, 1]}, [3, 4], "Permute 'blk' dims [0, 1, 1] must list each of 0..2 once"),
        ("Softmax", {"dim": 0}, [10], "Softmax 'blk' has dim 0, which must be one of 1..1 (or negative)"),
        ("ConvTranspose2d", {"stride": 2, "output_padding": 2}, [3, 4, 4],
         "ConvTranspose2d 'blk' has output_padding that is not smaller than stride"),
        ("MaxPool2d", {"kernel_size": 2, "padding": 2}, [3, 8, 8],
         "MaxPool2d 'blk' has padding larger than half its kernel_size; lower padding"),
        ("Residual", {"out_channels": 6, "bottleneck": True}, [3, 8, 8],
         "Residual 'blk' is a bottleneck, so out_channels must be a multiple of 4 (got 6)"),
        ("BatchNorm", {}, [1, 2, 3, 4], "BatchNorm 'blk' works on C, C×L or C×H×W inputs, not on 4-D ones"),
    ],
)
def test_shape_problems_in_plain_words(type_id, params, shape, message, chain):
    g, ids = chain(shape, (type_id, dict(params, name="blk")))
    err = infer(g)[ids[1]].error
    assert err is not None and err.startswith(message), err
    assert "Traceback" not in err and "torch" not in err


def test_output_with_nothing_connected():
    g = Graph()
    i = g.add("Input", shape=[4])
    d = g.add("Dense")
    g.connect(i, d)
    o = g.add("Output")
    report = infer(g)
    assert report[o].status == "error"
    assert report[o].error == "Output 'output_1' has nothing connected; connect the network's last layer to it"


def test_output_unreachable_from_any_input():
    # an Output fed by blocks that no Input reaches: the block at the start of that chain is the error,
    # the Output is waiting on it (grey, not red)
    g = Graph()
    i = g.add("Input", shape=[4])
    d = g.add("Dense")
    o = g.add("Output")
    g.connect(i, d)
    g.connect(d, o)
    lonely = g.add("Dense", name="lonely")
    relu = g.add("ReLU")
    o2 = g.add("Output", name="second")
    g.connect(lonely, relu)
    g.connect(relu, o2)
    report = infer(g)
    assert report[o].ok
    assert report[lonely].error == "Dense 'lonely' has no input; connect a block to it"
    assert report[relu].status == report[o2].status == "waiting"
    assert report[o2].waiting_on == "lonely"
    assert [p.node_id for p in report.errors] == [lonely]


def test_graph_without_input_or_output():
    g = Graph()
    report = infer(g)
    assert [p.message for p in report.errors] == [
        "the network has no Input block; add one where the data enters",
        "the network has no Output block; add one after the last layer",
    ]
    assert all(p.node_id is None for p in report.errors)
    d = g.add("Dense")
    o = g.add("Output")
    g.connect(d, o)
    report = infer(g)
    assert report.errors[0].message.startswith("the network has no Input block")
    assert report[o].status == "waiting"


def test_unused_blocks_are_warned():
    g = Graph()
    i = g.add("Input", shape=[4])
    unused_input = g.add("Input", shape=[3], name="extra")
    d = g.add("Dense")
    o = g.add("Output")
    g.connect(i, d)
    g.connect(d, o)
    side = g.add("ReLU", name="side")
    g.connect(i, side)
    report = infer(g)
    assert report.ok  # warnings do not stop compiling
    assert report[side].status == "ok"
    assert report[side].warnings == ("ReLU 'side' does not lead to any Output, so it is not part of the model",)
    assert report[unused_input].warnings == ("Input 'extra' is not used by any Output",)
    assert {(p.node_id, p.severity) for p in report.warnings} == {(side, "warning"), (unused_input, "warning")}
    assert report.problems == report.errors + report.warnings


def test_negative_kernel_refused_by_set_params():
    g = Graph()
    c = g.add("Conv2d")
    with pytest.raises(ParamError) as err:
        g.set_params(c, kernel_size=-3)
    assert str(err.value) == "Conv2d 'conv2d_1': kernel_size must be at least 1 (got -3)"
    with pytest.raises(ParamError, match=r"Conv2d 'conv2d_1': kernel_size must be at least 1 \(got -1\)"):
        g.set_params(c, kernel_size=[3, -1])
    assert g.node(c).params["kernel_size"] == 3


def test_token_ids_into_conv_and_dense(chain):
    g, ids = chain([3, 8, 8], ("Conv2d", {}), dtype="int64")
    assert infer(g)[ids[1]].error == (
        "Conv2d 'conv2d_1' gets token ids (int64); add an Embedding first, or set the Input's dtype to float32"
    )
    g, ids = chain([8], ("Dense", {}), dtype="int64")
    assert "Dense 'dense_1' gets token ids (int64)" in infer(g)[ids[1]].error
    g, ids = chain([8], ("Flatten", {}), dtype="int64")  # an int64 Output loss cannot be computed
    assert infer(g)[ids[2]].error == (
        "Output 'output_1' cannot compute mse on token ids; add layers that produce numbers"
    )


def test_embedding_on_float_input(chain):
    g, ids = chain([10], ("Embedding", {}))
    assert infer(g)[ids[1]].error == (
        "Embedding 'embedding_1' needs token ids: set the Input's dtype to int64 (each value a word or "
        "character number)"
    )


def test_cross_entropy_needs_classes(chain):
    g, ids = chain([4], ("Dense", {"out_features": 1}), loss="cross_entropy")
    assert "has a single score but cross_entropy needs one per class" in infer(g)[ids[2]].error
    g, ids = chain([2, 3, 4, 5], ("ReLU", {}), loss="cross_entropy")
    assert "cross_entropy wants one score per class" in infer(g)[ids[2]].error


def test_softmax_before_cross_entropy_is_warned(chain):
    g, ids = chain([4], ("Dense", {}), ("Softmax", {}), loss="cross_entropy")
    report = infer(g)
    assert report.ok
    assert report[ids[2]].warnings == (
        "Softmax 'softmax_1' feeds Output 'output_1', whose cross_entropy loss applies softmax itself; "
        "remove the Softmax to train on raw scores",
    )
    g, ids = chain([4], ("Dense", {}), ("Sigmoid", {}), loss="bce_with_logits")
    assert "bce_with_logits loss applies sigmoid itself" in infer(g)[ids[2]].warnings[0]
    g, ids = chain([4], ("Dense", {}), ("Sigmoid", {}), loss="mse")
    assert infer(g)[ids[2]].warnings == ()


def test_recurrent_dropout_with_one_layer_is_warned(chain):
    g, ids = chain([5, 3], ("GRU", {"dropout": 0.3}))
    assert infer(g)[ids[1]].warnings == (
        "GRU 'gru_1' has dropout but one layer; dropout only acts between stacked layers",
    )
    g.set_params(ids[1], num_layers=2)
    assert infer(g)[ids[1]].warnings == ()


def test_totals_and_report_mapping(chain):
    g, ids = chain([1, 28, 28], ("Conv2d", {"out_channels": 6, "kernel_size": 5, "padding": 2}), ("Flatten", {}),
                   ("Dense", {"out_features": 10}))
    report = infer(g)
    assert set(report) == set(ids) and len(report) == len(ids)
    assert report.total_params == 156 + 6 * 28 * 28 * 10 + 10
    assert report.total_macs == 6 * 28 * 28 * 25 + 6 * 28 * 28 * 10
    assert report[ids[1]].name == "conv2d_1" and report[ids[1]].type == "Conv2d"


def test_errors_name_the_block_after_rename(chain):
    g, ids = chain([3, 4, 4], ("Dense", {}), ("ReLU", {}))
    infer(g)
    g.rename(ids[1], "classifier")
    report = infer(g)
    assert report[ids[1]].error.startswith("Dense 'classifier' got a 3×4×4 map")
    assert report[ids[2]].waiting_on == "classifier"


# --- incremental inference -------------------------------------------------------------------------------


def _long_chain(n: int = 12) -> tuple[Graph, list[str]]:
    g = Graph()
    prev = g.add("Input", shape=[3, 32, 32])
    ids = [prev]
    for k in range(n):
        nid = g.add("Conv2d", out_channels=4, kernel_size=3, padding=1) if k % 2 == 0 else g.add("ReLU")
        g.connect(prev, nid)
        ids.append(nid)
        prev = nid
    side = g.add("GlobalAvgPool")  # a branch off the start that the edit below does not touch
    g.connect(ids[1], side)
    out = g.add("Output", loss="mse")
    g.connect(prev, out)
    ids += [side, out]
    return g, ids


@pytest.fixture
def spy(monkeypatch):
    calls: list[str] = []
    original = Inferencer._infer_node

    def counting(graph, nid, done):
        calls.append(nid)
        return original(graph, nid, done)

    monkeypatch.setattr(Inferencer, "_infer_node", staticmethod(counting))
    return calls


def test_first_inference_visits_every_block_once(spy):
    g, ids = _long_chain()
    infer(g)
    assert sorted(spy) == sorted(ids)


def test_param_edit_recomputes_only_downstream(spy):
    g, ids = _long_chain()
    infer(g)
    spy.clear()
    infer(g)
    assert spy == []  # nothing changed, nothing recomputed
    g.set_params(ids[7], out_channels=8)
    report = infer(g)
    assert set(spy) == {ids[7], *ids[8:13], ids[-1]}
    assert len(spy) == len(set(spy))
    assert report[ids[7]].output_shape == (8, 32, 32)
    assert report[ids[9]].param_count == 4 * 8 * 9 + 4


def test_move_recomputes_nothing_and_rename_only_downstream(spy):
    g, ids = _long_chain()
    infer(g)
    spy.clear()
    g.move(ids[3], (100, 50))
    infer(g)
    assert spy == []
    g.rename(ids[11], "late")
    infer(g)
    assert set(spy) == {ids[11], ids[12], ids[-1]}


def test_structural_edit_recomputes_only_downstream(spy):
    g, ids = _long_chain()
    infer(g)
    spy.clear()
    g.disconnect(ids[10], ids[11])
    infer(g)
    assert set(spy) == {ids[11], ids[12], ids[-1]}
    spy.clear()
    pool = g.add("MaxPool2d")
    g.connect(ids[10], pool)
    g.connect(pool, ids[11])
    report = infer(g)
    assert set(spy) == {pool, ids[11], ids[12], ids[-1]}
    assert report[ids[-1]].output_shape == (4, 16, 16)


def test_rule_results_are_cached_across_graphs():
    from layerloom.core import inference
    from layerloom.core.blocks import get_spec

    spec = get_spec("Conv2d")
    calls = []
    original = spec.infer

    def counting(p, inputs):
        calls.append(1)
        return original(p, inputs)

    inference.clear_cache()
    object.__setattr__(spec, "infer", counting)  # BlockSpec is frozen
    try:
        for _ in range(3):
            g, _ = _long_chain(4)
            infer(g)
        assert len(calls) == 2  # two distinct Conv2d settings (3→4 and 4→4 channels), each computed once
    finally:
        object.__setattr__(spec, "infer", original)
        inference.clear_cache()


def _report_state(report):
    return (
        {nid: r for nid, r in report.items()},
        [(p.severity, p.message, p.node_id) for p in report.problems],
        report.total_params,
        report.total_macs,
        report.ok,
    )


def _random_edit(g: Graph, rng: random.Random) -> None:
    ids = [n.id for n in g]
    kind = rng.choice(["add", "add", "connect", "connect", "connect", "disconnect", "remove", "params",
                       "params", "rename"])
    if kind == "add" or len(ids) < 3:
        type_id = rng.choice(["Conv2d", "ReLU", "MaxPool2d", "Flatten", "Dense", "Add", "Concat", "BatchNorm",
                              "Output", "Input", "GlobalAvgPool"])
        params = {"shape": rng.choice([[3, 16, 16], [3, 8, 8], [32], [6, 16, 16]])} if type_id == "Input" else {}
        g.add(type_id, **params)
    elif kind == "connect":
        for _ in range(10):
            a, b = rng.choice(ids), rng.choice(ids)
            if g.can_connect(a, b) is None:
                g.connect(a, b)
                return
    elif kind == "disconnect" and g.edges:
        g.disconnect(rng.choice(g.edges))
    elif kind == "remove":
        g.remove(rng.choice(ids))
    elif kind == "params":
        nid = rng.choice(ids)
        node = g.node(nid)
        choices = {
            "Conv2d": {"out_channels": [3, 4, 6], "kernel_size": [1, 3, 5, 9], "padding": [0, 1, "same"]},
            "Dense": {"out_features": [3, 10, 32]},
            "MaxPool2d": {"kernel_size": [2, 3, 20]},
            "Concat": {"dim": [1, 2, -1]},
            "Input": {"shape": [[3, 16, 16], [3, 8, 8], [32], [6, 16, 16]]},
        }.get(node.type)
        if choices:
            key = rng.choice(sorted(choices))
            g.set_params(nid, **{key: rng.choice(choices[key])})
    elif kind == "rename":
        nid = rng.choice(ids)
        g.rename(nid, f"b{rng.randrange(10_000)}")


@pytest.mark.parametrize("seed", range(4))
def test_incremental_results_equal_a_fresh_graph(seed):
    rng = random.Random(seed)
    g = Graph()
    infer(g)
    for _ in range(60):
        with contextlib.suppress(GraphError):  # a refused rename (taken name) changes nothing
            _random_edit(g, rng)
        incremental = infer(g)
        fresh = infer(Graph.from_dict(g.to_dict()))
        assert _report_state(incremental) == _report_state(fresh)
