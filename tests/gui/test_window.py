"""The main window: docks, status bar, problems list, files (save and reopen, broken files, unsaved
changes), keyboard shortcuts, recent files and layout in QSettings, autosave and crash recovery, file
drops, the template gallery, the block reference and the error dialog.

Dialogs never block: QMessageBox.exec is replaced by `dialogs`, which records each box and answers
from a queue (a test that does not expect a dialog fails when one appears)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("LAYERLOOM_NO_PRELOAD", "1")

import pytest
import pytestqt  # noqa: F401  (a hard test dependency: fail loudly if missing)
from PySide6.QtCore import QMimeData, QPoint, QPointF, QSettings, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QDialog, QFileDialog, QMessageBox

from layerloom.core.edits import SetParams
from layerloom.core.project import Project, load_project, save_project
from layerloom.core.templates import load_template
from layerloom.gui.main_window import MainWindow
from layerloom.gui.recovery import Recovery

SB = QMessageBox.StandardButton


class Dialogs:
    """Stands in for QMessageBox.exec: records (text, informative, details) and answers from a queue.
    An answer is a StandardButton, or the text of a custom button to click."""

    def __init__(self):
        self.seen: list[dict] = []
        self.answers: list = []

    def exec(self, box: QMessageBox):
        self.seen.append({"title": box.windowTitle(), "text": box.text(), "info": box.informativeText(),
                          "details": box.detailedText()})
        if not self.answers:
            raise AssertionError(f"unexpected dialog: {box.text()!r}")
        answer = self.answers.pop(0)
        if isinstance(answer, str):
            button = next(b for b in box.buttons() if b.text().replace("&", "") == answer)
            button.click()
            return 0
        return answer

    @property
    def texts(self) -> str:
        return "\n".join(" ".join(d.values()) for d in self.seen)


@pytest.fixture
def dialogs(monkeypatch):
    d = Dialogs()
    monkeypatch.setattr(QMessageBox, "exec", lambda box: d.exec(box))
    yield d
    assert not d.answers, f"answers left unused: {d.answers}"


@pytest.fixture
def settings_path(tmp_path):
    return str(tmp_path / "settings.ini")


@pytest.fixture
def make_window(qtbot, tmp_path, settings_path, dialogs):
    """Windows on temporary settings and a temporary recovery folder, closed without questions after."""
    made: list[MainWindow] = []

    def make(project=None, recovery_dir=None) -> MainWindow:
        settings = QSettings(settings_path, QSettings.Format.IniFormat)
        w = MainWindow(settings=settings, recovery=Recovery(recovery_dir or tmp_path / "recovery"))
        if project is not None:
            w.set_project(project, None)
        w.show()
        qtbot.waitExposed(w)
        made.append(w)
        return w

    yield make
    for w in made:
        try:
            w.document.undo_stack.setClean()
            w.close()
            w.deleteLater()
        except RuntimeError:
            pass  # already deleted


@pytest.fixture
def window(make_window):
    return make_window(load_template("lenet5"))


def broken_graph_project() -> Project:
    from layerloom.core import Graph

    g = Graph()
    x = g.add("Input", name="image", shape=[1, 28, 28])
    c = g.add("Conv2d", name="conv", out_channels=4, kernel_size=3)
    d = g.add("Dense", name="classifier", out_features=10)  # on a map: needs Flatten
    o = g.add("Output", name="out")
    g.connect(x, c)
    g.connect(c, d)
    g.connect(d, o)
    return Project(g, meta={"name": "broken"})


# --- the window ---------------------------------------------------------------------------------------


def test_window_shows_the_template_with_totals_and_title(window):
    assert window.windowTitle() == "LeNet-5[*] — Layerloom"
    assert not window.isWindowModified()
    assert window.params_label.text() == "61,706 parameters"
    assert window.macs_label.text().endswith("MACs")
    assert "no problems" in window.problem_chip.text()
    assert window.centralWidget() is window.canvas
    for dock, area in ((window.palette_dock, Qt.DockWidgetArea.LeftDockWidgetArea),
                       (window.inspector_dock, Qt.DockWidgetArea.RightDockWidgetArea),
                       (window.problems_dock, Qt.DockWidgetArea.BottomDockWidgetArea)):
        assert window.dockWidgetArea(dock) == area
    # an edit marks the window modified; undo to the saved state clears it
    nid = next(n.id for n in window.document.graph if n.type == "Conv2d")
    window.document.do(SetParams(nid, {"out_channels": 8}))
    assert window.isWindowModified()
    window.document.undo_stack.undo()
    assert not window.isWindowModified()


def test_refused_edits_are_shown_in_the_status_bar(window):
    g = window.document.graph
    first, third = g.nodes[1].id, g.nodes[3].id
    from layerloom.core.edits import Connect

    assert not window.editor.do(Connect(third, first))  # its input is taken
    assert "already has an input" in window.statusBar().currentMessage()


def test_problems_list_fills_and_double_click_selects_the_block(make_window, qtbot):
    w = make_window(broken_graph_project())
    rows = w.problems.rows()
    assert any(name == "classifier" and "flatten" in msg.lower() for name, msg, _ in rows)
    assert w.problem_chip.text() == "1 error"
    assert w.problems_dock.windowTitle().startswith("Problems (")
    tree = w.problems.tree
    item = next(tree.topLevelItem(i) for i in range(tree.topLevelItemCount())
                if tree.topLevelItem(i).text(0) == "classifier")
    rect = tree.visualItemRect(item)
    qtbot.mouseClick(tree.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, rect.center())
    qtbot.mouseDClick(tree.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, rect.center())
    cid = w.document.graph.find("classifier")
    assert w.canvas.selected_node_ids() == [cid]
    assert w.inspector.node_id == cid
    # fixing it empties the list
    from layerloom.core.edits import AddNode, Connect, Disconnect, Macro

    g = w.document.graph
    edge = g.in_edges(cid)[0]
    add = AddNode("Flatten", node_id="nf")
    w.document.do(Macro([Disconnect(edge), add, Connect(edge.src, "nf"), Connect("nf", cid)], "Insert Flatten"))
    w.document.infer_now()
    assert w.problems.rows() == []
    assert "no problems" in w.problem_chip.text()


# --- files --------------------------------------------------------------------------------------------


def test_save_and_reopen(window, make_window, tmp_path, monkeypatch, settings_path):
    target = tmp_path / "my net.json"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(tmp_path / "my net"), ""))
    g = window.document.graph
    nid = next(n.id for n in g if n.type == "Dense")
    window.document.do(SetParams(nid, {"out_features": 99}))
    assert window.isWindowModified()
    assert window.commands["save"].isEnabled()
    window.commands["save"].trigger()  # no file yet: Save As, ".json" added
    assert target.exists()
    assert not window.isWindowModified()
    assert window.windowTitle() == "my net[*] — Layerloom"
    assert load_project(target).graph.to_dict() == g.to_dict()
    # save again writes in place (atomically: no temporary files left behind)
    window.document.do(SetParams(nid, {"out_features": 98}))
    window.commands["save"].trigger()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    assert load_project(target).graph.node(nid).params["out_features"] == 98

    other = make_window()
    assert other.open_path(target)
    assert other.document.graph.to_dict() == g.to_dict()
    assert other.windowTitle() == "my net[*] — Layerloom"
    assert str(target) in other.recent_files()


def test_close_new_and_open_ask_before_dropping_unsaved_changes(window, dialogs, tmp_path, monkeypatch):
    g = window.document.graph
    nid = next(n.id for n in g if n.type == "Dense")
    window.document.do(SetParams(nid, {"out_features": 77}))
    before = g.to_dict()

    dialogs.answers = [SB.Cancel]
    assert not window.close()
    assert window.isVisible()
    assert "Save the changes to “LeNet-5”" in dialogs.seen[-1]["text"]

    dialogs.answers = [SB.Cancel]
    assert not window.new_project("mlp")
    assert window.document.graph.to_dict() == before

    dialogs.answers = [SB.Cancel]
    assert not window.open_dialog()
    assert window.document.graph.to_dict() == before

    # Save: asks for a file, writes it, then proceeds
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(tmp_path / "kept.json"), ""))
    dialogs.answers = [SB.Save]
    assert window.new_project("mlp")
    assert load_project(tmp_path / "kept.json").graph.node(nid).params["out_features"] == 77
    assert window.document.path is None and window.document.graph.to_dict() != before
    assert not window.isWindowModified()

    # Discard closes
    first = window.document.graph.nodes[0]
    window.editor.select([first.id])
    window.editor.run("delete")
    assert window.isWindowModified()
    dialogs.answers = [SB.Discard]
    assert window.close()


def test_a_broken_file_lists_its_problems_and_changes_nothing(window, dialogs, tmp_path):
    data = load_template("lenet5").to_dict()
    data["nodes"][1]["type"] = "Conv2D"  # unknown type (close to Conv2d)
    data["nodes"][2]["params"] = {"negative": 1}
    data["training"]["lr"] = -1
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    before = window.document.graph.to_dict()
    dialogs.answers = [SB.Ok]
    assert not window.open_path(path)
    shown = dialogs.texts
    assert "broken.json" in shown
    assert "nodes[1]" in shown and "Conv2D" in shown and "Conv2d" in shown  # the place, and the hint
    assert "training.lr" in shown
    assert "Traceback" not in shown
    assert window.document.graph.to_dict() == before  # never half-loaded
    assert str(path) not in window.recent_files()

    path.write_text('{"format": "layerloom-project", "nodes": [', encoding="utf-8")
    dialogs.answers = [SB.Ok]
    assert not window.open_path(path)
    assert "not valid JSON" in dialogs.texts


def test_keyboard_shortcuts(window, qtbot):
    g = window.document.graph
    n0 = len(g)
    dense = next(n.id for n in g if n.type == "Dense")
    window.editor.select([dense])
    window.canvas.setFocus()
    qtbot.keyClick(window, Qt.Key.Key_Delete)
    assert dense not in g and len(g) == n0 - 1
    qtbot.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert dense in g
    qtbot.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert dense not in g
    qtbot.keyClick(window, Qt.Key.Key_Y, Qt.KeyboardModifier.ControlModifier)  # nothing more to redo
    qtbot.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert dense in g
    qtbot.keyClick(window, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    assert set(window.canvas.selected_node_ids()) == {n.id for n in g}
    window.editor.select([dense])
    qtbot.keyClick(window, Qt.Key.Key_D, Qt.KeyboardModifier.ControlModifier)
    assert len(g) == n0 + 1
    qtbot.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert len(g) == n0
    # the shortcuts come from QKeySequence's standard keys
    assert window.commands["undo"].shortcut().matches(QKeySequenceStd("Undo"))
    assert QKeySequenceStd("Delete") in window.commands["delete"].shortcuts()
    # typing in a text field does not delete blocks (Delete and Backspace stay the field's)
    window.editor.select([dense])
    edit = window.inspector.name_edit
    edit.setFocus()
    qtbot.keyClick(edit, Qt.Key.Key_Delete)
    search = window.palette_panel.search
    search.setFocus()
    qtbot.keyClicks(search, "ab")
    qtbot.keyClick(search, Qt.Key.Key_Backspace)
    assert search.text() == "a"
    qtbot.keyClick(search, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)  # selects the text, not blocks
    assert search.selectedText() == "a"
    assert dense in g and len(g) == n0
    # Backspace on the canvas deletes, like Delete
    window.canvas.setFocus()
    window.editor.select([dense])
    qtbot.keyClick(window.canvas, Qt.Key.Key_Backspace)
    assert dense not in g


def QKeySequenceStd(name: str):
    from PySide6.QtGui import QKeySequence

    return QKeySequence(getattr(QKeySequence.StandardKey, name))


def test_recent_files_and_layout_persist(make_window, tmp_path):
    files = []
    for i in range(3):
        p = tmp_path / f"net{i}.json"
        save_project(load_template("mlp"), p)
        files.append(str(p))
    w = make_window()
    for f in files:
        assert w.open_path(f)
    assert w.recent_files() == list(reversed(files))
    w.problems_dock.hide()
    w.resize(1000, 700)
    w.document.undo_stack.setClean()
    assert w.close()  # saves geometry and dock state
    w2 = make_window()
    assert w2.recent_files() == list(reversed(files))
    w2._fill_recent_menu()
    labels = [a.text() for a in w2.recent_menu.actions()]
    assert any("net2.json" in t for t in labels)
    assert w2.problems_dock.isHidden()
    # opening again moves a file to the top, without duplicates
    assert w2.open_path(files[0])
    assert w2.recent_files() == [files[0], files[2], files[1]]


def test_autosave_and_crash_recovery(make_window, tmp_path, dialogs):
    folder = tmp_path / "rec"
    w = make_window(load_template("lenet5"), recovery_dir=folder)
    assert w.autosave_timer.interval() == 60_000
    assert w.autosave_now() is None  # nothing unsaved, nothing written
    nid = next(n.id for n in w.document.graph if n.type == "Dense")
    w.document.do(SetParams(nid, {"out_features": 33}))
    written = w.autosave_now()
    assert written is not None and written.exists() and written.parent == folder
    expected = w.document.graph.to_dict()
    assert load_project(written).graph.to_dict() == expected

    w.recovery.abandon()  # the process "crashes": its files stay, its lock is gone
    w2 = make_window(recovery_dir=folder)
    dialogs.answers = ["Recover"]
    assert w2.offer_recovery()
    assert "did not close properly" in dialogs.seen[-1]["text"]
    assert w2.document.graph.to_dict() == expected
    assert w2.isWindowModified()  # recovered work is unsaved work
    assert not written.exists()  # the old session's autosave is gone; w2 keeps its own now
    # no second offer
    w3 = make_window(recovery_dir=folder)
    assert not w3.offer_recovery()


def test_clean_exit_leaves_no_recovery_file_and_a_live_session_is_not_offered(make_window, tmp_path, dialogs):
    folder = tmp_path / "rec2"
    w = make_window(load_template("lenet5"), recovery_dir=folder)
    w.document.do(SetParams(next(n.id for n in w.document.graph if n.type == "Dense"), {"out_features": 5}))
    assert w.autosave_now() is not None
    other = make_window(recovery_dir=folder)
    assert not other.offer_recovery()  # w is still running: its autosave is not a crash
    dialogs.answers = [SB.Discard]
    assert w.close()
    assert [p.name for p in folder.iterdir() if w.recovery.session in p.name] == []


def test_recovery_can_be_declined(make_window, tmp_path, dialogs):
    folder = tmp_path / "rec3"
    w = make_window(load_template("lenet5"), recovery_dir=folder)
    w.document.do(SetParams(next(n.id for n in w.document.graph if n.type == "Dense"), {"out_features": 5}))
    w.autosave_now()
    w.recovery.abandon()
    w2 = make_window(load_template("mlp"), recovery_dir=folder)
    before = w2.document.graph.to_dict()
    dialogs.answers = ["Discard"]
    assert not w2.offer_recovery()
    assert w2.document.graph.to_dict() == before
    assert w2.recovery.pending() == []


def test_a_project_file_dropped_on_the_window_opens(window, tmp_path, qtbot):
    path = tmp_path / "dropped.json"
    save_project(load_template("mlp"), path)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    # dragged over the canvas, the drag reaches the window (the canvas takes only blocks)
    enter = QDragEnterEvent(QPoint(200, 200), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window.canvas.viewport(), enter)
    assert enter.isAccepted()
    drop = QDropEvent(QPointF(200, 200), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, drop)
    assert drop.isAccepted()
    qtbot.waitUntil(lambda: window.document.path is not None and window.document.path.name == "dropped.json")
    assert window.document.graph.to_dict() == load_project(path).graph.to_dict()
    # other files are not taken
    mime2 = QMimeData()
    mime2.setUrls([QUrl.fromLocalFile(str(tmp_path / "picture.png"))])
    enter2 = QDragEnterEvent(QPoint(5, 5), Qt.DropAction.CopyAction, mime2, Qt.MouseButton.LeftButton,
                             Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, enter2)
    assert not enter2.isAccepted()


# --- dialogs ------------------------------------------------------------------------------------------


def test_template_gallery_offers_every_template_with_a_preview(window, qtbot, monkeypatch):
    from layerloom.core.templates import templates
    from layerloom.gui.template_gallery import EMPTY, TemplateGallery

    gallery = TemplateGallery(window)
    names = gallery.names()
    assert names[:-1] == [n for n, _ in templates()] and names[-1] == EMPTY
    assert gallery.selected_name() == "lenet5"
    assert gallery.preview.graph is not None and len(gallery.preview.graph) > 0
    assert "61,706" in gallery.details.text()
    assert not gallery.list.currentItem().icon().isNull()
    gallery.select("resnet_mini")
    assert "Residual" in gallery.details.text()
    gallery.select(EMPTY)
    assert len(gallery.project().graph) == 0
    gallery.deleteLater()

    def choose(self):
        self.select("lstm_text")
        return QDialog.DialogCode.Accepted

    monkeypatch.setattr(TemplateGallery, "exec", choose)
    assert window.commands["new"].isEnabled()
    window.commands["new"].trigger()
    assert any(n.type == "LSTM" for n in window.document.graph)
    assert window.document.path is None
    assert not window.isWindowModified()


def test_a_new_empty_project_has_data_that_fits_its_first_input(window, qtbot, monkeypatch):
    from layerloom.core.data import check_against_graph, load_data
    from layerloom.gui.template_gallery import EMPTY, TemplateGallery

    def choose_empty(self):
        self.select(EMPTY)
        return QDialog.DialogCode.Accepted

    monkeypatch.setattr(TemplateGallery, "exec", choose_empty)
    window.commands["new"].trigger()  # File → New, "Empty canvas"
    assert len(window.document.graph) == 0
    nid = window.editor.run("place_block", type_id="Input")  # as a double-click in the palette does: default shape
    assert window.document.graph.node(nid).params["shape"] == [1, 28, 28]
    data = window.document.project.data
    prepared = load_data(data.source, data.options)
    problems = check_against_graph(prepared.info, window.document.graph)
    assert not [p for p in problems if "Input" in p], problems  # no shape mismatch (only "no Output block" yet)
    assert window.document.project.name == "Untitled"


def test_block_reference_is_searchable(window):
    window.show_block_reference("LSTM")
    ref = window._reference
    assert ref.isVisible()
    assert "gate" in ref.page.toPlainText().lower()
    ref.search.setText("gates")
    assert set(ref.visible()) >= {"LSTM", "GRU"} and "Conv2d" not in ref.visible()
    ref.search.setText("")
    assert len(ref.visible()) == ref.list.count()


def test_unexpected_errors_are_shown_in_a_dialog(dialogs, monkeypatch):
    from layerloom.gui import app

    monkeypatch.setattr(sys, "excepthook", sys.__excepthook__)
    app.install_excepthook()
    assert getattr(sys.excepthook, "_layerloom", False)
    dialogs.answers = [SB.Ok]
    try:
        raise ValueError("boom")
    except ValueError:
        sys.excepthook(*sys.exc_info())
    seen = dialogs.seen[-1]
    assert "ValueError: boom" in seen["info"]
    assert "Traceback" in seen["details"] and "Traceback" not in seen["text"]


def test_main_accepts_a_path_and_opens_it(monkeypatch, tmp_path):
    """app/cli.py's open_window(path) calls main(path): a string first argument is the path."""
    from layerloom.app import cli
    from layerloom.gui import app

    calls = []

    class FakeApp:
        def exec(self):
            return 0

    monkeypatch.setattr(app, "start", lambda argv=None, path=None: calls.append((argv, path)) or (FakeApp(), None))
    assert app.main(path="a.json") == 0
    assert app.main("b.json") == 0
    assert cli.open_window("c.json") == 0
    assert cli.open_window() == 0
    assert calls == [(None, "a.json"), (None, "b.json"), (None, "c.json"), (None, None)]


