"""Main windows for tests: each with its own settings file, runs folder and recovery folder under the test's
tmp_path, shown and exposed; all closed at the end (a run still training is stopped first).

    @pytest.fixture
    def make_window(qtbot, tmp_path):
        with Windows(qtbot, tmp_path) as windows:
            yield windows.make
"""

from __future__ import annotations


class Windows:
    def __init__(self, qtbot, tmp_path):
        self.qtbot, self.tmp_path, self.made = qtbot, tmp_path, []

    def make(self, project=None, runs_dir: str | None = "runs", recovery: str = "recovery", size=None):
        """A MainWindow on `project` (the default template when None); `runs_dir` relative to tmp_path, or
        None for the per-user runs folder."""
        from PySide6.QtCore import QSettings

        from layerloom.gui.main_window import MainWindow
        from layerloom.gui.recovery import Recovery

        settings = QSettings(str(self.tmp_path / "settings.ini"), QSettings.Format.IniFormat)
        settings.setValue("training/runs_dir", str(self.tmp_path / runs_dir) if runs_dir else "")
        w = MainWindow(settings=settings, recovery=Recovery(self.tmp_path / recovery))
        if project is not None:
            w.set_project(project, None)
        if size is not None:
            w.resize(*size)
        w.show()
        self.qtbot.waitExposed(w)
        self.made.append(w)
        return w

    def __enter__(self) -> Windows:
        return self

    def __exit__(self, *exc) -> None:
        for w in self.made:
            if w.training.running:
                w.training.stop_and_wait()
            w.document.undo_stack.setClean()
            w.close()
            w.deleteLater()


def shown(qtbot, cls, w: int = 1000, h: int = 800):
    """A widget of class `cls`, `w`×`h`, shown and exposed; closed with the test."""
    view = cls()
    qtbot.addWidget(view)
    view.resize(w, h)
    view.show()
    qtbot.waitExposed(view)
    return view
