"""Help → Block Reference: every block's help text, parameters and ports, searchable (the search looks
into names, summaries and the help texts themselves)."""

from __future__ import annotations

import html

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QSplitter,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from layerloom.core.blocks import all_specs, get_spec
from layerloom.core.blocks.spec import BlockSpec
from layerloom.gui import theme

TYPE_ROLE = Qt.ItemDataRole.UserRole + 1


def _fmt_default(value) -> str:
    if value is None:
        return "none (automatic)"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(str(v) for v in value) + "]"
    if isinstance(value, str):
        return repr(value)
    return str(value)


def _range(p) -> str:
    if p.choices:
        return " | ".join(repr(c) for c in p.choices)
    lo = "" if p.min is None else f"≥ {p.min:g}"
    hi = "" if p.max is None else (f"< {p.max:g}" if p.exclusive_max else f"≤ {p.max:g}")
    return ", ".join(x for x in (lo, hi) if x) or "–"


def block_html(spec: BlockSpec) -> str:
    """The reference page of one block."""
    from layerloom.gui.colors import category_color

    color = category_color(spec.category).name()
    out = [f"<h2 style='margin-bottom:2px'>{html.escape(spec.type_id)}</h2>",
           f"<p><span style='color:{color}'>&#9632;</span> {html.escape(spec.category)}</p>",
           f"<p><i>{html.escape(spec.summary)}</i></p>"]
    out += [f"<p>{html.escape(p)}</p>" for p in spec.help.split("\n\n") if p.strip()]
    if spec.params:
        out.append("<h3>Parameters</h3><table cellspacing='0' cellpadding='4' width='100%'>")
        out.append("<tr><th align='left'>name</th><th align='left'>default</th><th align='left'>allowed</th>"
                   "<th align='left'>meaning</th></tr>")
        for p in spec.params:
            out.append(f"<tr><td><b>{html.escape(p.name)}</b></td><td>{html.escape(_fmt_default(p.default))}</td>"
                       f"<td>{html.escape(_range(p))}</td><td>{html.escape(p.help)}</td></tr>")
        out.append("</table>")
    else:
        out.append("<p><i>This block has no parameters.</i></p>")
    ins = ", ".join(p.name + (" (several)" if p.multi else "") for p in spec.inputs) or "none"
    outs = ", ".join(p.name for p in spec.outputs) or "none"
    out.append(f"<h3>Ports</h3><p>inputs: {html.escape(ins)}<br>outputs: {html.escape(outs)}</p>")
    return "".join(out)


def matches(spec: BlockSpec, query: str) -> bool:
    q = query.strip().lower()
    if not q:
        return True
    words = [spec.type_id, spec.category, spec.summary, spec.help, *(p.name + " " + p.help for p in spec.params)]
    text = " ".join(words)
    return all(word in text.lower() for word in q.split())


class BlockReference(QDialog):
    """A searchable list of blocks beside the selected block's reference page."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Block Reference")
        self.resize(900, 620)
        self.search = QLineEdit(self)
        self.search.setObjectName("searchField")
        self.search.setPlaceholderText("Search names and help texts (e.g. stride, gates, skip)")
        self.search.setClearButtonEnabled(True)
        self.list = QListWidget(self)
        self.page = QTextBrowser(self)
        self.page.setOpenExternalLinks(True)
        self.page.document().setDocumentMargin(14)
        for spec in all_specs():
            item = QListWidgetItem(theme.category_icon(spec.category), spec.type_id)
            item.setData(TYPE_ROLE, spec.type_id)
            item.setToolTip(spec.summary)
            self.list.addItem(item)
        left = QWidget(self)
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addWidget(self.search)
        ll.addWidget(self.list, 1)
        splitter = QSplitter(self)
        splitter.addWidget(left)
        splitter.addWidget(self.page)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([240, 660])
        layout = QHBoxLayout(self)
        layout.addWidget(splitter)
        self.search.textChanged.connect(self.set_filter)
        self.list.currentItemChanged.connect(self._show)
        self.list.setCurrentRow(0)

    def set_filter(self, text: str) -> None:
        first = None
        for i in range(self.list.count()):
            item = self.list.item(i)
            hidden = not matches(get_spec(item.data(TYPE_ROLE)), text)
            item.setHidden(hidden)
            if not hidden and first is None:
                first = item
        current = self.list.currentItem()
        if first is not None and (current is None or current.isHidden()):
            self.list.setCurrentItem(first)

    def visible(self) -> list[str]:
        return [self.list.item(i).data(TYPE_ROLE) for i in range(self.list.count()) if not self.list.item(i).isHidden()]

    def show_block(self, type_id: str) -> None:
        for i in range(self.list.count()):
            item = self.list.item(i)
            if item.data(TYPE_ROLE) == type_id:
                item.setHidden(False)
                self.list.setCurrentItem(item)
                return

    def _show(self, item, _previous=None) -> None:
        if item is not None:
            self.page.setHtml(block_html(get_spec(item.data(TYPE_ROLE))))
