"""The fields of the inspector's parameter form, one kind per kind of parameter in a block's schema
(`ParamSpec.kind`): whole and decimal numbers, choices, switches, sizes (one number, or one per dimension),
padding, an optional size or number and lists of numbers. `make_editor(spec)` makes the field for a parameter.

    editor = make_editor(param_spec)            # a ParamSpec of a block's schema
    editor.set_value(3)                         # shows a value (does not emit)
    editor.committed.connect(print)             # the user's new value
"""

from __future__ import annotations

import re
from typing import Any

from PySide6.QtCore import QSignalBlocker, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLineEdit,
    QSizePolicy,
    QSpinBox,
    QToolButton,
    QWidget,
)

from layerloom.core.blocks.spec import ParamSpec
from layerloom.gui import theme

INT_LIMIT = 2**31 - 1


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


class _OptionalEditor(ParamEditor):
    """A value of the `INNER` editor or nothing (None), with an "auto" check box for nothing."""

    INNER: type[ParamEditor]

    def __init__(self, spec, parent=None):
        super().__init__(spec, parent)
        self.auto = QCheckBox("auto", self)
        self.auto.setToolTip(f"Leave {spec.name} empty (None): {spec.help}")
        self.inner = self.INNER(spec, self)
        if spec.default is not None:  # what unticking "auto" first gives
            self.inner.set_value(spec.default)
        self.layout().addWidget(self.auto)
        self.layout().addWidget(self.inner, 1)
        self.auto.toggled.connect(self._auto_toggled)
        self.inner.committed.connect(self._emit)

    def _auto_toggled(self, auto: bool) -> None:
        self.inner.setEnabled(not auto)
        self._emit()

    def set_value(self, value) -> None:
        with QSignalBlocker(self.auto):
            self.auto.setChecked(value is None)
        self.inner.setEnabled(value is not None)
        if value is not None:
            self.inner.set_value(value)

    def value(self):
        return None if self.auto.isChecked() else self.inner.value()


class OptionalSizeEditor(_OptionalEditor):
    """A size or nothing (None: the block's default, e.g. a pooling stride equal to its kernel)."""

    INNER = SizeEditor


class OptionalFloatEditor(_OptionalEditor):
    """A number or nothing (None: the block's own start, e.g. PyTorch's random forget-gate biases)."""

    INNER = FloatEditor


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
    "optional_float": OptionalFloatEditor,
    "shape": ListEditor,
    "dims": ListEditor,
}


def make_editor(spec: ParamSpec, parent=None) -> ParamEditor:
    return EDITORS[spec.kind](spec, parent)
