"""Copy and paste of blocks through the system clipboard, as JSON, so it works between two windows.

    payload = copy_payload(graph, ["n2", "n3"])          # {"format": "layerloom-clipboard", nodes, edges}
    QApplication.clipboard().setMimeData(to_mime(payload))
    edit, new_ids = paste_edit(graph, from_mime(mime), offset=(40, 40))
    document.do(edit)                                    # one undo step

Nodes and edges use the project file format; only the edges between copied blocks travel. Pasted
blocks get new ids and, where a name is taken, a fresh one.
"""

from __future__ import annotations

import atexit
import copy
import json
import re
from typing import Any

from PySide6.QtCore import QCoreApplication, QMimeData
from PySide6.QtGui import QGuiApplication

from layerloom.core.blocks import get_spec, has_spec
from layerloom.core.edits import AddNode, Connect, Macro, SetFrozen
from layerloom.core.graph import Graph

CLIPBOARD_MIME = "application/x-layerloom-blocks"
FORMAT = "layerloom-clipboard"


class PasteError(ValueError):
    """Clipboard content that cannot be pasted, in plain words."""


def copy_payload(graph: Graph, node_ids: list[str]) -> dict[str, Any]:
    """The given blocks (in graph order) and the wires between them, as plain data."""
    wanted = set(node_ids)
    data = graph.to_dict()
    nodes = [n for n in data["nodes"] if n["id"] in wanted]
    edges = [e for e in data["edges"] if e["src"]["node"] in wanted and e["dst"]["node"] in wanted]
    return {"format": FORMAT, "nodes": nodes, "edges": edges}


def to_mime(payload: dict[str, Any]) -> QMimeData:
    text = json.dumps(payload, ensure_ascii=False)
    mime = QMimeData()
    mime.setData(CLIPBOARD_MIME, text.encode("utf-8"))
    mime.setText(text)
    return mime


def put_on_clipboard(payload: dict[str, Any]) -> None:
    """Put blocks on the system clipboard (the Layerloom MIME type and the same JSON as text)."""
    QGuiApplication.clipboard().setMimeData(to_mime(payload))
    _hook_exit()


_exit_hooked = False


def _hook_exit() -> None:
    global _exit_hooked
    if _exit_hooked:
        return
    _exit_hooked = True
    atexit.register(release_clipboard)
    app = QCoreApplication.instance()
    if app is not None:
        app.aboutToQuit.connect(release_clipboard)


def release_clipboard() -> None:
    """Replace our QMimeData on the clipboard by a plain-text copy that Qt owns (paste reads it too).

    A QMimeData made in Python and left on the clipboard is deleted by Qt's clipboard after Python
    has shut down, which crashes the process on exit (PySide6 6.11, offscreen platform: every test
    run). Called on quit and at exit."""
    if QGuiApplication.instance() is None:
        return
    board = QGuiApplication.clipboard()
    mime = board.mimeData()
    if mime is not None and mime.hasFormat(CLIPBOARD_MIME):
        board.setText(mime.text())


def from_mime(mime: QMimeData | None) -> dict[str, Any] | None:
    """The payload on the clipboard, or None when it holds no Layerloom blocks."""
    if mime is None:
        return None
    if mime.hasFormat(CLIPBOARD_MIME):
        raw = bytes(mime.data(CLIPBOARD_MIME).data()).decode("utf-8", "replace")
    elif mime.hasText():
        raw = mime.text()
    else:
        return None
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        return None
    return data


def fresh_ids(graph: Graph, count: int) -> list[str]:
    """`count` node ids that the graph does not use (n<k>, after the highest number in use)."""
    top = 0
    for node in graph:
        m = re.fullmatch(r"n(\d+)", node.id)
        if m:
            top = max(top, int(m.group(1)))
    return [f"n{top + 1 + i}" for i in range(count)]


def _fresh_name(graph: Graph, wanted: str, base: str, taken: set[str]) -> str:
    if isinstance(wanted, str) and wanted not in taken and graph.check_name(wanted) is None:
        return wanted
    i = 1
    while f"{base}_{i}" in taken or graph.check_name(f"{base}_{i}") is not None:
        i += 1
    return f"{base}_{i}"


def paste_edit(graph: Graph, payload: dict[str, Any], offset: tuple[float, float] = (40.0, 40.0),
               label: str | None = None) -> tuple[Macro, list[str]]:
    """A Macro adding the payload's blocks (moved by `offset`) and their wires; and the new ids.

    PasteError when the payload holds nothing that can be pasted."""
    nodes = payload.get("nodes") if isinstance(payload, dict) else None
    if not isinstance(nodes, list) or not nodes:
        raise PasteError("the clipboard holds no blocks")
    usable = [n for n in nodes if isinstance(n, dict) and isinstance(n.get("type"), str) and has_spec(n["type"])]
    if not usable:
        kinds = ", ".join(sorted({str(n.get("type")) for n in nodes if isinstance(n, dict)})) or "nothing"
        raise PasteError(f"the clipboard holds no block this version knows ({kinds})")
    ids = fresh_ids(graph, len(usable))
    taken = {n.name for n in graph}
    mapping: dict[str, str] = {}
    edits: list = []
    dx, dy = offset
    for raw, new_id in zip(usable, ids):
        spec = get_spec(raw["type"])
        name = _fresh_name(graph, raw.get("name"), spec.name_base, taken)
        taken.add(name)
        params = raw.get("params") if isinstance(raw.get("params"), dict) else {}
        params = {k: copy.deepcopy(v) for k, v in params.items() if k in spec.param_map}
        pos = (raw.get("ui") or {}).get("pos") if isinstance(raw.get("ui"), dict) else None
        try:
            x, y = float(pos[0]), float(pos[1])
        except (TypeError, ValueError, IndexError):
            x, y = 0.0, 0.0
        edits.append(AddNode(raw["type"], params=params, name=name, pos=(x + dx, y + dy), node_id=new_id))
        if "id" in raw:
            mapping[str(raw["id"])] = new_id
    for raw in payload.get("edges") or []:
        try:
            src, dst = raw["src"], raw["dst"]
            s, d = mapping[str(src["node"])], mapping[str(dst["node"])]
            edits.append(Connect((s, str(src["port"])), (d, str(dst["port"]))))
        except (KeyError, TypeError):
            continue
    frozen = [new_id for raw, new_id in zip(usable, ids) if raw.get("frozen") is True]
    if frozen:  # a frozen block stays frozen: its weights are what it was copied for
        edits.append(SetFrozen(frozen, True))
    n = len(usable)
    text = label or (f"Paste {n} blocks" if n > 1 else f"Paste {usable[0]['type']}")
    return Macro(edits, label=text), ids
