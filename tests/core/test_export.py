"""Every export format round trip, with its parity figure, on a CNN, an LSTM text model and a two-output
model; the checks that make an export fail; the command line; reopening a bundle and training on.

The models are small and their weights random but not fresh (BatchNorm statistics moved off their
defaults), so a format that dropped or mangled a weight would show."""

from __future__ import annotations

import json
import os

import onnxruntime  # noqa: F401  (a hard test dependency: fail loudly if missing)
import pytest
import torch

from layerloom.core import Graph
from layerloom.core.export import (
    ExportError,
    ParityError,
    export,
    load_bundle,
    open_source,
    source_from,
)

FORMATS = ("bundle", "safetensors", "onnx", "torchscript", "torch-export", "python")
SUFFIX = {"bundle": ".layerloom", "safetensors": ".safetensors", "onnx": ".onnx", "torchscript": ".pt",
          "torch-export": ".pt2", "python": ""}
FIGURES: dict[tuple[str, str], float] = {}


def cnn() -> Graph:
    g = Graph()
    prev = g.add("Input", shape=[1, 12, 12])
    for type_id, params in [
        ("Conv2d", {"out_channels": 4, "kernel_size": 3, "padding": 1}), ("BatchNorm", {}), ("ReLU", {}),
        ("Residual", {"out_channels": 6, "stride": 2}),
        ("Inception", {"ch1x1": 2, "ch3x3red": 2, "ch3x3": 3, "ch5x5red": 2, "ch5x5": 2, "pool_proj": 2}),
        ("MaxPool2d", {"kernel_size": 2}), ("Flatten", {}), ("Dropout", {"p": 0.3}), ("Dense", {"out_features": 5}),
    ]:
        n = g.add(type_id, **params)
        g.connect(prev, n)
        prev = n
    g.connect(prev, g.add("Output"))
    return g


def lstm_text() -> Graph:
    g = Graph()
    x = g.add("Input", shape=[12], dtype="int64")
    e = g.add("Embedding", num_embeddings=30, embedding_dim=8)
    lstm = g.add("LSTM", hidden_size=8, bidirectional=True, return_sequences=True)
    gru = g.add("GRU", hidden_size=6)
    d = g.add("Dense", out_features=3)
    o = g.add("Output")
    for a, b in [(x, e), (e, lstm), (lstm, gru), (gru, d), (d, o)]:
        g.connect(a, b)
    return g


def two_outputs() -> Graph:
    g = Graph()
    x = g.add("Input", shape=[10])
    h = g.add("Dense", out_features=8)
    a = g.add("ReLU")
    c = g.add("Dense", out_features=3, name="classes")
    r = g.add("Dense", out_features=1, name="value")
    o1 = g.add("Output", name="label")
    o2 = g.add("Output", loss="mse", name="score")
    for s, t in [(x, h), (h, a), (a, c), (a, r), (c, o1), (r, o2)]:
        g.connect(s, t)
    return g


MODELS = {"cnn": cnn, "lstm": lstm_text, "two_outputs": two_outputs}


def trained_like(graph, seed=0) -> dict:
    """Weights as after training: random, with BatchNorm statistics away from 0 and 1."""
    from layerloom.core import build_model

    state = build_model(graph, seed=seed).state_dict()
    gen = torch.Generator().manual_seed(seed + 1)
    for k, v in state.items():
        if k.endswith("running_mean"):
            state[k] = torch.randn(v.shape, generator=gen) * 0.5
        elif k.endswith("running_var"):
            state[k] = torch.rand(v.shape, generator=gen) + 0.5
        elif k.endswith("num_batches_tracked"):
            state[k] = torch.tensor(7)
    return state


def make_source(name: str):
    graph = MODELS[name]()
    src = source_from(graph, trained_like(graph))
    src.project.meta["name"] = name
    return src


