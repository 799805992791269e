"""The window's trained weights, kept with the project: an opened bundle, or a project that names its run
(`meta.trained_run`, core/trained.py), comes back with its weights live; a finished run is remembered in the
project (saved with it); File → Save as Bundle writes graph, weights, settings, history and preprocessing in
one file. Nothing trained is replaced by fresh weights without a word.

    trouble = adopt_opened(window, opened)   # after window.set_project(opened.project, …); None when fine
    note = link_before_save(window)          # before writing the project file
    save_bundle(window, "net.layerloom")
"""

from __future__ import annotations

import os

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QFileDialog, QLabel, QMessageBox

from layerloom.core.errors import LayerloomError
from layerloom.core.trained import KEY, TrainedRunError, fits, link_for, link_of, open_linked, with_project

BUNDLE_FILTER = "Layerloom bundle (*.layerloom);;All files (*)"


def words(source) -> str:
    """Where a Source's weights come from, in words: 'run LeNet-5-20250101-120000 (3 epochs)'."""
    if source is None:
        return "fresh, untrained weights"
    n = len(source.history)
    epochs = f"{n} epoch{'s' if n != 1 else ''}"
    name = os.path.basename(os.path.normpath(source.path)) if source.path else ""
    if source.kind == "run":
        which = "best" if str(source.weights_from).startswith("best") else "last"
        return f"run {name} ({epochs}, {which} checkpoint)"
    if source.kind == "bundle":
        return f"bundle {name} ({epochs})"
    return "imported weights" if source.kind == "import" else f"trained weights ({epochs})"


def adopt(window, source) -> None:
    """Make `source`'s model the window's trained model (Predictions, Feature maps, Export, Train)."""
    QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
    try:
        window.training.adopt_trained(source)
    finally:
        QApplication.restoreOverrideCursor()
    window.data_panel.load_for_views()  # a probe sample and samples: Feature maps and the picker at once


def adopt_opened(window, opened) -> str | None:
    """Bring an opened file's trained weights in: a bundle's own, or the run a project names. Returns why a
    project's weights could not be loaded (None when they were, or when it names none)."""
    if opened.source is not None:
        adopt(window, with_project(opened.source, window.document.project))
        return None
    return adopt_linked(window, opened.path)


def adopt_linked(window, project_path: str | None) -> str | None:
    """Load the weights the window's project names (meta.trained_run); why not, or None."""
    if link_of(window.document.project) is None:
        return None  # an untrained project: nothing to load (and torch is not imported)
    QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
    try:
        source = open_linked(window.document.project, project_path)
    except TrainedRunError as err:
        return str(err)
    finally:
        QApplication.restoreOverrideCursor()
    adopt(window, source)
    return None


def show_problem(window, name: str, message: str) -> None:
    """Why a project's trained weights were not loaded, in a plain-text dialog."""
    box = QMessageBox(window)
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle("Trained weights not loaded")
    box.setTextFormat(Qt.TextFormat.PlainText)
    box.setText(f"“{name}” opened without its trained weights.")
    box.setInformativeText(message[:1].upper() + message[1:] + ".")
    plain_informative(box)
    box.setStandardButtons(QMessageBox.StandardButton.Ok)
    box.exec()


def plain_informative(box: QMessageBox) -> None:
    """Show a message box's informative text as plain text (Qt guesses rich text from a leading '<')."""
    for label in box.findChildren(QLabel, "qt_msgbox_informativelabel"):
        label.setTextFormat(Qt.TextFormat.PlainText)


def remember_run(window) -> None:
    """After a finished run: the project names its weights (and counts as changed until saved)."""
    link = link_for(window.training.trained_source)
    if link is not None:
        window.document.project.meta[KEY] = link
        window.document.undo_stack.resetClean()  # saving keeps the weights; closing without it asks


def link_before_save(window) -> str:
    """Name the trained weights in the project about to be saved; returns a note for the status bar ("" when
    there is nothing to say). A link the file already had stays when no trained model is live."""
    source = window.training.trained_source
    project = window.document.project
    if source is None:
        return ""
    link = link_for(source)
    if link is None:
        project.meta.pop(KEY, None)
        return "; the imported weights are not kept in a project file: File → Save as Bundle keeps them"
    try:
        fitting = fits(source, project)
    except LayerloomError:  # settings a file cannot keep: the save itself says so
        fitting = True
    if not fitting:
        project.meta.pop(KEY, None)
        return (f"; the network was changed after training, so the file no longer names the weights of "
                f"{words(source)}")
    project.meta[KEY] = link
    return f" with its trained weights ({words(source)})"


def save_bundle_dialog(window) -> bool:
    """File → Save as Bundle…: ask for a file, then `save_bundle`."""
    source = window.training.trained_source
    if source is None:
        box = QMessageBox(window)
        box.setIcon(QMessageBox.Icon.Information)
        box.setWindowTitle("Save as Bundle")
        box.setTextFormat(Qt.TextFormat.PlainText)
        box.setText("There are no trained weights to save yet.")
        box.setInformativeText("A bundle holds the network with its trained weights. Train the network first "
                               "(F5), or open a bundle; File → Save As saves the project alone.")
        plain_informative(box)
        box.exec()
        return False
    from layerloom.core.training.run_folder import slug

    doc = window.document
    folder = os.path.dirname(str(doc.path)) if doc.path else os.path.expanduser("~")
    default = os.path.join(folder, slug(doc.project.name or doc.title) + ".layerloom")
    path, _ = QFileDialog.getSaveFileName(window, "Save as Bundle", default, BUNDLE_FILTER)
    if not path:
        return False
    if not os.path.splitext(path)[1]:
        path += ".layerloom"
    return save_bundle(window, path)


def save_bundle(window, path: str) -> bool:
    """Write the window's trained model as a bundle at `path` (checked by reopening it); a dialog says why not."""
    from layerloom.core.export.exporter import export
    from layerloom.core.training.threads import keep_this_thread_serial

    source = window.training.trained_source
    project = window.document.project
    if source is None:
        return False
    changed = False
    try:
        changed = not fits(source, project)
    except LayerloomError:
        changed = True
    bundle_source = source if changed else with_project(source, project)
    keep_this_thread_serial()  # the parity check computes on this thread (core/training/threads.py)
    QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
    try:
        result = export(bundle_source, "bundle", path)
    except LayerloomError as err:
        QApplication.restoreOverrideCursor()
        window.show_file_problems(path, [str(err).removeprefix(f"{path}: ")], "Cannot save the bundle")
        return False
    QApplication.restoreOverrideCursor()
    note = " (the network as trained: it was changed after training)" if changed else ""
    window.statusBar().showMessage(f"Saved bundle {result.path} with {words(source)}{note}", 8000)
    return True
