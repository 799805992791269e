"""The inspector: the selected block's name, what it outputs and costs, a form generated from its
parameter schema, and its help text.

It shows the editor's selection and changes blocks through the editor's commands (`set_params`,
`set_name`, `set_frozen`), so every change is undoable, and consecutive changes of one parameter merge into
one undo step. A change the document refuses is shown with the reason it gives next to the field it came
from, and changes nothing. Blocks with weights get a "Frozen" check box (for transfer learning); with
several blocks selected, the overview offers it for all of them at once. The fields of the parameter form
are in param_editors.py.
"""

from __future__ import annotations

import html
import re
from typing import Any

from PySide6.QtCore import QSignalBlocker, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QFrame,
    QLabel,
    QLineEdit,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from layerloom.core.blocks import fmt_shape, get_spec
from layerloom.core.inference import parameter_memory
from layerloom.core.resources import size_text
from layerloom.core.text_preview import preview
from layerloom.gui import theme
from layerloom.gui.colors import ERROR_COLOR, WAITING_COLOR, WARNING_COLOR, category_color
from layerloom.gui.param_editors import ListEditor, ParamEditor, make_editor

FROZEN_TEXT = "Frozen (keeps its weights while training)"
FROZEN_TIP = ("A frozen block keeps its weights while the rest of the network trains (transfer learning:\n"
              "freeze a pretrained base, train a new head). Only blocks with parameters can be frozen.")


def human(n: int | float) -> str:
    """A count with thousands separators: 61706 → "61,706", 1.2e9 → "1,200,000,000" (human_macs shortens)."""
    return f"{int(n):,}"


def human_macs(n: int | float) -> str:
    """A count of operations, shortened: 1.2e9 → "1.2 G", 417600 → "418 K", 999 → "999"."""
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{int(n)}"


# --- the inspector --------------------------------------------------------------------------------


