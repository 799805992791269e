"""File → Export…: choose a format and a file, export in a worker thread, see that it matches the live model.

    dialog = ExportDialog(project, parent=window, source=window.training.trained_source, roots=[…])
    dialog.exec()

The weights come from the window's trained model (`source`: a finished run, an opened bundle), a run folder
of the project found in any runs folder (core/runs.py), a bundle or run folder chosen here, or are fresh —
never chosen by default when trained ones exist, and the dialog says which weights it uses. It shows the
preprocessing the model was trained with in plain words, a few lines of code that use each format, and for
ONNX, TorchScript and torch.export a choice to bake scaling and normalization into the file. A VAE or a GAN
also offers its part alone (Part: the decoder after the Sample block, the generator after the Noise block). The export
runs in a worker thread (it takes seconds for ONNX or TorchScript), the window stays live; the result
shows the parity figure, the file, and a Show in folder button. File → Export… opens it (model_actions.py).
"""

from __future__ import annotations

import os

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QFontDatabase
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
LATEST, WINDOW, FRESH, CHOSEN, SOURCE = "latest", "window", "fresh", "chosen", "source"
RUN = "run:"  # RUN + path: another run folder of the project
MAX_RUNS = 5  # run folders offered besides the trained model
BAKE_TEXT = "Take raw pixels/values (bake scaling and normalization into the file)"
PART_LABELS = {"model": "The whole model", "decoder": "The decoder only", "generator": "The generator only"}
PART_HELP = {
    "model": "Exports every block: the file takes the model's inputs and gives its outputs.",
    "decoder": "Exports only the blocks after the Sample block: the file takes a latent code z (numbers drawn "
               "from a standard normal) and gives what the VAE decodes from it. No preprocessing.",
    "generator": "Exports only the blocks after the Noise block: the file takes random noise and gives new "
                 "samples, without the discriminator. No preprocessing.",
}


