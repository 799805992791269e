"""Absurd sizes are problems on their block: a size PyTorch cannot take (beyond int64) is an error, parameters that
cannot fit in this computer's memory a warning on the block with the largest share, and building such a model is
refused before anything is allocated. `summary` shows the parameter memory, and its work grows linearly with the
number of blocks."""

from __future__ import annotations

import json

import pytest

from layerloom.app.cli import main
from layerloom.core import CompileError, Graph, build_model, infer
from layerloom.core.cli import summarize
from layerloom.core.project import load_project, save_project
from layerloom.core.templates import load_template


def lenet_with(tmp_path, name: str, **params) -> str:
    project = load_template("lenet5")
    g = project.graph
    g.set_params(g.find(name), **params)
    path = tmp_path / f"{name}.json"
    save_project(project, path)
    return str(path)


def test_a_conv_with_a_trillion_channels_gets_a_memory_warning_on_its_block(tmp_path, capsys):
    path = lenet_with(tmp_path, "conv1", out_channels=10**12)
    assert main(["summary", path]) == 0  # a warning: the project is not wrong, this computer is too small
    out = capsys.readouterr().out
    assert "No problems." not in out
    assert "Parameter memory: 1.51 PB" in out
    assert ("  - Conv2d 'conv2' holds 400,000,000,000,016 parameters (1.42 PB); the model's parameters need 1.51 PB "
            "of memory but this computer has") in out
    assert "available — make Conv2d 'conv2' smaller" in out


def test_a_stride_beyond_int64_is_an_error_on_its_block(tmp_path, capsys):
    path = lenet_with(tmp_path, "pool2", stride=10**30)
    assert main(["summary", "--json", path]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["problems"] == [{"severity": "error", "block": "pool2", "message":
                                 "MaxPool2d 'pool2' stride is 1e+30, more than PyTorch can take (at most "
                                 "9,223,372,036,854,775,807); give stride a realistic value"}]
    assert main(["train", path, "--out", str(tmp_path / "runs")]) == 1
    err = capsys.readouterr().err
    assert "stride is 1e+30, more than PyTorch can take" in err and "Overflow" not in err
    assert not (tmp_path / "runs").exists()


def test_output_and_parameter_counts_beyond_int64_are_errors():
    g = Graph()
    x = g.add("Input", shape=[2**40])
    d = g.add("Dense", out_features=2**40)
    g.connect(x, d)
    g.connect(d, g.add("Output"))
    assert infer(g)[d].error == ("Dense 'dense_1' would hold 1.21e+24 parameters, more than PyTorch can count; make "
                                 "the block smaller")


def test_building_a_model_too_large_for_the_memory_is_refused_without_allocating():
    g = Graph()
    x = g.add("Input", shape=[8])
    d = g.add("Dense", name="huge", out_features=10**12)
    g.connect(x, d)
    g.connect(d, g.add("Output"))
    report = infer(g)
    assert report.ok and report[d].warnings[-1].startswith("Dense 'huge' holds 9,000,000,000,000 parameters (32.7 TB)")
    with pytest.raises(CompileError, match=r"Dense 'huge' holds 9,000,000,000,000 parameters .* make Dense 'huge' "
                                           r"smaller"):
        build_model(g)


def test_summary_and_its_json_give_the_parameter_memory(tmp_path, capsys):
    path = tmp_path / "lenet.json"
    save_project(load_template("lenet5"), path)
    assert main(["summary", str(path)]) == 0
    assert ("Parameter memory: 241 KB (float32 weights; training takes about 3 to 4 times that, with gradients and "
            "optimizer state)") in capsys.readouterr().out
    data = summarize(load_project(path))
    assert data["totals"]["param_bytes"] == 4 * 61_706
    assert sum(b["param_bytes"] or 0 for b in data["blocks"]) == 4 * 61_706


def chain_file(path, blocks: int, back_to_front: bool) -> str:
    nodes = [{"id": "n0", "type": "Input", "name": "x", "params": {"shape": [4]}}]
    nodes += [{"id": f"n{i}", "type": "ReLU", "name": f"r{i}", "params": {}} for i in range(1, blocks - 1)]
    nodes.append({"id": f"n{blocks - 1}", "type": "Output", "name": "y", "params": {}})
    edges = [{"src": {"node": f"n{i}"}, "dst": {"node": f"n{i + 1}"}} for i in range(blocks - 1)]
    if back_to_front:
        nodes.reverse()
        edges.reverse()
    path.write_text(json.dumps({"format": "layerloom-project", "schema_version": 1, "data": {"source": "iris"},
                                "training": {}, "nodes": nodes, "edges": edges}))
    return str(path)


class _CountingOrder(list):
    """A topological order that counts the elements every pass over it reads."""

    read = 0

    def __iter__(self):
        for item in list.__iter__(self):
            _CountingOrder.read += 1
            yield item

    def __contains__(self, item):
        _CountingOrder.read += len(self)
        return list.__contains__(self, item)


@pytest.mark.parametrize("back_to_front", [False, True])
def test_summary_of_20000_blocks_reads_each_block_a_few_times_not_once_per_block(tmp_path, monkeypatch,
                                                                                  back_to_front):
    n = 20_000
    descendants = []
    original = Graph.descendants
    monkeypatch.setattr(Graph, "descendants", lambda self, nid: descendants.append(nid) or original(self, nid))
    project = load_project(chain_file(tmp_path / "chain.json", n, back_to_front))
    assert descendants == []  # loading checks for cycles in one pass, not by walking downstream of every edge
    topo = Graph.topological_order
    monkeypatch.setattr(Graph, "topological_order", lambda self: _CountingOrder(topo(self)))
    _CountingOrder.read = 0
    summary = summarize(project)
    assert summary["totals"]["blocks"] == n and summary["ok"]
    assert _CountingOrder.read < 10 * n, f"{_CountingOrder.read:,} reads of the block order for {n:,} blocks"
