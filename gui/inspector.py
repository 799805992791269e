"""The inspector: the selected block's name, what it outputs and costs, a form generated from its
parameter schema, and its help text.

Every change goes through `Document.do(SetParams(...))`, so it is undoable, and consecutive changes of
one parameter merge into one undo step. A value the block refuses is shown with the reason next to its
field and changes nothing. Blocks with weights get a "Frozen" check box (`SetFrozen`, for transfer
learning); with several blocks selected, the overview offers it for all of them at once.
"""

from __future__ import annotations

import html
import re
from typing import Any

from PySide6.QtCore import QSignalBlocker, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from layerloom.core.blocks import fmt_shape, get_spec
from layerloom.core.blocks.spec import ParamSpec
from layerloom.core.edits import Rename, SetFrozen, SetParams
from layerloom.core.inference import parameter_memory
from layerloom.core.resources import size_text
from layerloom.core.text_preview import preview
from layerloom.gui import theme
from layerloom.gui.colors import ERROR_COLOR, WAITING_COLOR, WARNING_COLOR, category_color

INT_LIMIT = 2**31 - 1
FROZEN_TEXT = "Frozen (keeps its weights while training)"
FROZEN_TIP = ("A frozen block keeps its weights while the rest of the network trains (transfer learning:\n"
              "freeze a pretrained base, train a new head). Only blocks with parameters can be frozen.")


def human(n: int | float) -> str:
    """61706 → "61,706"; 1.2e9 → "1.2 G" (for MACs)."""
    return f"{int(n):,}"


