"""The inspector: a form generated from the block's parameter schema; edits change the graph through the
undo stack (consecutive edits of one parameter merge), invalid values are refused with a message next to
the field, renaming is validated, and the block's shape, parameters and help are shown."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
import pytestqt  # noqa: F401  (a hard test dependency: fail loudly if missing)
from PySide6.QtCore import Qt

from layerloom.core import Graph
from layerloom.core.blocks import get_spec
from layerloom.core.project import Project
from layerloom.gui.document import Document
from layerloom.gui.editor import Editor
from layerloom.gui.inspector import Inspector
from layerloom.gui.param_editors import (
    BoolEditor,
    ChoiceEditor,
    FloatEditor,
    IntEditor,
    ListEditor,
    OptionalSizeEditor,
    PaddingEditor,
    SizeEditor,
)


def lenet_like() -> Graph:
    g = Graph()
    x = g.add("Input", name="image", shape=[1, 28, 28])
    c = g.add("Conv2d", name="conv1", out_channels=6, kernel_size=5, padding=2)
    p = g.add("MaxPool2d", name="pool1", kernel_size=2)
    d = g.add("Dropout", name="drop", p=0.25)
    f = g.add("Flatten", name="flat")
    fc = g.add("Dense", name="fc", out_features=10)
    o = g.add("Output", name="out", loss="cross_entropy")
    for a, b in [(x, c), (c, p), (p, d), (d, f), (f, fc), (fc, o)]:
        g.connect(a, b)
    return g


@pytest.fixture
def setup(qtbot):
    doc = Document(Project(lenet_like()))
    inspector = Inspector(Editor(doc))
    qtbot.addWidget(inspector)
    inspector.resize(340, 700)
    inspector.show()
    return doc, inspector


def select(doc, inspector, name):
    nid = doc.graph.find(name)
    inspector.set_selection([nid])
    return nid


def test_form_is_generated_from_the_schema(setup):
    doc, inspector = setup
    select(doc, inspector, "conv1")
    spec = get_spec("Conv2d")
    assert list(inspector.editors) == [p.name for p in spec.params]
    assert isinstance(inspector.editors["out_channels"], IntEditor)
    assert isinstance(inspector.editors["kernel_size"], SizeEditor)
    assert isinstance(inspector.editors["padding"], PaddingEditor)
    assert isinstance(inspector.editors["bias"], BoolEditor)
    assert inspector.editors["out_channels"].value() == 6
    assert inspector.editors["out_channels"].spin.minimum() == 1  # the schema's range
    assert inspector.editors["padding"].value() == 2
    assert inspector.name_edit.text() == "conv1"
    # shape, parameters, help
    assert inspector._stats["input"].text() == "1×28×28"
    assert inspector._stats["output"].text() == "6×28×28"
    assert inspector._stats["params"].text() == "156"
    assert "shared weights" in inspector.help_label.text()
    select(doc, inspector, "pool1")
    assert isinstance(inspector.editors["stride"], OptionalSizeEditor)
    assert inspector.editors["stride"].value() is None
    select(doc, inspector, "image")
    assert isinstance(inspector.editors["shape"], ListEditor)
    assert isinstance(inspector.editors["dtype"], ChoiceEditor)
    assert inspector.editors["shape"].edit.text() == "1, 28, 28"
    select(doc, inspector, "drop")
    assert isinstance(inspector.editors["p"], FloatEditor)


def test_edits_change_the_graph_and_merge_in_undo(setup, qtbot):
    doc, inspector = setup
    nid = select(doc, inspector, "conv1")
    spin = inspector.editors["out_channels"].spin
    spin.setFocus()
    for _ in range(3):
        qtbot.keyClick(spin, Qt.Key.Key_Up)
    assert doc.graph.node(nid).params["out_channels"] == 9
    assert doc.undo_stack.count() == 1  # three steps, one undo entry
    doc.infer_now()
    assert inspector._stats["output"].text() == "9×28×28"
    assert inspector._stats["params"].text() == f"{9 * 25 + 9:,}"
    doc.undo_stack.undo()
    assert doc.graph.node(nid).params["out_channels"] == 6
    assert spin.value() == 6  # the form follows undo
    doc.undo_stack.redo()
    assert spin.value() == 9

    # a different parameter is a new step
    inspector.editors["bias"].check.setChecked(False)
    assert doc.graph.node(nid).params["bias"] is False
    assert doc.undo_stack.count() == 2

    # size: one number, or [h, w] once unlinked
    size = inspector.editors["kernel_size"]
    size.spins[0].setValue(3)
    assert doc.graph.node(nid).params["kernel_size"] == 3
    size.link.setChecked(False)
    size.spins[1].setValue(5)
    assert doc.graph.node(nid).params["kernel_size"] == [3, 5]

    # padding: a number or 'same' / 'valid'
    pad = inspector.editors["padding"]
    pad.mode.setCurrentIndex(1)
    assert doc.graph.node(nid).params["padding"] == "same"
    pad.mode.setCurrentIndex(0)
    assert isinstance(doc.graph.node(nid).params["padding"], int)

    # optional size: auto (None) or a size
    pool = select(doc, inspector, "pool1")
    stride = inspector.editors["stride"]
    stride.auto.setChecked(False)
    stride.inner.spins[0].setValue(1)
    assert doc.graph.node(pool).params["stride"] == 1
    stride.auto.setChecked(True)
    assert doc.graph.node(pool).params["stride"] is None


def test_invalid_values_are_refused_with_a_message(setup, qtbot):
    doc, inspector = setup
    nid = select(doc, inspector, "image")
    before = doc.graph.to_json()
    steps = doc.undo_stack.count()
    edit = inspector.editors["shape"].edit
    edit.setFocus()
    edit.selectAll()
    qtbot.keyClicks(edit, "1, 0, 28")
    qtbot.keyClick(edit, Qt.Key.Key_Return)
    assert "at least 1" in inspector.field_error("shape")
    assert doc.graph.to_json() == before and doc.undo_stack.count() == steps
    edit.selectAll()
    qtbot.keyClicks(edit, "1, two, 28")
    qtbot.keyClick(edit, Qt.Key.Key_Return)
    assert "'two' is not a whole number" in inspector.field_error("shape")
    assert doc.graph.to_json() == before
    # a valid value clears the message
    edit.selectAll()
    qtbot.keyClicks(edit, "1x32x32")
    qtbot.keyClick(edit, Qt.Key.Key_Return)
    assert inspector.field_error("shape") == ""
    assert doc.graph.node(nid).params["shape"] == [1, 32, 32]

    # Dropout's p must stay below 1 (the spin box allows 1.0, the block refuses it)
    drop = select(doc, inspector, "drop")
    assert not inspector.commit("p", 1.0)
    assert "less than 1" in inspector.field_error("p")
    assert doc.graph.node(drop).params["p"] == 0.25
    assert inspector.editors["p"].value() == 0.25  # the field shows the block's value again


def test_rename_is_validated_and_undoable(setup, qtbot):
    doc, inspector = setup
    nid = select(doc, inspector, "conv1")
    edit = inspector.name_edit
    edit.setFocus()
    edit.selectAll()
    qtbot.keyClicks(edit, "2nd conv")
    assert inspector.name_error.isVisibleTo(inspector)
    assert "must start with a letter" in inspector.name_error.text()
    qtbot.keyClick(edit, Qt.Key.Key_Return)
    assert doc.graph.node(nid).name == "conv1"
    edit.selectAll()
    qtbot.keyClicks(edit, "pool1")  # taken
    qtbot.keyClick(edit, Qt.Key.Key_Return)
    assert "already used" in inspector.name_error.text()
    assert doc.graph.node(nid).name == "conv1"
    edit.selectAll()
    qtbot.keyClicks(edit, "features")
    qtbot.keyClick(edit, Qt.Key.Key_Return)
    assert doc.graph.node(nid).name == "features"
    assert not inspector.name_error.isVisibleTo(inspector)
    doc.undo_stack.undo()
    assert doc.graph.node(nid).name == "conv1"
    assert inspector.name_edit.text() == "conv1"


def test_overview_multi_selection_and_errors(setup):
    doc, inspector = setup
    inspector.set_selection([])
    assert inspector.editors == {}
    inspector.set_selection([doc.graph.find("conv1"), doc.graph.find("fc")])
    assert inspector.node_id is None
    # a block with a problem shows it in the inspector
    fc = select(doc, inspector, "fc")
    doc.graph.disconnect(doc.graph.find("flat"), fc)
    doc.graph.connect(doc.graph.find("drop"), fc)
    doc.infer_now()
    assert inspector.status_label.isVisibleTo(inspector)
    assert "flatten" in inspector.status_label.text().lower()
    # deleting the shown block empties the form
    doc.graph.remove(fc)
    assert inspector.node_id is None


def test_every_block_gets_a_form_that_shows_its_values(qtbot):
    from layerloom.core.blocks import all_specs

    g = Graph()
    ids = {spec.type_id: g.add(spec.type_id) for spec in all_specs()}
    doc = Document(Project(g))
    inspector = Inspector(Editor(doc))
    qtbot.addWidget(inspector)
    for type_id, nid in ids.items():
        inspector.set_selection([nid])
        spec = get_spec(type_id)
        assert list(inspector.editors) == [p.name for p in spec.params], type_id
        for p in spec.params:
            assert inspector.editors[p.name].value() == g.node(nid).params[p.name], (type_id, p.name)
        assert inspector.name_edit.text() == g.node(nid).name


def test_a_very_long_description_is_shown_as_a_preview_and_kept_whole(qtbot):
    from PySide6.QtWidgets import QLabel

    text = "A long story. " * 400_000  # 5.6 MB: laid out in full, it froze the window
    doc = Document(Project(lenet_like(), meta={"name": "net", "description": text}))
    inspector = Inspector(Editor(doc))
    qtbot.addWidget(inspector)
    inspector.set_selection([])
    shown = [w.text() for w in inspector.findChildren(QLabel) if w.text().startswith("A long story.")]
    assert len(shown) == 1 and len(shown[0]) < 2_100
    assert shown[0].endswith(f"… ({len(text):,} characters in all)")
    assert doc.project.meta["description"] == text


def test_the_parameter_memory_is_shown_for_a_block_and_the_model(setup):
    from PySide6.QtWidgets import QLabel

    doc, inspector = setup
    select(doc, inspector, "conv1")
    assert inspector._stats["memory"].text() == "624 bytes"  # 156 float32 parameters
    inspector.set_selection([])
    texts = [w.text() for w in inspector.findChildren(QLabel)]
    total = doc.report.total_params
    assert any(f"{total:,} parameters (" in t and "KB of memory)" in t for t in texts), texts
