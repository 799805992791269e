"""Run history: the project's runs (date, settings, epochs, best metric, status), newest first. Select one or two
to draw their curves on top of each other (smoothed step loss, validation loss, and the watched metric);
"Open folder" shows a run's files in the file manager; "Delete…" removes the selected runs' folders after a
confirmation (never a run that is still running). A failed or interrupted run says so in the Status column.

    view.set_runs_root("runs", "lenet5")   # lists the runs; on_event(Finished/Failed) lists them again
    view.set_runs_root(run_roots(), "lenet5")   # …from several folders (core/runs.py: per-user and ./runs)
"""

from __future__ import annotations

import os

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QMenu,
    QMessageBox,
    QPushButton,
    QSplitter,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
)

from layerloom.core.runs import list_project_runs
from layerloom.core.training.events import Failed, Finished, RunStarted
from layerloom.core.training.history import RunCurves, RunDeleteError, RunSummary, delete_run, load_run
from layerloom.gui.plots.common import (
    PlotView,
    ema,
    fit_legend,
    graphics_widget,
    legend_above,
    plot_colors,
    series_color,
    style_legend,
    style_plot,
    write_csv,
)

COLUMNS = ("Run", "Started", "Epochs", "Settings", "Best", "Status")
STATUS_COLUMN = 5


