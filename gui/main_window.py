"""The main window: the canvas in the centre, the block palette (left), the inspector (right) and the
problems list (bottom) in docks, the training docks beside them; menus and a toolbar made from the
editor's table of commands (gui/commands.py); a status bar with the network's size and its problems.
Files, recent files, autosave and recovery are in window_files.py, the problems chip in status_chip.py,
the trained weights' hand-over in trained_weights.py.

    window = MainWindow()              # an empty project; window.open_path(path) or .set_project(...)
    window.show()
    window.editor.run("auto_layout")   # what View → Auto-layout does
"""

from __future__ import annotations

from PySide6.QtCore import QByteArray, QSettings, QSize, Qt, QTimer, Signal
from PySide6.QtWidgets import QApplication, QDockWidget, QLabel, QMainWindow, QMenu, QMessageBox, QTabBar, QToolBar

from layerloom.gui import theme
from layerloom.gui.canvas import CanvasView
from layerloom.gui.document import Document
from layerloom.gui.editor import Editor
from layerloom.gui.inspector import Inspector, human, human_macs
from layerloom.gui.lesson_panel import LessonPanel, lesson_of
from layerloom.gui.palette import BlockPalette
from layerloom.gui.problems import ProblemsPanel
from layerloom.gui.recovery import Recovery
from layerloom.gui.status_chip import StatusChip
from layerloom.gui.training import DataPanel, LiveViews, TrainingController, TrainingPanel
from layerloom.gui.window_files import APP_NAME, WindowFiles

STATE_VERSION = 1
MENUS = (("file", "&File"), ("edit", "&Edit"), ("view", "&View"), ("training", "T&raining"), ("help", "&Help"))
FEATURE_TYPES = ("Conv2d", "Conv1d", "Dense", "LSTM", "GRU", "RNN")  # whose outputs the feature maps show first


