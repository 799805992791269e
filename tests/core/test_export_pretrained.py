"""The pretrained backbones as blocks (random initial weights: no network in tests): the same modules and
parameter names as torchvision's models, counts by arithmetic that match torch, and exports with parity."""

from __future__ import annotations

import pytest
import torch

from layerloom.core import Graph, build_model, infer
from layerloom.core.blocks.pretrained import backbone_classes


def backbone_net(type_id: str, size: int = 32, channels: int = 3, **params) -> Graph:
    g = Graph()
    x = g.add("Input", shape=[channels, size, size])
    b = g.add(type_id, weights="none", **params)
    d = g.add("Dense", out_features=4, name="head")
    g.connect(x, b)
    if params.get("pool", True):
        g.connect(b, d)
    else:
        f = g.add("Flatten")
        g.connect(b, f)
        g.connect(f, d)
    g.connect(d, g.add("Output"))
    return g


@pytest.mark.parametrize(("type_id", "factory"), [("ResNet18", "resnet18"), ("MobileNetV3Small", "mobilenet_v3_small")])
def test_same_as_torchvision(type_id, factory):
    import torchvision.models as tvm
    reference = getattr(tvm, factory)(weights=None).eval()  # random weights: nothing is downloaded
    ours = backbone_classes()[type_id + "Backbone"](3, pool=False).eval()
    state = {k: v for k, v in reference.state_dict().items() if not k.startswith(("fc.", "classifier."))}
    ours.load_state_dict(state, strict=True)  # the same names and shapes: ImageNet weights load as they are
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        features = reference.features(x) if hasattr(reference, "features") else \
            torch.nn.Sequential(*list(reference.children())[:-2])(x)
        assert (ours(x) - features).abs().max() <= 1e-5


@pytest.mark.parametrize("type_id", ["ResNet18", "MobileNetV3Small"])
def test_shapes_and_counts_by_arithmetic(type_id):
    for pool, size in ((True, 32), (False, 64)):
        g = backbone_net(type_id, size, pool=pool)
        report = infer(g)
        node = next(n.id for n in g if n.type == type_id)
        model = build_model(g).eval()
        torch_count = sum(p.numel() for n, p in model.named_parameters() if n.startswith(g.node(node).name + "."))
        assert report[node].param_count == torch_count
        with torch.no_grad():
            out = getattr(model, g.node(node).name)(torch.randn(1, 3, size, size))
        assert tuple(out.shape[1:]) == report[node].output_shape


def test_problems_are_explained():
    report = infer(backbone_net("ResNet18", 16))
    assert any("at least 32×32" in p.message for p in report.errors)
    g = backbone_net("MobileNetV3Small", 32, channels=1)
    g.set_params(g.find("mobilenet_v3_small_1"), weights="imagenet")
    assert any("3 colour channels" in p.message for p in infer(g).errors)
    assert infer(backbone_net("MobileNetV3Small", 32, channels=1)).ok  # random weights take any channels


def test_exports_with_a_backbone(tmp_path):
    from layerloom.core.export import export, source_from

    src = source_from(backbone_net("MobileNetV3Small", 32))
    src.project.meta["name"] = "mobile"
    for fmt, path in (("python", tmp_path / "mobile"), ("onnx", tmp_path / "mobile.onnx")):
        result = export(src, fmt, path)
        assert result.difference <= 1e-4, result.summary()
    text = (tmp_path / "mobile" / "model.py").read_text()
    assert "class MobileNetV3SmallBackbone(nn.Module)" in text and "self.mobilenet_v3_small_1 = " in text


def test_pretrained_weights_are_kept_by_weight_initialisation():
    from layerloom.core.training.optim import init_weights

    model = build_model(backbone_net("MobileNetV3Small", 32))
    backbone = model.mobilenet_v3_small_1
    backbone.keeps_pretrained_weights = True  # as after loading the ImageNet weights
    before = {k: v.clone() for k, v in backbone.state_dict().items()}
    head = model.head.weight.clone()
    init_weights(model, "kaiming", seed=0)
    assert all(torch.equal(before[k], v) for k, v in backbone.state_dict().items())
    assert not torch.equal(head, model.head.weight)


def test_exporting_a_trained_backbone_never_downloads(tmp_path, monkeypatch):
    from layerloom.core.blocks import pretrained
    from layerloom.core.export import export, source_from

    g = backbone_net("MobileNetV3Small", 32)
    state = build_model(g, seed=0).state_dict()  # as trained (from random weights here)
    g.set_params(g.find("mobilenet_v3_small_1"), weights="imagenet")

    def no_network(type_id, module):
        raise AssertionError("an export must not fetch ImageNet weights: the trained ones are in the state")

    monkeypatch.setattr(pretrained, "load_pretrained", no_network)
    result = export(source_from(g, state), "safetensors", tmp_path / "m.safetensors")
    assert result.difference == 0
