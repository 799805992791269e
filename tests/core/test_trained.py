"""A trained model keeps what it needs: files told apart by content (core/opening.py), a project's link to its
trained weights (core/trained.py) written, read back and followed, and `layerloom export PROJECT.json` finding
the run. Real (tiny) training runs on the built-in iris data; no Qt."""

from __future__ import annotations

import json
import os
import shutil

import pytest
import torch

from layerloom.core import Graph
from layerloom.core.errors import ProjectError
from layerloom.core.export import export, load_bundle, open_source
from layerloom.core.export.bundle import BundleError
from layerloom.core.opening import BUNDLE, PROJECT, open_document, problems_of, sniff
from layerloom.core.project import Project, load_project, save_project
from layerloom.core.settings import DataSettings, TrainingSettings
from layerloom.core.trained import (
    TrainedRunError,
    fits,
    link_for,
    link_of,
    open_linked,
    same_network,
)


def iris_project(name="Iris Net") -> Project:
    g = Graph()
    x = g.add("Input", shape=[4])
    h = g.add("Dense", out_features=8, name="hidden")
    a = g.add("ReLU")
    d = g.add("Dropout", p=0.1, name="drop")
    c = g.add("Dense", out_features=3, name="classes")
    for s, t in [(x, h), (h, a), (a, d), (d, c), (c, g.add("Output"))]:
        g.connect(s, t)
    training = TrainingSettings(epochs=2, batch_size=16, device="cpu", threads=1, optimizer="adam", lr=0.01)
    return Project(g, training=training, data=DataSettings("iris"), meta={"name": name})


def train(project, root) -> str:
    from layerloom.core.data import load_data
    from layerloom.core.training import Trainer

    data = load_data("iris", {}, val_fraction=0.2, seed=0)
    trainer = Trainer(project, data, run_root=str(root), tensorboard=False)
    result = trainer.run()
    assert result.status == "finished", result.message
    return result.run_dir


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return train(iris_project(), tmp_path_factory.mktemp("runs"))


# --- told apart by content ------------------------------------------------------------------------------


def test_files_are_told_apart_by_content_not_by_name(tmp_path, run_dir):
    bundle = tmp_path / "model.json"  # a bundle under a project's name
    export(run_dir, "bundle", bundle, checkpoint="last")  # both epochs: a bundle holds the history of its weights
    project = tmp_path / "project.layerloom"  # a project under a bundle's name
    save_project(iris_project(), project)
    assert sniff(bundle) == BUNDLE and sniff(project) == PROJECT
    opened = open_document(bundle)
    assert opened.kind == BUNDLE and opened.project.name == "Iris Net"
    assert len(opened.source.history) == 2 and opened.source.preprocessing is not None
    assert opened.project is not opened.source.project  # the window edits its own copy
    assert open_document(project).kind == PROJECT and open_document(project).source is None


def test_a_file_that_is_neither_is_read_as_its_name_suggests(tmp_path):
    junk = tmp_path / "junk.layerloom"
    junk.write_bytes(b"\x00\x01garbage")
    with pytest.raises(BundleError) as exc:
        open_document(junk)
    assert problems_of(exc.value, str(junk))[0].startswith("is not") and "UTF-8" not in str(exc.value)
    text = tmp_path / "notes.txt"
    text.write_bytes(b"\xff\xfe hello")
    with pytest.raises(ProjectError) as exc:
        open_document(text)
    assert problems_of(exc.value, str(text)) == ["is not a text file in UTF-8 (bad byte at position 0)"]


# --- the link to the trained weights ----------------------------------------------------------------------


def test_a_saved_link_is_followed_back_to_the_run_s_weights(tmp_path, run_dir):
    source = open_source(run_dir, "last")
    link = link_for(source)
    assert link == {"path": os.path.abspath(run_dir), "checkpoint": "last", "epochs": 2}
    project = iris_project()
    project.meta["trained_run"] = link
    path = tmp_path / "iris.json"
    save_project(project, path)
    again = load_project(path)
    assert link_of(again) == link
    adopted = open_linked(again, path)
    assert adopted.kind == "run" and adopted.path == os.path.abspath(run_dir) and len(adopted.history) == 2
    assert "trained_run" not in adopted.project.meta  # an export of it does not carry the link on
    weights = adopted.live_model().state_dict()
    for key, value in source.state.items():
        assert torch.equal(weights[key], value)


