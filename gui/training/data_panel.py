"""The Data panel: where the training data comes from (a built-in set, a download, a folder of images, a CSV
table, an NPZ file, a text file, a time series; data_kinds.py) with its options; a preview of samples with their
labels and a class histogram (data_preview.py); the shape check against the network's Input (and Output) with
the fix it suggests. Loading runs in a worker thread; downloads show their progress and can be cancelled."""

from __future__ import annotations

import os
import threading

from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from layerloom.gui.background import BackgroundTask
from layerloom.gui.training.data_kinds import FILE_HINTS, KINDS, guess_kind, named_sources, parse_option, show_option
from layerloom.gui.training.data_preview import DataPreview
from layerloom.gui.training.worker import data_key, load_prepared

LOAD_FOR_VIEWS_BYTES = 64 * 2**20  # a local data file up to this size is loaded when a trained model opens


class DataPanel(QWidget):
    """The source, its options, Load & preview (in a worker thread) and the check against the network."""

    prepared_loaded = Signal(object, str)  # PreparedData, data key

    def __init__(self, editor, parent=None):
        super().__init__(parent)
        self.editor = editor  # settings change through its table ("set_settings"), so a refusal is shown
        self.document = editor.document
        self.prepared = None
        self.prepared_key = ""
        self._thread: BackgroundTask | None = None  # the load running in a worker thread
        self._cancel: threading.Event | None = None
        self._auto_load = False  # the running load is an automatic preview (preview_if_cheap), not a Load click
        self._load_queued = False  # Load was clicked during that preview: it runs when the preview ends
        self._loading = False
        self._auto_key = ""  # the settings last previewed without being asked (preview_if_cheap)
        self._named = named_sources()

        outer = QVBoxLayout(self)
        outer.setContentsMargins(8, 8, 8, 8)
        form = QFormLayout()
        self.kind_combo = QComboBox(self)
        for key, (label, _opts, _filter) in KINDS.items():
            self.kind_combo.addItem(label, key)
        self.kind_combo.setToolTip("Where the data comes from")
        form.addRow("Source", self.kind_combo)
        self.name_combo = QComboBox(self)
        self.name_combo.setToolTip("A data set that comes with Layerloom or is downloaded on first use")
        self.path_edit = QLineEdit(self)
        self.path_edit.setPlaceholderText("a file or folder")
        self.browse_button = QPushButton("Browse…", self)
        path_row = QHBoxLayout()
        path_row.addWidget(self.path_edit, 1)
        path_row.addWidget(self.browse_button)
        self.path_host = QWidget(self)
        self.path_host.setLayout(path_row)
        path_row.setContentsMargins(0, 0, 0, 0)
        form.addRow("Data set", self.name_combo)
        form.addRow("File", self.path_host)
        self._form = form
        self.description = QLabel("", self)
        self.description.setWordWrap(True)
        form.addRow(self.description)
        outer.addLayout(form)

        self.options_table = QTableWidget(0, 2, self)
        self.options_table.setHorizontalHeaderLabels(["Option", "Value"])
        self.options_table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.options_table.verticalHeader().setVisible(False)
        self.options_table.setMaximumHeight(120)
        self.options_table.setToolTip("Options of the data source (values as JSON: 28, [28, 28], true, \"rgb\")")
        outer.addWidget(self.options_table)
        opt_row = QHBoxLayout()
        self.add_option = QComboBox(self)
        self.add_option.setToolTip("Add an option")
        self.remove_option = QPushButton("Remove option", self)
        self.load_button = QPushButton("Load && preview", self)
        self.load_button.setToolTip("Load the data (downloading it if needed) and show samples")
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.setEnabled(False)
        for w in (self.add_option, self.remove_option, self.load_button, self.cancel_button):
            opt_row.addWidget(w)
        outer.addLayout(opt_row)
        self.progress = QProgressBar(self)
        self.progress.setVisible(False)
        outer.addWidget(self.progress)

        self.check_label = QLabel("", self)
        self.check_label.setWordWrap(True)
        self.check_label.setTextFormat(Qt.TextFormat.RichText)
        outer.addWidget(self.check_label)
        self.preview = DataPreview(self)  # summary, tokens, samples, classes
        outer.addWidget(self.preview)
        outer.addStretch(1)

        self.kind_combo.activated.connect(self._kind_chosen)
        self.name_combo.activated.connect(lambda _i: self._commit_source())
        self.path_edit.editingFinished.connect(self._commit_source)
        self.browse_button.clicked.connect(self._browse)
        self.add_option.activated.connect(self._add_option)
        self.remove_option.clicked.connect(self._remove_option)
        self.options_table.itemChanged.connect(self._options_edited)
        self.load_button.clicked.connect(self.load)
        self.cancel_button.clicked.connect(self.cancel)
        self.document.settings_changed.connect(self._on_settings_changed)
        self.document.project_replaced.connect(self.load_settings)
        self.document.inferred.connect(lambda _r: self.update_check())
        self.load_settings()

    # --- the source ---------------------------------------------------------------------------------

    @property
    def kind(self) -> str:
        return self.kind_combo.currentData()

    def load_settings(self, keep_kind: bool = False) -> None:
        """Show the project's data settings. `keep_kind`: the kind picked stays if it can read the source (a
        text file named like a table stays text)."""
        data = self.document.project.data
        self._loading = True
        try:
            kind = guess_kind(data.source, data.options, self.kind if keep_kind else None)
            self.kind_combo.setCurrentIndex(max(0, self.kind_combo.findData(kind)))
            self._fill_kind(kind)
            if kind in self._named:
                i = self.name_combo.findData(data.source)
                if i < 0:
                    self.name_combo.addItem(data.source, data.source)
                    i = self.name_combo.count() - 1
                self.name_combo.setCurrentIndex(i)
            else:
                self.path_edit.setText(data.source)
            self._fill_options(data.options)
            self._describe()
        finally:
            self._loading = False
        self.update_check()

    def _fill_kind(self, kind: str) -> None:
        named = kind in self._named
        self.name_combo.setVisible(named)
        self._form.labelForField(self.name_combo).setVisible(named)
        self.path_host.setVisible(not named)
        self._form.labelForField(self.path_host).setVisible(not named)
        if named:
            self.name_combo.clear()
            for name, desc in self._named[kind]:
                self.name_combo.addItem(name, name)
                self.name_combo.setItemData(self.name_combo.count() - 1, desc, Qt.ItemDataRole.ToolTipRole)
        self.add_option.clear()
        self.add_option.addItem("Add option…")
        self.add_option.addItems(list(KINDS[kind][1]))

    def _describe(self) -> None:
        if self.kind in self._named:
            desc = dict(self._named[self.kind]).get(self.name_combo.currentData() or "", "")
            self.description.setText(desc)
        else:
            self.description.setText(FILE_HINTS.get(self.kind, ""))

    def _kind_chosen(self, _index: int) -> None:
        self._fill_kind(self.kind)
        self._describe()
        if self.kind in self._named:
            self._commit_source()

    def _browse(self) -> None:
        spec = KINDS[self.kind][2]
        if spec == "dir":
            path = QFileDialog.getExistingDirectory(self, "Folder of images (one sub-folder per class)")
        else:
            path, _ = QFileDialog.getOpenFileName(self, "Data file", "", spec or "")
        if path:
            self.path_edit.setText(path)
            self._commit_source()

    def current_source(self) -> str:
        if self.kind in self._named:
            return self.name_combo.currentData() or ""
        return self.path_edit.text().strip()

    def _commit_source(self) -> None:
        if self._loading:
            return
        self._describe()
        source = self.current_source()
        if not source or source == self.document.project.data.source:
            return
        self.editor.run("set_settings", section="data", values={"source": source}, text="Set data source")

    # --- options ------------------------------------------------------------------------------------

    def _fill_options(self, options: dict) -> None:
        self.options_table.blockSignals(True)
        self.options_table.setRowCount(0)
        for name, value in options.items():
            r = self.options_table.rowCount()
            self.options_table.insertRow(r)
            key = QTableWidgetItem(name)
            key.setFlags(key.flags() & ~Qt.ItemFlag.ItemIsEditable)
            self.options_table.setItem(r, 0, key)
            self.options_table.setItem(r, 1, QTableWidgetItem(show_option(value)))
        self.options_table.blockSignals(False)

    def table_options(self) -> dict:
        out = {}
        for r in range(self.options_table.rowCount()):
            k, v = self.options_table.item(r, 0), self.options_table.item(r, 1)
            if k is None:
                continue
            value = parse_option(v.text() if v is not None else "")
            if value is not None:
                out[k.text()] = value
        return out

    def _add_option(self, index: int) -> None:
        if index <= 0:
            return
        name = self.add_option.itemText(index)
        self.add_option.setCurrentIndex(0)
        options = dict(self.document.project.data.options)
        if name in options:
            return
        r = self.options_table.rowCount()
        self.options_table.blockSignals(True)
        self.options_table.insertRow(r)
        key = QTableWidgetItem(name)
        key.setFlags(key.flags() & ~Qt.ItemFlag.ItemIsEditable)
        self.options_table.setItem(r, 0, key)
        self.options_table.setItem(r, 1, QTableWidgetItem(""))
        self.options_table.blockSignals(False)
        self.options_table.editItem(self.options_table.item(r, 1))

    def _remove_option(self) -> None:
        row = self.options_table.currentRow()
        if row >= 0:
            self.options_table.removeRow(row)
            self._options_edited()

    def _options_edited(self, *_args) -> None:
        if self._loading:
            return
        options = self.table_options()
        if options != self.document.project.data.options:
            self.editor.run("set_settings", section="data", values={"options": options}, text="Set data options")

    def _on_settings_changed(self, section: str) -> None:
        if section == "data":
            self.load_settings(keep_kind=True)
            QTimer.singleShot(0, self.preview_if_cheap)

    @Slot(bool)
    def dock_shown(self, visible: bool) -> None:
        """The dock's visibilityChanged: its tab was brought to the front (or it was opened)."""
        if visible:
            QTimer.singleShot(0, self.preview_if_cheap)

    def preview_if_cheap(self) -> None:
        """Built-in and generated data sets need no download and load in a moment: preview them as soon as
        the panel's dock comes to the front (`dock_shown`) or its source changes. Downloads and files wait
        for Load."""
        from layerloom.core.data.sources import loads_at_once

        key = self._current_key()
        if (not self.isVisible() or self.visibleRegion().isEmpty() or self.loading or key == self._auto_key
                or (self.prepared is not None and self.prepared_key == key)
                or not loads_at_once(self.document.project.data.source)):
            return
        self._auto_key = key  # once per settings: a failure is shown, not retried in a loop
        self._start_load(auto=True)

    def load_for_views(self) -> None:
        """A trained model was opened: load its data in the background when that is quick (a built-in set,
        or a local file under LOAD_FOR_VIEWS_BYTES), so feature maps have a probe sample and the sample picker
        samples. Downloads and large files wait for Load."""
        from layerloom.core.data.sources import loads_at_once

        source = self.document.project.data.source
        key = self._current_key()
        if self.loading or (self.prepared is not None and self.prepared_key == key):
            return
        if not loads_at_once(source):
            path = os.path.expanduser(source)
            try:
                small = os.path.isfile(path) and os.path.getsize(path) <= LOAD_FOR_VIEWS_BYTES
            except OSError:
                small = False
            if not small:
                return
        self._auto_key = key
        self._start_load(auto=True)

    # --- loading ------------------------------------------------------------------------------------

    @property
    def loading(self) -> bool:
        return self._thread is not None

    def load(self) -> None:
        """Load the project's data in a worker thread and show a preview (the Load button). During an
        automatic preview the click is kept: the Load runs when the preview ends, unless the preview loaded
        these very settings."""
        if self._thread is None:
            self._start_load(auto=False)
        elif self._auto_load and not self._load_queued:
            self._load_queued = True
            self.load_button.setEnabled(False)
            self.progress.setFormat("Previewing, then loading…")

    def _start_load(self, auto: bool) -> None:
        if self._thread is not None:
            return
        data, training = self.document.project.data, self.document.project.training
        source, options = data.source, dict(data.options)
        val_fraction, seed = float(training.val_fraction), int(training.seed)
        cancel = self._cancel = threading.Event()

        def job():
            prepared = load_prepared(source, options, val_fraction, seed, progress=task.report_progress, cancel=cancel)
            return prepared, data_key(source, options, val_fraction, seed)

        def failed(message: str) -> None:
            self._on_failed("cancelled" if cancel.is_set() else message)

        task = BackgroundTask(job, lambda pair: self._on_loaded(*pair), failed, self,
                              on_progress=lambda done, total, msg="": self._on_progress(int(done), int(total or 0),
                                                                                        str(msg)))
        self._thread, self._auto_load = task, auto
        self.progress.setRange(0, 0)
        self.progress.setFormat("Loading…")
        self.progress.setVisible(True)
        self.load_button.setEnabled(auto)  # a Load click during an automatic preview is kept (load)
        self.cancel_button.setEnabled(True)
        task.start()

    def cancel(self) -> None:
        self._load_queued = False
        if self._cancel is not None and self._thread is not None:
            self._cancel.set()
            self.progress.setFormat("Cancelling…")

    def shutdown(self, timeout_ms: int = 10000) -> None:
        """Cancel a load and wait for its thread (closing the window)."""
        if self._thread is not None:
            self.cancel()
            self._thread.wait(timeout_ms)
            self._end_load()

    def _end_load(self) -> None:
        self._thread, self._cancel, self._auto_load = None, None, False
        self.progress.setVisible(False)
        self.load_button.setEnabled(True)
        self.cancel_button.setEnabled(False)

    @Slot(int, int, str)
    def _on_progress(self, done: int, total: int, message: str) -> None:
        if total > 0:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(1000 * done / total))
            self.progress.setFormat(f"{message} {done / 1e6:.1f} / {total / 1e6:.1f} MB".strip())
        else:
            self.progress.setFormat(message or "Loading…")

    def _run_queued_load(self, done_key: str | None) -> None:
        """After a preview: the Load clicked meanwhile, unless the preview loaded the current settings (the
        same key gives the same tensors)."""
        queued, self._load_queued = self._load_queued, False
        if queued and done_key != self._current_key():
            self._start_load(auto=False)

    @Slot(object, str)
    def _on_loaded(self, prepared, key: str) -> None:
        self._end_load()
        self.show_prepared(prepared, key)
        self.prepared_loaded.emit(prepared, key)
        self._run_queued_load(key)

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self._end_load()
        self.prepared = None
        self.preview.show_failure(message)
        if message != "cancelled":
            self._run_queued_load(None)  # the settings may have changed since the preview started

    # --- preview ------------------------------------------------------------------------------------

    def show_prepared(self, prepared, key: str = "") -> None:
        """Show loaded data (from this panel or from a training run)."""
        self.prepared, self.prepared_key = prepared, key
        self.preview.show_prepared(prepared)
        self.update_check()

    def update_check(self) -> None:
        """The shape check of the loaded data against the network, with the fix it suggests."""
        if self.prepared is None or (self.prepared_key and self.prepared_key != self._current_key()):
            self.check_label.setText("Load the data to check it against the network's Input block."
                                     if self.prepared is None else
                                     "The data settings changed: load again to check them against the network.")
            return
        from layerloom.core.data import check_against_graph
        from layerloom.core.data.check import describe
        from layerloom.core.errors import LayerloomError

        try:
            problems = check_against_graph(self.prepared.info, self.document.graph)
        except LayerloomError as err:
            problems = [str(err)]
        if problems:
            items = "".join(f"<li>{p}</li>" for p in problems)
            self.check_label.setText(f"<span style='color:#d9534f'><b>The data does not fit the network:</b></span>"
                                     f"<ul style='margin-left:-20px'>{items}</ul>")
        else:
            self.check_label.setText(f"<span style='color:#3c9a5f'>✓ Fits the network: {describe(self.prepared.info)}"
                                     "</span>")

    def _current_key(self) -> str:
        data, training = self.document.project.data, self.document.project.training
        return data_key(data.source, dict(data.options), training.val_fraction, training.seed)