def test_create_window_opens_a_file_or_the_template_and_reports_a_broken_one(qtbot, tmp_path, dialogs,
                                                                            monkeypatch):
    from layerloom.gui import app

    monkeypatch.setattr("layerloom.gui.main_window.QSettings",
                        lambda: QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    monkeypatch.setattr("layerloom.gui.main_window.Recovery", lambda: Recovery(tmp_path / "r"))
    windows = []
    w, deferred = app.create_window(None)
    windows.append(w)
    assert w.document.project.name == "LeNet-5"
    deferred()  # nothing to recover
    good = tmp_path / "good.json"
    save_project(load_template("mlp"), good)
    w2, _ = app.create_window(good)
    windows.append(w2)
    assert w2.document.path == good
    bad = tmp_path / "bad.json"
    bad.write_text("{}", encoding="utf-8")
    w3, deferred3 = app.create_window(bad)
    windows.append(w3)
    assert w3.document.project.name == "LeNet-5"  # the window still opens
    dialogs.answers = [SB.Ok]
    deferred3()
    assert "bad.json" in dialogs.texts
    for win in windows:
        win.close()
        win.deleteLater()


# --- start-up stays light -----------------------------------------------------------------------------


def test_import_and_showing_the_window_do_not_import_torch(tmp_path):
    code = """
import sys
import layerloom.gui
assert 'torch' not in sys.modules and 'PySide6' not in sys.modules, 'import layerloom.gui is heavy'
from PySide6.QtCore import QStandardPaths
QStandardPaths.setTestModeEnabled(True)
from layerloom.gui.app import start
app, window = start(['layerloom', '-platform', 'offscreen'])
app.processEvents()
assert window.isVisible()
assert 'torch' not in sys.modules, 'torch was imported before the window showed'
window.document.undo_stack.setClean()
window.recovery.clean_exit()
print('ok')
"""
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", LAYERLOOM_NO_PRELOAD="1", HOME=str(tmp_path),
               XDG_CONFIG_HOME=str(tmp_path / "config"), XDG_DATA_HOME=str(tmp_path / "data"))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("ok")


def test_theme_menu_switches_the_palette_and_is_remembered(window, make_window):
    from layerloom.gui import theme

    try:
        window.commands["theme_dark"].trigger()
        assert theme.is_dark()
        assert window.settings.value("theme") == "dark"
        assert window.commands["theme_dark"].isChecked()
        assert not window.commands["save"].icon().isNull()
        window.commands["theme_light"].trigger()
        assert not theme.is_dark()
        assert make_window().commands["theme_light"].isChecked()
    finally:
        theme.apply_theme(QApplication.instance(), "light")


def test_a_megabyte_long_project_name_makes_a_short_window_title(make_window):
    project = load_template("lenet5")
    project.meta["name"] = "x" * 2_000_000
    w = make_window(project)
    assert len(w.windowTitle()) < 200 and w.windowTitle().startswith("x" * 100)
    assert w.document.project.meta["name"] == "x" * 2_000_000  # the project keeps the whole name