def human_macs(n: int | float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{int(n)}"


# --- editors --------------------------------------------------------------------------------------


class ParamEditor(QWidget):
    """One parameter's field. `committed(value)` when the user changes it; `set_value` does not emit."""

    committed = Signal(object)

    def __init__(self, spec: ParamSpec, parent=None):
        super().__init__(parent)
        self.spec = spec
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        self.setToolTip(spec.help)

    def set_value(self, value: Any) -> None:
        raise NotImplementedError

    def value(self) -> Any:
        raise NotImplementedError

    def _emit(self, *_args) -> None:
        self.committed.emit(self.value())


def _int_spin(spec: ParamSpec, parent: QWidget) -> QSpinBox:
    spin = QSpinBox(parent)
    lo = int(spec.min) if spec.min is not None else -INT_LIMIT
    hi = int(spec.max) if spec.max is not None else INT_LIMIT
    spin.setRange(lo, hi)
    spin.setKeyboardTracking(False)  # commit on Enter / focus out / arrows, not on each digit
    spin.setAccelerated(True)
    spin.setMinimumWidth(64)
    spin.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
    return spin


class IntEditor(ParamEditor):
    def __init__(self, spec, parent=None):
        super().__init__(spec, parent)
        self.spin = _int_spin(spec, self)
        self.layout().addWidget(self.spin)
        self.spin.valueChanged.connect(self._emit)

    def set_value(self, value) -> None:
        with QSignalBlocker(self.spin):
            self.spin.setValue(int(value))

    def value(self) -> int:
        return self.spin.value()


class FloatEditor(ParamEditor):
    def __init__(self, spec, parent=None):
        super().__init__(spec, parent)
        self.spin = QDoubleSpinBox(self)
        self.spin.setDecimals(4)
        lo = spec.min if spec.min is not None else -1e9
        hi = spec.max if spec.max is not None else 1e9
        self.spin.setRange(lo, hi)
        self.spin.setSingleStep(0.05 if hi <= 1 else 0.1)
        self.spin.setKeyboardTracking(False)
        self.spin.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.layout().addWidget(self.spin)
        self.spin.valueChanged.connect(self._emit)

    def set_value(self, value) -> None:
        with QSignalBlocker(self.spin):
            self.spin.setValue(float(value))

    def value(self) -> float:
        return round(self.spin.value(), 6)


class ChoiceEditor(ParamEditor):
    def __init__(self, spec, parent=None):
        super().__init__(spec, parent)
        self.combo = QComboBox(self)
        for choice in spec.choices:
            self.combo.addItem(str(choice), choice)
        self.combo.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.layout().addWidget(self.combo)
        self.combo.currentIndexChanged.connect(self._emit)

    def set_value(self, value) -> None:
        with QSignalBlocker(self.combo):
            self.combo.setCurrentIndex(max(0, self.combo.findData(value)))

    def value(self):
        return self.combo.currentData()


class BoolEditor(ParamEditor):
    def __init__(self, spec, parent=None):
        super().__init__(spec, parent)
        self.check = QCheckBox(self)
        self.layout().addWidget(self.check)
        self.layout().addStretch(1)
        self.check.toggled.connect(self._emit)

    def set_value(self, value) -> None:
        with QSignalBlocker(self.check):
            self.check.setChecked(bool(value))

    def value(self) -> bool:
        return self.check.isChecked()


class SizeEditor(ParamEditor):
    """A size: one number (the same along every dimension) or, unlinked, one per dimension ([h, w])."""

    AXES = ("H", "W", "D")

    def __init__(self, spec, parent=None):
        super().__init__(spec, parent)
        self.spins = [_int_spin(spec, self) for _ in range(max(1, spec.arity))]
        for i, spin in enumerate(self.spins):
            if spec.arity > 1:
                spin.setPrefix(f"{self.AXES[i]} ")
            self.layout().addWidget(spin)
            spin.valueChanged.connect(self._spin_changed)
        self.link = QToolButton(self)
        self.link.setCheckable(True)
        self.link.setChecked(True)
        self.link.setIcon(theme.icon("link"))
        self.link.setAutoRaise(True)
        self.link.setToolTip("Linked: the same size along every dimension (one number).\n"
                             "Unlink to set each dimension ([H, W]).")
        self.link.setVisible(spec.arity > 1)
        self.link.toggled.connect(self._link_toggled)
        self.layout().addWidget(self.link)
        self._update_visibility()

    @property
    def linked(self) -> bool:
        return len(self.spins) == 1 or self.link.isChecked()

    def _update_visibility(self) -> None:
        for spin in self.spins[1:]:
            spin.setVisible(not self.linked)
        if len(self.spins) > 1:
            self.spins[0].setPrefix("" if self.linked else f"{self.AXES[0]} ")

    def _spin_changed(self, *_args) -> None:
        self._emit()

    def _link_toggled(self, linked: bool) -> None:
        if linked:
            with QSignalBlocker(self):
                for spin in self.spins[1:]:
                    with QSignalBlocker(spin):
                        spin.setValue(self.spins[0].value())
        self._update_visibility()
        self._emit()

    def set_value(self, value) -> None:
        values = list(value) if isinstance(value, list | tuple) else [value] * len(self.spins)
        linked = not isinstance(value, list | tuple) or len(self.spins) == 1
        with QSignalBlocker(self.link):
            self.link.setChecked(linked)
        for spin, v in zip(self.spins, values):
            with QSignalBlocker(spin):
                spin.setValue(int(v))
        self._update_visibility()

    def value(self) -> int | list[int]:
        if self.linked:
            return self.spins[0].value()
        return [s.value() for s in self.spins]


class PaddingEditor(ParamEditor):
    """Padding: a size, or "same" / "valid"."""

    MODES = ("number", "same", "valid")

    def __init__(self, spec, parent=None):
        super().__init__(spec, parent)
        self.mode = QComboBox(self)
        self.mode.addItems(["zeros", "same", "valid"])
        self.mode.setItemData(0, "Add this many zeros on each side", Qt.ItemDataRole.ToolTipRole)
        self.mode.setItemData(1, "Keep the input's size (stride 1)", Qt.ItemDataRole.ToolTipRole)
        self.mode.setItemData(2, "No padding", Qt.ItemDataRole.ToolTipRole)
        self.size = SizeEditor(spec, self)
        self.layout().addWidget(self.mode)
        self.layout().addWidget(self.size, 1)
        self.mode.currentIndexChanged.connect(self._mode_changed)
        self.size.committed.connect(self._emit)

    def _mode_changed(self, index: int) -> None:
        self.size.setVisible(index == 0)
        self._emit()

    def set_value(self, value) -> None:
        index = self.MODES.index(value) if isinstance(value, str) and value in self.MODES else 0
        with QSignalBlocker(self.mode):
            self.mode.setCurrentIndex(index)
        self.size.setVisible(index == 0)
        if index == 0:
            self.size.set_value(value)

    def value(self):
        index = self.mode.currentIndex()
        return self.size.value() if index == 0 else self.MODES[index]


class OptionalSizeEditor(ParamEditor):
    """A size or nothing (None: the block's default, e.g. a pooling stride equal to its kernel)."""

    def __init__(self, spec, parent=None):
        super().__init__(spec, parent)
        self.auto = QCheckBox("auto", self)
        self.auto.setToolTip(f"Leave {spec.name} empty (None): {spec.help}")
        self.size = SizeEditor(spec, self)
        self.layout().addWidget(self.auto)
        self.layout().addWidget(self.size, 1)
        self.auto.toggled.connect(self._auto_toggled)
        self.size.committed.connect(self._emit)

    def _auto_toggled(self, auto: bool) -> None:
        self.size.setEnabled(not auto)
        self._emit()

    def set_value(self, value) -> None:
        with QSignalBlocker(self.auto):
            self.auto.setChecked(value is None)
        self.size.setEnabled(value is not None)
        if value is not None:
            self.size.set_value(value)

    def value(self):
        return None if self.auto.isChecked() else self.size.value()


class ListEditor(ParamEditor):
    """A list of whole numbers (a shape like 1, 28, 28 or dims like 0, 2, 1), typed as text."""

    invalid = Signal(str)  # text that is not a list of numbers

    def __init__(self, spec, parent=None):
        super().__init__(spec, parent)
        self.edit = QLineEdit(self)
        example = "1, 28, 28" if spec.kind == "shape" else "0, 2, 1"
        self.edit.setPlaceholderText(f"e.g. {example}")
        self.layout().addWidget(self.edit)
        self.edit.editingFinished.connect(self._finished)
        self._shown = ""

    @staticmethod
    def parse(text: str) -> list[int]:
        """`"1, 28, 28"`, `"[1, 28, 28]"`, `"1×28×28"` or `"1 28 28"` → [1, 28, 28]; ValueError otherwise."""
        parts = [p for p in re.split(r"[\s,×xX*]+", text.strip().strip("[]()").strip()) if p]
        if not parts:
            raise ValueError("needs at least one number")
        try:
            return [int(p) for p in parts]
        except ValueError:
            bad = next(p for p in parts if not re.fullmatch(r"[+-]?\d+", p))
            raise ValueError(f"{bad!r} is not a whole number; write the sizes like 1, 28, 28") from None

    def _finished(self) -> None:
        text = self.edit.text()
        if text == self._shown:
            return
        try:
            value = self.parse(text)
        except ValueError as err:
            self.invalid.emit(f"{self.spec.name} {err}")
            return
        self.committed.emit(value)

    def set_value(self, value) -> None:
        self._shown = ", ".join(str(v) for v in value) if isinstance(value, list | tuple) else str(value)
        with QSignalBlocker(self.edit):
            self.edit.setText(self._shown)

    def value(self):
        return self.parse(self.edit.text())


EDITORS = {
    "int": IntEditor,
    "float": FloatEditor,
    "choice": ChoiceEditor,
    "bool": BoolEditor,
    "size": SizeEditor,
    "padding": PaddingEditor,
    "optional_size": OptionalSizeEditor,
    "shape": ListEditor,
    "dims": ListEditor,
}


def make_editor(spec: ParamSpec, parent=None) -> ParamEditor:
    return EDITORS[spec.kind](spec, parent)


# --- the inspector --------------------------------------------------------------------------------


class Inspector(QWidget):
    """Shows and edits the block selected on the canvas."""

    reference_requested = Signal(str)  # "More in the block reference" for this type id

    def __init__(self, document, parent=None):
        super().__init__(parent)
        self.document = document
        self.node_id: str | None = None
        self._selection: list[str] = []
        self.editors: dict[str, ParamEditor] = {}
        self.errors: dict[str, QLabel] = {}
        self._last_refusal = ""

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
        document.refused.connect(self._remember_refusal)
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

    def _remember_refusal(self, message: str) -> None:
        self._last_refusal = message

    def commit(self, name: str, value: Any) -> bool:
        """Set parameter `name` of the shown block through the undo stack; a refusal is shown by the field."""
        if self.node_id is None:
            return False
        node_id = self.node_id
        if self.document.graph.node(node_id).params.get(name) == value:
            self._show_error(name, "")
            return True
        self._last_refusal = ""
        ok = self.document.do(SetParams(node_id, {name: value}))
        if ok:
            self._show_error(name, "")
        else:
            self._show_error(name, self._last_refusal or f"{name}: this value is not allowed")
            editor = self.editors.get(name)
            if editor is not None and not isinstance(editor, ListEditor):
                editor.set_value(self.document.graph.node(node_id).params.get(name))
        return ok

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
        what = graph.node(ids[0]).name if len(ids) == 1 else f"{len(ids)} blocks"
        self._last_refusal = ""
        ok = self.document.do(SetFrozen(ids, frozen), f"{'Freeze' if frozen else 'Unfreeze'} {what}")
        if self.frozen_error is not None:
            self.frozen_error.setText(_strip_block(self._last_refusal) if not ok else "")
            self.frozen_error.setToolTip(self._last_refusal if not ok else "")
            self.frozen_error.setVisible(not ok)
        if not ok:
            self._sync_frozen()  # back to what the graph says
        return ok

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
        problem = self.document.graph.check_name(name, self.node_id)
        if problem:
            self.name_error.setText(problem)
            self.name_error.setVisible(True)
            return
        self.rename(name)

    def rename(self, name: str) -> bool:
        self._last_refusal = ""
        ok = self.document.do(Rename(self.node_id, name), f"Rename to {name}")
        if self.name_error is not None:
            self.name_error.setText("" if ok else self._last_refusal)
            self.name_error.setVisible(not ok)
        return ok

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
