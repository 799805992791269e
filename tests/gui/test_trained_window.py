"""A trained model keeps what it needs, in the window (offscreen, temporary settings and runs folders): a
bundle opens by content with its weights live (Predictions at once, Train fine-tunes from them), also through
`layerloom open`; a project saved after a run in the window reopens with that run's weights, or says in plain
words why not; Save as Bundle keeps history and preprocessing; the export dialog finds runs in the per-user
runs folder, says which weights it uses and never prefers fresh ones; file problems are plain text."""

from __future__ import annotations

import json
import os
import shutil

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("LAYERLOOM_NO_PRELOAD", "1")

import numpy as np
import pytest
import pytestqt  # noqa: F401  (a hard test dependency: fail loudly if missing)
import torch
from PySide6.QtCore import QMimeData, QPoint, QSettings, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent
from PySide6.QtWidgets import QApplication, QFileDialog, QLabel, QMessageBox
from windows import Windows

from layerloom.core import Graph
from layerloom.core.export import export, load_bundle, open_source
from layerloom.core.project import Project, load_project
from layerloom.core.settings import DataSettings, TrainingSettings
from layerloom.core.training.checkpoint import load_checkpoint
from layerloom.gui.main_window import MainWindow
from layerloom.gui.recovery import Recovery

TIMEOUT = 120_000


def iris_project(epochs=2, lr=0.01) -> Project:
    g = Graph()
    x = g.add("Input", shape=[4])
    h = g.add("Dense", out_features=8, name="hidden")
    a = g.add("ReLU")
    c = g.add("Dense", out_features=3, name="classes")
    for s, t in [(x, h), (h, a), (a, c), (c, g.add("Output"))]:
        g.connect(s, t)
    training = TrainingSettings(epochs=epochs, batch_size=16, device="cpu", threads=1, optimizer="adam", lr=lr)
    return Project(g, training=training, data=DataSettings("iris"), meta={"name": "Iris Net"})


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A finished run of the iris network, made by the trainer itself (2 epochs)."""
    from layerloom.core.data import load_data
    from layerloom.core.training import Trainer

    data = load_data("iris", {}, val_fraction=0.2, seed=0)
    result = Trainer(iris_project(), data, run_root=str(tmp_path_factory.mktemp("runs")), tensorboard=False).run()
    assert result.status == "finished", result.message
    return result.run_dir


class Boxes:
    """Stands in for QMessageBox.exec: keeps each box's texts and formats, answers Ok."""

    def __init__(self):
        self.seen: list[dict] = []
        self.click: str | None = None  # the text of a button to click instead

    def exec(self, box: QMessageBox):
        informative = box.findChildren(QLabel, "qt_msgbox_informativelabel")
        self.seen.append({"title": box.windowTitle(), "text": box.text(), "info": box.informativeText(),
                          "formats": [box.textFormat()] + [label.textFormat() for label in informative]})
        button = next((b for b in box.buttons() if b.text().replace("&", "") == self.click), None)
        if button is not None:
            button.click()
            return 0
        return QMessageBox.StandardButton.Ok


@pytest.fixture
def boxes(monkeypatch):
    b = Boxes()
    monkeypatch.setattr(QMessageBox, "exec", lambda box: b.exec(box))
    return b


@pytest.fixture
def make_window(qtbot, tmp_path, boxes):
    with Windows(qtbot, tmp_path) as windows:
        def make(runs_dir: str | None = str(tmp_path / "runs"), recovery: str = "recovery") -> MainWindow:
            return windows.make(runs_dir=runs_dir, recovery=recovery)

        yield make


def train_in(qtbot, w) -> str:
    assert w.start_training()
    qtbot.waitUntil(lambda: not w.training.running, timeout=TIMEOUT)
    last = w.training.last
    assert last.kind == "finished", getattr(last, "message", last)
    return last.run_dir


def logits(model, x):
    with torch.no_grad():
        return model(torch.from_numpy(x)).numpy()


# --- bundles ------------------------------------------------------------------------------------------


