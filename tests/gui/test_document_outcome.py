"""Document.do: every edit, of the graph or of the training and data settings, goes through it and comes
back as an Outcome (applied, or the reason in plain words). Settings edits are undoable, merge while one
field is typed, mark the project modified and announce `settings_changed` and `edited`, on undo and redo
too; the training lock refuses structural edits but not settings or moves."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("LAYERLOOM_NO_PRELOAD", "1")

import pytest
import pytestqt  # noqa: F401  (a hard test dependency: fail loudly if missing)
from windows import Windows

from layerloom.core import Graph
from layerloom.core.edits import Move, SetParams, SetSettings
from layerloom.core.project import Project
from layerloom.core.templates import load_template
from layerloom.gui.document import Document, Outcome


@pytest.fixture
def doc(qtbot):
    g = Graph()
    g.add("Dense", name="fc", out_features=4)
    d = Document(Project(g))
    events = {"settings": [], "edited": 0, "modified": []}
    d.settings_changed.connect(events["settings"].append)
    d.edited.connect(lambda: events.__setitem__("edited", events["edited"] + 1))
    d.modified_changed.connect(events["modified"].append)
    d.events = events
    return d


def test_an_outcome_is_true_when_applied_and_says_why_not(doc):
    fc = doc.graph.find("fc")
    applied = doc.do(SetParams(fc, {"out_features": 8}))
    assert applied == Outcome(True, "") and applied
    refused = doc.do(SetParams(fc, {"out_features": 0}))
    assert not refused and "out_features" in refused.reason and "at least 1" in refused.reason
    assert doc.graph.node(fc).params["out_features"] == 8 and doc.undo_stack.count() == 1


def test_a_settings_edit_is_undoable_and_announced(doc):
    revision = doc.revision
    outcome = doc.do(SetSettings("training", {"lr": 0.05}), "Set Learning rate")
    assert outcome and doc.project.training.lr == 0.05
    assert doc.events["settings"] == ["training"] and doc.events["edited"] == 1 and doc.revision == revision + 1
    assert doc.modified and doc.events["modified"] == [True]
    assert doc.undo_stack.undoText() == "Set Learning rate"
    doc.undo_stack.undo()
    assert doc.project.training.lr == 1e-3 and not doc.modified
    assert doc.events["settings"] == ["training", "training"] and doc.events["edited"] == 2
    doc.undo_stack.redo()
    assert doc.project.training.lr == 0.05 and doc.events["settings"][-1] == "training"
    assert doc.events["edited"] == 3 and doc.revision == revision + 3  # the graph's own counter stays put


def test_typing_a_number_is_one_undo_step_until_saved(doc, tmp_path):
    for lr in (0.1, 0.12, 0.123):
        assert doc.do(SetSettings("training", {"lr": lr}), "Set Learning rate")
    assert doc.undo_stack.count() == 1 and doc.undo_stack.undoText() == "Set Learning rate"
    doc.do(SetSettings("training", {"epochs": 3}), "Set epochs")  # another field: its own step
    assert doc.undo_stack.count() == 2
    doc.undo_stack.undo()
    doc.undo_stack.undo()
    assert doc.project.training.lr == 1e-3 and doc.project.training.epochs == 10
    doc.undo_stack.redo()
    assert doc.project.training.lr == 0.123
    doc.save(tmp_path / "net.json")
    doc.do(SetSettings("training", {"lr": 0.2}))  # after a save, a new step (undo goes back to the saved file)
    assert doc.undo_stack.index() == 2 and doc.modified


def test_data_settings_and_a_refused_value(doc):
    assert doc.do(SetSettings("data", {"source": "iris"}), "Set data source")
    assert doc.events["settings"] == ["data"]
    refused = doc.do(SetSettings("training", {"batch_size": -3}))
    assert not refused and refused.reason.startswith("training.batch_size must be")
    assert doc.project.training.batch_size == 64 and doc.undo_stack.count() == 1
    assert doc.events["settings"] == ["data"]  # a refused edit announces nothing


def test_the_training_lock_refuses_structure_not_settings_or_moves(doc):
    fc = doc.graph.find("fc")
    doc.set_locked("The network is training")
    refused = doc.do(SetParams(fc, {"out_features": 2}))
    assert refused == Outcome(False, "The network is training")
    assert doc.do(Move({fc: (5.0, 5.0)}))
    assert doc.do(SetSettings("training", {"lr": 0.01}))  # the learning rate changes while a run goes on
    doc.set_locked(None)
    assert doc.do(SetParams(fc, {"out_features": 2}))


def test_the_training_panel_changes_settings_through_the_document(qtbot, tmp_path):
    with Windows(qtbot, tmp_path) as windows:
        w = windows.make(load_template("lenet5"))
        field = w.training_panel.editors["lr"]
        for text in ("0.1", "0.12"):
            field.setText(text)
            field.editingFinished.emit()
        assert w.document.project.training.lr == 0.12
        assert w.document.undo_stack.count() == 1 and w.document.undo_stack.undoText() == "Set Learning rate"
        assert w.isWindowModified()
        w.commands["undo"].trigger()
        assert w.document.project.training.lr == 1e-3 and field.text() == "0.001"
