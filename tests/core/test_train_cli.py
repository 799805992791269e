"""`layerloom train`: a real run with --json and --resume, and every kind of bad input giving one message and a
non-zero exit status, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch  # noqa: F401  (a hard test dependency: fail loudly if missing)

from layerloom.core import Graph
from layerloom.core.project import Project, save_project
from layerloom.core.settings import DataSettings, TrainingSettings
from layerloom.core.training.cli import main


def mlp_project(path, *, epochs=1, source="digits", options=None, input_shape=(64,)):
    g = Graph()
    i = g.add("Input", shape=list(input_shape))
    if len(input_shape) > 1:
        f = g.add("Flatten")
        g.connect(i, f)
        i = f
    d = g.add("Dense", out_features=32)
    r = g.add("ReLU")
    d2 = g.add("Dense", out_features=10)
    o = g.add("Output")
    for a, b in ((i, d), (d, r), (r, d2), (d2, o)):
        g.connect(a, b)
    project = Project(g, TrainingSettings(epochs=epochs, batch_size=64, lr=0.01, threads=1, device="cpu"),
                      DataSettings(source, {"flatten": True} if options is None else options), {"name": "tiny mlp"})
    save_project(project, str(path))
    return str(path)


def train(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def test_train_json_then_resume(tmp_path, capsys):
    project = mlp_project(tmp_path / "mlp.json")
    runs = tmp_path / "runs"
    code, out, err = train(capsys, project, "--json", "--out", runs, "--epochs", 2, "--seed", 5)
    assert code == 0, err
    doc = json.loads(out.strip().splitlines()[-1])
    assert doc["status"] == "finished" and doc["epochs"] == 2
    assert set(doc["final"]) >= {"train_loss", "val_loss", "val_accuracy"}
    assert doc["final"]["val_accuracy"] > 0.5
    assert doc["best"] == max(r["val_accuracy"] for r in _epochs(doc["run_dir"]))
    assert doc["samples_per_s"] > 0 and os.path.isdir(doc["run_dir"])
    assert os.path.dirname(doc["run_dir"]) == str(runs) and os.path.basename(doc["run_dir"]).startswith("tiny-mlp-")
    assert "epoch 2/2" in err  # the progress bar
    with open(os.path.join(doc["run_dir"], "settings.json")) as f:
        settings = json.load(f)
    assert settings["training"]["seed"] == 5 and settings["training"]["epochs"] == 2

    code, out, err = train(capsys, project, "--json", "--epochs", 3, "--resume", doc["run_dir"])
    assert code == 0, err
    again = json.loads(out.strip().splitlines()[-1])
    assert again["epochs"] == 3 and again["run_dir"] == doc["run_dir"]
    assert [r["epoch"] for r in _epochs(doc["run_dir"])] == [0, 1, 2]
    assert "resuming at epoch 3" in err


def _epochs(run_dir):
    with open(os.path.join(run_dir, "epochs.jsonl")) as f:
        return [json.loads(line) for line in f if line.strip()]


@pytest.mark.parametrize("args, status, words", [
    (["missing.json"], 1, "does not exist"),
    (["{project}", "--lr", "-0.1"], 2, "--lr must be a positive number"),
    (["{project}", "--batch-size", "0"], 2, "--batch-size must be a whole number of at least 1"),
    (["{project}", "--epochs", "-3"], 2, "--epochs must be"),
    (["{project}", "--optimizer", "adagrad"], 2, "--optimizer must be one of"),
    (["{project}", "--device", "tpu"], 2, "--device must be"),
    (["{project}", "--data", "{tmp}/nothing.npz"], 1, "nothing.npz"),
    (["{project}", "--resume", "{tmp}/no_run"], 1, "no_run"),
    (["{project}", "--lr", "abc"], 2, "invalid float value"),
])
def test_bad_input_gives_one_message_and_a_nonzero_status(tmp_path, capsys, args, status, words):
    project = mlp_project(tmp_path / "mlp.json")
    argv = [a.format(project=project, tmp=tmp_path) for a in args] + ["--out", str(tmp_path / "runs"), "--json"]
    code, out, err = train(capsys, *argv)
    assert code == status
    assert words in err
    if status == 1:  # refused after reading the command line: --json still ends with the result object
        assert json.loads(out.strip().splitlines()[-1])["status"] == "failed"
    assert not os.path.exists(tmp_path / "runs")  # nothing started


def test_data_that_does_not_fit_the_network_is_refused_with_advice(tmp_path, capsys):
    project = mlp_project(tmp_path / "img.json", options={}, input_shape=(1, 28, 28))
    code, _out, err = train(capsys, project, "--out", tmp_path / "runs")
    assert code == 1
    assert "does not fit" in err and "28" in err and "8" in err
    assert len(err.strip().splitlines()) <= 6


def test_broken_project_file(tmp_path, capsys):
    path = tmp_path / "broken.json"
    path.write_text('{"format": "layerloom-project", "schema_version": 1, "nodes": [')
    code, _out, err = train(capsys, path)
    assert code == 1 and "broken.json" in err and "JSON" in err


def test_the_real_command_in_a_subprocess(tmp_path):
    project = mlp_project(tmp_path / "mlp.json")
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    proc = subprocess.run([sys.executable, "-m", "layerloom.core.training.cli", project, "--json", "--out",
                           str(tmp_path / "runs")], capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout.strip().splitlines()[-1])
    assert doc["status"] == "finished" and doc["final"]["val_accuracy"] is not None
    assert "Traceback" not in proc.stderr
