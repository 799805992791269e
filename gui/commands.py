"""The table of commands: everything a user can do from a menu, the toolbar, a context menu, the palette or
the inspector, one `Command` each. The Editor (gui/editor.py) makes a QAction of every entry and runs them.

A command is its key, its text, what it does (`run(editor, **args)`, usually one core edit through
`editor.do`), and optionally a shortcut (QKeySequence standard keys where they exist), an icon, a status
tip, when it is enabled (a predicate over the editor) and where it shows: `places` maps a place to
(group, position) — the menus "file", "edit", "view", "theme", "training", "help", the "toolbar", and the
canvas context menus "block" (on a block) and "wire" (on a connection, run with `edge=`). Groups are set
apart by separators. Commands that take arguments (`place_block`, `set_params`, …) show nowhere; they are
run with `editor.run(key, **args)` — unless they have a `submenu`: a function of the editor giving one
(text, args) entry per choice, shown as a submenu of their place ("Replace With" → LSTM, GRU on a block).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QApplication, QStyle

from layerloom.core.block_swap import replacements
from layerloom.core.blocks import get_spec, has_spec
from layerloom.core.edits import (
    AddNode,
    Connect,
    Disconnect,
    Macro,
    Move,
    RemoveNode,
    Rename,
    ReplaceBlock,
    SetFrozen,
    SetParams,
    SetSettings,
)
from layerloom.core.layout import layered_positions
from layerloom.gui import theme
from layerloom.gui.canvas import clipboard
from layerloom.gui.canvas.style import HEADER_H, NODE_W, PORT_Y
from layerloom.gui.lesson_panel import lesson_of

if TYPE_CHECKING:
    from layerloom.gui.editor import Editor

Std = QKeySequence.StandardKey
Pixmap = QStyle.StandardPixmap
WRAP_COLUMNS = 8  # long chains wrap into bands, so a network fits a window at a readable zoom
PASTE_STEP = 40.0
LAYOUT_COLUMN = 260.0
LAYOUT_ROW = 170.0


@dataclass(frozen=True)
class Command:
    """One entry of the table (see the module's docstring)."""

    key: str
    text: str | Callable[[Editor], str]  # "&Delete", or a function of the editor for a text that changes
    run: Callable[..., Any]  # run(editor, **args) → what `Editor.run` returns
    shortcut: tuple = ()  # QKeySequence.StandardKey values and key texts ("Ctrl+D")
    icon: str | QStyle.StandardPixmap | None = None  # a theme icon's name, or a style's standard pixmap
    tip: str | None = None  # the status tip (and the tooltip, with the shortcut)
    tooltip: str | None = None  # a tooltip other than the tip
    enabled: Callable[[Editor], bool] | None = None  # None: always
    checked: Callable[[Editor], bool] | None = None  # a check box (theme)
    radio: str | None = None  # commands with the same radio name are exclusive
    places: dict[str, tuple[int, int]] = field(default_factory=dict)
    role: QAction.MenuRole | None = None  # macOS application menu role
    window: bool = False  # needs the main window (files, training, help): absent from an editor without one
    takes_args: bool = False  # run with arguments only: no shared action (`Editor.bound_action` makes one)
    # A takes_args command's choices in a menu: (text, args) per entry, asked when the menu is filled;
    # no entries, no submenu.
    submenu: Callable[[Editor], list[tuple[str, dict[str, Any]]]] | None = None


# --- when commands are enabled ----------------------------------------------------------------------


def unlocked(ed: Editor) -> bool:
    return not ed.document.locked


def has_selection(ed: Editor) -> bool:
    return bool(ed.selection)


def selection_unlocked(ed: Editor) -> bool:
    return bool(ed.selection) and not ed.document.locked


def one_selected_unlocked(ed: Editor) -> bool:
    return len(ed.selection) == 1 and not ed.document.locked


def idle(ed: Editor) -> bool:
    return ed.window.training.state == "idle"


def running(ed: Editor) -> bool:
    return ed.window.training.state not in ("idle", "stopping")


def paused(ed: Editor) -> bool:
    return ed.window.training.state == "paused"


def undo_text(prefix: str, text: str) -> str:
    return f"{prefix} {text}" if text else prefix


# --- what editing commands do -----------------------------------------------------------------------


def delete(ed: Editor) -> None:
    """Delete the selected blocks and connections, as one undo step."""
    ids = ed.selection
    gone = set(ids)
    edges = [e for e in ed.selected_edges if e.src not in gone and e.dst not in gone]
    if not ids and not edges:
        return
    edits = [Disconnect(e) for e in edges] + [RemoveNode(nid) for nid in ids]
    if len(edits) == 1:
        label = f"Delete {ed.document.graph.node(ids[0]).name}" if ids else "Remove connection"
    else:
        label = f"Delete {len(ids)} blocks" if ids else f"Remove {len(edges)} connections"
    ed.do(Macro(edits, label=label))


def duplicate(ed: Editor) -> list[str]:
    ids = ed.selection
    if not ids:
        return []
    return paste_payload(ed, clipboard.copy_payload(ed.document.graph, ids), (PASTE_STEP, PASTE_STEP), "Duplicate")


def copy(ed: Editor) -> bool:
    ids = ed.selection
    if not ids:
        return False
    payload = clipboard.copy_payload(ed.document.graph, ids)
    clipboard.put_on_clipboard(payload)
    ed.paste_count.pop(payload_key(payload), None)
    return True


def cut(ed: Editor) -> bool:
    ids = ed.selection
    if not ids or not copy(ed):
        return False
    payload = clipboard.copy_payload(ed.document.graph, ids)
    ed.paste_count[payload_key(payload)] = -1  # pasting a cut puts it back in place first
    edits = [RemoveNode(nid) for nid in ids]
    return bool(ed.do(Macro(edits, label=f"Cut {len(ids)} block" + ("s" if len(ids) > 1 else ""))))


def paste(ed: Editor) -> list[str]:
    """Paste blocks from the system clipboard (from this window or another); returns their ids."""
    payload = clipboard.from_mime(QApplication.clipboard().mimeData())
    if payload is None:
        ed.refuse("the clipboard holds no blocks to paste")
        return []
    key = payload_key(payload)
    count = ed.paste_count.get(key, 0) + 1
    ed.paste_count[key] = count
    return paste_payload(ed, payload, (PASTE_STEP * count, PASTE_STEP * count), None)


def paste_payload(ed: Editor, payload: dict, offset: tuple[float, float], label: str | None) -> list[str]:
    try:
        edit, ids = clipboard.paste_edit(ed.document.graph, payload, offset, label)
    except clipboard.PasteError as err:
        ed.refuse(str(err))
        return []
    if not ed.do(edit):
        return []
    ed.select(ids, reveal=False)
    if ed.view is not None:
        ed.view.bring_into_view(ids)
    return ids


def payload_key(payload: dict) -> str:
    return json.dumps(payload, sort_keys=True)


def select_all(ed: Editor) -> None:
    ed.select([n.id for n in ed.document.graph], reveal=False)


def rename(ed: Editor):
    """Open the in-place name editor on the (first) selected block; returns it."""
    ids = ed.selection
    if not ids or ed.view is None:
        return None
    return ed.view.open_rename(ids[0])


def auto_layout(ed: Editor):
    """Lay the blocks out in layers from left to right: one undo step."""
    graph = ed.document.graph
    if not len(graph):
        return False
    positions = layered_positions(graph, column_width=LAYOUT_COLUMN, row_height=LAYOUT_ROW, max_columns=WRAP_COLUMNS)
    changed = {nid: pos for nid, pos in positions.items() if graph.node(nid).pos != pos}
    done = ed.do(Macro([Move(changed)], label="Auto-layout")) if changed else False
    if ed.view is not None:
        ed.view.fit_all()
    return done


def place_block(ed: Editor, type_id: str, at=None, connect_from=None, connect_to=None) -> str | None:
    """Add a block of `type_id` with its title under `at` (a scene point; default: the canvas centre,
    stepped aside from a block already there). With `connect_from=(node_id, output_port)` it is wired
    after that port, with `connect_to=(node_id, input_port)` before it. Returns its id."""
    if not has_spec(type_id):
        ed.refuse(f"there is no block type {type_id!r}")
        return None
    if connect_from is not None or connect_to is not None:
        return place_connected(ed, type_id, at, connect_from, connect_to)
    if at is None:
        x, y = ed.view.free_spot() if ed.view is not None else (0, 0)
    else:
        x, y = round(at.x() - NODE_W / 2), round(at.y() - HEADER_H / 2)
    edit = AddNode(type_id, pos=(float(x), float(y)))
    if not ed.do(edit):
        return None
    ed.select([edit.node_id], reveal=at is None)
    return edit.node_id


def place_connected(ed: Editor, type_id: str, at, connect_from, connect_to) -> str | None:
    spec = get_spec(type_id)
    new_id = clipboard.fresh_ids(ed.document.graph, 1)[0]
    if connect_from is not None:
        pos = (float(round(at.x())), float(round(at.y() - PORT_Y)))
        wire = Connect(tuple(connect_from), (new_id, spec.inputs[0].name))
    else:
        pos = (float(round(at.x() - NODE_W)), float(round(at.y() - PORT_Y)))
        wire = Connect((new_id, spec.outputs[0].name), tuple(connect_to))
    if not ed.do(Macro([AddNode(type_id, pos=pos, node_id=new_id), wire], label=f"Add {type_id}")):
        return None
    ed.select([new_id], reveal=False)
    return new_id


def replace_choices(ed: Editor) -> list[tuple[str, dict[str, Any]]]:
    """The types the one selected block may become, as Replace With's entries."""
    ids = ed.selection
    if len(ids) != 1:
        return []
    return [(t, {"node_id": ids[0], "type_id": t}) for t in replacements(ed.document.graph.node(ids[0]).type)]


def replace_block(ed: Editor, node_id: str, type_id: str):
    """Turn a block into another type of its kind in place (one undo step); it stays selected."""
    outcome = ed.do(ReplaceBlock(node_id, type_id))
    if outcome:
        ed.select([node_id], reveal=False)
    return outcome


def set_frozen(ed: Editor, node_ids: list[str], frozen: bool):
    graph = ed.document.graph
    what = graph.node(node_ids[0]).name if len(node_ids) == 1 else f"{len(node_ids)} blocks"
    return ed.do(SetFrozen(list(node_ids), frozen), f"{'Freeze' if frozen else 'Unfreeze'} {what}")


def _view(method: str) -> Callable[[Editor], Any]:
    return lambda ed: getattr(ed.view, method)() if ed.view is not None else None


def _window(call: Callable[[Any], Any]) -> Callable[[Editor], Any]:
    return lambda ed: call(ed.window)


def _model_action(name: str) -> Callable[[Editor], Any]:
    """One of gui/model_actions.py's dialogs (export, import, open bundle) for the editor's window."""

    def run(ed: Editor):
        from layerloom.gui import model_actions

        return getattr(model_actions, name)(ed.window)

    return run


# --- the table ----------------------------------------------------------------------------------------

COMMANDS: list[Command] = [
    # File
    Command("new", "&New…", _window(lambda w: w.new_project()), (Std.New,), "new",
            "Start a new project from a template", enabled=unlocked,
            places={"file": (0, 0), "toolbar": (0, 0)}, window=True),
    Command("open", "&Open…", _window(lambda w: w.open_dialog()), (Std.Open,), "open",
            "Open a project file or a .layerloom bundle", enabled=unlocked,
            places={"file": (0, 1), "toolbar": (0, 1)}, window=True),
    Command("save", "&Save", _window(lambda w: w.save()), (Std.Save,), "save", "Save the project",
            places={"file": (1, 0), "toolbar": (0, 2)}, window=True),
    Command("save_as", "Save &As…", _window(lambda w: w.save_as()), (Std.SaveAs,), "save-as",
            "Save the project under a new name", places={"file": (1, 1)}, window=True),
    Command("save_bundle", "Save as &Bundle…", _window(lambda w: w.save_bundle()), (), "save-as",
            "Save the network with its trained weights, settings, history and preprocessing in one .layerloom file",
            places={"file": (1, 2)}, window=True),
    Command("export", "&Export…", _model_action("open_export_dialog"), ("Ctrl+E",), None,
            "Export the trained model: ONNX, TorchScript, torch.export, Python, weights, bundle",
            places={"file": (2, 0)}, window=True),
    Command("import_model", "&Import PyTorch Model…", _model_action("open_import_dialog"), (), None,
            "Bring an nn.Module (Python file) or a torch.export .pt2 in as a graph", places={"file": (2, 1)},
            window=True),
    Command("open_bundle", "Open &Bundle…", _model_action("open_bundle_dialog"), (), None,
            "Open a .layerloom bundle: graph, weights, settings and history (File → Open takes bundles too)",
            places={"file": (2, 2)}, window=True),
    Command("quit", "&Quit", _window(lambda w: w.close()), (Std.Quit,), "quit", "Close the window",
            places={"file": (3, 0)}, role=QAction.MenuRole.QuitRole, window=True),
    # Edit
    Command("undo", lambda ed: undo_text("&Undo", ed.document.undo_stack.undoText()),
            lambda ed: ed.document.undo_stack.undo(), (Std.Undo,), "undo",
            enabled=lambda ed: ed.document.undo_stack.canUndo() and unlocked(ed),
            places={"edit": (0, 0), "toolbar": (1, 0)}),
    Command("redo", lambda ed: undo_text("&Redo", ed.document.undo_stack.redoText()),
            lambda ed: ed.document.undo_stack.redo(), (Std.Redo,), "redo",
            enabled=lambda ed: ed.document.undo_stack.canRedo() and unlocked(ed),
            places={"edit": (0, 1), "toolbar": (1, 1)}),
    Command("cut", "Cu&t", cut, (Std.Cut,), "cut", "Cut the selected blocks", enabled=selection_unlocked,
            places={"edit": (1, 0)}),
    Command("copy", "&Copy", copy, (Std.Copy,), "copy", "Copy the selected blocks", enabled=has_selection,
            places={"edit": (1, 1)}),
    Command("paste", "&Paste", paste, (Std.Paste,), "paste", "Paste blocks", enabled=unlocked,
            places={"edit": (1, 2)}),
    Command("duplicate", "D&uplicate", duplicate, ("Ctrl+D",), "duplicate", "Duplicate the selected blocks",
            enabled=selection_unlocked, places={"edit": (1, 3), "toolbar": (2, 1), "block": (0, 1)}),
    Command("delete", "&Delete", delete, (Std.Delete, "Backspace"), "delete", "Delete the selected blocks",
            enabled=selection_unlocked, places={"edit": (1, 4), "toolbar": (2, 2), "block": (1, 0)}),
    Command("select_all", "Select &All", select_all, (Std.SelectAll,), "select-all", "Select every block",
            places={"edit": (2, 0)}),
    Command("rename", "Re&name", rename, ("F2",), "rename", "Rename the selected block",
            enabled=one_selected_unlocked, places={"edit": (2, 1), "block": (0, 0)}),
    Command("add_block", "Add &Block…\tTab", _view("open_quick_search"), (), "add-block",
            "Search for a block and add it at the cursor (Tab on the canvas)",
            tooltip="Add a block (Tab on the canvas)", enabled=unlocked,
            places={"edit": (2, 2), "toolbar": (2, 0)}),
    Command("replace_block", "Replace &With", replace_block, tip="Turn the block into another type of its kind, "
            "keeping its wires and the settings both types have", enabled=one_selected_unlocked,
            places={"block": (0, 2)}, takes_args=True, submenu=replace_choices),
    Command("remove_connection", "Remove connection",
            lambda ed, edge: ed.do(Disconnect(edge), "Remove connection"), places={"wire": (0, 0)}, takes_args=True),
    # View
    Command("zoom_in", "Zoom &In", _view("zoom_in"), (Std.ZoomIn, "Ctrl+="), "zoom-in", "Zoom in",
            places={"view": (0, 0), "toolbar": (3, 1)}),
    Command("zoom_out", "Zoom &Out", _view("zoom_out"), (Std.ZoomOut,), "zoom-out", "Zoom out",
            places={"view": (0, 1), "toolbar": (3, 0)}),
    Command("fit", "&Fit to Window", _view("fit_all"), ("Ctrl+0", "Home"), "fit", "Show the whole network",
            places={"view": (0, 2), "toolbar": (3, 2)}),
    Command("auto_layout", "&Auto-layout", auto_layout, ("Ctrl+L",), "auto-layout",
            "Arrange the blocks in layers from left to right", places={"view": (1, 0), "toolbar": (3, 3)}),
    Command("show_lesson", "Show &Lesson", _window(lambda w: w.show_lesson()), (), None,
            "Show the project's lesson: what to do and what to look for",
            enabled=lambda ed: bool(lesson_of(ed.document.project)), places={"view": (2, 0)}, window=True),
    *[Command(f"theme_{name}", name.capitalize(), _window(lambda w, name=name: w.set_theme(name)),
              checked=lambda ed, name=name: ed.window.settings.value("theme", "system") == name, radio="theme",
              places={"theme": (0, i)}, window=True) for i, name in enumerate(theme.THEMES)],
    # Training
    Command("train", "&Train", _window(lambda w: w.start_training()), ("F5",), Pixmap.SP_MediaPlay,
            "Train the network on the project's data", enabled=idle,
            places={"training": (0, 0), "toolbar": (4, 0)}, window=True),
    Command("pause", lambda ed: "&Resume" if ed.window.training.state == "paused" else "&Pause",
            _window(lambda w: w.training.toggle_pause()), ("F6",), Pixmap.SP_MediaPause,
            "Pause or resume training", enabled=running, places={"training": (0, 1), "toolbar": (4, 1)},
            window=True),
    Command("step_batch", "Step One &Batch", _window(lambda w: w.training.step()), ("F10",),
            Pixmap.SP_MediaSkipForward, "While paused: train exactly one batch, then pause again", enabled=paused,
            places={"training": (1, 0), "toolbar": (4, 3)}, window=True),
    Command("step_epoch", "Step One &Epoch", _window(lambda w: w.training.step_epoch()), ("Ctrl+F10",),
            Pixmap.SP_MediaSeekForward, "While paused: train the rest of this epoch and validate it, then pause again",
            enabled=paused, places={"training": (1, 1)}, window=True),
    Command("stop", "&Stop Training", _window(lambda w: w.training.stop()), ("Shift+F5",), Pixmap.SP_MediaStop,
            "Stop training after the current step and keep a checkpoint", enabled=running,
            places={"training": (0, 2), "toolbar": (4, 2)}, window=True),
    # Help
    Command("reference", "Block &Reference", _window(lambda w: w.show_block_reference()), (Std.HelpContents,),
            "book", "What every block does and what its parameters mean",
            places={"help": (0, 0), "toolbar": (5, 0)}, window=True),
    Command("system_info", "&System Information…", _window(lambda w: w.show_system_info()), (), None,
            "Versions, the Qt platform, where settings and autosaves live, and a self-check",
            places={"help": (1, 0)}, window=True),
    Command("about", "&About Layerloom", _window(lambda w: w.show_about()), (), "info",
            places={"help": (1, 1)}, role=QAction.MenuRole.AboutRole, window=True),
    Command("about_qt", "About &Qt", lambda ed: QApplication.aboutQt(), places={"help": (1, 2)},
            role=QAction.MenuRole.AboutQtRole, window=True),
    # Run with arguments (the palette, the quick search, drops, the inspector, the rename field)
    Command("place_block", "Add Block", place_block, takes_args=True),
    Command("set_params", "Change Parameters", lambda ed, node_id, values: ed.do(SetParams(node_id, dict(values))),
            takes_args=True),
    Command("set_name", "Rename Block", lambda ed, node_id, name: ed.do(Rename(node_id, name), f"Rename to {name}"),
            takes_args=True),
    Command("set_frozen", "Freeze", set_frozen, takes_args=True),
    Command("set_settings", "Change Settings",
            lambda ed, section, values, text=None: ed.do(SetSettings(section, dict(values)), text), takes_args=True),
]
