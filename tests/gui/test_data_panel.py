"""The Data panel on its own (gui/training/data_panel.py): the kind picker for text files, the tokenization
it shows for text data, and a Load clicked while the automatic preview runs. Offscreen; the file dialog is
answered by a stand-in."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import threading

import pytest
import pytestqt  # noqa: F401  (a hard test dependency: fail loudly if missing)
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog

from layerloom.core.edits import SetSettings
from layerloom.core.project import Project
from layerloom.core.settings import DataSettings
from layerloom.gui.document import Document
from layerloom.gui.editor import Editor
from layerloom.gui.training import data_panel as dp

TIMEOUT = 60_000
SMS = [("ham", "Go until jurong point, crazy.. Available only in bugis n great world la e buffet"),
       ("spam", "Free entry in 2 a wkly comp to win FA Cup final tkts 21st May 2005"),
       ("ham", "Ok lar... Joking wif u oni..."),
       ("spam", "WINNER!! As a valued network customer you have been selected to receive a prize reward"),
       ("ham", "U dun say so early hor... U c already then say..."),
       ("ham", "Nah I don't think he goes to usf, he lives around here though")]


def sms_file(folder, name="SMSSpamCollection", copies=8) -> str:
    """A small file like UCI's SMS Spam Collection: `label<TAB>message` lines, no header, no extension."""
    path = os.path.join(folder, name)
    with open(path, "w", encoding="utf-8") as f:
        for _ in range(copies):
            for label, text in SMS:
                f.write(f"{label}\t{text}\n")
    return path


@pytest.fixture
def panel(qtbot):
    document = Document(Project(data=DataSettings("digits", {})))
    p = dp.DataPanel(Editor(document))
    qtbot.addWidget(p)
    p.resize(520, 700)
    p.show()
    qtbot.waitExposed(p)
    yield p
    p.shutdown()


def pick_kind(qtbot, panel, kind: str) -> None:
    """Choose an entry of the kind picker with the keyboard, as a user can."""
    combo = panel.kind_combo
    combo.setFocus()
    target = combo.findData(kind)
    for _ in range(combo.count()):
        if combo.currentIndex() == target:
            break
        qtbot.keyClick(combo, Qt.Key.Key_Down if combo.currentIndex() < target else Qt.Key.Key_Up)
    assert panel.kind == kind


def browse(qtbot, panel, monkeypatch, path: str) -> None:
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (path, ""))
    qtbot.mouseClick(panel.browse_button, Qt.MouseButton.LeftButton)


def offered_options(panel) -> list[str]:
    return [panel.add_option.itemText(i) for i in range(1, panel.add_option.count())]


def test_a_text_file_without_an_extension_stays_text_with_its_tokenizer_options(qtbot, panel, monkeypatch,
                                                                                  tmp_path):
    path = sms_file(str(tmp_path))
    pick_kind(qtbot, panel, "text")
    assert "tokenizer" in offered_options(panel)
    browse(qtbot, panel, monkeypatch, path)
    assert panel.document.project.data.source == path
    assert panel.kind == "text" and panel.kind_combo.currentText() == "Text with labels"
    assert {"tokenizer", "seq_len", "padding"} <= set(offered_options(panel))
    # opened from a project file (no kind picked before): text too, as the reader takes such a file
    assert dp.guess_kind(path, {}) == "text"
    # a text file named like a table keeps the kind the user picked
    reviews = tmp_path / "reviews.csv"
    reviews.write_text("text,label\ngreat film,pos\ndull plot,neg\n", encoding="utf-8")
    browse(qtbot, panel, monkeypatch, str(reviews))
    assert panel.kind == "text" and "tokenizer" in offered_options(panel)
    assert dp.guess_kind(str(reviews), {}) == "csv"  # with no kind picked, a .csv is a table


def test_loaded_text_data_shows_its_tokenization(qtbot, panel, monkeypatch, tmp_path):
    pick_kind(qtbot, panel, "text")
    browse(qtbot, panel, monkeypatch, sms_file(str(tmp_path)))
    assert not panel.preview.tokens_label.isVisible()
    qtbot.mouseClick(panel.load_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.prepared is not None and not panel.loading, timeout=TIMEOUT)
    info = panel.prepared.info
    assert info.kind == "text", panel.preview.summary.text()
    assert panel.preview.tokens_label.isVisible()
    text = panel.preview.tokens_label.text()
    vocab = info.vocabulary
    assert f"Vocabulary: {len(vocab):,} tokens" in text
    assert "Sequence length: 64 tokens" in text and "padded before the text" in text
    assert "Tokenizer: word" in text and "lower-cased" in text
    ids = [int(i) for i in panel.prepared.train.inputs[0][0].tolist() if i != 0]  # the sample shown: the first
    assert " · ".join(vocab[i] for i in ids[:8]) in text  # its first tokens…
    assert " ".join(str(i) for i in ids[:8]) in text  # …and their ids
    # image data has no tokens: the section goes away
    pick_kind(qtbot, panel, "built-in")
    qtbot.waitUntil(lambda: panel.prepared is not None and panel.prepared.info.kind == "image", timeout=TIMEOUT)
    assert not panel.preview.tokens_label.isVisible()


@pytest.fixture
def gated_loads(monkeypatch):
    """load_prepared that records each load's options; the first waits until the test opens the gate."""
    real = dp.load_prepared
    gate, calls = threading.Event(), []

    def load(source, options, *args, **kwargs):
        calls.append(dict(options))
        if len(calls) == 1:
            gate.wait(30)
        return real(source, options, *args, **kwargs)

    monkeypatch.setattr(dp, "load_prepared", load)
    return gate, calls


def test_load_clicked_during_the_automatic_preview_runs_after_it(qtbot, panel, gated_loads):
    gate, calls = gated_loads
    panel.preview_if_cheap()  # the digits as they are: previewed without asking
    assert panel.loading
    panel.document.do(SetSettings("data", {"options": {"resize": [16, 16]}}))  # the user changes an option…
    assert panel.loading and panel.load_button.isEnabled()
    qtbot.mouseClick(panel.load_button, Qt.MouseButton.LeftButton)  # …and clicks Load before the preview ends
    assert not panel.load_button.isEnabled()  # once is enough
    gate.set()
    qtbot.waitUntil(lambda: not panel.loading and panel.prepared is not None
                    and panel.prepared_key == panel._current_key(), timeout=TIMEOUT)
    assert calls == [{}, {"resize": [16, 16]}]
    assert panel.prepared.info.input_shapes[0] == (1, 16, 16)
    assert panel.load_button.isEnabled()


def test_load_clicked_during_a_preview_of_the_same_settings_shows_it_without_loading_twice(qtbot, panel,
                                                                                          gated_loads):
    gate, calls = gated_loads
    panel.preview_if_cheap()
    qtbot.mouseClick(panel.load_button, Qt.MouseButton.LeftButton)
    gate.set()
    qtbot.waitUntil(lambda: not panel.loading and panel.prepared is not None, timeout=TIMEOUT)
    qtbot.wait(100)  # a second load would have started by now
    assert calls == [{}] and not panel.loading
    assert panel.prepared_key == panel._current_key() and panel.preview.grid.count() > 0
