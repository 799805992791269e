"""The journey of one model across the seams, through the window: train → save → close → reopen → predict →
export (through the export dialog) → load the export in a fresh Python with onnxruntime or torch alone →
the same predictions on raw input. Once for an image model, once for a text model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("LAYERLOOM_NO_PRELOAD", "1")

import numpy as np
import pytest
import pytestqt  # noqa: F401  (a hard test dependency: fail loudly if missing)
from data_fixtures import image_classifier, text_classifier, text_tsv
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox
from windows import Windows

from layerloom.core.project import Project
from layerloom.core.settings import DataSettings, TrainingSettings

TIMEOUT = 180_000


@pytest.fixture
def make_window(qtbot, tmp_path, monkeypatch):
    monkeypatch.setattr(QMessageBox, "exec", lambda box: QMessageBox.StandardButton.Discard)
    with Windows(qtbot, tmp_path) as windows:
        yield windows.make


def _train_save_reopen(qtbot, make_window, project, path):
    """Train in one window with a click, save, close it; open the file in a new window."""
    w = make_window()
    w.set_project(project, None)
    qtbot.mouseClick(w.training_panel.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not w.training.running, timeout=TIMEOUT)
    assert w.training.last.kind == "finished", getattr(w.training.last, "message", "")
    assert w._save_to(path)
    w.close()
    again = make_window()
    assert again.open_path(path)
    assert again.training.trained_source is not None and again.training.predictor.available
    return again


def _export(qtbot, w, fmt, target):
    from layerloom.gui.export_dialog import SOURCE
    from layerloom.gui.model_actions import open_export_dialog

    dialog = open_export_dialog(w)
    qtbot.addWidget(dialog)
    assert dialog.weights_box.currentData() == SOURCE  # the trained weights, never fresh ones
    dialog.set_format(fmt)
    dialog.path_edit.setText(str(target))
    with qtbot.waitSignal(dialog.exported, timeout=120_000):
        dialog.export_button.click()
    dialog.wait()
    dialog.close()


def _fresh_python(code: str, cwd) -> dict:
    """Run `code` in a new interpreter in which Layerloom cannot be imported; it prints one JSON object."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run([sys.executable, "-c", "import sys\nsys.modules['layerloom'] = None\n" + code],
                         capture_output=True, text=True, env=env, cwd=cwd, timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def _squares(tmp_path, n=160):
    """12×12 images: a bright quarter whose position is the class (0–3), with noise."""
    rng = np.random.default_rng(0)
    y = np.arange(n) % 4
    x = rng.integers(0, 40, (n, 12, 12)).astype(np.uint8)
    for i, label in enumerate(y):
        r, c = divmod(int(label), 2)
        x[i, r * 6:r * 6 + 6, c * 6:c * 6 + 6] = 200 + rng.integers(0, 50)
    np.savez(tmp_path / "squares.npz", x=x, y=y)
    return x, y


def test_image_model_journey(qtbot, make_window, tmp_path):
    x, y = _squares(tmp_path)
    training = TrainingSettings(epochs=6, batch_size=16, device="cpu", threads=1, lr=0.01)
    project = Project(image_classifier((1, 12, 12), classes=4), training=training,
                      data=DataSettings(str(tmp_path / "squares.npz")), meta={"name": "Squares"})
    w = _train_save_reopen(qtbot, make_window, project, tmp_path / "squares.json")

    # raw input as a user has it: uint8 pixels at the model's size, and photos twice as large in colour
    raw = x[:8]
    big = np.repeat(np.repeat(np.stack([raw] * 3, axis=-1), 2, axis=1), 2, axis=2)
    in_window = w.training.predictor.predict(raw)
    assert (in_window.argmax(1) == y[:8]).mean() >= 0.75
    np.testing.assert_allclose(w.training.predictor.predict(big), in_window, atol=0.02)  # resized, grey again

    _export(qtbot, w, "onnx", tmp_path / "out" / "squares.onnx")
    _export(qtbot, w, "python", tmp_path / "out" / "py")
    np.save(tmp_path / "raw.npy", raw)
    np.save(tmp_path / "big.npy", big)
    got = _fresh_python(textwrap.dedent(f"""
        import json
        import numpy as np, onnxruntime as ort
        raw = np.load({str(tmp_path / 'raw.npy')!r}); big = np.load({str(tmp_path / 'big.npy')!r})
        facts = json.load(open({str(tmp_path / 'out' / 'squares.onnx.preprocessing.json')!r}))
        session = ort.InferenceSession({str(tmp_path / 'out' / 'squares.onnx')!r})
        logits = session.run(None, {{facts["model_inputs"][0]: raw.astype(np.float32)[:, None]}})[0]
        e = np.exp(logits - logits.max(1, keepdims=True))
        sys.path.insert(0, {str(tmp_path / 'out' / 'py')!r})
        import model
        print(json.dumps({{"onnx": (e / e.sum(1, keepdims=True)).tolist(), "py": model.predict(big).tolist(),
                          "names": model.CLASS_NAMES, "baked": facts["baked"]}}))
    """), tmp_path)
    assert got["baked"] is True and got["names"] == ["0", "1", "2", "3"]
    np.testing.assert_allclose(np.array(got["onnx"]), in_window, atol=1e-4)
    np.testing.assert_allclose(np.array(got["py"]), w.training.predictor.predict(big), atol=1e-4)


def test_text_model_journey(qtbot, make_window, tmp_path):
    data = text_tsv(tmp_path / "messages.tsv", n=60)
    training = TrainingSettings(epochs=25, batch_size=16, device="cpu", threads=1, lr=0.02)
    project = Project(text_classifier(seq_len=8, vocab=40), training=training,
                      data=DataSettings(str(data), options={"seq_len": 8}), meta={"name": "Messages"})
    w = _train_save_reopen(qtbot, make_window, project, tmp_path / "messages.json")

    texts = ["loved it and more a delight", "hated it, really an awful plot", "wonderful acting and more zebras"]
    in_window = w.training.predictor.predict(texts)
    assert [w.training.predictor.class_names[i] for i in in_window.argmax(1)] == ["spam", "ham", "spam"]

    _export(qtbot, w, "python", tmp_path / "out" / "py")
    _export(qtbot, w, "onnx", tmp_path / "out" / "messages.onnx")
    got = _fresh_python(textwrap.dedent(f"""
        import json
        import numpy as np, onnxruntime as ort
        sys.path.insert(0, {str(tmp_path / 'out' / 'py')!r})
        import model
        texts = {texts!r}
        session = ort.InferenceSession({str(tmp_path / 'out' / 'messages.onnx')!r})
        vocab = json.load(open({str(tmp_path / 'out' / 'messages.vocabulary.json')!r}))
        logits = session.run(None, {{"tokens": model.tokenize(texts).numpy()}})[0]
        e = np.exp(logits - logits.max(1, keepdims=True))
        print(json.dumps({{"py": model.predict(texts).tolist(), "onnx": (e / e.sum(1, keepdims=True)).tolist(),
                          "same_vocab": vocab == model.vocabulary(), "names": model.CLASS_NAMES}}))
    """), tmp_path)
    assert got["same_vocab"] and got["names"] == ["ham", "spam"]
    np.testing.assert_allclose(np.array(got["py"]), in_window, atol=1e-4)
    np.testing.assert_allclose(np.array(got["onnx"]), in_window, atol=1e-4)
