"""Importing PyTorch models as graphs: a hand-written nn.Module (conv, pool, dense, LSTM, residual add) from a
Python file — run only after confirmation — and torch.export .pt2 files (read without unpickling); what
has no block is listed by name; and the way back: Layerloom's own exports import again."""

from __future__ import annotations

import os
import textwrap

import pytest
import torch

from layerloom.core.export import (
    ModelImportError,
    export,
    import_program,
    import_python_model,
    list_module_classes,
    source_from,
)
from layerloom.core.export.importer import ImportRefused

HAND_WRITTEN = '''
import torch
from torch import nn
import torch.nn.functional as F

MARKER = __import__("os").environ.get("LAYERLOOM_IMPORT_MARKER")
if MARKER:
    open(MARKER, "w").close()  # proves when this file's code ran


class Helper:
    pass


class HandNet(nn.Module):
    """conv, pool, dense, LSTM and a residual add, written the way people write them."""

    def __init__(self, classes=3):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(4)
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(4 * 4 * 4, 16)
        self.lstm = nn.LSTM(4, 8, batch_first=True)
        self.head = nn.Linear(8, classes)

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = y + self.conv2(y)              # residual add
        y = self.pool(y)                   # 4 x 4 x 4
        z = torch.relu(self.fc(torch.flatten(y, 1)))
        seq = z.view(z.size(0), 4, 4)      # 4 time steps of 4 features
        out, _ = self.lstm(seq)
        return self.head(out[:, -1])


class WithAttention(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(6, 8)
        self.attn = nn.MultiheadAttention(8, 2, batch_first=True)
        self.act = nn.Hardswish()
        self.out = nn.Linear(8, 2)

    def forward(self, x):
        h = self.proj(x)
        a, _ = self.attn(h, h, h)
        return self.out(self.act(a).mean(1))
'''


@pytest.fixture
def hand_file(tmp_path, monkeypatch):
    path = tmp_path / "handnet.py"
    path.write_text(textwrap.dedent(HAND_WRITTEN))
    marker = tmp_path / "ran.marker"
    monkeypatch.setenv("LAYERLOOM_IMPORT_MARKER", str(marker))
    return path, marker


def perturbed_bn(module):
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 1.5)
    return module


def test_classes_are_listed_without_running_the_file(hand_file):
    path, marker = hand_file
    assert list_module_classes(path) == ["HandNet", "WithAttention"]
    assert not marker.exists()


def test_nothing_runs_without_confirmation(hand_file):
    path, marker = hand_file
    with pytest.raises(ImportRefused, match="runs its code; it was not confirmed"):
        import_python_model(path, "HandNet", input_shapes=[(1, 8, 8)])
    asked = []
    with pytest.raises(ImportRefused):
        import_python_model(path, "HandNet", input_shapes=[(1, 8, 8)], confirm=lambda p: asked.append(p) or False)
    assert asked == [str(path)]
    assert not marker.exists()