@pytest.fixture(scope="module")
def sources():
    return {name: make_source(name) for name in MODELS}


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("model", list(MODELS))
def test_round_trip_with_parity(sources, tmp_path, model, fmt):
    src = sources[model]
    path = tmp_path / f"{model}{SUFFIX[fmt]}" if SUFFIX[fmt] else tmp_path / f"{model}_python"
    result = export(src, fmt, path)
    FIGURES[(model, fmt)] = result.difference
    assert result.ok and result.difference <= 1e-4, result.summary()
    assert result.checks and all(os.path.exists(f) for f in result.files)
    assert "largest difference" in result.summary()
    if fmt in ("onnx", "torchscript", "torch-export"):
        assert "batch" in result.dynamic["input_1"]
    if fmt in ("torchscript", "python"):
        assert "without Layerloom" in " ".join(result.checks)
    # nothing but the result is left beside it
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".layerloom-export-")]


def test_onnx_frees_the_sequence_length_of_a_text_model(sources, tmp_path):
    import onnxruntime as ort

    result = export(sources["lstm"], "onnx", tmp_path / "text.onnx")
    assert any("sequence length" in d for d in result.dynamic["input_1"])
    session = ort.InferenceSession(result.path, providers=["CPUExecutionProvider"])
    out = session.run(None, {"input_1": torch.randint(0, 30, (5, 31)).numpy()})[0]
    assert out.shape == (5, 3)
    # the CNN's sizes are fixed: only its batch is free
    assert export(sources["cnn"], "onnx", tmp_path / "cnn.onnx").dynamic == {"input_1": ["batch"]}


def test_python_export_is_readable_and_stands_alone(sources, tmp_path):
    result = export(sources["two_outputs"], "python", tmp_path / "net")
    with open(result.path, encoding="utf-8") as f:
        text = f.read()
    assert "class TwoOutputs(nn.Module)" in text
    assert "self.classes = nn.Linear(8, 3)" in text and "self.value = nn.Linear(8, 1)" in text
    assert "def load_model(weights_path=None)" in text
    assert "layerloom" not in text.split('"""', 2)[2].lower()  # no import of Layerloom in the code
    assert sorted(os.listdir(tmp_path / "net")) == ["model.py", "model.safetensors"]
    with open(export(sources["cnn"], "python", tmp_path / "cnn.py").path, encoding="utf-8") as f:
        cnn_text = f.read()
    assert "class Residual(nn.Module)" in cnn_text and "class Inception(nn.Module)" in cnn_text
    assert os.path.exists(tmp_path / "cnn.safetensors")


def test_an_export_that_does_not_match_fails_with_its_figure(sources, tmp_path):
    target = tmp_path / "model.onnx"
    with pytest.raises(ParityError) as info:
        export(sources["cnn"], "onnx", target, tolerance=1e-30)
    assert info.value.difference > 1e-30
    assert f"{info.value.difference:.3g}" in str(info.value)
    assert not target.exists() and os.listdir(tmp_path) == []


def test_parity_catches_a_broken_exporter(sources, tmp_path, monkeypatch):
    import safetensors.torch as st

    real_save = st.save_file

    def corrupting_save(state, path, metadata=None):  # a writer that gets the weights slightly wrong
        real_save({k: v + 0.01 if v.is_floating_point() else v for k, v in state.items()}, path, metadata=metadata)

    monkeypatch.setattr(st, "save_file", corrupting_save)
    with pytest.raises(ParityError, match="differ by up to") as info:
        export(sources["two_outputs"], "safetensors", tmp_path / "w.safetensors")
    assert info.value.difference > 1e-3
    assert os.listdir(tmp_path) == []


def test_bad_requests_say_what_is_wrong(sources, tmp_path):
    with pytest.raises(ExportError, match="unknown export format"):
        export(sources["cnn"], "tflite", tmp_path / "x")
    with pytest.raises(ExportError, match="does not exist"):
        export(tmp_path / "nowhere", "onnx", tmp_path / "x.onnx")
    (tmp_path / "folder.onnx").mkdir()
    with pytest.raises(ExportError, match="is a folder"):
        export(sources["cnn"], "onnx", tmp_path / "folder.onnx")
    broken = Graph()
    broken.add("Input", shape=[4])
    broken.connect(broken.find("input_1"), broken.add("Dense", out_features=2))
    with pytest.raises(ExportError):
        export(source_from(broken, {}), "onnx", tmp_path / "b.onnx")


# --- bundles: reopen, export again, train on -----------------------------------------------------------------


