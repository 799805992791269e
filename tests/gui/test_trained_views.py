"""A trained model keeps everything it needs, in the window: predictions fit the data (a typed message for a
text model, an edited row for a table model, a drawing for an image model), samples are there after Load &
preview, feature maps show after a run and for an opened model, and `adopt_trained` / `forget_trained` /
`trained_source` / `preprocessing()` of the training controller. Numbers are checked against plain PyTorch.
Offscreen, temporary settings and run folders."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("LAYERLOOM_NO_PRELOAD", "1")

import numpy as np
import pytest
import pytestqt  # noqa: F401  (a hard test dependency: fail loudly if missing)
import torch
import torch.fx
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QLineEdit, QMessageBox, QTabBar
from windows import Windows

from layerloom.core.data import load_data
from layerloom.core.data.preprocessing import Preprocessing
from layerloom.core.export.source import source_from
from layerloom.core.graph import Graph
from layerloom.core.project import Project
from layerloom.core.templates import load_template

TIMEOUT = 120_000


@pytest.fixture
def make_window(qtbot, tmp_path, monkeypatch):
    def unexpected(box):
        raise AssertionError(f"unexpected dialog: {box.text()!r}")

    monkeypatch.setattr(QMessageBox, "exec", unexpected)
    with Windows(qtbot, tmp_path) as windows:
        yield lambda project: windows.make(project, size=(1400, 900))


def softmax(logits: torch.Tensor) -> np.ndarray:
    return torch.softmax(logits.double(), dim=1).numpy()


def block_output(model, block: str, x: torch.Tensor) -> np.ndarray:
    """A block's value on `x` (batch of one), read off the compiled fx graph by an Interpreter."""
    target = model.block_nodes[block]
    seen = {}

    class Grab(torch.fx.Interpreter):
        def run_node(self, n):
            out = super().run_node(n)
            if n.name == target:
                seen["value"] = out
            return out

    model.eval()
    with torch.no_grad():
        Grab(model).run(x)
    value = seen["value"]
    value = value[0] if isinstance(value, tuple | list) else value
    return value[0].float().numpy()


def probe(prepared) -> torch.Tensor:
    """The first validation sample as the model takes it (the split's own batches)."""
    xs, _ys = next(prepared.val.batches(1))
    return xs[0]


def train_in_window(qtbot, w) -> None:
    qtbot.mouseClick(w.training_panel.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not w.training.running, timeout=TIMEOUT)
    assert w.training.last.kind == "finished", getattr(w.training.last, "message", w.training.last)


def show_data_tab(qtbot, w) -> None:
    tabs = next(b for b in w.findChildren(QTabBar) if "Data" in [b.tabText(i) for i in range(b.count())])
    index = next(i for i in range(tabs.count()) if tabs.tabText(i) == "Data")
    qtbot.mouseClick(tabs, Qt.MouseButton.LeftButton, pos=tabs.tabRect(index).center())


def load_and_preview(qtbot, w) -> None:
    show_data_tab(qtbot, w)
    panel = w.data_panel
    qtbot.waitUntil(lambda: not panel.loading, timeout=TIMEOUT)
    qtbot.mouseClick(panel.load_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.prepared is not None and not panel.loading, timeout=TIMEOUT)


def select(w, name: str) -> None:
    w.editor.select([w.document.graph.find(name)])