def test_a_hand_written_module_becomes_a_graph_that_reproduces_it(hand_file):
    path, marker = hand_file
    result = import_python_model(path, "HandNet", input_shapes=[(1, 8, 8)], confirm=lambda p: True)
    assert marker.exists()  # confirmed: the file ran
    assert result.ok and result.unsupported == []
    assert result.difference is not None and result.difference <= 1e-4
    graph = result.project.graph
    types = {n.name: n.type for n in graph}
    assert types["conv1"] == "Conv2d" and types["pool"] == "MaxPool2d" and types["fc"] == "Dense"
    assert types["lstm"] == "LSTM" and types["head"] == "Dense" and "Add" in types.values()
    assert graph.node(graph.find("lstm")).params["return_sequences"] is False  # out[:, -1] folded in
    # against the original, also on other inputs and with trained-looking BatchNorm statistics
    import importlib.util

    from layerloom.core.export import load_weights

    spec = importlib.util.spec_from_file_location("hand_check", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    torch.manual_seed(0)
    original = perturbed_bn(module.HandNet()).eval()
    result = import_python_model(path, "HandNet", input_shapes=[(1, 8, 8)], confirm=True)
    model, report = load_weights(result.project.graph, result.state, strict=True)
    assert report.ok
    # the weights of the import are those of a fresh HandNet(): load the perturbed one's through the names
    state = {}
    for name, t in original.state_dict().items():
        state[name.replace(".", "_", name.count(".") - 1) if name.count(".") > 1 else name] = t
    model, report = load_weights(result.project.graph, state, strict=True)
    x = torch.randn(5, 1, 8, 8)
    with torch.no_grad():
        assert (model.eval()(x) - original(x)).abs().max() <= 1e-5


def test_what_has_no_block_is_listed_by_name(hand_file):
    path, _ = hand_file
    result = import_python_model(path, "WithAttention", input_shapes=[(5, 6)], confirm=True)
    assert not result.ok and result.difference is None
    text = "\n".join(result.unsupported)
    assert "attn" in text and "act (Hardswish" in text
    assert "proj" in {n.name for n in result.project.graph}  # what is supported is kept
    assert "have no Layerloom block" in result.message()


def test_import_errors_are_plain(hand_file, tmp_path):
    path, _ = hand_file
    with pytest.raises(ModelImportError, match="defines no class 'Nope'"):
        import_python_model(path, "Nope", input_shapes=[(1, 8, 8)], confirm=True)
    with pytest.raises(ModelImportError, match="does not run on inputs of 3×9×9"):
        import_python_model(path, "HandNet", input_shapes=[(3, 9, 9)], confirm=True)
    broken = tmp_path / "broken.py"
    broken.write_text("raise RuntimeError('boom')\n")
    with pytest.raises(ModelImportError, match="importing it failed: RuntimeError: boom"):
        import_python_model(broken, "X", input_shapes=[(1,)], confirm=True)


def test_a_torch_export_program_imports_without_running_anything(hand_file, tmp_path):
    path, _ = hand_file
    import importlib.util

    spec = importlib.util.spec_from_file_location("hand_pt2", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    original = perturbed_bn(module.HandNet()).eval()
    program = torch.export.export(original, (torch.randn(2, 1, 8, 8),))
    pt2 = tmp_path / "hand.pt2"
    torch.export.save(program, pt2)
    result = import_program(pt2)
    assert result.ok and result.difference <= 1e-4
    from layerloom.core.export import load_weights

    model, _ = load_weights(result.project.graph, result.state, strict=True)
    x = torch.randn(4, 1, 8, 8)
    with torch.no_grad():
        assert (model.eval()(x) - original(x)).abs().max() <= 1e-5


def test_both_ways_a_graph_exported_as_python_or_pt2_imports_back(tmp_path):
    from layerloom.core import Graph

    g = Graph()
    prev = g.add("Input", shape=[12], dtype="int64")
    for type_id, params in [("Embedding", {"num_embeddings": 20, "embedding_dim": 6}),
                            ("GRU", {"hidden_size": 5, "return_sequences": True}), ("Flatten", {}),
                            ("Dense", {"out_features": 4})]:
        n = g.add(type_id, **params)
        g.connect(prev, n)
        prev = n
    g.connect(prev, g.add("Output"))
    src = source_from(g)
    src.project.meta["name"] = "text"
    py = export(src, "python", tmp_path / "text")
    result = import_python_model(py.path, "Text", input_shapes=[(12,)], input_dtypes=["int64"], confirm=True)
    assert result.ok, result.message()
    assert [n.type for n in result.project.graph] == [n.type for n in g]
    pt2 = export(src, "torch-export", tmp_path / "text.pt2")
    again = import_program(pt2.path)
    assert again.ok, again.message()


def test_a_pt2_with_pickled_weights_is_refused(tmp_path):
    import json
    import zipfile

    m = torch.nn.Linear(3, 2)
    pt2 = tmp_path / "lin.pt2"
    torch.export.save(torch.export.export(m, (torch.randn(2, 3),)), pt2)
    bad = tmp_path / "pickled.pt2"
    with zipfile.ZipFile(pt2) as src, zipfile.ZipFile(bad, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.endswith("model_weights_config.json"):
                config = json.loads(data)
                for entry in config["config"].values():
                    entry["use_pickle"] = True
                data = json.dumps(config).encode()
            dst.writestr(info, data)
    with pytest.raises(ModelImportError, match="pickled object; Layerloom never unpickles"):
        import_program(bad)


def test_the_command_line_imports(hand_file, tmp_path, capsys):
    from layerloom.app.cli import main

    path, _ = hand_file
    out = tmp_path / "hand.layerloom"
    assert main(["import", str(path), "--class", "HandNet", "--input-shape", "1,8,8", "-o", str(out)]) == 1
    assert "not confirmed" in capsys.readouterr().err and not out.exists()
    assert main(["import", str(path), "--class", "HandNet", "--input-shape", "1,8,8", "--yes", "-o", str(out)]) == 0
    assert "matches the original model" in capsys.readouterr().out
    from layerloom.core.export import load_bundle

    assert load_bundle(out).project.graph.find("lstm")
    assert main(["import", str(path), "--class", "WithAttention", "--input-shape", "5,6", "--yes", "-o",
                 str(tmp_path / "att.json")]) == 1
    text = capsys.readouterr().out
    assert "attn" in text and os.path.exists(tmp_path / "att.safetensors")
