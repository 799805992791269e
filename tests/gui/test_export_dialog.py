"""The export and import dialogs (offscreen): an export in the worker thread shows its parity figure and
file; an import asks before a Python file runs and lists what has no block; the command table puts the
entries in a window's File menu."""

from __future__ import annotations

import os
import textwrap

import PySide6  # noqa: F401  (a hard test dependency: fail loudly if missing)
import pytest
from PySide6.QtCore import QSettings
from PySide6.QtGui import QDesktopServices

from layerloom.core import Graph
from layerloom.core.project import Project
from layerloom.gui.export_dialog import ExportDialog
from layerloom.gui.import_dialog import ImportDialog, parse_shapes
from layerloom.gui.model_actions import open_bundle_dialog


def project() -> Project:
    g = Graph()
    x = g.add("Input", shape=[6])
    d = g.add("Dense", out_features=3)
    g.connect(x, d)
    g.connect(d, g.add("Output"))
    return Project(g, meta={"name": "Tiny Net"})


def test_export_runs_in_a_thread_and_shows_parity(qtbot, tmp_path, monkeypatch):
    from layerloom.core import build_model

    p = project()
    weights = build_model(p.graph, seed=3).state_dict()
    dialog = ExportDialog(p, weights=weights, folder=str(tmp_path), runs_root=str(tmp_path / "runs"))
    qtbot.addWidget(dialog)
    dialog.set_format("safetensors")
    assert dialog.path_edit.text() == str(tmp_path / "Tiny-Net.safetensors")
    dialog.set_format("onnx")
    assert dialog.path_edit.text().endswith("Tiny-Net.onnx")
    with qtbot.waitSignal(dialog.exported, timeout=60_000) as signal:
        dialog.export_button.click()
    dialog.wait()
    result = signal.args[0]
    assert os.path.exists(result.path) and result.difference <= 1e-4
    qtbot.waitUntil(lambda: dialog.show_button.isEnabled())
    assert "matches the live model: largest difference" in dialog.status.text()
    assert result.path in dialog.file_label.text()
    opened = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: opened.append(url.toLocalFile()))
    dialog.show_button.click()
    assert opened == [str(tmp_path)]


def test_a_failed_export_says_why(qtbot, tmp_path):
    p = project()
    p.graph.remove(p.graph.find("output_1"))  # nothing to export
    dialog = ExportDialog(p, folder=str(tmp_path), runs_root=str(tmp_path / "runs"))
    qtbot.addWidget(dialog)
    dialog.set_format("bundle")
    dialog.export_button.click()
    qtbot.waitUntil(lambda: "Export failed" in dialog.status.text(), timeout=60_000)
    dialog.wait()
    assert not dialog.show_button.isEnabled()


HAND = '''
import torch
from torch import nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(6, 4)
        self.attn = nn.MultiheadAttention(4, 1, batch_first=True)

    def forward(self, x):
        h = torch.relu(self.fc(x))
        a, _ = self.attn(h, h, h)
        return a.mean(1)
'''


def test_import_dialog_asks_first_and_lists_unsupported_layers(qtbot, tmp_path):
    path = tmp_path / "net.py"
    path.write_text(textwrap.dedent(HAND))
    dialog = ImportDialog(folder=str(tmp_path))
    qtbot.addWidget(dialog)
    dialog.set_path(str(path))
    assert dialog.class_box.currentText() == "Net" and dialog.warning.isVisibleTo(dialog)
    assert "runs the code" in dialog.warning.text()
    asked = []
    dialog.confirm = lambda p: asked.append(p) or False
    dialog.shapes_edit.setText("5, 6")
    dialog.import_button.click()
    assert asked == [str(path)] and "not confirmed" in dialog.status.text() and dialog.task is None
    dialog.confirm = lambda p: True
    dialog.import_button.click()
    qtbot.waitUntil(lambda: dialog.open_button.isEnabled(), timeout=60_000)
    dialog.wait()
    assert "attn" in dialog.report.toPlainText()
    assert "no Layerloom block" in dialog.status.text()
    with qtbot.waitSignal(dialog.imported) as signal:
        dialog.open_button.click()
    assert "fc" in {n.name for n in signal.args[0].project.graph}


def test_shapes_are_parsed():
    assert parse_shapes("1, 28, 28; 12") == [(1, 28, 28), (12,)]
    assert parse_shapes("3×32×32") == [(3, 32, 32)]
    with pytest.raises(ValueError):
        parse_shapes("a, b")
    with pytest.raises(ValueError):
        parse_shapes("")


def test_actions_in_a_window_and_opening_a_bundle(qtbot, tmp_path):
    from layerloom.core.export import save_bundle, source_from
    from layerloom.gui.main_window import MainWindow
    from layerloom.gui.recovery import Recovery

    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings=settings, recovery=Recovery(tmp_path / "recovery"))
    qtbot.addWidget(window)
    actions = window.commands  # the editor's actions: File → Export…, Import PyTorch Model…, Open Bundle…
    file_actions = window.menus["file"].actions()
    assert actions["export"] in file_actions and actions["import_model"] in file_actions
    assert file_actions.index(actions["export"]) < file_actions.index(window.commands["quit"])
    assert window.commands["export"].shortcut().toString() == "Ctrl+E"
    bundle = tmp_path / "tiny.layerloom"
    save_bundle(source_from(project()), str(bundle))
    assert open_bundle_dialog(window, str(bundle))
    assert [n.type for n in window.document.graph] == ["Input", "Dense", "Output"]
    assert set(window.model_weights) == {"dense_1.weight", "dense_1.bias"}
    window.document.undo_stack.setClean()
    window.close()
