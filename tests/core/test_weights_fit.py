"""Weights that do not match the network — another shape, an extra dimension, an extra or missing name, int8
instead of float32 — are reported by name, whichever file holds them: a bundle's weights.safetensors or its
checkpoint.safetensors (opening, training on, exporting), or weights loaded into a model."""

from __future__ import annotations

import zipfile

import pytest
import torch
from safetensors.torch import save

from layerloom.core import Graph, build_model
from layerloom.core.export import BundleError, WeightsError, apply_weights, load_bundle, source_from
from layerloom.core.export.bundle import CHECKPOINT, WEIGHTS, checkpoint_from_weights, save_bundle
from layerloom.core.training.checkpoint import checkpoint_bytes


def small_graph() -> Graph:
    g = Graph()
    x = g.add("Input", shape=[4])
    d = g.add("Dense", out_features=2)
    g.connect(x, d)
    g.connect(d, g.add("Output"))
    return g


def bundle_with(tmp_path, name: str, *, weights: dict | None = None, checkpoint_state: dict | None = None) -> str:
    """A bundle of small_graph with a checkpoint; `weights` / `checkpoint_state` replace what it holds."""
    source = source_from(small_graph())
    source.checkpoint = checkpoint_from_weights(source.state, [])
    path = tmp_path / f"{name}.layerloom"
    save_bundle(source, str(path))
    with zipfile.ZipFile(path) as zf:
        items = {n: zf.read(n) for n in zf.namelist()}
    if weights is not None:
        items[WEIGHTS] = save(weights)
    if checkpoint_state is not None:
        items[CHECKPOINT] = checkpoint_bytes(model_state=checkpoint_state, meta={"epoch": 1})
    with zipfile.ZipFile(path, "w") as zf:
        for n, data in items.items():
            zf.writestr(n, data)
    return str(path)


GOOD = {"dense_1.weight": torch.ones(2, 4), "dense_1.bias": torch.zeros(2)}


@pytest.mark.parametrize(("weights", "words"), [
    ({**GOOD, "dense_1.weight": torch.ones(3, 4)}, "dense_1.weight is 3×4 in the file but 2×4 in the network"),
    ({**GOOD, "dense_1.weight": torch.ones(2, 4, 1)}, "dense_1.weight is 2×4×1 in the file but 2×4 in the network"),
    ({**GOOD, "extra.weight": torch.ones(1)}, "extra.weight is in the file but not in the network"),
    ({"dense_1.weight": torch.ones(2, 4)}, "dense_1.bias is missing from the file"),
    ({**GOOD, "dense_1.weight": torch.ones(2, 4, dtype=torch.int8)},
     "dense_1.weight holds int8 numbers in the file but the network's are float32"),
])
def test_bundle_weights_that_do_not_fit_are_named_even_beside_a_good_checkpoint(tmp_path, weights, words):
    path = bundle_with(tmp_path, "bad", weights=weights)
    with pytest.raises(BundleError) as err:
        load_bundle(path)
    assert f"{path}: weights.safetensors does not fit the bundle's network" in str(err.value)
    assert words in str(err.value)


def test_a_checkpoint_that_does_not_fit_is_named(tmp_path):
    path = bundle_with(tmp_path, "badckpt", checkpoint_state={**GOOD, "dense_1.bias": torch.zeros(5)})
    with pytest.raises(BundleError, match=r"checkpoint.safetensors does not fit the bundle's network.*\n.*"
                                          r"dense_1.bias is 5 in the file but 2 in the network"):
        load_bundle(path)


def test_good_bundles_still_open_and_half_precision_weights_are_accepted(tmp_path):
    bundle = load_bundle(bundle_with(tmp_path, "ok"))
    assert set(bundle.state) == set(GOOD)
    half = {k: v.half() for k, v in GOOD.items()}
    assert torch.equal(load_bundle(bundle_with(tmp_path, "half", weights=half)).state["dense_1.weight"],
                       torch.ones(2, 4, dtype=torch.float16))


def test_commands_given_such_a_bundle_say_so_in_one_message(tmp_path, capsys):
    from layerloom.app.cli import main

    path = bundle_with(tmp_path, "shape", weights={**GOOD, "dense_1.weight": torch.ones(3, 4)})
    for argv in (["train", path, "--out", str(tmp_path / "runs")], ["export", path, "-f", "onnx", "-o",
                 str(tmp_path / "m.onnx")], ["unbundle", path, "-o", str(tmp_path / "runs")]):
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert "dense_1.weight is 3×4 in the file but 2×4 in the network" in err
        assert "Traceback" not in err and "Error:" not in err
    assert not (tmp_path / "runs").exists() and not (tmp_path / "m.onnx").exists()


def test_int8_weights_are_not_cast_silently_into_a_model():
    model = build_model(small_graph(), seed=0)
    before = model.state_dict()["dense_1.weight"].clone()
    report = apply_weights(model, {**GOOD, "dense_1.weight": torch.full((2, 4), 7, dtype=torch.int8)})
    assert not report.ok
    assert report.messages() == ["dense_1: weight holds int8 numbers in the weights but float32 in the model "
                                 "(kept its own weights)"]
    assert torch.equal(model.state_dict()["dense_1.weight"], before)
    with pytest.raises(WeightsError, match="weight holds int8 numbers"):
        apply_weights(model, {**GOOD, "dense_1.weight": torch.ones(2, 4, dtype=torch.int8)}, strict=True)
    assert apply_weights(model, {k: v.double() for k, v in GOOD.items()}).ok  # float64 → float32 is the same weights


def test_resuming_a_run_whose_checkpoint_does_not_fit_names_the_weights(tmp_path, capsys):
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    from layerloom.app.cli import main
    from layerloom.core.project import Project, save_project
    from layerloom.core.settings import DataSettings, TrainingSettings

    g = small_graph()
    g.set_params(g.find("dense_1"), out_features=3)  # iris has three classes
    project = tmp_path / "p.json"
    save_project(Project(g, TrainingSettings(epochs=1, threads=1, device="cpu"), DataSettings("iris")), project)
    assert main(["train", str(project), "--out", str(tmp_path / "runs")]) == 0
    capsys.readouterr()
    run_dir = next((tmp_path / "runs").iterdir())
    last = run_dir / "last.safetensors"
    with safe_open(str(last), framework="pt") as f:
        meta = f.metadata()
    tensors = load_file(str(last))
    tensors["model.dense_1.weight"] = torch.ones(3, 4, dtype=torch.int8)
    save_file(tensors, str(last), metadata=meta)
    argv = ["train", str(project), "--resume", str(run_dir), "--epochs", "2", "--out", str(tmp_path / "runs")]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err == (f"layerloom: {last}: the checkpoint does not fit the network (was the graph changed?):\n"
                   "  - dense_1.weight holds int8 numbers in the file but the network's are float32\n")
