"""File → Export…: choose a format and a file, export in a worker thread, see that it matches the live model.

    dialog = ExportDialog(project, parent=window, weights=state_dict, run_dir="runs/lenet5-…")
    dialog.exec()

The weights come from the window's latest training (`weights`), a run folder of the project, a bundle or
run folder chosen here, or are fresh. The export runs in a worker thread (it takes seconds for ONNX or
TorchScript), the window stays live; the result shows the parity figure, the file, and a Show in folder
button. `add_export_actions(window)` adds Export…, Import PyTorch Model… and Open Bundle… to a window's
File menu (see its text for what it expects of the window).
"""

from __future__ import annotations

import os

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QAction, QDesktopServices, QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from layerloom.gui.background import BackgroundTask, import_heavy_modules

FORMATS = ("onnx", "torchscript", "torch-export", "python", "safetensors", "bundle")
LABELS = {
    "onnx": "ONNX (.onnx)",
    "torchscript": "TorchScript (.pt)",
    "torch-export": "torch.export program (.pt2)",
    "python": "PyTorch source (model.py + weights)",
    "safetensors": "Weights only (.safetensors)",
    "bundle": "Layerloom bundle (.layerloom)",
}
HELP = {
    "onnx": "For onnxruntime, TensorRT, OpenVINO and other runtimes. Batch size free; sequence length free "
            "for sequence models.",
    "torchscript": "Loads with torch.jit.load, in Python or C++, without Layerloom.",
    "torch-export": "PyTorch's torch.export program, for ExecuTorch and AOTInductor.",
    "python": "A readable nn.Module class with your block names and load_model(); needs only PyTorch.",
    "safetensors": "The state dict, names as the blocks': load it into the same network elsewhere.",
    "bundle": "Project, weights, training settings and history in one file: open it again, train on.",
}
SUFFIX = {"onnx": ".onnx", "torchscript": ".pt", "torch-export": ".pt2", "python": "", "safetensors": ".safetensors",
          "bundle": ".layerloom"}
LATEST, WINDOW, FRESH, CHOSEN = "latest", "window", "fresh", "chosen"