def test_a_text_model_reads_a_typed_message_with_the_runs_vocabulary(qtbot, make_window, monkeypatch):
    project = load_template("lstm_text")
    project.training.epochs = 1
    project.data.options = {"n": 600}
    w = make_window(project)
    view = w.live_views.view("predictions")
    w.live_views.show_view("predictions")
    train_in_window(qtbot, w)
    c = w.training

    # the finished run is the controller's trained source: its run folder, with the text preprocessing
    src = c.trained_source
    assert src is not None and src.kind == "run" and src.path == c.last.run_dir
    pre = c.preprocessing()
    assert pre.kind == "text" and pre.vocabulary == src.preprocessing.vocabulary and len(pre.vocabulary) > 2
    trained = dict(c.model.state_dict())
    assert all(torch.equal(v.cpu(), trained[k].cpu()) for k, v in src.live_model().state_dict().items())

    # the view offers a message box (no drawing pad) and reads a typed message
    assert view.kind == "text" and view.stack.currentWidget() is view.bodies["text"]
    assert not view.pad.isVisible() and view.text_edit.isVisible()
    text = "What a wonderful zyzzy film"
    view.text_edit.clear()
    qtbot.mouseClick(view.text_edit.viewport(), Qt.MouseButton.LeftButton)
    calls = []
    predict = c.predictor.predict
    monkeypatch.setattr(c.predictor, "predict", lambda *a, **k: calls.append(a) or predict(*a, **k))
    qtbot.keyClicks(view.text_edit, text)
    assert view.own_radio.isChecked() and view.own_radio.text() == "Typed"
    qtbot.waitUntil(lambda: view.probabilities is not None and isinstance(view.last_input, list), timeout=5000)
    assert view.last_input == [text]
    assert calls == [([text],)]  # debounced: one prediction once the keys paused, not one a key
    with torch.no_grad():
        expected = softmax(c.model(pre.prepare([text])))[0]
    assert view.probabilities.sum() == pytest.approx(1.0, abs=1e-6)
    assert np.allclose(view.probabilities, expected, atol=1e-5)
    shown = dict(view.bars.items)
    assert shown[pre.class_names[int(expected.argmax())]] == pytest.approx(float(expected.max()), abs=1e-5)

    # the tokens as the network reads them, the unknown ones marked
    tokens = pre.tokens(text)
    index = set(pre.vocabulary)
    assert view.bodies["text"].token_list == [(t, t in index) for t in tokens]
    assert ("zyzzy", False) in view.bodies["text"].token_list
    unknown = sum(t not in index for t in tokens)
    label = view.bodies["text"].tokens_label.text()
    assert f"{len(tokens)} tokens" in label and f"{unknown} unknown" in label and "<s>&nbsp;zyzzy" in label

    # a sample straight from the split: its token ids as they are (normalized=True)
    view.sample_spin.setValue(1)
    assert view.sample_radio.isChecked()
    prepared = w.data_panel.prepared  # the run's data, shown by the data panel too
    ids = prepared.val.inputs[0][1:2]
    with torch.no_grad():
        expected = softmax(c.model(ids))[0]
    assert np.allclose(view.probabilities, expected, atol=1e-5)
    assert np.allclose(c.predictor.predict(ids.numpy(), normalized=True)[0], expected, atol=1e-5)
    assert view.text_edit.toPlainText()  # the sample's words fill the box

    # feature maps of the recurrent block after the run: the block's output on the probe sample
    w.live_views.show_view("features")
    select(w, "lstm")
    features = w.live_views.view("features")
    qtbot.waitUntil(lambda: features.frame is not None and features.frame.block == "lstm", timeout=5000)
    assert np.allclose(features.frame.maps.astype(np.float32), block_output(c.model, "lstm", probe(prepared)),
                       atol=2e-3)


def test_samples_after_load_and_preview_and_feature_maps_after_a_run(qtbot, make_window):
    project = load_template("lenet5")
    project.training.epochs = 1
    w = make_window(project)
    view = w.live_views.view("predictions")
    w.live_views.show_view("predictions")
    load_and_preview(qtbot, w)

    # before training: the sample picker shows samples, and says to train first
    qtbot.waitUntil(lambda: view.sample_spin.isEnabled(), timeout=5000)
    assert view.sample_spin.maximum() > 0 and view.kind == "image"
    assert view.input_box._image is not None
    assert view.probabilities is None and not view.bars.items and "Train the network first" in view.status.text()
    confusion = w.live_views.view("confusion")
    assert confusion.images is not None and len(confusion.images) == len(w.data_panel.prepared.val)

    # a block selected before any run: a plain note, no waiting
    features = w.live_views.view("features")
    w.live_views.show_view("features")
    select(w, "conv1")
    qtbot.waitUntil(lambda: "Train the network" in features.hint.text(), timeout=5000)

    # train (with the previewed data): the misclassified gallery has pictures and labels
    w.live_views.show_view("predictions")
    select(w, "conv2")  # another block while training; conv1 is selected only after the run
    train_in_window(qtbot, w)
    assert view.probabilities is not None and view.probabilities.sum() == pytest.approx(1.0, abs=1e-6)
    w.live_views.show_view("confusion")
    confusion.refresh()
    assert confusion.gallery.count() > 0
    item = confusion.gallery.item(0)
    assert "true ?" not in item.text() and not item.icon().isNull()

    # feature maps after the run: the trained block's output on the probe sample, computed in the test
    w.live_views.show_view("features")
    select(w, "conv1")
    qtbot.waitUntil(lambda: features.frame is not None and features.frame.block == "conv1", timeout=5000)
    features.refresh()
    assert features.mode == "tiles" and features.tile_count == 6
    expected = block_output(w.training.model, "conv1", probe(w.data_panel.prepared))
    assert features.frame.maps.shape == expected.shape == (6, 28, 28)
    assert np.allclose(features.frame.maps.astype(np.float32), expected, atol=2e-3, rtol=2e-3)
    assert features.frame.step == w.training.last.step


