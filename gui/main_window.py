"""The main window: the canvas in the centre, the block palette (left), the inspector (right) and the
problems list (bottom) in docks; menus and a toolbar with the standard shortcuts; a status bar with the
network's size and its problems; files, recent files, autosave and crash recovery.

    window = MainWindow()              # an empty project; window.open_path(path) or .set_project(...)
    window.show()
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from PySide6.QtCore import QByteArray, QRectF, QSettings, QSize, QStandardPaths, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup, QColor, QFont, QFontMetrics, QKeySequence, QPainter, QPalette
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QStyle,
    QTabBar,
    QToolBar,
    QWidget,
)

from layerloom.core.errors import LayerloomError, ProjectError
from layerloom.gui import theme
from layerloom.gui.canvas import CanvasView
from layerloom.gui.colors import ERROR_COLOR, WARNING_COLOR
from layerloom.gui.document import Document
from layerloom.gui.inspector import Inspector, human, human_macs
from layerloom.gui.palette import BlockPalette
from layerloom.gui.problems import ProblemsPanel
from layerloom.gui.recovery import AUTOSAVE_INTERVAL_MS, AutosaveSoon, Recovery
from layerloom.gui.training import DataPanel, LiveViews, TrainingController, TrainingPanel

APP_NAME = "Layerloom"
PROJECT_FILTER = "Layerloom projects and bundles (*.json *.layerloom);;All files (*)"
MAX_RECENT = 10
STATE_VERSION = 1
MAX_LISTED_PROBLEMS = 12

Std = QKeySequence.StandardKey


class StatusChip(QWidget):
    """The problems count in the status bar: a red pill for errors, an amber one for warnings, quiet text
    when all is well. Clicking it shows the problems list."""

    clicked = Signal()
    COLORS = {"error": (ERROR_COLOR, "#ffffff"), "warning": (WARNING_COLOR, "#1f1f1f")}

    def __init__(self, parent=None):
        super().__init__(parent)
        self.kind = "ok"
        self._text = ""
        self.setCursor(Qt.CursorShape.PointingHandCursor)

    def text(self) -> str:
        return self._text

    def set_state(self, kind: str, text: str) -> None:
        self.kind, self._text = kind, text
        self.updateGeometry()
        self.update()

    def _font(self) -> QFont:
        font = QFont(self.font())
        font.setBold(self.kind != "ok")
        return font

    def sizeHint(self) -> QSize:
        fm = QFontMetrics(self._font())
        return QSize(fm.horizontalAdvance(self._text) + 22, fm.height() + 6)

    def minimumSizeHint(self) -> QSize:
        return self.sizeHint()

    def paintEvent(self, _event) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        fm = QFontMetrics(self._font())
        h = fm.height() + 4
        rect = QRectF(2, (self.height() - h) / 2, self.width() - 4, h)
        if self.kind in self.COLORS:
            bg, fg = self.COLORS[self.kind]
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(QColor(bg))
            p.drawRoundedRect(rect, h / 2, h / 2)
            p.setPen(QColor(fg))
        else:
            p.setPen(self.palette().color(QPalette.ColorRole.PlaceholderText))
        p.setFont(self._font())
        p.drawText(rect, Qt.AlignmentFlag.AlignCenter, self._text)
        p.end()

    def mousePressEvent(self, event) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self.clicked.emit()
        super().mousePressEvent(event)


class MainWindow(QMainWindow):
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
        self._autosaved_revision: int | None = None
        self._reference = None
        self.commands: dict[str, QAction] = {}
        self.menus: dict[str, object] = {}

        self.setWindowIcon(theme.app_icon())
        self.setAcceptDrops(True)
        self.setDockOptions(QMainWindow.DockOption.AnimatedDocks | QMainWindow.DockOption.AllowTabbedDocks)

        self.canvas = CanvasView(self.document, self)
        self.setCentralWidget(self.canvas)
        self.palette_panel = BlockPalette(self)
        self.inspector = Inspector(self.document, self)
        self.problems = ProblemsPanel(self.document, self)
        self.palette_dock = self._dock("Blocks", "paletteDock", self.palette_panel,
                                       Qt.DockWidgetArea.LeftDockWidgetArea)
        self.inspector_dock = self._dock("Inspector", "inspectorDock", self.inspector,
                                         Qt.DockWidgetArea.RightDockWidgetArea)
        self.problems_dock = self._dock("Problems", "problemsDock", self.problems,
                                        Qt.DockWidgetArea.BottomDockWidgetArea)
        self._make_training_docks()
        self.setCorner(Qt.Corner.BottomLeftCorner, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.setCorner(Qt.Corner.BottomRightCorner, Qt.DockWidgetArea.RightDockWidgetArea)

        self._make_actions()
        self._make_menus()
        from layerloom.gui.export_dialog import add_export_actions

        add_export_actions(self)
        self.training.run_finished.connect(self._run_finished)
        self._make_toolbar()
        self._make_status_bar()

        self.palette_panel.block_activated.connect(self.add_block)
        self.canvas.selection_changed.connect(self._selection_changed)
        self.canvas.zoom_changed.connect(self._zoom_changed)
        self.problems.node_activated.connect(self.select_block)
        self.problems.counts_changed.connect(self._problem_counts)
        self.inspector.reference_requested.connect(self.show_block_reference)
        self.document.inferred.connect(self._update_totals)
        self.document.refused.connect(self.show_refusal)
        self.document.modified_changed.connect(self.setWindowModified)
        self.document.path_changed.connect(lambda _path: self._update_title())
        self.document.project_replaced.connect(self._update_title)
        self.document.project_replaced.connect(self._project_replaced)
        self.document.locked_changed.connect(self._locked_changed)
        stack = self.document.undo_stack
        stack.canUndoChanged.connect(self._undo_state_changed)
        stack.canRedoChanged.connect(self._undo_state_changed)

        self.autosave_timer = QTimer(self)
        self.autosave_timer.setInterval(AUTOSAVE_INTERVAL_MS)
        self.autosave_timer.timeout.connect(self.autosave_now)
        self.autosave_timer.start()
        self.autosave_soon = AutosaveSoon(self.document, self.autosave_now, self)  # and seconds after each edit

        self._restore_layout()
        self._zoom_changed(self.canvas.zoom_level())
        self._update_title()
        self._selection_changed([])
        if self.document.report is not None:
            self._update_totals(self.document.report)
            self._problem_counts(self.problems.errors, self.problems.warnings)

    # --- construction -------------------------------------------------------------------------------

    def _make_training_docks(self) -> None:
        runs = self.settings.value("training/runs_dir", "")
        self.training = TrainingController(self.document, self, runs_root=runs if isinstance(runs, str) and runs
                                           else None)
        self.data_panel = DataPanel(self.document, self)
        self.training_panel = TrainingPanel(self.document, self.training, self)
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
        self.training.state_changed.connect(self._training_state)
        self.training.message.connect(lambda text: self.statusBar().showMessage(text, 10000))
        self.training.run_started.connect(lambda _run: self._training_started())
        self.data_panel.bundle_loaded.connect(self.training.offer_bundle)
        self.training.data_loaded.connect(self.data_panel.show_bundle)
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

    def _action(self, key: str, text: str, slot=None, shortcut=None, icon: str | None = None,
                tip: str | None = None) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            shortcuts = shortcut if isinstance(shortcut, list) else [shortcut]
            keys = []
            for s in shortcuts:
                if isinstance(s, QKeySequence.StandardKey):
                    keys += QKeySequence.keyBindings(s)
                else:
                    keys.append(QKeySequence(s))
            action.setShortcuts([k for k in keys if not k.isEmpty()])
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        if slot is not None:
            action.triggered.connect(lambda _checked=False: slot())
        action.setData(icon)
        if tip:
            action.setStatusTip(tip)
        self._set_tooltip(action, tip or text.replace("&", "").replace("…", ""))
        self.addAction(action)
        self.commands[key] = action
        return action

    @staticmethod
    def _set_tooltip(action: QAction, text: str) -> None:
        shortcut = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
        action.setToolTip(f"{text} ({shortcut})" if shortcut else text)

    def _make_actions(self) -> None:
        c = self.canvas
        a = self._action
        a("new", "&New…", self.new_project, Std.New, "new", "Start a new project from a template")
        a("open", "&Open…", self.open_dialog, Std.Open, "open", "Open a project file or a .layerloom bundle")
        a("save", "&Save", self.save, Std.Save, "save", "Save the project")
        a("save_as", "Save &As…", self.save_as, Std.SaveAs, "save-as", "Save the project under a new name")
        a("save_bundle", "Save as &Bundle…", self.save_bundle, None, "save-as",
          "Save the network with its trained weights, settings, history and preprocessing in one .layerloom file")
        a("quit", "&Quit", self.close, Std.Quit, "quit", "Close the window")
        self.commands["quit"].setMenuRole(QAction.MenuRole.QuitRole)

        stack = self.document.undo_stack
        undo = stack.createUndoAction(self, "&Undo")
        redo = stack.createRedoAction(self, "&Redo")
        for key, action, std, icon in (("undo", undo, Std.Undo, "undo"), ("redo", redo, Std.Redo, "redo")):
            action.setShortcuts(QKeySequence.keyBindings(std))
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            action.setData(icon)
            self.addAction(action)
            self.commands[key] = action
            self._set_tooltip(action, key.capitalize())

        a("cut", "Cu&t", c.cut_selected, Std.Cut, "cut", "Cut the selected blocks")
        a("copy", "&Copy", c.copy_selected, Std.Copy, "copy", "Copy the selected blocks")
        a("paste", "&Paste", c.paste, Std.Paste, "paste", "Paste blocks")
        a("duplicate", "D&uplicate", c.duplicate_selected, "Ctrl+D", "duplicate", "Duplicate the selected blocks")
        a("delete", "&Delete", c.delete_selected, [Std.Delete, "Backspace"], "delete", "Delete the selected blocks")
        a("select_all", "Select &All", c.select_all, Std.SelectAll, "select-all", "Select every block")
        a("rename", "Re&name", c.rename_selected, "F2", "rename", "Rename the selected block")
        a("add_block", "Add &Block…\tTab", lambda: self.canvas.open_quick_search(), None, "add-block",
          "Search for a block and add it at the cursor (Tab on the canvas)")
        self.commands["add_block"].setToolTip("Add a block (Tab on the canvas)")

        a("zoom_in", "Zoom &In", c.zoom_in, [Std.ZoomIn, "Ctrl+="], "zoom-in", "Zoom in")
        a("zoom_out", "Zoom &Out", c.zoom_out, Std.ZoomOut, "zoom-out", "Zoom out")
        a("fit", "&Fit to Window", c.fit_all, ["Ctrl+0", "Home"], "fit", "Show the whole network")
        a("auto_layout", "&Auto-layout", c.auto_layout, "Ctrl+L", "auto-layout",
          "Arrange the blocks in layers from left to right")

        a("train", "&Train", self.start_training, "F5", None, "Train the network on the project's data")
        a("pause", "&Pause", lambda: self.training.toggle_pause(), "F6", None, "Pause or resume training")
        a("stop", "&Stop Training", lambda: self.training.stop(), "Shift+F5", None,
          "Stop training after the current step and keep a checkpoint")
        style = self.style()
        sp = QStyle.StandardPixmap
        for key, pixmap in (("train", sp.SP_MediaPlay), ("pause", sp.SP_MediaPause), ("stop", sp.SP_MediaStop)):
            self.commands[key].setIcon(style.standardIcon(pixmap))
        self.commands["pause"].setEnabled(False)
        self.commands["stop"].setEnabled(False)
        a("reference", "Block &Reference", self.show_block_reference, Std.HelpContents, "book",
          "What every block does and what its parameters mean")
        a("system_info", "&System Information…", self.show_system_info, None, None,
          "Versions, the Qt platform, where settings and autosaves live, and a self-check")
        a("about", "&About Layerloom", self.show_about, None, "info")
        self.commands["about"].setMenuRole(QAction.MenuRole.AboutRole)
        a("about_qt", "About &Qt", QApplication.aboutQt, None)
        self.commands["about_qt"].setMenuRole(QAction.MenuRole.AboutQtRole)

        group = QActionGroup(self)
        for name in theme.THEMES:
            act = QAction(name.capitalize(), self, checkable=True)
            act.setData(name)
            act.triggered.connect(lambda _c=False, name=name: self.set_theme(name))
            group.addAction(act)
            self.commands[f"theme_{name}"] = act
        self._refresh_icons()

    def _make_menus(self) -> None:
        bar = self.menuBar()
        A = self.commands
        file = bar.addMenu("&File")
        file.addActions([A["new"], A["open"]])
        self.recent_menu = file.addMenu("Open &Recent")
        self.recent_menu.setIcon(theme.icon("recent"))
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        file.addSeparator()
        file.addActions([A["save"], A["save_as"], A["save_bundle"]])
        file.addSeparator()
        file.addAction(A["quit"])

        edit = bar.addMenu("&Edit")
        edit.addActions([A["undo"], A["redo"]])
        edit.addSeparator()
        edit.addActions([A["cut"], A["copy"], A["paste"], A["duplicate"], A["delete"]])
        edit.addSeparator()
        edit.addActions([A["select_all"], A["rename"], A["add_block"]])

        view = bar.addMenu("&View")
        view.addActions([A["zoom_in"], A["zoom_out"], A["fit"]])
        view.addSeparator()
        view.addAction(A["auto_layout"])
        view.addSeparator()
        for dock in (self.palette_dock, self.inspector_dock, self.problems_dock):
            view.addAction(dock.toggleViewAction())
        self.theme_menu = view.addMenu("&Theme")
        for name in theme.THEMES:
            self.theme_menu.addAction(A[f"theme_{name}"])

        train = bar.addMenu("T&raining")
        train.addActions([A["train"], A["pause"], A["stop"]])
        train.addSeparator()
        for dock in (self.data_dock, self.training_dock, self.views_dock):
            train.addAction(dock.toggleViewAction())

        help_ = bar.addMenu("&Help")
        help_.addAction(A["reference"])
        help_.addSeparator()
        help_.addAction(A["system_info"])
        help_.addActions([A["about"], A["about_qt"]])
        self.menus.update(file=file, edit=edit, view=view, training=train, help=help_)

    def _make_toolbar(self) -> None:
        tb = QToolBar("Toolbar", self)
        tb.setObjectName("mainToolbar")
        tb.setMovable(False)
        tb.setIconSize(QSize(20, 20))
        tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)
        A = self.commands
        for group in (("new", "open", "save"), ("undo", "redo"), ("add_block", "duplicate", "delete"),
                      ("zoom_out", "zoom_in", "fit", "auto_layout"), ("train", "pause", "stop"), ("reference",)):
            for key in group:
                tb.addAction(A[key])
            tb.addSeparator()
        tb.removeAction(tb.actions()[-1])
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
        for action in self.commands.values():
            name = action.data()
            if isinstance(name, str) and name and not name.startswith(("system", "dark", "light")):
                action.setIcon(theme.icon(name))
        if hasattr(self, "recent_menu"):
            self.recent_menu.setIcon(theme.icon("recent"))
        current = self.settings.value("theme", "system")
        for name in theme.THEMES:
            self.commands[f"theme_{name}"].setChecked(name == current)

    def changeEvent(self, event) -> None:
        if event.type() in (event.Type.ApplicationPaletteChange, event.Type.PaletteChange) and self.commands:
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

    # --- recent files -------------------------------------------------------------------------------

    def recent_files(self) -> list[str]:
        value = self.settings.value("recent/files", [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in (value or []) if v]

    def add_recent(self, path: str | os.PathLike) -> None:
        path = os.path.abspath(os.fspath(path))
        files = [path] + [p for p in self.recent_files() if p != path]
        self.settings.setValue("recent/files", files[:MAX_RECENT])
        self.settings.setValue("recent/dir", os.path.dirname(path))
        self.settings.sync()

    def _fill_recent_menu(self) -> None:
        menu = self.recent_menu
        menu.clear()
        files = [p for p in self.recent_files() if os.path.exists(p)]
        for i, path in enumerate(files):
            label = f"&{i + 1}  {Path(path).name}" if i < 9 else Path(path).name
            act = menu.addAction(label)
            act.setToolTip(path)
            act.setStatusTip(path)
            act.triggered.connect(lambda _c=False, path=path: self.open_path(path, ask=True))
        if not files:
            menu.addAction("No recent projects").setEnabled(False)
        else:
            menu.addSeparator()
            menu.addAction("Clear Menu", lambda: self.settings.setValue("recent/files", []))

    # --- the document -------------------------------------------------------------------------------

    def _update_title(self) -> None:
        self.setWindowTitle(f"{self.document.title}[*] — {APP_NAME}")
        self.setWindowModified(self.document.modified)

    def set_project(self, project, path: str | os.PathLike | None = None) -> None:
        """Show `project` (no question asked: see maybe_save), without trained weights."""
        self.document.set_project(project, path)
        self._autosaved_revision = None
        self.recovery.discard_autosave()

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
        if errors:
            self.problem_chip.set_state("error", f"{errors} error{'s' if errors != 1 else ''}")
            self.problem_chip.setToolTip("Show the problems list")
        elif warnings:
            self.problem_chip.set_state("warning", f"{warnings} warning{'s' if warnings != 1 else ''}")
            self.problem_chip.setToolTip("Show the problems list")
        else:
            self.problem_chip.set_state("ok", "✓ no problems")
            self.problem_chip.setToolTip("Every block has a shape; the network can be built")
        title = "Problems" + (f" ({errors + warnings})" if errors + warnings else "")
        self.problems_dock.setWindowTitle(title)

    def _zoom_changed(self, zoom: float) -> None:
        self.zoom_label.setText(f"{round(zoom * 100)} %")

    def show_refusal(self, message: str) -> None:
        self.statusBar().showMessage(message, 8000)

    def _selection_changed(self, ids: list[str]) -> None:
        self.inspector.set_selection(ids)
        has = bool(ids)
        for key in ("cut", "copy", "duplicate", "delete"):
            self.commands[key].setEnabled(has)
        self.commands["rename"].setEnabled(len(ids) == 1)
        self._enforce_lock()
        if len(ids) == 1 and ids[0] in self.document.graph:
            node = self.document.graph.node(ids[0])
            if node.type not in ("Input", "Output"):
                self.training.set_feature_block(node.name, node.type)

    # --- training -------------------------------------------------------------------------------------

    STRUCTURAL = ("cut", "paste", "duplicate", "delete", "rename", "add_block", "undo", "redo", "new", "open")

    def start_training(self) -> bool:
        """Train (F5): the Training panel and the live views come forward."""
        if self.training.running:
            return False
        return self.training.start()

    def _training_started(self) -> None:
        self.views_dock.show()
        self.views_dock.raise_()
        if self.views_dock.height() < self.height() * 0.35 and not self.views_dock.isFloating():
            self.resizeDocks([self.views_dock], [int(self.height() * 0.45)], Qt.Orientation.Vertical)
        self.training_dock.show()
        self.training_dock.raise_()
        QTimer.singleShot(0, self._hide_stray_tab_bars)  # once the docks are laid out
        if self.training.feature_block is None:  # the first block with weights, so feature maps show at once
            for node in self.document.graph.topological_order():
                n = self.document.graph.node(node) if isinstance(node, str) else node
                if n.type in ("Conv2d", "Conv1d", "Dense", "LSTM", "GRU", "RNN"):
                    self.training.set_feature_block(n.name, n.type)
                    break

    def _training_state(self, state: str) -> None:
        running = state != "idle"
        self.commands["train"].setEnabled(not running)
        self.commands["pause"].setEnabled(running and state != "stopping")
        self.commands["pause"].setText("&Resume" if state == "paused" else "&Pause")
        self.commands["stop"].setEnabled(running and state != "stopping")
        if state == "failed":
            return

    def _locked_changed(self, reason: str) -> None:
        self._enforce_lock()
        if reason:
            self.statusBar().showMessage(reason, 8000)

    def _undo_state_changed(self, _can: bool) -> None:
        if self.document.locked:  # the stack re-enables its actions by itself: keep them off while locked
            self.commands["undo"].setEnabled(False)
            self.commands["redo"].setEnabled(False)

    def _enforce_lock(self) -> None:
        """While training, structural commands are off (the document refuses such edits anyway)."""
        if not self.document.locked:
            stack = self.document.undo_stack
            self.commands["undo"].setEnabled(stack.canUndo())
            self.commands["redo"].setEnabled(stack.canRedo())
            for key in ("paste", "add_block", "new", "open"):
                self.commands[key].setEnabled(True)
            has = bool(self.canvas.selected_node_ids())
            for key in ("cut", "duplicate", "delete"):
                self.commands[key].setEnabled(has)
            self.commands["rename"].setEnabled(len(self.canvas.selected_node_ids()) == 1)
            return
        for key in self.STRUCTURAL:
            self.commands[key].setEnabled(False)

    def _project_replaced(self) -> None:
        self.training.set_feature_block(None)
        self.training.forget_trained()
        from layerloom.core.runs import run_roots

        roots = run_roots(self.training.runs_root)  # the window's folder, the per-user one and ./runs
        self.live_views.set_runs_root(roots, self.document.project.name or self.document.title)

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

    def select_block(self, node_id: str) -> None:
        self.canvas.select_nodes([node_id])
        self.canvas.setFocus(Qt.FocusReason.OtherFocusReason)

    def add_block(self, type_id: str) -> str | None:
        node_id = self.canvas.add_block(type_id)
        if node_id:
            self.canvas.setFocus(Qt.FocusReason.OtherFocusReason)
        return node_id

    def show_problems(self) -> None:
        self.problems_dock.show()
        self.problems_dock.raise_()

    # --- files --------------------------------------------------------------------------------------

    def maybe_save(self, action: str = "closing") -> bool:
        """True when the current project may be dropped: saved, discarded, or not modified."""
        if not self.document.modified:
            return True
        box = QMessageBox(self)
        box.setIcon(QMessageBox.Icon.Warning)
        box.setWindowTitle(APP_NAME)
        box.setText(f"Save the changes to “{self.document.title}” before {action}?")
        box.setInformativeText("Your changes will be lost if you don't save them.")
        box.setStandardButtons(QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
                               | QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(QMessageBox.StandardButton.Save)
        answer = box.exec()
        if answer == QMessageBox.StandardButton.Save:
            return self.save()
        return answer == QMessageBox.StandardButton.Discard

    def new_project(self, template: str | None = None) -> bool:
        """File → New: the template gallery (or straight to `template`)."""
        if not self.stop_training_for("starting a new project") or not self.maybe_save("starting a new project"):
            return False
        if template is None:
            from layerloom.gui.template_gallery import TemplateGallery

            dialog = TemplateGallery(self)
            if not dialog.exec():
                return False
            project = dialog.project()
        else:
            from layerloom.core.templates import load_template

            project = load_template(template)
        self.set_project(project, None)
        return True

    def open_dialog(self) -> bool:
        if not self.stop_training_for("opening another project") or not self.maybe_save("opening another project"):
            return False
        path, _ = QFileDialog.getOpenFileName(self, "Open project", self._last_dir(), PROJECT_FILTER)
        return self.open_path(path) if path else False

    def open_path(self, path: str | os.PathLike, ask: bool = False) -> bool:
        """Open a project file or a .layerloom bundle, told apart by content. A broken file lists its problems
        in a dialog and leaves the window as it was; trained weights that cannot be loaded are said in one."""
        if not self.stop_training_for("opening another project"):
            return False
        if ask and not self.maybe_save("opening another project"):
            return False
        path = os.path.abspath(os.fspath(path))
        opened = self.read_file(path)
        if opened is None:
            return False
        trouble = self.show_opened(opened)
        if trouble:
            self.show_weights_problem(trouble)
        return True

    def read_file(self, path: str, report: bool = True):
        """The project or bundle at `path` (core/opening.py's Opened); None after listing its problems (or,
        with `report` False, raising LayerloomError)."""
        from layerloom.core.opening import open_document, problems_of

        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            return open_document(path)
        except LayerloomError as err:
            if not report:
                raise
            problems = problems_of(err, path)
        finally:
            QApplication.restoreOverrideCursor()
        self.show_file_problems(path, problems)
        return None

    def show_opened(self, opened) -> str | None:
        """Show an opened project or bundle with its trained weights live (no question asked). A bundle gets no
        file of its own (Save asks where the project goes). Returns why trained weights were not loaded."""
        from layerloom.core.opening import BUNDLE
        from layerloom.gui.trained_weights import adopt_opened, words

        bundle = opened.kind == BUNDLE
        self.set_project(opened.project, None if bundle else opened.path)
        self.add_recent(opened.path)
        trouble = adopt_opened(self, opened)
        source = self.training.trained_source
        note = ""
        if opened.project.migrated_from is not None:
            note = f" (upgraded from format version {opened.project.migrated_from}; saving writes the new format)"
        if source is not None:
            note += f", with its trained weights: {words(source)} (Predictions, Export and Train use them)"
        what = "bundle " if bundle else ""
        self.statusBar().showMessage(f"Opened {what}{opened.path}{note}", 10000)
        self.project_opened.emit(opened.path)
        return trouble

    def show_weights_problem(self, message: str) -> None:
        from layerloom.gui.trained_weights import show_problem

        self.statusBar().showMessage("Opened with untrained weights: " + message, 10000)
        show_problem(self, self.document.title, message)

    def show_file_problems(self, path: str, problems: list[str], title: str = "Cannot open project") -> None:
        """A dialog listing every problem of a file, with its place (never a traceback), in plain text."""
        from layerloom.gui.trained_weights import plain_informative

        box = QMessageBox(self)
        box.setIcon(QMessageBox.Icon.Warning)
        box.setWindowTitle(title)
        name = Path(path).name if path else "the project"
        verb = "opened" if "open" in title.lower() else "saved"
        box.setTextFormat(Qt.TextFormat.PlainText)
        box.setText(f"“{name}” cannot be {verb}: {len(problems)} problem{'s' if len(problems) != 1 else ''}.")
        shown = problems[:MAX_LISTED_PROBLEMS]
        more = len(problems) - len(shown)
        lines = [f"• {p}" for p in shown]
        if more > 0:
            lines.append(f"…and {more} more (see the details).")
        box.setInformativeText("\n".join([*lines, "", path]))
        plain_informative(box)
        box.setDetailedText("\n".join(f"- {p}" for p in problems))
        box.setStandardButtons(QMessageBox.StandardButton.Ok)
        box.exec()

    def save(self) -> bool:
        if self.document.path is None:
            return self.save_as()
        return self._save_to(self.document.path)

    def save_as(self) -> bool:
        default = self.document.path or Path(self._last_dir()) / f"{_slug(self.document.title)}.json"
        path, _ = QFileDialog.getSaveFileName(self, "Save project", str(default), PROJECT_FILTER)
        if not path:
            return False
        if not Path(path).suffix:
            path += ".json"
        return self._save_to(path)

    def save_bundle(self) -> bool:
        """File → Save as Bundle…: the network with its trained weights, settings, history and preprocessing."""
        from layerloom.gui.trained_weights import save_bundle_dialog

        return save_bundle_dialog(self)

    def _save_to(self, path: str | os.PathLike) -> bool:
        from layerloom.gui.trained_weights import link_before_save

        note = link_before_save(self)
        try:
            target = self.document.save(path)
        except ProjectError as err:
            self.show_file_problems(os.fspath(path), err.problems, "Cannot save project")
            return False
        except (LayerloomError, OSError) as err:
            self.show_file_problems(os.fspath(path), [str(err)], "Cannot save project")
            return False
        self.recovery.discard_autosave()
        self._autosaved_revision = None
        self.add_recent(target)
        self._update_title()
        self.statusBar().showMessage(f"Saved {target}{note}", 6000)
        self.project_opened.emit(str(target))
        return True

    def _last_dir(self) -> str:
        d = self.settings.value("recent/dir", "")
        if isinstance(d, str) and d and os.path.isdir(d):
            return d
        return QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation) or os.getcwd()

    # --- autosave and recovery ------------------------------------------------------------------------

    def autosave_now(self) -> Path | None:
        """Write the unsaved project to the recovery file (seconds after an edit, and every 60 s); nothing when
        it is saved."""
        if not self.document.modified:
            self.recovery.discard_autosave()
            self._autosaved_revision = None
            return None
        revision = self.document.revision
        if revision == self._autosaved_revision and self.recovery.project_file.exists():
            return self.recovery.project_file
        written = self.recovery.autosave(self.document.project, self.document.path, self.document.title)
        if written is not None:
            self._autosaved_revision = revision
        return written

    def offer_recovery(self) -> bool:
        """If an earlier session crashed with unsaved work, offer to restore it; True if restored."""
        pending = self.recovery.pending()
        if not pending:
            return False
        latest = pending[0]
        box = QMessageBox(self)
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle("Recover unsaved work")
        box.setText("Layerloom did not close properly last time. Recover the unsaved work?")
        box.setInformativeText(latest.describe())
        recover = box.addButton("Recover", QMessageBox.ButtonRole.AcceptRole)
        box.addButton("Discard", QMessageBox.ButtonRole.DestructiveRole)
        box.setDefaultButton(recover)
        box.exec()
        if box.clickedButton() is not recover:
            self.recovery.discard(latest)
            return False
        try:
            project = self.recovery.restore(latest)
        except ProjectError as err:
            self.show_file_problems(str(latest.project_file), err.problems, "Cannot open the recovered project")
            self.recovery.discard(latest)
            return False
        original = latest.original_path if latest.original_path and os.path.exists(latest.original_path) else None
        self.set_project(project, original)
        if original is None and latest.title and "name" not in project.meta:
            project.meta["name"] = latest.title
        self.document.undo_stack.resetClean()  # recovered work is unsaved work
        self._update_title()
        self.autosave_now()
        self.recovery.discard(latest)
        self.statusBar().showMessage(f"Recovered {latest.describe()}", 8000)
        from layerloom.gui.trained_weights import adopt_linked

        trouble = adopt_linked(self, original)  # the weights of a run trained before the crash
        if trouble:
            self.show_weights_problem(trouble)
        return True

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


def _slug(title: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", title).strip("_") or "project"


def _touches(dock, bar, slack: int = 3) -> bool:
    """Whether a tab bar's rectangle lies against a dock's (above, below, or beside it) and overlaps it."""
    beside = abs(dock.right() + 1 - bar.left()) <= slack or abs(bar.right() + 1 - dock.left()) <= slack
    stacked = abs(dock.bottom() + 1 - bar.top()) <= slack or abs(bar.bottom() + 1 - dock.top()) <= slack
    overlaps_x = bar.left() <= dock.right() and dock.left() <= bar.right()
    overlaps_y = bar.top() <= dock.bottom() and dock.top() <= bar.bottom()
    return (stacked and overlaps_x) or (beside and overlaps_y)