def _train(graph, run_root, epochs=1, **kw):
    from layerloom.core.data.base import DataInfo, PreparedData, TensorSplit
    from layerloom.core.settings import TrainingSettings
    from layerloom.core.training import Trainer

    gen = torch.Generator().manual_seed(0)
    x = torch.randn(64, 10, generator=gen)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0).long()
    r = x[:, :1].clone()
    info = DataInfo("tiny", "classification", [(10,)], ["float32"], [(), (1,)], num_classes=3, train_size=48,
                    val_size=16)
    data = PreparedData(info, TensorSplit((x[:48],), (y[:48], r[:48])), TensorSplit((x[48:],), (y[48:], r[48:])))
    settings = TrainingSettings(epochs=epochs, batch_size=16, device="cpu", threads=1, optimizer="adam", lr=0.01)
    trainer = Trainer(graph, data, settings=settings, run_root=str(run_root), project_name="two", tensorboard=False,
                      check_data=False, **kw)
    return trainer, trainer.run()


def test_run_folder_to_bundle_and_back(tmp_path):
    trainer, result = _train(two_outputs(), tmp_path / "runs", epochs=2)
    assert result.status == "finished"
    run_dir = result.run_dir
    out = export(run_dir, "bundle", tmp_path / "two.layerloom", checkpoint="last")
    bundle = load_bundle(out.path)
    assert bundle.project.graph.to_dict() == trainer.graph.to_dict()
    assert len(bundle.history) == 2 and bundle.summary["epochs"] == 2
    assert bundle.manifest["weights"]["checkpoint"] == "last" and bundle.manifest["weights"]["epoch"] == 2
    assert bundle.settings["device"] == "cpu" and bundle.checkpoint is not None
    source = open_source(run_dir, "last")
    for k, v in source.state.items():
        assert torch.equal(bundle.state[k], v)
    # a bundle exports like a run folder
    again = export(out.path, "onnx", tmp_path / "two.onnx")
    assert again.difference <= 1e-4
    # and training continues from it, in a new run folder, from where it stopped
    _, resumed = _train(two_outputs(), tmp_path / "runs2", epochs=3, resume=out.path)
    assert resumed.status == "finished" and resumed.epochs == 3
    assert resumed.run_dir.startswith(str(tmp_path / "runs2"))
    with open(os.path.join(resumed.run_dir, "epochs.jsonl"), encoding="utf-8") as f:
        epochs = [json.loads(line) for line in f]
    assert [e["epoch"] for e in epochs] == [0, 1, 2]


def test_command_line_export_import_unbundle(tmp_path, capsys):
    from layerloom.app.cli import main

    _, result = _train(two_outputs(), tmp_path / "runs")
    assert main(["export", result.run_dir, "--format", "safetensors", "-o", str(tmp_path / "w.safetensors")]) == 0
    out = capsys.readouterr().out
    assert "Exported safetensors" in out and "Parity: largest difference from the live model" in out
    assert main(["export", result.run_dir, "-f", "bundle", "-o", str(tmp_path / "b.layerloom"), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert doc["ok"] and doc["difference"] <= 1e-4 and doc["format"] == "bundle"
    assert main(["export", str(tmp_path / "missing"), "-f", "onnx", "-o", str(tmp_path / "x.onnx")]) == 1
    assert "does not exist" in capsys.readouterr().err
    assert main(["export", result.run_dir, "-f", "keras", "-o", "x"]) == 2
    capsys.readouterr()
    assert main(["unbundle", str(tmp_path / "b.layerloom"), "-o", str(tmp_path / "unpacked")]) == 0
    text = capsys.readouterr().out
    run_dir = text.split("into ", 1)[1].splitlines()[0]
    assert os.path.exists(os.path.join(run_dir, "last.safetensors"))
    assert os.path.exists(os.path.join(run_dir, "project.json"))


def test_print_parity_figures(capsys):
    """Not a check: prints the figures of the round trips above (pytest -s shows them)."""
    with capsys.disabled():
        for (model, fmt), diff in sorted(FIGURES.items()):
            print(f"parity {model:12} {fmt:13} {diff:.2g}")
