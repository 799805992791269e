"""File → Import PyTorch Model…: a Python file and a class name, or a torch.export .pt2, into a graph.

The classes of a Python file are listed by reading it as text; its code runs only after the user says so
in a clear confirmation (`confirm`, a function of the path that tests replace). The import runs in a
worker thread; the result lists the layers that have no block and the parity figure, and Open as New Project
hands the ImportResult to whoever listens to `imported`.
"""

from __future__ import annotations

import os

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from layerloom.gui.background import BackgroundTask, import_heavy_modules

WARNING = ("Importing a Python file runs the code in it, with your permissions. Only import files you trust. "
           "A .pt2 file is read without running anything.")


def ask_to_run(parent, path: str) -> bool:
    """The confirmation: a warning that says the file's code will run, No by default."""
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle("Run this file's code?")
    box.setText(f"Importing {os.path.basename(path)} runs the Python code in it.")
    box.setInformativeText("It can do anything your user account can: read, change or delete files, use the "
                           "network. Run it only if you trust where it comes from.")
    run = box.addButton("Run It and Import", QMessageBox.ButtonRole.AcceptRole)
    cancel = box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(cancel)
    box.exec()
    return box.clickedButton() is run


def parse_shapes(text: str) -> list[tuple[int, ...]]:
    """'1, 28, 28; 12' → [(1, 28, 28), (12,)]: one shape per input, batch left out."""
    shapes = []
    for part in text.replace("×", ",").split(";"):
        part = part.strip()
        if not part:
            continue
        try:
            shape = tuple(int(s) for s in part.replace(" ", ",").split(",") if s.strip())
        except ValueError:
            raise ValueError(f"{part!r} is not a shape like 1, 28, 28") from None
        if not shape or any(s < 1 for s in shape):
            raise ValueError(f"{part!r} is not a shape like 1, 28, 28")
        shapes.append(shape)
    if not shapes:
        raise ValueError("give the shape of one input sample, batch left out, like 1, 28, 28")
    return shapes