def test_a_moved_run_or_a_changed_network_is_said_in_plain_words(tmp_path, run_dir):
    moved = str(tmp_path / "run")
    shutil.copytree(run_dir, moved)
    project = iris_project()
    project.meta["trained_run"] = link_for(open_source(moved, "last"))
    assert open_linked(project).path == moved
    shutil.rmtree(moved)
    with pytest.raises(TrainedRunError) as exc:
        open_linked(project)
    assert str(exc.value) == (f"its trained weights are in the run folder {moved}, which was moved or deleted; "
                              "the network opens with untrained weights")
    project.meta["trained_run"] = link_for(open_source(run_dir, "last"))
    project.graph.set_params(project.graph.find("classes"), out_features=5)
    with pytest.raises(TrainedRunError) as exc:
        open_linked(project)
    assert "the network was changed after it was trained" in str(exc.value)
    assert "classes: weight is 3×8 in the weights but 5×8 in the model" in str(exc.value)


def test_fitting_weights_survive_changes_that_keep_every_shape(run_dir):
    source = open_source(run_dir)
    project = iris_project()
    assert same_network(source.graph, project.graph)
    project.graph.move(project.graph.find("hidden"), (500, 500))
    assert same_network(source.graph, project.graph)  # positions do not count
    project.graph.set_params(project.graph.find("drop"), p=0.5)
    assert not same_network(source.graph, project.graph) and fits(source, project)
    project.graph.set_params(project.graph.find("hidden"), out_features=9)
    assert not fits(source, project)


# --- layerloom export PROJECT.json --------------------------------------------------------------------------


def test_export_of_a_project_file_uses_its_run_or_the_latest_one(tmp_path, run_dir, monkeypatch, capsys):
    from layerloom.app.cli import main

    monkeypatch.setenv("LAYERLOOM_RUNS_DIR", os.path.dirname(run_dir))
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "iris.json"
    save_project(iris_project(), path)  # no link: the latest run of "Iris Net" in the runs folders
    assert main(["export", str(path), "--format", "bundle", "-o", str(tmp_path / "latest.layerloom"),
                 "--checkpoint", "last"]) == 0
    out = capsys.readouterr().out
    assert f"Weights: the latest run of “Iris Net”, {run_dir}" in out
    assert load_bundle(tmp_path / "latest.layerloom").summary["epochs"] == 2

    linked = iris_project()
    copy = str(tmp_path / "kept-run")
    shutil.copytree(run_dir, copy)
    linked.meta["trained_run"] = link_for(open_source(copy, "last"))
    save_project(linked, path)
    assert main(["export", str(path), "--format", "onnx", "-o", str(tmp_path / "iris.onnx")]) == 0
    assert f"Weights: {copy} (last checkpoint), named by the project" in capsys.readouterr().out
    assert os.path.exists(tmp_path / "iris.onnx")

    shutil.rmtree(copy)  # the named run is gone: said, and nothing exported from another run
    assert main(["export", str(path), "--format", "onnx", "-o", str(tmp_path / "gone.onnx")]) == 1
    assert "was moved or deleted" in capsys.readouterr().err and not os.path.exists(tmp_path / "gone.onnx")

    other = tmp_path / "other.json"
    save_project(iris_project("Never Trained"), other)
    assert main(["export", str(other), "--format", "onnx", "-o", str(tmp_path / "x.onnx")]) == 1
    err = capsys.readouterr().err
    assert "no trained weights for “Never Trained”" in err and os.path.dirname(run_dir) in err
    assert json.loads((tmp_path / "iris.json").read_text(encoding="utf-8"))["meta"]["trained_run"]["epochs"] == 2


def test_layerloom_train_takes_a_bundle_of_any_name_and_goes_on_from_it(tmp_path, run_dir, capsys):
    from layerloom.app.cli import main

    bundle = tmp_path / "iris model.zip"
    export(run_dir, "bundle", bundle, checkpoint="last")
    assert main(["train", str(bundle), "--epochs", "3", "--out", str(tmp_path / "runs"), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert doc["status"] == "finished" and doc["epochs"] == 3
    with open(os.path.join(doc["run_dir"], "epochs.jsonl"), encoding="utf-8") as f:
        assert [json.loads(line)["epoch"] for line in f] == [0, 1, 2]  # two from the bundle, one more