class ExportDialog(QDialog):
    """Format, file, weights; Export; the result with its parity figure and Show in folder."""

    exported = Signal(object)  # ExportResult

    def __init__(self, project, parent: QWidget | None = None, *, weights: dict | None = None,
                 run_dir: str | None = None, folder: str | None = None, runs_root: str = "runs"):
        super().__init__(parent)
        self.setWindowTitle("Export Model")
        self.setObjectName("ExportDialog")
        self.project = project
        self.weights = weights
        self.result = None
        self.thread: BackgroundTask | None = None
        self._chosen: str | None = None
        if run_dir is None:
            from layerloom.core.export.base import latest_run

            run_dir = latest_run(project.name or "untitled", runs_root)
        self.run_dir = run_dir
        self.folder = folder or os.path.expanduser("~")

        self.format_box = QComboBox()
        for fmt in FORMATS:
            self.format_box.addItem(LABELS[fmt], fmt)
        self.format_help = QLabel()
        self.format_help.setWordWrap(True)
        self.path_edit = QLineEdit()
        browse = QPushButton("Browse…")
        browse.clicked.connect(self.browse)
        path_row = QHBoxLayout()
        path_row.addWidget(self.path_edit, 1)
        path_row.addWidget(browse)
        self.weights_box = QComboBox()
        if weights is not None:
            self.weights_box.addItem("The weights of the latest training in this window", WINDOW)
        if run_dir:
            self.weights_box.addItem(f"Run folder {os.path.basename(os.path.normpath(run_dir))} (best epoch)", LATEST)
        self.weights_box.addItem("Fresh, untrained weights", FRESH)
        self.weights_box.addItem("Choose a run folder or bundle…", CHOSEN)
        self.weights_box.activated.connect(self._weights_chosen)

        form = QFormLayout()
        form.addRow("Format:", self.format_box)
        form.addRow("", self.format_help)
        form.addRow("Save to:", path_row)
        form.addRow("Weights:", self.weights_box)

        self.progress = QProgressBar()
        self.progress.setRange(0, 0)
        self.progress.hide()
        self.status = QLabel("Every export is run against the live model on a sample batch before it is kept.")
        self.status.setWordWrap(True)
        self.status.setObjectName("exportStatus")
        self.file_label = QLabel()
        self.file_label.setWordWrap(True)
        self.file_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.show_button = QPushButton("Show in Folder")
        self.show_button.setEnabled(False)
        self.show_button.clicked.connect(self.show_in_folder)

        buttons = QDialogButtonBox()
        self.export_button = buttons.addButton("Export", QDialogButtonBox.ButtonRole.AcceptRole)
        self.close_button = buttons.addButton(QDialogButtonBox.StandardButton.Close)
        buttons.addButton(self.show_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.export_button.clicked.connect(self.start)
        self.close_button.clicked.connect(self.reject)
        self.export_button.setDefault(True)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.file_label)
        layout.addWidget(buttons)
        self.format_box.currentIndexChanged.connect(self._format_changed)
        self._format_changed()
        self.resize(560, self.sizeHint().height())

    # --- choices ------------------------------------------------------------------------------------

    @property
    def format(self) -> str:
        return self.format_box.currentData()

    def set_format(self, fmt: str) -> None:
        self.format_box.setCurrentIndex(FORMATS.index(fmt))

    def _format_changed(self) -> None:
        fmt = self.format
        self.format_help.setText(HELP[fmt])
        current = self.path_edit.text().strip()
        from layerloom.core.training.run_folder import slug

        base = slug(self.project.name or "model")
        folder = os.path.dirname(current) if current else self.folder
        self.path_edit.setText(os.path.join(folder, base + ("-python" if fmt == "python" else SUFFIX[fmt])))

    def browse(self) -> None:
        fmt = self.format
        if fmt == "python":
            path = QFileDialog.getExistingDirectory(self, "Folder for model.py and its weights",
                                                    os.path.dirname(self.path_edit.text()))
        else:
            path, _ = QFileDialog.getSaveFileName(self, "Export to", self.path_edit.text(),
                                                  f"{LABELS[fmt]} (*{SUFFIX[fmt]})")
        if path:
            self.path_edit.setText(path)

    def _weights_chosen(self) -> None:
        if self.weights_box.currentData() != CHOSEN:
            return
        path, _ = QFileDialog.getOpenFileName(self, "Weights from a bundle", self.folder,
                                              "Layerloom bundle (*.layerloom)")
        if not path:
            path = QFileDialog.getExistingDirectory(self, "Or a run folder", "runs")
        if path:
            self.choose_weights_from(path)
        else:
            self.weights_box.setCurrentIndex(0)

    def choose_weights_from(self, path: str) -> None:
        """Take the weights (and the project as trained) from a run folder or bundle."""
        self._chosen = path
        index = self.weights_box.findData(CHOSEN)
        self.weights_box.setItemText(index, f"From {os.path.basename(os.path.normpath(path))}")
        self.weights_box.setCurrentIndex(index)

    def source_maker(self):
        """A function giving the Source the export starts from, for the weights chosen now; it runs in the
        worker thread (it may import torch and read files) and touches no widget."""
        from layerloom.core.export.base import open_source, source_from

        choice, chosen, project, weights, run_dir = (self.weights_box.currentData(), self._chosen, self.project,
                                                     self.weights, self.run_dir)

        def make():
            if choice == WINDOW:
                return source_from(project, weights)
            if choice == LATEST:
                return open_source(run_dir)
            if choice == CHOSEN and chosen:
                return open_source(chosen)
            return source_from(project)

        return make

    # --- running ------------------------------------------------------------------------------------

    def start(self) -> None:
        path = self.path_edit.text().strip()
        if not path:
            self.status.setText("Choose where to save the export.")
            return
        if self.thread is not None:
            return
        self.result = None
        self.show_button.setEnabled(False)
        self.export_button.setEnabled(False)
        self.file_label.clear()
        self.progress.show()
        self.status.setText(f"Exporting as {LABELS[self.format]} and checking it against the live model…")
        make_source, fmt = self.source_maker(), self.format

        def job():
            from layerloom.core.export.exporter import export

            return export(make_source(), fmt, path)

        import_heavy_modules("torch", "torch.onnx", "torch.export", "torch._dynamo", "layerloom.core.export.exporter")
        self.thread = BackgroundTask(job, self._done, self._failed, self, on_finished=self._thread_ended)
        self.thread.start()

    def _thread_ended(self) -> None:
        self.thread = None
        self.progress.hide()
        self.export_button.setEnabled(True)

    def _done(self, result) -> None:
        self.result = result
        dims = "; ".join(f"{name}: {', '.join(d)}" for name, d in result.dynamic.items())
        self.status.setText(f"✓ The {LABELS[result.format]} export matches the live model: largest difference "
                            f"{result.difference:.2g} (limit {result.tolerance:g})."
                            + (f"\nFree dimensions — {dims}." if dims else ""))
        self.file_label.setText("\n".join(result.files))
        self.show_button.setEnabled(True)
        self.exported.emit(result)

    def _failed(self, message: str) -> None:
        self.status.setText(f"✗ Export failed: {message}")

    def show_in_folder(self) -> None:
        if self.result is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(os.path.dirname(self.result.path)))

    def wait(self, ms: int = 120_000) -> None:
        """Block until the running export ends (tests and closing)."""
        if self.thread is not None:
            self.thread.wait(ms)

    def reject(self) -> None:
        if self.thread is not None:
            self.status.setText("Waiting for the export to finish…")
            self.thread.wait()
        super().reject()