def test_a_bundle_under_any_name_opens_with_its_weights_live(make_window, tmp_path, run_dir, qtbot):
    bundle = tmp_path / "iris model.bin"  # told apart by content: no .layerloom in its name
    export(run_dir, "bundle", bundle)
    w = make_window()
    assert w.open_path(bundle)
    assert w.document.project.name == "Iris Net" and w.document.path is None  # Save never overwrites the bundle
    assert str(bundle) in w.recent_files()
    source = w.training.trained_source
    assert source.kind == "bundle" and len(source.history) == 2 and source.preprocessing is not None
    assert "with its trained weights: bundle iris model.bin (2 epochs)" in w.statusBar().currentMessage()
    # Predictions work at once, on the bundle's weights
    predictor = w.training.predictor
    assert predictor.available
    x = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    expected = logits(open_source(run_dir, "last").live_model(), x)
    assert np.allclose(predictor.raw_outputs(x, normalized=True), expected, atol=1e-6)
    assert w.model_weights is source.state
    # a drop of it is taken too (by content)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(bundle))])
    enter = QDragEnterEvent(QPoint(5, 5), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(w, enter)
    assert enter.isAccepted()


def test_file_open_and_open_recent_take_bundles(make_window, tmp_path, run_dir, monkeypatch):
    bundle = tmp_path / "trained"  # no suffix at all
    export(run_dir, "bundle", str(bundle) + ".layerloom")
    os.rename(str(bundle) + ".layerloom", bundle)
    w = make_window()
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(bundle), ""))
    w.commands["open"].trigger()
    assert w.training.trained_source.path == str(bundle)
    w.set_project(iris_project(), None)
    assert w.training.trained_source is None  # another project: its weights are gone with it
    w._fill_recent_menu()
    recent = next(a for a in w.recent_menu.actions() if a.toolTip() == str(bundle))
    recent.trigger()
    assert w.training.trained_source.kind == "bundle" and w.training.predictor.available


def test_train_after_opening_a_bundle_starts_from_its_weights(make_window, tmp_path, run_dir, qtbot):
    """Needs the controller's adopt_trained (fine-tuning from the adopted weights)."""
    bundle = tmp_path / "iris.layerloom"
    export(run_dir, "bundle", bundle)
    w = make_window()
    assert w.open_path(bundle)
    w.document.project.training.epochs = 1
    w.document.project.training.lr = 1e-7  # so small a step that the weights stay where they started
    new_run = train_in(qtbot, w)
    assert any("started from the given weights" in note for note in w.training.run.notes)
    trained = load_checkpoint(os.path.join(new_run, "last.safetensors")).model
    start = load_bundle(bundle).state
    assert max(float((trained[k] - start[k]).abs().max()) for k in start) < 1e-4
    # and the window's trained model is now the new run, which the project will name when saved
    assert w.training.trained_source.path == new_run
    assert w.isWindowModified()