class ImportDialog(QDialog):
    imported = Signal(object)  # ImportResult, when the user opens it as a project

    def __init__(self, parent: QWidget | None = None, *, folder: str | None = None):
        super().__init__(parent)
        self.setWindowTitle("Import PyTorch Model")
        self.setObjectName("ImportDialog")
        self.folder = folder or os.path.expanduser("~")
        self.confirm = lambda path: ask_to_run(self, path)
        self.import_result = None
        self.task: BackgroundTask | None = None

        self.path_edit = QLineEdit()
        self.path_edit.setPlaceholderText("a .py file defining an nn.Module, or a torch.export .pt2")
        self.path_edit.editingFinished.connect(self._path_changed)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self.browse)
        row = QHBoxLayout()
        row.addWidget(self.path_edit, 1)
        row.addWidget(browse)
        self.class_box = QComboBox()
        self.class_box.setEditable(True)
        self.shapes_edit = QLineEdit("1, 28, 28")
        self.shapes_edit.setToolTip("One sample of each forward argument, batch left out; several separated by ;")
        self.tokens = QCheckBox("Inputs are token ids (int64)")
        self.warning = QLabel("⚠ " + WARNING)
        self.warning.setWordWrap(True)
        self.warning.setObjectName("importWarning")
        self.warning.setStyleSheet("QLabel#importWarning { color: #b35c00; }")

        form = QFormLayout()
        form.addRow("File:", row)
        form.addRow("Class:", self.class_box)
        form.addRow("Input shape:", self.shapes_edit)
        form.addRow("", self.tokens)

        self.progress = QProgressBar()
        self.progress.setRange(0, 0)
        self.progress.hide()
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.report = QPlainTextEdit()
        self.report.setReadOnly(True)
        self.report.setPlaceholderText("The blocks made, the layers that have no block, and how well the graph "
                                       "matches the original model appear here.")
        buttons = QDialogButtonBox()
        self.import_button = buttons.addButton("Import", QDialogButtonBox.ButtonRole.ActionRole)
        self.open_button = buttons.addButton("Open as New Project", QDialogButtonBox.ButtonRole.AcceptRole)
        self.open_button.setEnabled(False)
        buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.import_button.clicked.connect(self.start)
        self.open_button.clicked.connect(self.open_result)
        buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.warning)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.report, 1)
        layout.addWidget(buttons)
        self.resize(600, 460)

    # --- choices ------------------------------------------------------------------------------------

    def browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import PyTorch Model", self.folder,
                                              "PyTorch models (*.py *.pt2);;Python (*.py);;torch.export (*.pt2)")
        if path:
            self.set_path(path)

    def set_path(self, path: str) -> None:
        self.path_edit.setText(path)
        self._path_changed()

    def _path_changed(self) -> None:
        path = self.path_edit.text().strip()
        is_py = path.endswith(".py")
        self.class_box.clear()
        for w in (self.class_box, self.shapes_edit, self.tokens):
            w.setEnabled(is_py)
        self.warning.setVisible(not path.endswith(".pt2"))
        if is_py and os.path.isfile(path):
            from layerloom.core.errors import LayerloomError
            from layerloom.core.export.importer import list_module_classes

            try:
                names = list_module_classes(path)  # read as text: nothing runs
            except LayerloomError as err:
                self.status.setText(str(err))
                return
            self.class_box.addItems(names)
            self.status.setText(f"{len(names)} nn.Module class(es) found, read without running the file."
                                if names else "No nn.Module class found; type the class name.")

    # --- running ------------------------------------------------------------------------------------

    def start(self) -> None:
        if self.task is not None:
            return
        path = self.path_edit.text().strip()
        if not os.path.isfile(path):
            self.status.setText("Choose a .py or .pt2 file that exists.")
            return
        if path.endswith(".pt2"):
            def job():
                from layerloom.core.export.importer import import_program

                return import_program(path)
        else:
            name = self.class_box.currentText().strip()
            if not name:
                self.status.setText("Give the name of the nn.Module class to import.")
                return
            try:
                shapes = parse_shapes(self.shapes_edit.text())
            except ValueError as err:
                self.status.setText(str(err))
                return
            if not self.confirm(path):  # asked here, in the window's thread, before anything runs
                self.status.setText("Not imported: running the file's code was not confirmed.")
                return
            dtypes = ["int64" if self.tokens.isChecked() else "float32"] * len(shapes)

            def job():
                from layerloom.core.export.importer import import_python_model

                return import_python_model(path, name, confirm=True, input_shapes=shapes, input_dtypes=dtypes)

        self.import_result = None
        self.open_button.setEnabled(False)
        self.import_button.setEnabled(False)
        self.progress.show()
        self.report.clear()
        self.status.setText("Tracing the model and turning its layers into blocks…")
        import_heavy_modules("torch", "torch.export", "torch._dynamo", "layerloom.core.export.importer")
        self.task = BackgroundTask(job, self._done, self._failed, self, on_finished=self._thread_ended)
        self.task.start()

    def _thread_ended(self) -> None:
        self.task = None
        self.progress.hide()
        self.import_button.setEnabled(True)

    def _done(self, result) -> None:
        self.import_result = result
        self.report.setPlainText(result.message())
        if result.unsupported:
            self.status.setText(f"⚠ {len(result.unsupported)} layer(s) have no Layerloom block; they are listed "
                                "below and left out.")
        else:
            self.status.setText("✓ Every layer became a block.")
        self.open_button.setEnabled(True)

    def _failed(self, message: str) -> None:
        self.status.setText(f"✗ Import failed: {message}")

    def open_result(self) -> None:
        if self.import_result is not None:
            self.imported.emit(self.import_result)
            self.accept()

    def wait(self, ms: int = 120_000) -> None:
        if self.task is not None:
            self.task.wait(ms)

    def reject(self) -> None:
        if self.task is not None:
            self.task.wait()
        super().reject()