# --- wiring into a window -------------------------------------------------------------------------------


def add_export_actions(window) -> dict[str, QAction]:
    """Add File → Export… (Ctrl+E), File → Import PyTorch Model… and File → Open Bundle… to `window`.

    It uses of the window: `document.project` (the project shown), `set_project(project, path)`,
    `menus["file"]` and `commands["quit"]` (the actions go above Quit), and, when present,
    `model_weights` (a state dict of the latest training, set by the training view), which this sets too
    when a bundle or an import brings weights in. Returns the actions by key, also stored in
    `window.commands` when it has that dict."""
    actions = {
        "export": QAction("&Export…", window),
        "import_model": QAction("&Import PyTorch Model…", window),
        "open_bundle": QAction("Open &Bundle…", window),
    }
    actions["export"].setShortcut(QKeySequence("Ctrl+E"))
    actions["export"].setStatusTip("Export the trained model: ONNX, TorchScript, torch.export, Python, weights, "
                                   "bundle")
    actions["import_model"].setStatusTip("Bring an nn.Module (Python file) or a torch.export .pt2 in as a graph")
    actions["open_bundle"].setStatusTip("Open a .layerloom bundle: graph, weights, settings and history")
    actions["export"].triggered.connect(lambda _c=False: open_export_dialog(window))
    actions["import_model"].triggered.connect(lambda _c=False: open_import_dialog(window))
    actions["open_bundle"].triggered.connect(lambda _c=False: open_bundle_dialog(window))
    menu = getattr(window, "menus", {}).get("file")
    quit_action = getattr(window, "commands", {}).get("quit")
    if menu is not None:
        if quit_action is not None and quit_action in menu.actions():
            menu.insertActions(quit_action, list(actions.values()))
            menu.insertSeparator(quit_action)
        else:
            menu.addActions(list(actions.values()))
    for action in actions.values():
        window.addAction(action)
    if isinstance(getattr(window, "commands", None), dict):
        window.commands.update(actions)
    return actions


def open_export_dialog(window) -> ExportDialog:
    project = window.document.project
    dialog = ExportDialog(project, window, weights=getattr(window, "model_weights", None),
                          folder=_folder(window))
    dialog.show()
    return dialog


def open_import_dialog(window):
    from layerloom.gui.import_dialog import ImportDialog

    dialog = ImportDialog(window)

    def take(result) -> None:
        if hasattr(window, "maybe_save") and not window.maybe_save("importing a model"):
            return
        window.set_project(result.project, None)
        window.model_weights = result.state

    dialog.imported.connect(take)
    dialog.show()
    return dialog


def open_bundle_dialog(window, path: str | None = None) -> bool:
    if path is None:
        path, _ = QFileDialog.getOpenFileName(window, "Open Bundle", _folder(window), "Layerloom bundle (*.layerloom)")
        if not path:
            return False
    if hasattr(window, "maybe_save") and not window.maybe_save("opening a bundle"):
        return False
    from layerloom.core.errors import LayerloomError
    from layerloom.core.export.bundle import load_bundle

    try:
        bundle = load_bundle(path)
    except LayerloomError as err:
        QMessageBox.warning(window, "Cannot open bundle", str(err))
        return False
    window.set_project(bundle.project, None)
    window.model_weights = bundle.state
    window.model_bundle = bundle
    return True


def _folder(window) -> str:
    path = getattr(getattr(window, "document", None), "path", None)
    return os.path.dirname(str(path)) if path else os.path.expanduser("~")