class RunHistoryView(PlotView):
    EXPORT_NAME = "runs"

    def __init__(self, parent=None):
        super().__init__(parent)
        self._reload_pending = False  # a reload asked for while hidden (reload_when_shown)
        self.root: str | None = None  # the first of `roots`
        self.roots: list[str] = []
        self.project_name: str | None = None
        self.runs: list[RunSummary] = []
        self.selected: list[str] = []  # paths, at most two, in the order picked
        self.curves: dict[str, RunCurves] = {}

        self.table = QTreeWidget(self)
        self.table.setHeaderLabels(COLUMNS)
        self.table.setRootIsDecorated(False)
        self.table.setAlternatingRowColors(True)
        self.table.setSelectionMode(QTreeWidget.SelectionMode.ExtendedSelection)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        self.table.itemDoubleClicked.connect(
            lambda item, _col: self.open_folder(item.data(0, Qt.ItemDataRole.UserRole)))
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._context_menu)
        self.open_button = QPushButton("Open folder", self)
        self.open_button.setToolTip("Show the selected run's files in the file manager")
        self.open_button.clicked.connect(lambda: self.open_folder(self.selected[-1] if self.selected else None))
        self.delete_button = QPushButton("Delete…", self)
        self.delete_button.setToolTip("Delete the selected runs' folders (checkpoints, logs); not a running run")
        self.delete_button.clicked.connect(lambda: self.delete_runs(list(self.selected)))
        self.refresh_button = QPushButton("Refresh", self)
        self.refresh_button.clicked.connect(self.reload)
        self.info = QLabel(self)
        self.info.setObjectName("subtle")
        self.graphics = graphics_widget()
        self.loss_plot = self.graphics.addPlot(row=1, col=0)  # the legends above the plots, not over the curves
        self.metric_plot = self.graphics.addPlot(row=1, col=1)
        self.loss_legend = legend_above(self.graphics, self.loss_plot, row=0, col=0)
        self.metric_legend = legend_above(self.graphics, self.metric_plot, row=0, col=1)

        head = QHBoxLayout()
        head.setContentsMargins(6, 2, 6, 0)
        head.addWidget(self.info, 1)
        head.addWidget(self.refresh_button)
        head.addWidget(self.open_button)
        head.addWidget(self.delete_button)
        head.addWidget(self.export_buttons())
        split = QSplitter(Qt.Orientation.Vertical, self)
        split.addWidget(self.table)
        split.addWidget(self.graphics)
        split.setStretchFactor(0, 2)
        split.setStretchFactor(1, 3)
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.setSpacing(2)
        box.addLayout(head)
        box.addWidget(split, 1)
        self._restyle()
        self._update_buttons()

    # --- the contract ------------------------------------------------------------------------------

    def set_runs_root(self, path: str | list[str] | None, project_name: str | None = None) -> None:
        """The folder (or folders) runs are listed from, and the project whose runs they are."""
        self.roots = [path] if isinstance(path, str) else list(path or [])
        self.root, self.project_name = (self.roots[0] if self.roots else None), project_name
        self.reload()

    def reset(self, run: RunStarted | None = None) -> None:
        pass  # the history does not change when a run starts; it is listed again when it ends

    def on_event(self, event) -> None:
        if isinstance(event, Finished | Failed) and self.root:
            self.reload_when_shown()

    def reload_when_shown(self) -> None:
        """Reload now if the view is on screen, else the next time it shows (a run's start or end then reads
        no run folders on the GUI thread while training)."""
        if self.isVisible():
            self.reload()
        else:
            self._reload_pending = True

    def showEvent(self, event) -> None:
        if self._reload_pending:
            self._reload_pending = False
            self.reload()
        super().showEvent(event)

    def reload(self) -> None:
        self._reload_pending = False
        keep = list(self.selected)
        self.runs = list_project_runs(self.project_name, self.roots)
        self.curves = {}
        self.table.blockSignals(True)
        self.table.clear()
        for r in self.runs:
            planned = f"/{r.epochs_planned}" if r.epochs_planned else ""
            best = r.best_text + (f" (epoch {r.best_epoch + 1})" if r.best_epoch is not None else "")
            item = QTreeWidgetItem([r.name, r.started.strftime("%Y-%m-%d %H:%M") if r.started else "",
                                    f"{r.epochs_done}{planned}", r.settings_text, best, r.status])
            item.setData(0, Qt.ItemDataRole.UserRole, r.path)
            item.setToolTip(0, r.path)
            item.setToolTip(STATUS_COLUMN, r.status_text)
            item.setToolTip(3, r.settings_text + (f"\n{r.device_name}" if r.device_name else ""))
            self.table.addTopLevelItem(item)
            if r.path in keep:
                item.setSelected(True)
        self.table.blockSignals(False)
        for i in range(len(COLUMNS)):
            self.table.resizeColumnToContents(i)
        self.selected = [p for p in keep if any(r.path == p for r in self.runs)]
        where = " and ".join(r for r in self.roots if os.path.isdir(r)) or self.root or "no folder"
        self.info.setText(f"{len(self.runs)} run{'s' if len(self.runs) != 1 else ''} in {where}"
                          + ("" if not self.runs else " · select two to compare"))
        self._update_buttons()
        self._changed()

    def select_runs(self, paths: list[str]) -> None:
        """Select these runs (at most the last two count), as a person would in the list."""
        self.table.clearSelection()
        for i in range(self.table.topLevelItemCount()):
            item = self.table.topLevelItem(i)
            if item.data(0, Qt.ItemDataRole.UserRole) in paths:
                item.setSelected(True)
        self.selected = [p for p in paths if any(r.path == p for r in self.runs)][-2:]
        self._update_buttons()
        self._changed()

    def open_folder(self, path: str | None) -> bool:
        if not path or not os.path.isdir(path):
            return False
        return QDesktopServices.openUrl(QUrl.fromLocalFile(os.path.abspath(path)))

    # --- deleting -----------------------------------------------------------------------------------

    def _deletable(self, paths: list[str]) -> bool:
        by_path = {r.path: r for r in self.runs}
        return bool(paths) and all(p in by_path and by_path[p].status != "running" for p in paths)

    def delete_runs(self, paths: list[str]) -> list[str]:
        """Ask, then delete these runs' folders; returns the paths deleted. A running run is never deleted."""
        if not self._deletable(paths):
            return []
        names = [os.path.basename(p) for p in paths]
        box = QMessageBox(QMessageBox.Icon.Warning, "Delete runs" if len(paths) > 1 else "Delete run",
                          f"Delete {' and '.join(names)}?", QMessageBox.StandardButton.Cancel, self)
        box.setInformativeText("The run folder" + ("s" if len(paths) > 1 else "") + " and everything in "
                               + ("them" if len(paths) > 1 else "it") + " (checkpoints, logs) will be removed. "
                               "This cannot be undone.")
        delete = box.addButton("Delete", QMessageBox.ButtonRole.DestructiveRole)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.exec()
        if box.clickedButton() is not delete:
            return []
        deleted, problems = [], []
        for path in paths:
            try:
                delete_run(path)
                deleted.append(path)
            except RunDeleteError as err:
                problems.append(str(err))
        self.reload()
        if problems:
            QMessageBox.warning(self, "Delete run", "\n".join(problems))
        return deleted

    def _context_menu(self, pos) -> None:
        item = self.table.itemAt(pos)
        if item is None:
            return
        path = item.data(0, Qt.ItemDataRole.UserRole)
        menu = QMenu(self)
        menu.addAction("Open folder", lambda: self.open_folder(path))
        delete = menu.addAction("Delete run…", lambda: self.delete_runs([path]))
        delete.setEnabled(self._deletable([path]))
        menu.popup(self.table.viewport().mapToGlobal(pos))

    # --- selection ----------------------------------------------------------------------------------

    def _selection_changed(self) -> None:
        now = [it.data(0, Qt.ItemDataRole.UserRole) for it in self.table.selectedItems()]
        order = [p for p in self.selected if p in now] + [p for p in now if p not in self.selected]
        if len(order) > 2:  # keep the two picked last
            drop = order[:-2]
            order = order[-2:]
            self.table.blockSignals(True)
            for i in range(self.table.topLevelItemCount()):
                item = self.table.topLevelItem(i)
                if item.data(0, Qt.ItemDataRole.UserRole) in drop:
                    item.setSelected(False)
            self.table.blockSignals(False)
        self.selected = order
        self._update_buttons()
        self._changed()

    def _update_buttons(self) -> None:
        self.open_button.setEnabled(bool(self.selected))
        self.delete_button.setEnabled(self._deletable(self.selected))

    # --- drawing ------------------------------------------------------------------------------------

    def _restyle(self) -> None:
        self.graphics.setBackground(plot_colors()["background"])
        style_plot(self.loss_plot, left="loss", bottom="optimizer step")
        style_plot(self.metric_plot, left="metric", bottom="epoch")
        for legend in (self.loss_legend, self.metric_legend):
            style_legend(legend)

    def _curves(self, path: str) -> RunCurves:
        if path not in self.curves:
            self.curves[path] = load_run(path)
        return self.curves[path]

    def _redraw(self) -> None:
        for p, legend in ((self.loss_plot, self.loss_legend), (self.metric_plot, self.metric_legend)):
            p.clear()
            legend.clear()
        by_path = {r.path: r for r in self.runs}
        metric = None
        for k, path in enumerate(self.selected):
            run = by_path.get(path)
            if run is None:
                continue
            c = self._curves(path)
            color = series_color("run_a" if k == 0 else "run_b")
            faint = series_color("run_a" if k == 0 else "run_b", 60)
            label = run.name
            if len(c.step):
                raw = self.loss_plot.plot(c.step, c.loss, pen=pg.mkPen(faint, width=1))
                raw.setDownsampling(auto=True, method="peak")
                raw.setClipToView(True)
                self.loss_plot.plot(c.step, ema(c.loss, 0.9), pen=pg.mkPen(color, width=2), name=f"{label} (train)")
            ep_steps = np.array([r.get("step", 0) for r in c.epochs], np.float64)
            val = np.array([np.nan if r.get("val_loss") is None else r["val_loss"] for r in c.epochs], np.float64)
            ok = np.isfinite(val)
            if ok.any():
                self.loss_plot.plot(ep_steps[ok], val[ok], pen=pg.mkPen(color, width=1.5, style=Qt.PenStyle.DashLine),
                                    symbol="o", symbolSize=6, symbolBrush=color, symbolPen=None,
                                    name=f"{label} (validation)")
            metric = metric or run.metric
            values = np.array([np.nan if r.get(metric) is None else r[metric] for r in c.epochs], np.float64)
            epochs = np.array([r.get("epoch", i) for i, r in enumerate(c.epochs)], np.float64) + 1
            good = np.isfinite(values)
            if good.any():
                scale = 100.0 if metric.endswith("accuracy") else 1.0
                self.metric_plot.plot(epochs[good], values[good] * scale, pen=pg.mkPen(color, width=2), symbol="o",
                                      symbolSize=6, symbolBrush=color, symbolPen=None, name=label)
        if metric:
            unit = " (%)" if metric.endswith("accuracy") else ""
            style_plot(self.metric_plot, left=metric.replace("_", " ") + unit, bottom="epoch")
        self._fit_legends()

    def _fit_legends(self) -> None:
        half = self.graphics.width() / 2  # the two plots share the width
        for legend in (self.loss_legend, self.metric_legend):
            fit_legend(legend, half)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._fit_legends()

    def export_widget(self):
        return self.graphics

    def export_csv(self, path: str) -> None:
        """The listed runs: folder, date, epochs, settings, metric and best value."""
        write_csv(path, ["run", "started", "epochs", "settings", "metric", "best", "best_epoch", "status", "path"],
                  ([r.name, r.started.isoformat(sep=" ") if r.started else "", r.epochs_done, r.settings_text,
                    r.metric, r.best, None if r.best_epoch is None else r.best_epoch + 1, r.status, r.path]
                   for r in self.runs))
