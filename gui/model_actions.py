"""What the File menu's model entries open in the window: Export… (Ctrl+E, the export dialog), Import PyTorch
Model… (the import dialog) and Open Bundle…; the entries themselves are commands of gui/commands.py.

    dialog = open_export_dialog(window)    # what File → Export… does
"""

from __future__ import annotations

import os

from PySide6.QtWidgets import QFileDialog, QMessageBox

from layerloom.gui.export_dialog import ExportDialog


def open_export_dialog(window) -> ExportDialog:
    project = window.document.project
    training = getattr(window, "training", None)
    if training is not None:
        from layerloom.core.runs import run_roots

        dialog = ExportDialog(project, window, source=training.trained_source, folder=_folder(window),
                              roots=run_roots(training.runs_root))
    else:
        dialog = ExportDialog(project, window, weights=getattr(window, "model_weights", None), folder=_folder(window))
    dialog.show()
    return dialog


def open_import_dialog(window):
    from layerloom.gui.import_dialog import ImportDialog

    dialog = ImportDialog(window)

    def take(result) -> None:
        if hasattr(window, "maybe_save") and not window.maybe_save("importing a model"):
            return
        window.set_project(result.project, None)
        training = getattr(window, "training", None)
        if training is not None:
            from layerloom.core.export.source import source_from
            from layerloom.core.project import Project

            own = Project.from_dict(result.project.to_dict())  # the window edits its project, not the model's
            training.adopt_trained(source_from(own, result.state, kind="import"))
        else:
            window.model_weights = result.state

    dialog.imported.connect(take)
    dialog.show()
    return dialog


def open_bundle_dialog(window, path: str | None = None) -> bool:
    """File → Open Bundle…: a bundle opens like any file (File → Open tells bundles and projects apart)."""
    if path is None:
        path, _ = QFileDialog.getOpenFileName(window, "Open Bundle", _folder(window),
                                              "Layerloom bundle (*.layerloom);;All files (*)")
        if not path:
            return False
    if hasattr(window, "open_path"):
        return window.open_path(path, ask=True)
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
    return True


def _folder(window) -> str:
    path = getattr(getattr(window, "document", None), "path", None)
    return os.path.dirname(str(path)) if path else os.path.expanduser("~")
