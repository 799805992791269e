"""Autosave and crash recovery.

Each running window holds a session in the recovery folder (QStandardPaths AppDataLocation/recovery):
`<session>.lock` is locked (flock / msvcrt) for as long as the process lives; `<session>.json` is the
latest autosave of an unsaved project and `<session>.meta.json` says which file it belongs to. A clean
exit deletes all three. At start, a session whose lock nobody holds any more but whose autosave is still
there is a crash to recover from — the lock, not a PID, decides, so a reused PID cannot fool it.

An edit is autosaved within seconds (AutosaveSoon: AUTOSAVE_DELAY_MS after the last edit of a burst, at most
AUTOSAVE_MAX_DELAY_MS after its first), and every AUTOSAVE_INTERVAL_MS as well. The files are replaced
atomically but not flushed to disk (no fsync on the GUI thread): they survive the program being killed.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QElapsedTimer, QObject, QTimer

AUTOSAVE_INTERVAL_MS = 60_000
AUTOSAVE_DELAY_MS = 1_500
AUTOSAVE_MAX_DELAY_MS = 5_000


def default_folder() -> Path:
    from PySide6.QtCore import QStandardPaths

    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    return Path(base or Path.home() / ".layerloom") / "recovery"


def _lock(fd: int) -> bool:
    """Try to take an exclusive lock on an open file; False when another holder has it."""
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False


def _replace(path: Path, data: bytes) -> None:
    """Write `path` through a temporary file and a rename: the old file or the whole new one, never a part."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


class AutosaveSoon(QObject):
    """Calls `save` shortly after edits of `document` (its `edited` signal): AUTOSAVE_DELAY_MS after the last
    edit of a burst, and at most AUTOSAVE_MAX_DELAY_MS after the first one, however long the burst."""

    def __init__(self, document, save, parent: QObject | None = None):
        super().__init__(parent)
        self._first = QElapsedTimer()  # since the first edit not yet saved
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.timeout.connect(save)
        document.edited.connect(self._edited)

    def _edited(self) -> None:
        if not self.timer.isActive():
            self._first.start()
        waited = self._first.elapsed()
        self.timer.start(max(0, min(AUTOSAVE_DELAY_MS, AUTOSAVE_MAX_DELAY_MS - waited)))


@dataclass(frozen=True)
class PendingRecovery:
    """The autosave of a session that did not exit cleanly."""

    session: str
    project_file: Path
    original_path: str | None
    title: str
    saved_at: float

    def describe(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(self.saved_at))
        where = f" (from {self.original_path})" if self.original_path else ""
        return f"“{self.title}”{where}, autosaved {when}"


class Recovery:
    """This window's recovery session."""

    def __init__(self, folder: str | Path | None = None):
        self.folder = Path(folder) if folder else default_folder()
        self.session = f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{secrets.token_hex(3)}"
        self._fd: int | None = None
        self._saved_revision: tuple | None = None

    # --- files ------------------------------------------------------------------------------------

    def _file(self, session: str, suffix: str) -> Path:
        return self.folder / f"{session}{suffix}"

    @property
    def project_file(self) -> Path:
        return self._file(self.session, ".json")

    @property
    def meta_file(self) -> Path:
        return self._file(self.session, ".meta.json")

    @property
    def lock_file(self) -> Path:
        return self._file(self.session, ".lock")

    # --- this session -------------------------------------------------------------------------------

    def start(self) -> None:
        """Take this session's lock (call once, before the first autosave)."""
        if self._fd is not None:
            return
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError:
            return  # no recovery folder: autosave is skipped, the app works on
        if not _lock(fd):
            os.close(fd)
            return
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd

    def autosave(self, project, original_path: str | os.PathLike | None, title: str) -> Path | None:
        """Write the project to this session's recovery file (atomically); None when it could not."""
        from layerloom.core.errors import LayerloomError

        self.start()
        try:
            text = project.to_json().encode("utf-8", errors="backslashreplace")  # as save_project writes it
            _replace(self.project_file, text)
            meta = {"path": os.fspath(original_path) if original_path else None, "title": title,
                    "saved_at": time.time(), "pid": os.getpid()}
            _replace(self.meta_file, json.dumps(meta).encode("utf-8"))
        except (LayerloomError, OSError):
            return None
        return self.project_file

    def discard_autosave(self) -> None:
        """The project was saved or closed: its autosave is no longer needed."""
        for f in (self.project_file, self.meta_file):
            with contextlib.suppress(OSError):
                f.unlink()

    def clean_exit(self) -> None:
        """Remove this session's files and release its lock (a clean exit leaves nothing behind)."""
        self.discard_autosave()
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None
        with contextlib.suppress(OSError):
            self.lock_file.unlink()

    def abandon(self) -> None:
        """Let go of the lock but keep the files, as a crash would (used by tests)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    # --- other sessions -----------------------------------------------------------------------------

    def pending(self) -> list[PendingRecovery]:
        """Autosaves left behind by sessions that ended without a clean exit, newest first."""
        if not self.folder.is_dir():
            return []
        found = []
        for project_file in self.folder.glob("*.json"):
            if project_file.name.endswith(".meta.json"):
                continue
            session = project_file.name[: -len(".json")]
            if session == self.session or self._alive(session):
                continue
            meta: dict = {}
            with contextlib.suppress(OSError, ValueError):
                meta = json.loads(self._file(session, ".meta.json").read_text(encoding="utf-8"))
            if not isinstance(meta, dict):
                meta = {}
            saved_at = meta.get("saved_at")
            if not isinstance(saved_at, int | float):
                saved_at = project_file.stat().st_mtime
            path = meta.get("path") if isinstance(meta.get("path"), str) else None
            title = meta.get("title") if isinstance(meta.get("title"), str) else "Untitled"
            found.append(PendingRecovery(session, project_file, path, title, float(saved_at)))
        return sorted(found, key=lambda p: p.saved_at, reverse=True)

    def _alive(self, session: str) -> bool:
        lock = self._file(session, ".lock")
        try:
            fd = os.open(lock, os.O_RDWR)
        except OSError:
            return False  # no lock file: nobody holds the session
        try:
            return not _lock(fd)
        finally:
            os.close(fd)

    def restore(self, pending: PendingRecovery):
        """The recovered Project (ProjectError if the autosave itself is damaged)."""
        from layerloom.core.project import load_project

        return load_project(pending.project_file)

    def discard(self, pending: PendingRecovery) -> None:
        """Forget another session's autosave."""
        for suffix in (".json", ".meta.json", ".lock"):
            with contextlib.suppress(OSError):
                self._file(pending.session, suffix).unlink()