def draw(qtbot, pad, points):
    qtbot.mousePress(pad, Qt.MouseButton.LeftButton, pos=points[0])
    for p in points[1:]:
        qtbot.mouseMove(pad, p)
    qtbot.mouseRelease(pad, Qt.MouseButton.LeftButton, pos=points[-1])


def test_an_adopted_image_model_predicts_a_drawing_and_shows_its_feature_maps(qtbot, make_window):
    project = load_template("lenet5")
    info = load_data(project.data.source, dict(project.data.options)).info
    conf = np.diag([3, 4, 5, 6, 7, 8, 9, 10, 11, 12]).tolist()
    source = source_from(project, None, preprocessing=Preprocessing.from_info(info),
                         history=[{"epoch": 0, "step": 7, "confusion": conf}], kind="bundle")
    w = make_window(load_template("lenet5"))
    c = w.training
    view = w.live_views.view("predictions")
    w.live_views.show_view("predictions")
    assert c.trained_source is None and c.preprocessing() is None and view.predictor is None
    seen = []
    c.predictor_changed.connect(seen.append)
    c.adopt_trained(source)
    assert seen == [c.predictor] and c.trained_source is source and c.model is source.live_model()
    assert c.preprocessing() is source.preprocessing and w.data_panel.prepared is None

    # no data loaded: a drawing is enough
    assert view.pad_available() and view.pad.isVisible()
    s = view.pad.width()
    draw(qtbot, view.pad, [QPoint(s // 4, s // 5), QPoint(3 * s // 4, s // 5), QPoint(s // 2, 4 * s // 5)])
    qtbot.waitUntil(lambda: view.probabilities is not None, timeout=5000)
    drawn = torch.from_numpy(view.last_input)  # 1×1×28×28, ink in 0..1
    mean, std = info.normalization["mean"][0], info.normalization["std"][0]
    with torch.no_grad():
        expected = softmax(source.live_model()((drawn - mean) / std))[0]
    assert np.allclose(view.probabilities, expected, atol=1e-5)
    assert view.bars.items[0][0] == info.class_names[int(expected.argmax())]

    # the confusion view shows the run's recorded matrix at once
    confusion = w.live_views.view("confusion")
    confusion.refresh()
    assert confusion.counts is not None and int(confusion.counts[9, 9]) == 12

    # feature maps: a note until data is loaded, then the block's output on the probe sample
    features = w.live_views.view("features")
    w.live_views.show_view("features")
    select(w, "conv1")
    qtbot.waitUntil(lambda: "Load the data" in features.hint.text(), timeout=5000)
    load_and_preview(qtbot, w)
    qtbot.waitUntil(lambda: features.frame is not None and features.frame.block == "conv1", timeout=5000)
    expected = block_output(c.model, "conv1", probe(w.data_panel.prepared))
    assert np.allclose(features.frame.maps.astype(np.float32), expected, atol=2e-3, rtol=2e-3)
    assert features.frame.step == 7

    # forgetting it: no model, no source, the view says to train first
    c.forget_trained()
    assert c.model is None and c.trained_source is None and seen[-1] is None
    assert view.predictor is None
    w.live_views.show_view("predictions")
    qtbot.waitUntil(lambda: "Train the network first" in view.status.text(), timeout=5000)
    assert view.probabilities is None and not view.bars.items


def iris_project() -> Project:
    g = Graph()
    x = g.add("Input", shape=[4])
    h = g.add("Dense", out_features=16)
    r = g.add("ReLU")
    o = g.add("Dense", out_features=3)
    out = g.add("Output", loss="cross_entropy")
    for a, b in ((x, h), (h, r), (r, o), (o, out)):
        g.connect(a, b)
    project = Project(g)
    project.data.source = "iris"
    project.data.options = {}
    return project


def test_a_table_model_predicts_an_edited_row(qtbot, make_window):
    project = iris_project()
    info = load_data("iris", {}).info
    w = make_window(project)
    c = w.training
    view = w.live_views.view("predictions")
    w.live_views.show_view("predictions")
    c.adopt_trained(source_from(project, None, preprocessing=Preprocessing.from_info(info)))
    model = c.model
    mean = torch.tensor(info.normalization["mean"], dtype=torch.float32)
    std = torch.tensor(info.normalization["std"], dtype=torch.float32)

    def expected(row) -> np.ndarray:
        with torch.no_grad():
            return softmax(model((torch.tensor([row], dtype=torch.float32) - mean) / std))[0]

    # no data loaded: a row of the training means, one named value per feature
    assert view.kind == "vector" and view.stack.currentWidget() is view.bodies["table"]
    assert view.table.rowCount() == 4 and view.own_radio.text() == "Edited"
    assert view.table.item(0, 0).text() == "feature 1"
    qtbot.waitUntil(lambda: view.probabilities is not None, timeout=5000)
    row = [float(view.table.item(i, 1).text()) for i in range(4)]
    assert row == pytest.approx(info.normalization["mean"], rel=1e-5)
    assert np.allclose(view.probabilities, expected(row), atol=1e-5)

    # after Load & preview: the picked sample's values, in the data's units
    load_and_preview(qtbot, w)
    qtbot.waitUntil(lambda: view.sample_spin.isEnabled(), timeout=5000)
    sample = [float(v) for v in view.preview.samples[0]]
    assert [float(view.table.item(i, 1).text()) for i in range(4)] == pytest.approx(sample, abs=1e-4)
    assert view.sample_radio.isChecked()
    row = [float(view.table.item(i, 1).text()) for i in range(4)]
    assert np.allclose(view.probabilities, expected(row), atol=1e-5)

    # edit one value with the keyboard: the prediction follows
    before = view.probabilities.copy()
    cell = view.table.visualItemRect(view.table.item(2, 1)).center()
    qtbot.mouseClick(view.table.viewport(), Qt.MouseButton.LeftButton, pos=cell)
    qtbot.mouseDClick(view.table.viewport(), Qt.MouseButton.LeftButton, pos=cell)
    editor = view.table.findChild(QLineEdit)
    assert editor is not None
    qtbot.keyClick(editor, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClicks(editor, "6.9")
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: view.table.item(2, 1).text() == "6.9", timeout=5000)  # the delegate commits queued
    row[2] = 6.9
    assert view.own_radio.isChecked()
    assert np.allclose(view.probabilities, expected(row), atol=1e-5)
    assert not np.allclose(view.probabilities, before, atol=1e-4)

    # a value that is not a number is named in the message
    view.table.item(1, 1).setText("wide")
    assert view.probabilities is None and view.error == "the value of 'feature 2' is not a number ('wide')"
    assert "Check the input" in view.status.text() and "feature 2" in view.status.text()


@pytest.mark.parametrize("template", ["gru_timeseries", "bigru_sequence"])
def test_series_and_sequence_samples_are_plotted_with_their_prediction(qtbot, make_window, template):
    project = load_template(template)
    info = load_data(project.data.source, dict(project.data.options)).info
    pre = Preprocessing.from_info(info)
    w = make_window(load_template(template))
    view = w.live_views.view("predictions")
    w.live_views.show_view("predictions")
    w.training.adopt_trained(source_from(project, None, preprocessing=pre))
    model = w.training.model
    body = view.bodies["plot"]
    assert view.stack.currentWidget() is body and body.sample is None and view.probabilities is None
    assert "Load the data" in view.status.text()
    load_and_preview(qtbot, w)
    qtbot.waitUntil(lambda: view.sample_spin.isEnabled() and body.sample is not None, timeout=5000)
    view.sample_spin.setValue(2)
    sample = torch.tensor(np.asarray(view.preview.samples[2]), dtype=torch.float32)
    assert body.sample.shape == tuple(sample.shape) and len(body.plot.listDataItems()) >= 1
    if template == "gru_timeseries":  # the window's next value, in the series' units
        s = pre.facts["series"]
        with torch.no_grad():
            scaled = model(((sample - s["mean"]) / s["std"]).reshape(1, -1, 1))
        expected = (scaled * pre.facts["target"]["std"][0] + pre.facts["target"]["mean"][0]).numpy()[0]
        assert view.kind == "series" and view.probabilities is None and not view.bars.items
        assert np.allclose(view.outputs, expected, atol=1e-5) and np.allclose(body.predicted, expected, atol=1e-5)
        assert "next value" in view.status.text()
        assert any(np.allclose(item.getData()[1], expected) for item in body.plot.listDataItems())
    else:  # a classified sequence: the bars
        mean = torch.tensor(pre.facts["features"]["mean"], dtype=torch.float32)
        std = torch.tensor(pre.facts["features"]["std"], dtype=torch.float32)
        with torch.no_grad():
            expected = softmax(model(((sample - mean) / std)[None]))[0]
        assert view.kind == "sequence" and np.allclose(view.probabilities, expected, atol=1e-5)
        assert len(view.bars.items) == len(info.class_names)
