"""The main window's file handling: New, Open (projects and bundles, told apart by content), Save, Save As,
Save as Bundle, the recent files, the autosave seconds after an edit, and the recovery of work a crash
left unsaved. `WindowFiles` is mixed into MainWindow; it uses the window's `document`, `settings`,
`recovery`, `training`, `recent_menu`, `statusBar()`, `stop_training_for(action)`, `_update_title()` and
`project_opened` signal.

    window.open_path("net.json")        # a broken file lists its problems in a dialog; False
    window.save()                       # Save As when the project has no file yet
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from PySide6.QtCore import QStandardPaths, Qt, QTimer
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox

from layerloom.core.errors import LayerloomError, ProjectError
from layerloom.gui.recovery import AUTOSAVE_INTERVAL_MS, AutosaveSoon

APP_NAME = "Layerloom"
PROJECT_FILTER = "Layerloom projects and bundles (*.json *.layerloom);;All files (*)"
MAX_RECENT = 10
MAX_LISTED_PROBLEMS = 12


class WindowFiles:
    """Files, recent files, autosave and recovery of a MainWindow (see the module's docstring)."""

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

    def set_project(self, project, path: str | os.PathLike | None = None) -> None:
        """Show `project` (no question asked: see maybe_save), without trained weights."""
        self.document.set_project(project, path)
        self._autosaved_revision = None
        self.recovery.discard_autosave()

    # --- autosave and recovery ------------------------------------------------------------------------

    def _start_autosave(self) -> None:
        """Autosave seconds after each edit, and every AUTOSAVE_INTERVAL_MS as a fallback."""
        self._autosaved_revision: int | None = None
        self.autosave_timer = QTimer(self)
        self.autosave_timer.setInterval(AUTOSAVE_INTERVAL_MS)
        self.autosave_timer.timeout.connect(self.autosave_now)
        self.autosave_timer.start()
        self.autosave_soon = AutosaveSoon(self.document, self.autosave_now, self)

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


def _slug(title: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", title).strip("_") or "project"
