"""Loading weights into a graph: names and shapes matched, what does not fit listed block by block, from
every kind of file Layerloom writes."""

from __future__ import annotations

import pytest
import torch

from layerloom.core import Graph, build_model
from layerloom.core.export import (
    WeightsError,
    apply_weights,
    load_weights,
    match_weights,
    read_weights,
    save_bundle,
    source_from,
)


def net(hidden=16, classes=3, extra=False, head_bias=True) -> Graph:
    g = Graph()
    x = g.add("Input", shape=[8])
    a = g.add("Dense", name="base", out_features=hidden)
    r = g.add("ReLU")
    b = g.add("Dense", name="head", out_features=classes, bias=head_bias)
    g.connect(x, a)
    g.connect(a, r)
    prev = r
    if extra:
        n = g.add("LayerNorm", name="norm")
        g.connect(r, n)
        prev = n
    g.connect(prev, b)
    g.connect(b, g.add("Output"))
    return g


def test_mismatches_are_listed_by_block():
    old = build_model(net(), seed=1).state_dict()
    old["gone.weight"] = torch.zeros(2)
    new_graph = net(classes=5, extra=True)
    model, report = load_weights(new_graph, old)
    assert not report.ok
    assert report.loaded == {"base": ["weight", "bias"]}
    assert report.shapes == {"head": [("weight", (5, 16), (3, 16)), ("bias", (5,), (3,))]}
    assert report.missing["norm"] == ["weight", "bias"] and report.unexpected == {"gone": ["weight"]}
    assert report.mismatched_blocks == ["head", "norm", "gone"]
    messages = report.messages()
    assert messages == [
        "head: weight is 3×16 in the weights but 5×16 in the model; bias is 3 in the weights but 5 in the model "
        "(kept its own weights)",
        "norm: has no weights in the file (kept its own weights)",
        "gone: is in the weights but not in the model (ignored)",
    ]
    # what fits is loaded, the rest keeps the model's own weights
    assert torch.equal(model.base.weight, old["base.weight"])
    fresh = build_model(new_graph, seed=0)
    assert torch.equal(model.head.weight, fresh.head.weight)
    assert report.to_dict()["shapes"]["head"][0] == ["weight", [5, 16], [3, 16]]


def test_a_block_that_fits_only_in_part_keeps_all_its_weights():
    old = build_model(net(head_bias=False), seed=1).state_dict()
    model = build_model(net(), seed=0)
    before = model.head.weight.clone()
    report = apply_weights(model, old)
    assert report.missing == {"head": ["bias"]} and "head" not in report.loaded
    assert "head: misses bias (kept its own weights)" in report.messages()
    assert torch.equal(model.head.weight, before)


def test_strict_refuses_and_changes_nothing():
    old = build_model(net(classes=5), seed=1).state_dict()
    model = build_model(net(), seed=0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(WeightsError, match="the weights do not fit the model:\n  - head: weight is 5×16"):
        apply_weights(model, old, strict=True)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert match_weights(model, model.state_dict()).ok


def test_weights_are_read_from_every_file_layerloom_writes(tmp_path):
    from safetensors.torch import save_file

    from layerloom.core.training.checkpoint import save_checkpoint

    g = net()
    state = build_model(g, seed=4).state_dict()
    save_file(state, tmp_path / "w.safetensors")
    save_checkpoint(str(tmp_path / "ckpt.safetensors"), model_state=state)
    save_bundle(source_from(g, state), str(tmp_path / "b.layerloom"))
    torch.save(state, tmp_path / "w.pth")
    for name in ("w.safetensors", "ckpt.safetensors", "b.layerloom", "w.pth"):
        got = read_weights(tmp_path / name)
        assert got.keys() == state.keys() and all(torch.equal(got[k], state[k]) for k in state), name
    with pytest.raises(WeightsError, match="does not exist"):
        read_weights(tmp_path / "missing.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"not weights at all")
    with pytest.raises(WeightsError, match="not a readable safetensors file"):
        read_weights(tmp_path / "junk.safetensors")