class MainWindow(WindowFiles, QMainWindow):
    """Layerloom's editor window over one Document."""

    project_opened = Signal(str)  # the path of a project just opened or saved

    def __init__(self, document: Document | None = None, *, settings: QSettings | None = None,
                 recovery: Recovery | None = None, parent=None):
        super().__init__(parent)
        self.setObjectName("MainWindow")
        self.document = document or Document(parent=self)
        self.settings = settings if settings is not None else QSettings()
        self.recovery = recovery if recovery is not None else Recovery()
        self.recovery.start()
        self._reference = None
        self.menus: dict[str, object] = {}

        self.setWindowIcon(theme.app_icon())
        self.setAcceptDrops(True)
        self.setDockOptions(QMainWindow.DockOption.AnimatedDocks | QMainWindow.DockOption.AllowTabbedDocks)

        runs = self.settings.value("training/runs_dir", "")
        self.training = TrainingController(self.document, self, runs_root=runs if isinstance(runs, str) and runs
                                           else None)
        self.editor = Editor(self.document, window=self, parent=self)
        self.commands = self.editor.actions  # every command's QAction by key (File → Export… adds its own)
        self.canvas = CanvasView(self.editor, self)
        self.setCentralWidget(self.canvas)
        self.palette_panel = BlockPalette(self)
        self.inspector = Inspector(self.editor, self)
        self.problems = ProblemsPanel(self.document, self)
        self.palette_dock = self._dock("Blocks", "paletteDock", self.palette_panel,
                                       Qt.DockWidgetArea.LeftDockWidgetArea)
        self.inspector_dock = self._dock("Inspector", "inspectorDock", self.inspector,
                                         Qt.DockWidgetArea.RightDockWidgetArea)
        self.problems_dock = self._dock("Problems", "problemsDock", self.problems,
                                        Qt.DockWidgetArea.BottomDockWidgetArea)
        self.lesson_panel = LessonPanel(self)
        self.lesson_dock = self._dock("Lesson", "lessonDock", self.lesson_panel, Qt.DockWidgetArea.RightDockWidgetArea)
        self._make_training_docks()
        self.setCorner(Qt.Corner.BottomLeftCorner, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.setCorner(Qt.Corner.BottomRightCorner, Qt.DockWidgetArea.RightDockWidgetArea)

        self._make_menus()
        self.training.run_finished.connect(self._run_finished)
        self._make_toolbar()
        self._make_status_bar()
        self._refresh_icons()

        self.palette_panel.block_activated.connect(self._add_from_palette)
        self.editor.selection_changed.connect(self._selection_changed)
        self.editor.message.connect(lambda text: self.statusBar().showMessage(text, 8000))
        self.canvas.zoom_changed.connect(self._zoom_changed)
        self.problems.node_activated.connect(self.select_block)
        self.problems.counts_changed.connect(self._problem_counts)
        self.inspector.reference_requested.connect(self.show_block_reference)
        self.document.inferred.connect(self._update_totals)
        self.document.modified_changed.connect(self.setWindowModified)
        self.document.path_changed.connect(lambda _path: self._update_title())
        self.document.project_replaced.connect(self._update_title)
        self.document.project_replaced.connect(self._project_replaced)
        self.document.locked_changed.connect(self._locked_changed)

        self._start_autosave()
        self._restore_layout()
        self.document.project_replaced.connect(self._show_lesson_of_project)
        self._show_lesson_of_project()  # after the saved layout: a project without a lesson hides the dock
        self._zoom_changed(self.canvas.zoom_level())
        self._update_title()
        if self.document.report is not None:
            self._update_totals(self.document.report)
            self._problem_counts(self.problems.errors, self.problems.warnings)

    # --- construction -------------------------------------------------------------------------------

    def _make_training_docks(self) -> None:
        self.data_panel = DataPanel(self.editor, self)
        self.training_panel = TrainingPanel(self.editor, self.training, self)
        self.live_views = LiveViews(self.training, self)
        self.data_dock = self._dock("Data", "dataDock", self.data_panel, Qt.DockWidgetArea.RightDockWidgetArea)
        self.training_dock = self._dock("Training", "trainingDock", self.training_panel,
                                        Qt.DockWidgetArea.RightDockWidgetArea)
        self.views_dock = self._dock("Live views", "liveViewsDock", self.live_views,
                                     Qt.DockWidgetArea.BottomDockWidgetArea)
        self.tabifyDockWidget(self.inspector_dock, self.training_dock)
        self.tabifyDockWidget(self.training_dock, self.data_dock)
        self.inspector_dock.raise_()
        self.tabifyDockWidget(self.problems_dock, self.views_dock)
        self.problems_dock.raise_()
        self.views_dock.visibilityChanged.connect(lambda _v: self.live_views.update_capture())
        self.data_dock.visibilityChanged.connect(self.data_panel.dock_shown)
        self.training_panel.start_requested.connect(self.start_training)
        self.training.state_changed.connect(self.editor.refresh)  # Train, Pause/Resume, Stop
        self.training.message.connect(lambda text: self.statusBar().showMessage(text, 10000))
        self.training.run_started.connect(lambda _run: self._training_started())
        self.data_panel.prepared_loaded.connect(self.training.offer_prepared)
        self.training.data_loaded.connect(self.data_panel.show_prepared)
        self._project_replaced()

    def _dock(self, title: str, name: str, widget, area) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                         | QDockWidget.DockWidgetFeature.DockWidgetFloatable
                         | QDockWidget.DockWidgetFeature.DockWidgetClosable)
        self.addDockWidget(area, dock)
        return dock

    def _make_menus(self) -> None:
        """The menus hold the commands of their place in the table, and the window's own entries: recent
        files, the docks, the theme."""
        self.addActions(list(self.editor.actions.values()))  # their shortcuts work anywhere in the window
        bar = self.menuBar()
        for key, title in MENUS:
            self.menus[key] = menu = bar.addMenu(title)
            self.editor.fill(menu, key)
        file, view, train = self.menus["file"], self.menus["view"], self.menus["training"]
        self.recent_menu = QMenu("Open &Recent", file)
        file.insertMenu(next(a for a in file.actions() if a.isSeparator()), self.recent_menu)
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        view.addSeparator()
        for dock in (self.palette_dock, self.inspector_dock, self.problems_dock):
            view.addAction(dock.toggleViewAction())
        self.theme_menu = view.addMenu("&Theme")
        self.editor.fill(self.theme_menu, "theme")
        train.addSeparator()
        for dock in (self.data_dock, self.training_dock, self.views_dock):
            train.addAction(dock.toggleViewAction())

    def _make_toolbar(self) -> None:
        tb = QToolBar("Toolbar", self)
        tb.setObjectName("mainToolbar")
        tb.setMovable(False)
        tb.setIconSize(QSize(20, 20))
        tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)
        self.editor.fill(tb, "toolbar")
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, tb)
        self.toolbar = tb
        self.menus["view"].addAction(tb.toggleViewAction())

    def _make_status_bar(self) -> None:
        bar = self.statusBar()
        bar.setSizeGripEnabled(True)
        self.problem_chip = StatusChip(self)
        self.problem_chip.clicked.connect(self.show_problems)
        self.params_label = QLabel(self)
        self.params_label.setObjectName("statusChip")
        self.params_label.setToolTip("Trainable parameters of the whole network")
        self.macs_label = QLabel(self)
        self.macs_label.setObjectName("statusChip")
        self.macs_label.setToolTip("Multiply-accumulate operations per sample (one forward pass)")
        self.zoom_label = QLabel("100 %", self)
        self.zoom_label.setObjectName("statusChip")
        self.zoom_label.setToolTip("Zoom (Ctrl+wheel or Ctrl+plus/minus; Ctrl+0 fits)")
        for w in (self.problem_chip, self.params_label, self.macs_label, self.zoom_label):
            bar.addPermanentWidget(w)

    def _refresh_icons(self) -> None:
        self.editor.refresh_icons()
        self.recent_menu.setIcon(theme.icon("recent"))
        self.editor.refresh()  # the theme's check mark

    def changeEvent(self, event) -> None:
        if event.type() in (event.Type.ApplicationPaletteChange, event.Type.PaletteChange) \
                and hasattr(self, "recent_menu"):
            self._refresh_icons()
        super().changeEvent(event)

    # --- layout and settings ------------------------------------------------------------------------

    def _restore_layout(self) -> None:
        geometry = self.settings.value("window/geometry")
        state = self.settings.value("window/state")
        self._default_docks = True
        if isinstance(geometry, QByteArray | bytes) and geometry:
            self.restoreGeometry(geometry)
        else:
            self.resize(1440, 880)
        if isinstance(state, QByteArray | bytes) and state and self.restoreState(state, STATE_VERSION):
            self._default_docks = False

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._default_docks:  # first start: sizes that suit the docks' contents, once laid out
            self._default_docks = False
            QTimer.singleShot(0, self._default_dock_sizes)
        else:  # a restored layout leaves the same stray tab bars
            QTimer.singleShot(0, self._hide_stray_tab_bars)

    def _default_dock_sizes(self) -> None:
        self.resizeDocks([self.palette_dock, self.inspector_dock], [275, 345], Qt.Orientation.Horizontal)
        self.resizeDocks([self.problems_dock], [130], Qt.Orientation.Vertical)
        self._hide_stray_tab_bars()

    def _hide_stray_tab_bars(self) -> None:
        """Qt 6 leaves a copy of a dock group's tab bar on screen when a second group of tabbed docks is
        made (here "Problems | Live views" drawn over the block palette). The tab bars the layout uses sit
        against a dock of their group; hide the others."""
        docks = [d for d in self.findChildren(QDockWidget) if d.isVisible() and not d.isFloating()]
        for bar in self.findChildren(QTabBar, options=Qt.FindChildOption.FindDirectChildrenOnly):
            if not bar.isVisible():
                continue
            titles = {bar.tabText(i).replace("&", "") for i in range(bar.count())}
            r = bar.geometry()
            if not any(_touches(d.geometry(), r) for d in docks if d.windowTitle().replace("&", "") in titles):
                bar.hide()

    def save_layout(self) -> None:
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState(STATE_VERSION))
        self.settings.sync()

    def set_theme(self, name: str) -> None:
        self.settings.setValue("theme", name)
        app = QApplication.instance()
        if app is not None:
            theme.apply_theme(app, name)
        self._refresh_icons()

    # --- the document -------------------------------------------------------------------------------

    def _update_title(self) -> None:
        self.setWindowTitle(f"{self.document.title}[*] — {APP_NAME}")
        self.setWindowModified(self.document.modified)

    @property
    def model_weights(self) -> dict | None:
        """The state dict of the trained model in the window (a finished run, an opened bundle), or None."""
        source = self.training.trained_source
        return source.state if source is not None else None

    def _run_finished(self, last) -> None:
        """A finished run's weights belong to the project from now on (saved with it)."""
        if last.kind == "finished":
            from layerloom.gui.trained_weights import remember_run

            remember_run(self)

    def _update_totals(self, report) -> None:
        self.params_label.setText(f"{human(report.total_params)} parameters")
        self.macs_label.setText(f"{human_macs(report.total_macs)} MACs")

    def _problem_counts(self, errors: int, warnings: int) -> None:
        self.problem_chip.show_counts(errors, warnings)
        title = "Problems" + (f" ({errors + warnings})" if errors + warnings else "")
        self.problems_dock.setWindowTitle(title)

    def _zoom_changed(self, zoom: float) -> None:
        self.zoom_label.setText(f"{round(zoom * 100)} %")

    def _selection_changed(self, ids: list[str]) -> None:
        """One block selected: the feature maps show its outputs (when it has some worth showing)."""
        if len(ids) == 1 and ids[0] in self.document.graph:
            node = self.document.graph.node(ids[0])
            if node.type not in ("Input", "Output"):
                self.training.set_feature_block(node.name, node.type)

    def select_block(self, node_id: str) -> None:
        self.editor.select([node_id])
        self.canvas.setFocus(Qt.FocusReason.OtherFocusReason)

    def _add_from_palette(self, type_id: str) -> None:
        if self.editor.run("place_block", type_id=type_id):
            self.canvas.setFocus(Qt.FocusReason.OtherFocusReason)

    def show_problems(self) -> None:
        self.problems_dock.show()
        self.problems_dock.raise_()

    # --- training -------------------------------------------------------------------------------------

    def start_training(self) -> bool:
        """Train (F5): the Training panel and the live views come forward."""
        if self.training.running:
            return False
        return self.training.start()

    def _training_started(self) -> None:
        moved = self._bring_forward(self.views_dock)
        if self.views_dock.height() < self.height() * 0.35 and not self.views_dock.isFloating():
            self.resizeDocks([self.views_dock], [int(self.height() * 0.45)], Qt.Orientation.Vertical)
            moved = True
        moved = self._bring_forward(self.training_dock) or moved
        if moved:
            QTimer.singleShot(0, self._hide_stray_tab_bars)  # once the docks are laid out
        if self.training.feature_block is None:  # the first block with weights, so feature maps show at once
            for node in self.document.graph.topological_order():
                n = self.document.graph.node(node) if isinstance(node, str) else node
                if n.type in FEATURE_TYPES:
                    self.training.set_feature_block(n.name, n.type)
                    break

    @staticmethod
    def _bring_forward(dock: QDockWidget) -> bool:
        """Show `dock` with its tab in front; True when that changed anything. A dock already in view is left
        alone: raising it anyway repaints the whole window (~35 ms at the start of every run)."""
        if dock.isVisible() and not dock.visibleRegion().isEmpty():
            return False
        dock.show()
        dock.raise_()
        return True

    def _locked_changed(self, reason: str) -> None:
        if reason:  # (the editor turns the structural commands off and on again by itself)
            self.statusBar().showMessage(reason, 8000)

    def _project_replaced(self) -> None:
        self.training.set_feature_block(None)
        self.training.forget_trained()
        from layerloom.core.runs import run_roots

        roots = run_roots(self.training.runs_root)  # the window's folder, the per-user one and ./runs
        self.live_views.set_runs_root(roots, self.document.project.name or self.document.title)

    def _show_lesson_of_project(self) -> None:
        """A project with a lesson shows it in the Lesson dock; one without hides the dock."""
        text = lesson_of(self.document.project)
        self.lesson_panel.set_lesson(text)
        self.lesson_dock.setVisible(bool(text))
        self.editor.refresh()  # View → Show Lesson is there only for a project with a lesson

    def show_lesson(self) -> None:
        """View → Show Lesson: the Lesson dock again (after it was closed)."""
        if lesson_of(self.document.project):
            self.lesson_dock.show()
            self.lesson_dock.raise_()

    def stop_training_for(self, action: str) -> bool:
        """True when no run goes on, or the user agreed to stop it (it stops, keeping a checkpoint)."""
        if not self.training.running:
            return True
        box = QMessageBox(self)
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle(APP_NAME)
        box.setText(f"The network is training. Stop training before {action}?")
        box.setInformativeText("Training stops after the current step; a checkpoint of the weights is kept in "
                               "the run folder.")
        box.setStandardButtons(QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        if box.exec() != QMessageBox.StandardButton.Yes:
            return False
        self.statusBar().showMessage("Stopping training…")
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            return self.training.stop_and_wait()
        finally:
            QApplication.restoreOverrideCursor()

    # --- help -----------------------------------------------------------------------------------------

    def show_block_reference(self, type_id: str | None = None) -> None:
        from layerloom.gui.block_reference import BlockReference

        if self._reference is None:
            self._reference = BlockReference(self)
        if not type_id and self.inspector.node_id:
            type_id = self.document.graph.node(self.inspector.node_id).type
        if type_id:
            self._reference.show_block(type_id)
        self._reference.show()
        self._reference.raise_()
        self._reference.activateWindow()

    def show_system_info(self) -> None:
        from layerloom.gui.system_info import show_system_info

        show_system_info(self)

    def show_about(self) -> None:
        from layerloom.gui.about import AboutDialog

        AboutDialog(self).exec()

    # --- events ---------------------------------------------------------------------------------------

    @staticmethod
    def _project_urls(mime) -> list[str]:
        if mime is None or not mime.hasUrls():
            return []
        from layerloom.core.opening import recognised

        return [u.toLocalFile() for u in mime.urls() if u.isLocalFile() and recognised(u.toLocalFile())]

    def dragEnterEvent(self, event) -> None:
        if self._project_urls(event.mimeData()):
            event.setDropAction(Qt.DropAction.CopyAction)
            event.accept()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:
        self.dragEnterEvent(event)

    def dropEvent(self, event) -> None:
        files = self._project_urls(event.mimeData())
        if not files:
            event.ignore()
            return
        event.setDropAction(Qt.DropAction.CopyAction)
        event.accept()
        # Open after the drop returns, so the source application is not kept waiting on a dialog.
        QTimer.singleShot(0, lambda: self.open_path(files[0], ask=True))

    def closeEvent(self, event) -> None:
        if not self.stop_training_for("closing") or not self.maybe_save("closing"):
            event.ignore()
            return
        self.data_panel.shutdown()
        self.save_layout()
        self.autosave_timer.stop()
        self.recovery.clean_exit()
        if self._reference is not None:
            self._reference.close()
        event.accept()


def _touches(dock, bar, slack: int = 3) -> bool:
    """Whether a tab bar's rectangle lies against a dock's (above, below, or beside it) and overlaps it."""
    beside = abs(dock.right() + 1 - bar.left()) <= slack or abs(bar.right() + 1 - dock.left()) <= slack
    stacked = abs(dock.bottom() + 1 - bar.top()) <= slack or abs(bar.bottom() + 1 - dock.top()) <= slack
    overlaps_x = bar.left() <= dock.right() and dock.left() <= bar.right()
    overlaps_y = bar.top() <= dock.bottom() and dock.top() <= bar.bottom()
    return (stacked and overlaps_x) or (beside and overlaps_y)