class ExportDialog(QDialog):
    """Format, file, weights; Export; the result with its parity figure and Show in folder."""

    exported = Signal(object)  # ExportResult

    def __init__(self, project, parent: QWidget | None = None, *, weights: dict | None = None,
                 run_dir: str | None = None, folder: str | None = None, runs_root: str | None = None,
                 source=None, roots: list[str] | None = None):
        super().__init__(parent)
        self.setWindowTitle("Export Model")
        self.setObjectName("ExportDialog")
        self.project = project
        self.weights = weights
        self.source = source  # the trained model in the window (a Source), offered first
        self.export_result = None
        self.task: BackgroundTask | None = None
        self._chosen: str | None = None
        self._chosen_source = None
        self._read: dict[tuple[str, str], object] = {}  # (what, run folder) → what was read from it once
        from layerloom.core.runs import find_runs, run_roots

        self.roots = roots if roots is not None else run_roots(runs_root)
        runs = find_runs(project.name or "untitled", self.roots) if run_dir is None else [run_dir]
        own = os.path.abspath(source.path) if source is not None and source.path else None
        self.runs = [r for r in runs if os.path.abspath(r) != own][:MAX_RUNS]
        self.run_dir = self.runs[0] if self.runs else None
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
        if source is not None:
            from layerloom.gui.trained_weights import words

            self.weights_box.addItem(f"Trained in this window: {words(source)}", SOURCE)
        elif weights is not None:
            self.weights_box.addItem("The weights of the latest training in this window", WINDOW)
        for i, run in enumerate(self.runs):
            self.weights_box.addItem(f"Run folder {os.path.basename(os.path.normpath(run))} (best epoch)",
                                     LATEST if i == 0 else RUN + run)
        self.weights_box.addItem("Fresh, untrained weights", FRESH)
        self.weights_box.addItem("Choose a run folder or bundle…", CHOSEN)
        self.weights_box.setCurrentIndex(0)  # trained weights first: fresh ones only when there are none
        self.weights_box.activated.connect(self._weights_chosen)
        self.weights_box.currentIndexChanged.connect(lambda _i: self._describe())
        self.weights_note = QLabel()
        self.weights_note.setWordWrap(True)
        self.weights_note.setObjectName("weightsNote")
        from layerloom.core.export.decoder import available_parts

        self.part_box = QComboBox()
        self.part_box.setObjectName("partBox")
        for part in available_parts(project.graph):
            self.part_box.addItem(PART_LABELS[part], part)
        self.part_box.setToolTip("Export the whole model, or only the part that makes new samples: a VAE's "
                                 "decoder (it turns a latent code into an image) or a GAN's generator (it turns "
                                 "random noise into a sample)")
        self.part_box.currentIndexChanged.connect(lambda _i: self._format_changed())
        self.bake_box = QCheckBox(BAKE_TEXT)
        self.bake_box.setChecked(True)
        self.bake_box.setToolTip("The exported file then takes data as it comes (0–255 pixels, raw feature values) "
                                 "and does the scaling and normalization itself")
        self.bake_box.toggled.connect(lambda _on: self._describe())
        self.preprocessing_label = QLabel()
        self.preprocessing_label.setWordWrap(True)
        self.preprocessing_label.setTextFormat(Qt.TextFormat.PlainText)
        self.preprocessing_label.setObjectName("preprocessing")
        self.preprocessing_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.usage_label = QLabel()
        self.usage_label.setTextFormat(Qt.TextFormat.PlainText)
        self.usage_label.setObjectName("usage")
        self.usage_label.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.usage_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        form = QFormLayout()
        form.addRow("Part:", self.part_box)
        form.addRow("Format:", self.format_box)
        form.addRow("", self.format_help)
        form.addRow("Save to:", path_row)
        form.addRow("Weights:", self.weights_box)
        form.addRow("", self.weights_note)
        form.addRow("", self.bake_box)
        self.form = form
        form.addRow("Preprocessing:", self.preprocessing_label)
        form.addRow("Use it:", self.usage_label)

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
        self.path_edit.textChanged.connect(lambda _t: self._describe())
        form.setRowVisible(self.part_box, self.part_box.count() > 1)
        self._format_changed()
        self.resize(640, self.sizeHint().height())

    # --- choices ------------------------------------------------------------------------------------

    @property
    def format(self) -> str:
        return self.format_box.currentData()

    def set_format(self, fmt: str) -> None:
        self.format_box.setCurrentIndex(FORMATS.index(fmt))

    @property
    def part(self) -> str:
        """What is exported: "model" (the whole network), "decoder" or "generator"."""
        return self.part_box.currentData()

    def _format_changed(self) -> None:
        fmt = self.format
        self.format_help.setText(HELP[fmt])
        current = self.path_edit.text().strip()
        from layerloom.core.training.run_folder import slug

        base = slug(self.project.name or "model") + ("" if self.part == "model" else f"-{self.part}")
        folder = os.path.dirname(current) if current else self.folder
        self.path_edit.setText(os.path.join(folder, base + ("-python" if fmt == "python" else SUFFIX[fmt])))
        self._describe()

    # --- what the dialog says about the choice ------------------------------------------------------------

    @property
    def bakes(self) -> bool:
        """Whether the chosen format takes the bake_preprocessing option."""
        from layerloom.core.export.usage import BAKEABLE

        return self.format in BAKEABLE and self.part == "model"  # a part alone takes z or noise, not data

    def chosen_preprocessing(self):
        """The Preprocessing of the weights chosen now (None when unknown or untrained)."""
        from layerloom.core.data.base import DataError
        from layerloom.core.training.run_folder import read_preprocessing

        choice = self.weights_box.currentData()
        try:
            if choice == SOURCE:
                return self.source.preprocessing
            if choice == LATEST or (isinstance(choice, str) and choice.startswith(RUN)):
                return self._once("preprocessing", self._run_of(choice), read_preprocessing)
            if choice == CHOSEN and self._chosen_source is not None:
                return self._chosen_source.preprocessing
        except (DataError, OSError, ValueError):
            return None
        return None

    def _once(self, what: str, run: str, read):
        """`read(run)`, read once per dialog (the texts are refreshed at every keystroke in the path)."""
        if (what, run) not in self._read:
            self._read[(what, run)] = read(run)
        return self._read[(what, run)]

    def _run_of(self, choice: str) -> str:
        return self.run_dir if choice == LATEST else choice[len(RUN):]

    def weights_text(self) -> str:
        """Which weights the export uses, in words."""
        from layerloom.core.training.history import summarize_run

        choice = self.weights_box.currentData()
        if choice == SOURCE:
            from layerloom.core.export.bundle import metrics_summary
            from layerloom.core.training.history import metric_text

            summary = metrics_summary(self.source.history)
            best = ""
            if summary["best"] is not None:
                best = f", best {metric_text(summary['best_metric'], summary['best'])} (epoch {summary['best_epoch']})"
            n = summary["epochs"]
            return (f"Uses the trained weights in this window: {n} epoch{'s' if n != 1 else ''} trained{best}; "
                    f"from {self.source.path or 'memory'}.")
        if choice == WINDOW:
            return "Uses the weights of the latest training in this window."
        if choice == LATEST or (isinstance(choice, str) and choice.startswith(RUN)):
            run = self._once("summary", self._run_of(choice), summarize_run)
            best = f", best {run.best_text} (epoch {run.best_epoch + 1})" if run.best_epoch is not None else ""
            return f"Uses the best epoch's weights of run {run.name}: {run.epochs_done} epochs trained{best}."
        if choice == CHOSEN and self._chosen:
            return f"Uses the weights in {self._chosen}."
        return "⚠ Fresh, untrained weights: the exported model's outputs mean nothing yet."

    def _describe(self) -> None:
        """Refresh the weights note, the bake choice, the preprocessing and the usage lines."""
        from layerloom.core.export.usage import usage

        self.weights_note.setText(self.weights_text())
        part = self.part
        pre = self.chosen_preprocessing() if part == "model" else None
        self.form.setRowVisible(self.bake_box, self.bakes)
        can_bake = pre is not None and pre.bakeable
        self.bake_box.setEnabled(can_bake)
        if not can_bake and pre is not None:
            self.bake_box.setToolTip("Text models take token ids: the tokenizer stays outside the file")
        baked = self.bakes and can_bake and self.bake_box.isChecked()
        if part != "model":
            lines = [PART_HELP[part]]
        elif pre is None:
            lines = ["None recorded for these weights: the model takes its inputs as its Input blocks say."]
        else:
            lines = [f"• {line}" for line in pre.describe()]
            if self.bakes:
                lines.append(f"The file takes {pre.raw_input_words()}: the steps above are in it." if baked else
                             "The file takes inputs already preprocessed as above.")
        self.preprocessing_label.setText("\n".join(lines))
        text = usage(self.format, self.path_edit.text() or "model", baked=baked, preprocessing=pre)
        if part != "model":
            text = self._part_usage(text)
        self.usage_label.setText(text)

    def _part_usage(self, text: str) -> str:
        """The usage lines of a decoder or generator alone: it takes z (noise), and model.py has sample(n)."""
        if self.format == "python":
            name = os.path.basename(os.path.normpath(self.path_edit.text() or "model"))
            return (f"# in the folder {name}: model.py and its weights\n"
                    "from model import load_model, sample\nmodel = load_model()\n"
                    "images = sample(16, model, seed=0)  # 16 new samples from random z")
        what = "latent codes z" if self.part == "decoder" else "noise"
        return text.replace("float32 tensors shaped like the Input blocks, batch first",
                            f"{what}, float32, drawn from N(0, 1), batch first")

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
        if self.weights_box.currentData() != CHOSEN or self._chosen:
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
        from layerloom.core.errors import LayerloomError
        from layerloom.core.export.reading import open_source

        try:
            source = open_source(path)
        except LayerloomError as err:
            self.status.setText(f"✗ {err}")
            self.weights_box.setCurrentIndex(0)
            return
        self._chosen, self._chosen_source = path, source
        index = self.weights_box.findData(CHOSEN)
        self.weights_box.setItemText(index, f"From {os.path.basename(os.path.normpath(path))}")
        self.weights_box.setCurrentIndex(index)
        self._describe()

    def source_maker(self):
        """A function giving the Source the export starts from, for the weights chosen now; it runs in the
        worker thread (it may import torch and read files) and touches no widget."""
        from layerloom.core.export.reading import open_source
        from layerloom.core.export.source import source_from

        choice, chosen, project, weights, trained = (self.weights_box.currentData(), self._chosen_source,
                                                     self.project, self.weights, self.source)
        run = self._run_of(choice) if choice == LATEST or str(choice).startswith(RUN) else None

        def make():
            if choice == SOURCE:
                return trained
            if choice == WINDOW:
                return source_from(project, weights)
            if run is not None:
                return open_source(run)
            if choice == CHOSEN and chosen is not None:
                return chosen
            return source_from(project)

        return make

    # --- running ------------------------------------------------------------------------------------

    def start(self) -> None:
        path = self.path_edit.text().strip()
        if not path:
            self.status.setText("Choose where to save the export.")
            return
        if self.task is not None:
            return
        self.export_result = None
        self.show_button.setEnabled(False)
        self.export_button.setEnabled(False)
        self.file_label.clear()
        self.progress.show()
        self.status.setText(f"Exporting as {LABELS[self.format]} and checking it against the live model…")
        make_source, fmt, part = self.source_maker(), self.format, self.part
        options = {"bake_preprocessing": self.bake_box.isChecked() and self.bake_box.isEnabled()} if self.bakes \
            else {}

        def job():
            from layerloom.core.export.exporter import export

            return export(make_source(), fmt, path, part=part, **options)

        import_heavy_modules("torch", "torch.onnx", "torch.export", "torch._dynamo", "layerloom.core.export.exporter")
        self.task = BackgroundTask(job, self._done, self._failed, self, on_finished=self._thread_ended)
        self.task.start()

    def _thread_ended(self) -> None:
        self.task = None
        self.progress.hide()
        self.export_button.setEnabled(True)

    def _done(self, result) -> None:
        self.export_result = result
        dims = "; ".join(f"{name}: {', '.join(d)}" for name, d in result.dynamic.items())
        what = "" if self.part == "model" else f" of the {self.part} alone"
        self.status.setText(f"✓ The {LABELS[result.format]} export{what} matches the live model: largest difference "
                            f"{result.difference:.2g} (limit {result.tolerance:g})."
                            + (f"\nFree dimensions — {dims}." if dims else ""))
        self.file_label.setText("\n".join(result.files))
        self.show_button.setEnabled(True)
        self.exported.emit(result)

    def _failed(self, message: str) -> None:
        self.status.setText(f"✗ Export failed: {message}")

    def show_in_folder(self) -> None:
        if self.export_result is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(os.path.dirname(self.export_result.path)))

    def wait(self, ms: int = 120_000) -> None:
        """Block until the running export ends (tests and closing)."""
        if self.task is not None:
            self.task.wait(ms)

    def reject(self) -> None:
        if self.task is not None:
            self.status.setText("Waiting for the export to finish…")
            self.task.wait()
        super().reject()