def test_layerloom_open_takes_a_bundle(monkeypatch, qtbot, tmp_path, run_dir, boxes):
    """`layerloom open FILE` (app/cli.py → gui/app.py main → create_window) with a bundle of any name."""
    from layerloom.app import cli
    from layerloom.gui import app

    bundle = tmp_path / "mnist_cnn.layerloom.backup"
    export(run_dir, "bundle", bundle)
    monkeypatch.setattr("layerloom.gui.main_window.QSettings",
                        lambda: QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    monkeypatch.setattr("layerloom.gui.main_window.Recovery", lambda: Recovery(tmp_path / "r"))
    windows = []

    class App:
        def exec(self):
            return 0

    def start(argv=None, path=None):
        window, deferred = app.create_window(path, offer_recovery=False)
        deferred()
        windows.append(window)
        return App(), window

    monkeypatch.setattr(app, "start", start)
    assert cli.main(["open", str(bundle)]) == 0
    w = windows[0]
    assert w.document.project.name == "Iris Net" and not w.isWindowModified()
    assert w.training.trained_source.kind == "bundle" and w.training.predictor.available
    assert boxes.seen == []  # no problems to report
    w.close()
    w.deleteLater()


# --- a project saved after training ---------------------------------------------------------------------


def test_a_project_saved_after_training_reopens_with_its_weights(make_window, tmp_path, qtbot, boxes, monkeypatch):
    w = make_window()
    w.set_project(iris_project(epochs=2), None)
    trained_run = train_in(qtbot, w)
    assert w.isWindowModified()  # the project now has weights to keep: closing without saving would ask
    # File → Export gets the run itself: the bundle's metadata tells the truth (it said 0 epochs)
    from layerloom.gui.export_dialog import SOURCE
    from layerloom.gui.model_actions import open_export_dialog

    dialog = open_export_dialog(w)
    qtbot.addWidget(dialog)
    assert dialog.weights_box.currentData() == SOURCE
    dialog.set_format("bundle")
    dialog.path_edit.setText(str(tmp_path / "exported.layerloom"))
    with qtbot.waitSignal(dialog.exported, timeout=60_000):
        dialog.export_button.click()
    dialog.wait()
    exported = load_bundle(tmp_path / "exported.layerloom")
    assert exported.summary["epochs"] == 2 and exported.manifest["epochs_trained"] == 2
    assert exported.manifest["trained_from"] == trained_run and exported.preprocessing is not None
    assert exported.manifest["data"] == "iris"
    dialog.close()
    path = tmp_path / "iris.json"
    assert w._save_to(path)
    assert "with its trained weights" in w.statusBar().currentMessage()
    link = json.loads(path.read_text(encoding="utf-8"))["meta"]["trained_run"]
    assert link == {"path": os.path.abspath(trained_run), "checkpoint": "last", "epochs": 2}
    w.close()

    again = make_window()
    assert again.open_path(path)
    source = again.training.trained_source
    assert source.kind == "run" and source.path == os.path.abspath(trained_run)
    checkpoint = load_checkpoint(os.path.join(trained_run, "last.safetensors")).model
    live = again.training.model.state_dict()
    assert torch.equal(live["classes.weight"], checkpoint["classes.weight"])
    assert again.training.predictor.available and boxes.seen == []
    assert not again.isWindowModified()

    # Save as Bundle: graph, weights, history and preprocessing in one file
    target = tmp_path / "iris bundle"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), ""))
    assert again.commands["save_bundle"].isEnabled()
    again.commands["save_bundle"].trigger()
    bundle = load_bundle(str(target) + ".layerloom")
    assert len(bundle.history) == 2 and bundle.summary["epochs"] == 2
    assert bundle.manifest["epochs_trained"] == 2 and bundle.manifest["best_metric"] == "val_accuracy"
    assert bundle.preprocessing is not None and bundle.preprocessing.class_names == ["setosa", "versicolor",
                                                                                     "virginica"]
    assert "trained_run" not in bundle.project.meta
    assert torch.equal(bundle.state["classes.weight"], checkpoint["classes.weight"])

    # the run folder moved: said in plain words, the network opens with untrained weights, nothing breaks
    shutil.move(trained_run, str(tmp_path / "elsewhere"))
    third = make_window()
    assert third.open_path(path)
    assert third.training.trained_source is None and third.training.model is None
    assert not third.training.predictor.available
    seen = boxes.seen[-1]
    assert seen["title"] == "Trained weights not loaded"
    assert f"the run folder {os.path.abspath(trained_run)}, which was moved or deleted" in seen["info"]
    assert "the network opens with untrained weights" in seen["info"]
    assert all(f == Qt.TextFormat.PlainText for f in seen["formats"]) and "<" not in seen["info"]
    assert "untrained weights" in third.statusBar().currentMessage()
    assert load_project(path).meta["trained_run"] == link  # the link is kept: moving the run back helps


def test_recovered_work_comes_back_with_its_trained_weights(make_window, run_dir, boxes):
    from layerloom.core.trained import link_for

    crashed = make_window(recovery="crash")
    project = iris_project()
    project.meta["trained_run"] = link_for(open_source(run_dir, "last"))
    crashed.set_project(project, None)
    crashed.document.undo_stack.resetClean()
    assert crashed.autosave_now() is not None
    crashed.recovery.abandon()  # the process "crashes": its files stay, its lock is gone
    after = make_window(recovery="crash")
    boxes.click = "Recover"
    assert after.offer_recovery()
    assert after.training.trained_source.path == os.path.abspath(run_dir) and after.training.predictor.available


def test_save_as_bundle_without_trained_weights_says_so(make_window, boxes, monkeypatch):
    w = make_window()
    w.set_project(iris_project(), None)
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: pytest.fail("no file should be asked"))
    assert not w.save_bundle()
    assert boxes.seen[-1]["text"] == "There are no trained weights to save yet."


# --- the export dialog ------------------------------------------------------------------------------------