class Inspector(QWidget):
    """Shows and edits the block selected on the canvas."""

    reference_requested = Signal(str)  # "More in the block reference" for this type id

    def __init__(self, editor, parent=None):
        super().__init__(parent)
        self.editor = editor
        self.document = document = editor.document
        self.node_id: str | None = None
        self._selection: list[str] = []
        self.editors: dict[str, ParamEditor] = {}
        self.errors: dict[str, QLabel] = {}

        self.scroll = QScrollArea(self)
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(self.scroll)
        self._body: QWidget | None = None
        self._stats: dict[str, QLabel] = {}
        self.name_edit: QLineEdit | None = None
        self.name_error: QLabel | None = None
        self.status_label: QLabel | None = None
        self.frozen_check: QCheckBox | None = None
        self.frozen_error: QLabel | None = None

        document.graph_changed.connect(self._on_graph_event)
        document.inferred.connect(self._on_inferred)
        document.project_replaced.connect(lambda: self.set_selection([]))
        editor.selection_changed.connect(self.set_selection)
        self.set_selection([])

    # --- selection ----------------------------------------------------------------------------------

    def set_selection(self, ids: list[str]) -> None:
        ids = [i for i in ids if i in self.document.graph]
        self._selection = list(ids)
        self.node_id = ids[0] if len(ids) == 1 else None
        self._rebuild()

    def _new_body(self) -> QVBoxLayout:
        self.editors.clear()
        self.errors.clear()
        self._stats.clear()
        self.name_edit = self.name_error = self.status_label = None
        self.frozen_check = self.frozen_error = None
        body = QWidget()
        body.setAutoFillBackground(False)
        layout = QVBoxLayout(body)
        layout.setContentsMargins(12, 10, 12, 12)
        layout.setSpacing(8)
        self._building = body  # keeps the parentless widget alive while it is filled
        return layout

    def _rebuild(self) -> None:
        layout = self._new_body()
        if self.node_id is None:
            self._build_overview(layout)
        else:
            self._build_block(layout)
        layout.addStretch(1)
        # Swap in the finished form (filled before it is shown, so every row shows at once).
        old = self.scroll.takeWidget()
        if old is not None:
            old.deleteLater()
        body, self._building = self._building, None
        self.scroll.setWidget(body)
        body.show()  # a widget set on a visible scroll area stays hidden until shown
        self._body = body

    def _build_overview(self, layout: QVBoxLayout) -> None:
        graph = self.document.graph
        report = self.document.report
        title = QLabel()
        title.setTextFormat(Qt.TextFormat.PlainText)
        f = title.font()
        f.setPointSizeF(f.pointSizeF() * 1.25)
        f.setBold(True)
        title.setFont(f)
        if self._selection:
            title.setText(f"{len(self._selection)} blocks selected")
            params = sum(report[i].param_count for i in self._selection if report and i in report)
            detail = f"{human(params)} parameters in the selection."
        else:
            title.setText(preview(self.document.title, 200, 2))
            total = report.total_params if report else 0
            detail = (f"{len(graph)} blocks, {len(graph.edges)} connections, {human(total)} parameters "
                      f"({size_text(parameter_memory(total))} of memory).\n\n"
                      "Select a block to see what it outputs and to edit its parameters.")
        title.setWordWrap(True)
        layout.addWidget(title)
        text = QLabel(detail)
        text.setObjectName("subtle")
        text.setWordWrap(True)
        layout.addWidget(text)
        if self._selection:
            self._add_frozen_check(layout)
        description = self.document.project.meta.get("description") if not self._selection else None
        if description:  # a preview: laying out megabytes of wrapped text froze the window for minutes
            d = QLabel(preview(str(description)))
            d.setTextFormat(Qt.TextFormat.PlainText)
            d.setWordWrap(True)
            layout.addWidget(d)

    def _build_block(self, layout: QVBoxLayout) -> None:
        node = self.document.graph.node(self.node_id)
        spec = get_spec(node.type)

        header = QFrame()
        header.setObjectName("inspectorHeader")
        hl = QVBoxLayout(header)
        hl.setContentsMargins(0, 0, 0, 8)
        hl.setSpacing(6)
        kind = QLabel()
        kind.setTextFormat(Qt.TextFormat.RichText)
        color = category_color(spec.category).name()
        kind.setText(f"<span style='color:{color}; font-size:large'>&#9632;</span>&nbsp; "
                     f"<b>{html.escape(spec.type_id)}</b> &nbsp;"
                     f"<span style='color:{self._subtle()}'>{html.escape(spec.category)}</span>")
        hl.addWidget(kind)
        self.name_edit = QLineEdit(node.name)
        self.name_edit.setObjectName("nameEdit")
        self.name_edit.setToolTip("The block's name: it becomes the layer's name in the model and in exported code.")
        f = self.name_edit.font()
        f.setPointSizeF(f.pointSizeF() * 1.15)
        f.setBold(True)
        self.name_edit.setFont(f)
        self.name_edit.textEdited.connect(self._name_edited)
        self.name_edit.editingFinished.connect(self._name_finished)
        hl.addWidget(self.name_edit)
        self.name_error = self._error_label()
        hl.addWidget(self.name_error)
        summary = QLabel(spec.summary)
        summary.setWordWrap(True)
        summary.setObjectName("subtle")
        hl.addWidget(summary)
        layout.addWidget(header)

        stats = QFormLayout()
        stats.setHorizontalSpacing(14)
        stats.setVerticalSpacing(3)
        for key, label in (("input", "Input"), ("output", "Output"), ("params", "Parameters"), ("memory", "Memory"),
                           ("macs", "MACs")):
            value = QLabel("–")
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            name = QLabel(label)
            name.setObjectName("subtle")
            stats.addRow(name, value)
            self._stats[key] = value
        self._stats["macs"].setToolTip("Multiply-accumulate operations per sample")
        self._stats["memory"].setToolTip("Memory the block's parameters take (float32)")
        layout.addLayout(stats)
        self.status_label = QLabel()
        self.status_label.setWordWrap(True)
        self.status_label.setTextFormat(Qt.TextFormat.RichText)
        self.status_label.setVisible(False)
        layout.addWidget(self.status_label)
        self._add_frozen_check(layout)

        if spec.params:
            layout.addWidget(self._section("Parameters"))
            form = QFormLayout()
            form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
            form.setHorizontalSpacing(10)
            form.setVerticalSpacing(4)
            for pspec in spec.params:
                editor = make_editor(pspec)
                editor.setObjectName(f"param_{pspec.name}")
                editor.set_value(node.params.get(pspec.name, pspec.default))
                editor.committed.connect(lambda value, name=pspec.name: self.commit(name, value))
                if isinstance(editor, ListEditor):
                    editor.invalid.connect(lambda msg, name=pspec.name: self._show_error(name, msg))
                label = QLabel(pspec.name)
                label.setToolTip(pspec.help)
                error = self._error_label()
                cell = QWidget()
                cl = QVBoxLayout(cell)
                cl.setContentsMargins(0, 0, 0, 0)
                cl.setSpacing(2)
                cl.addWidget(editor)
                cl.addWidget(error)
                form.addRow(label, cell)
                self.editors[pspec.name] = editor
                self.errors[pspec.name] = error
            layout.addLayout(form)

        layout.addWidget(self._section("About this block"))
        help_label = QLabel()
        help_label.setTextFormat(Qt.TextFormat.RichText)
        help_label.setWordWrap(True)
        help_label.setOpenExternalLinks(False)
        help_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        paragraphs = "".join(f"<p>{html.escape(p)}</p>" for p in spec.help.split("\n\n") if p.strip())
        params = "".join(f"<p><b>{html.escape(p.name)}</b> — {html.escape(p.help)}</p>" for p in spec.params)
        help_label.setText(paragraphs + params + f"<p><a href='ref:{spec.type_id}'>Open in the block reference</a></p>")
        help_label.linkActivated.connect(lambda link: self.reference_requested.emit(link.split(":", 1)[1]))
        self.help_label = help_label
        layout.addWidget(help_label)
        self._update_stats()

    def _add_frozen_check(self, layout: QVBoxLayout) -> None:
        """The "Frozen" check box: for the shown block, or for every selected block that has weights."""
        self.frozen_check = QCheckBox(FROZEN_TEXT)
        self.frozen_check.setObjectName("frozenCheck")
        self.frozen_check.setToolTip(FROZEN_TIP)
        self.frozen_check.checkStateChanged.connect(self._frozen_state_changed)
        self.frozen_error = self._error_label()
        layout.addWidget(self.frozen_check)
        layout.addWidget(self.frozen_error)
        self._sync_frozen()

    def _section(self, text: str) -> QLabel:
        label = QLabel(text.upper())
        label.setObjectName("sectionTitle")
        return label

    def _error_label(self) -> QLabel:
        label = QLabel()
        label.setObjectName("fieldError")
        label.setWordWrap(True)
        label.setVisible(False)
        return label

    def _subtle(self) -> str:
        return theme.colors(theme.is_dark(self.palette()))["subtle_text"]

    # --- edits --------------------------------------------------------------------------------------

    def commit(self, name: str, value: Any) -> bool:
        """Set parameter `name` of the shown block through the undo stack; a refusal is shown by the field."""
        if self.node_id is None:
            return False
        node_id = self.node_id
        if self.document.graph.node(node_id).params.get(name) == value:
            self._show_error(name, "")
            return True
        outcome = self.editor.run("set_params", node_id=node_id, values={name: value})
        self._show_error(name, outcome.reason)
        if not outcome:
            editor = self.editors.get(name)
            if editor is not None and not isinstance(editor, ListEditor):
                editor.set_value(self.document.graph.node(node_id).params.get(name))
        return bool(outcome)

    def _show_error(self, name: str, message: str) -> None:
        label = self.errors.get(name)
        if label is None:
            return
        label.setText(_strip_block(message))
        label.setToolTip(message)
        label.setVisible(bool(message))

    def field_error(self, name: str) -> str:
        """The message shown next to a parameter ("" when none)."""
        label = self.errors.get(name)
        return label.text() if label is not None and not label.isHidden() else ""

    def freezable_ids(self) -> list[str]:
        """The selected blocks the Frozen box applies to: those with parameters in the latest inference
        (and any already frozen, so a block that lost its weights to an error can still be unfrozen)."""
        graph, report = self.document.graph, self.document.report
        ids = []
        for nid in self._selection:
            if nid not in graph:
                continue
            r = report.get(nid) if report is not None else None
            if graph.node(nid).frozen or (r is not None and r.param_count > 0):
                ids.append(nid)
        return ids

    def _sync_frozen(self) -> None:
        """Show the Frozen box only where it applies, checked as the graph says (partly, for a mixed selection)."""
        check = self.frozen_check
        if check is None:
            return
        ids = self.freezable_ids()
        states = [self.document.graph.node(i).frozen for i in ids]
        if ids and all(states):
            state = Qt.CheckState.Checked
        elif any(states):
            state = Qt.CheckState.PartiallyChecked
        else:
            state = Qt.CheckState.Unchecked
        with QSignalBlocker(check):
            check.setTristate(state == Qt.CheckState.PartiallyChecked)
            check.setCheckState(state)
        check.setVisible(bool(ids))
        if self.node_id is None and ids:
            n = len(ids)
            check.setToolTip(f"{FROZEN_TIP}\n\nApplies to the {n} selected block{'s' if n != 1 else ''} "
                             "that have parameters.")
        if not ids and self.frozen_error is not None:
            self.frozen_error.setVisible(False)

    def _frozen_state_changed(self, state: Qt.CheckState) -> None:
        # (not `toggled`: a mixed selection's box is "checked" already, partly, so Partial → Checked is no toggle)
        if state != Qt.CheckState.PartiallyChecked:
            self.set_frozen(state == Qt.CheckState.Checked)

    def set_frozen(self, frozen: bool) -> bool:
        """Freeze (or unfreeze) the selected blocks that have weights, as one undo step."""
        graph = self.document.graph
        ids = [i for i in self.freezable_ids() if graph.node(i).frozen != frozen]
        if not ids:
            self._sync_frozen()
            return True
        outcome = self.editor.run("set_frozen", node_ids=ids, frozen=frozen)
        if self.frozen_error is not None:
            self.frozen_error.setText(_strip_block(outcome.reason))
            self.frozen_error.setToolTip(outcome.reason)
            self.frozen_error.setVisible(not outcome)
        if not outcome:
            self._sync_frozen()  # back to what the graph says
        return bool(outcome)

    def _name_edited(self, text: str) -> None:
        problem = self.document.graph.check_name(text, self.node_id) if self.node_id else None
        self.name_error.setText(problem or "")
        self.name_error.setVisible(bool(problem))

    def _name_finished(self) -> None:
        if self.node_id is None or self.name_edit is None:
            return
        name = self.name_edit.text().strip()
        node = self.document.graph.node(self.node_id)
        if name == node.name:
            self.name_error.setVisible(False)
            return
        self.rename(name)

    def rename(self, name: str) -> bool:
        """Rename the shown block; a refused name shows the document's reason under the name field."""
        outcome = self.editor.run("set_name", node_id=self.node_id, name=name)
        if self.name_error is not None:
            self.name_error.setText(outcome.reason)
            self.name_error.setVisible(not outcome)
        return bool(outcome)

    # --- model changes ------------------------------------------------------------------------------

    def _on_graph_event(self, event) -> None:
        if event.kind == "node_removed" and event.node in self._selection:
            self.set_selection([i for i in self._selection if i != event.node])
            return
        if event.kind == "frozen_changed":
            if event.node in self._selection:
                self._sync_frozen()
            return
        if self.node_id is None or event.node != self.node_id:
            return
        node = self.document.graph.node(self.node_id)
        if event.kind == "params_changed":
            for name in event.new:
                editor = self.editors.get(name)
                if editor is not None:
                    editor.set_value(node.params[name])
                    self._show_error(name, "")
        elif event.kind == "node_renamed" and self.name_edit is not None:
            if self.name_edit.text() != node.name:
                self.name_edit.setText(node.name)
            self.name_error.setVisible(False)

    def _on_inferred(self, _report) -> None:
        if self.node_id is not None:
            self._update_stats()
            self._sync_frozen()
        elif not self._selection:
            self._rebuild()
        else:
            self._sync_frozen()

    def _update_stats(self) -> None:
        report = self.document.report
        if not self._stats or report is None or self.node_id not in report:
            return
        r = report[self.node_id]
        graph = self.document.graph
        inputs = []
        for e in graph.in_edges(self.node_id):
            src = report.get(e.src)
            inputs.append(fmt_shape(src.output_shape) if src is not None and src.output is not None else "?")
        self._stats["input"].setText(", ".join(inputs) if inputs else "–")
        self._stats["output"].setText(fmt_shape(r.output_shape) if r.output is not None else "–")
        self._stats["params"].setText(human(r.param_count) if r.ok else "–")
        self._stats["memory"].setText(size_text(parameter_memory(r.param_count)) if r.ok else "–")
        self._stats["macs"].setText(human_macs(r.macs) if r.ok else "–")
        lines = []
        if r.error:
            lines.append(_chip(ERROR_COLOR, "&#9679;", html.escape(r.error)))
        elif r.status == "waiting":
            lines.append(_chip(WAITING_COLOR, "&#9679;",
                               f"Waiting for {html.escape(r.waiting_on or 'an upstream block')} to be fixed"))
        lines += [_chip(WARNING_COLOR, "&#9650;", html.escape(w)) for w in r.warnings]
        self.status_label.setText("<br>".join(lines))
        self.status_label.setVisible(bool(lines))

    def changeEvent(self, event) -> None:
        if event.type() in (event.Type.PaletteChange, event.Type.ApplicationPaletteChange) and self._body:
            self._rebuild()
        super().changeEvent(event)


def _chip(color: str, glyph: str, text: str) -> str:
    return f"<span style='color:{color}'>{glyph}</span>&nbsp;{text}"


def _strip_block(message: str) -> str:
    """Messages name the block ("Conv2d 'conv1': kernel_size …"); beside its own field the name is noise."""
    return re.sub(r"^\w+ '[^']*': ", "", message, count=1) if message else ""