def test_export_dialog_and_runs_tab_find_the_run_in_the_per_user_folder(make_window, tmp_path, run_dir,
                                                                        monkeypatch):
    from layerloom.gui.export_dialog import FRESH, LATEST
    from layerloom.gui.model_actions import open_export_dialog

    user_runs = tmp_path / "user runs"
    monkeypatch.setenv("LAYERLOOM_RUNS_DIR", str(user_runs))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    cli_run = shutil.copytree(run_dir, tmp_path / "runs" / "Iris-Net-20200101-000000")  # from `layerloom train`
    shutil.copytree(run_dir, user_runs / os.path.basename(run_dir))
    w = make_window(runs_dir=None)  # the window writes runs to the per-user folder
    assert w.training.runs_root == str(user_runs)
    w.set_project(iris_project(), None)
    dialog = open_export_dialog(w)
    assert dialog.weights_box.currentData() == LATEST  # never the fresh weights when trained ones exist
    assert dialog.run_dir == str(user_runs / os.path.basename(run_dir))
    assert dialog.weights_box.findData(FRESH) > dialog.weights_box.currentIndex()
    assert "Uses the best epoch's weights of run" in dialog.weights_note.text()
    assert "2 epochs trained, best val accuracy" in dialog.weights_note.text()
    assert "3 classes: setosa, versicolor, virginica" in dialog.preprocessing_label.text()
    assert dialog.runs == [dialog.run_dir, str(cli_run)]  # ./runs too, older
    dialog.weights_box.setCurrentIndex(dialog.weights_box.findData(FRESH))
    assert "untrained" in dialog.weights_note.text()
    dialog.close()
    runs_tab = w.live_views.view("runs")
    runs_tab.reload()
    assert {r.path for r in runs_tab.runs} == {dialog.run_dir, str(cli_run)}


def test_export_dialog_says_how_to_use_each_format_and_passes_the_bake_choice(make_window, tmp_path, run_dir,
                                                                              monkeypatch, qtbot):
    from layerloom.gui.export_dialog import BAKE_TEXT, SOURCE
    from layerloom.gui.model_actions import open_export_dialog

    bundle = tmp_path / "iris.layerloom"
    export(run_dir, "bundle", bundle)
    w = make_window()
    assert w.open_path(bundle)
    dialog = open_export_dialog(w)
    qtbot.addWidget(dialog)
    assert dialog.weights_box.currentData() == SOURCE
    assert dialog.weights_box.currentText() == "Trained in this window: bundle iris.layerloom (2 epochs)"
    assert "Uses the trained weights in this window: 2 epochs trained" in dialog.weights_note.text()
    words = {"onnx": "onnxruntime", "torchscript": "torch.jit.load", "torch-export": "torch.export.load",
             "python": "from model import load_model, preprocess", "safetensors": "load_file",
             "bundle": "layerloom open"}
    for fmt, needle in words.items():
        dialog.set_format(fmt)
        assert needle in dialog.usage_label.text(), fmt
        assert dialog.bake_box.isVisibleTo(dialog) == (fmt in ("onnx", "torchscript", "torch-export")), fmt
    assert dialog.bake_box.text() == BAKE_TEXT
    dialog.set_format("onnx")
    assert dialog.bake_box.isChecked() and "feature values as in the data file" in dialog.usage_label.text()
    dialog.bake_box.setChecked(False)
    assert "preprocessed as listed above" in dialog.usage_label.text()

    calls = []

    def fake_export(src, fmt, path, **options):
        calls.append((src, fmt, options))
        raise RuntimeError("stop here")

    monkeypatch.setattr("layerloom.core.export.exporter.export", fake_export)
    for fmt, baked in (("onnx", False), ("torchscript", True), ("safetensors", None)):
        dialog.set_format(fmt)
        dialog.bake_box.setChecked(bool(baked))
        dialog.start()
        dialog.wait()
        src, got_fmt, options = calls[-1]
        assert got_fmt == fmt and src is w.training.trained_source
        assert options == {"part": "model", **({} if baked is None else {"bake_preprocessing": baked})}
    assert "stop here" in dialog.status.text()


# --- file problems are plain text -----------------------------------------------------------------------


def test_file_problems_are_shown_as_plain_text(make_window, tmp_path, boxes):
    w = make_window()
    before = w.document.graph.to_dict()
    junk = tmp_path / "junk.layerloom"
    junk.write_bytes(b"<ul><li>not a zip")
    assert not w.open_path(junk)
    text = tmp_path / "notes.txt"
    text.write_bytes(b"\xff<b>bold</b>")
    assert not w.open_path(text)
    for seen in boxes.seen:
        assert seen["title"] == "Cannot open project"
        assert "<" not in seen["text"] + seen["info"]  # no markup shown as text (it was "<ul style=…><li>…")
        assert all(f == Qt.TextFormat.PlainText for f in seen["formats"])
    assert "• is not a text file in UTF-8 (bad byte at position 0)" in boxes.seen[-1]["info"]
    assert str(text) in boxes.seen[-1]["info"]
    assert w.document.graph.to_dict() == before and not w.isWindowModified()
