"""Where run folders are, wherever they were written: the window's per-user runs folder and `./runs` of the
command line (`layerloom train`), plus any folder a caller adds. No Qt, no torch.

    default_runs_root()                 # ~/.local/share/Layerloom/Layerloom/runs (or $LAYERLOOM_RUNS_DIR)
    find_runs("LeNet-5")                # its run folders with a checkpoint, newest first, from every root
    latest_run("LeNet-5", ["my/runs"])  # the newest one (None when there is none)
"""

from __future__ import annotations

import os
import re
import sys

APP_FOLDER = os.path.join("Layerloom", "Layerloom")  # organization / application, as Qt names it
LOCAL_RUNS = "runs"  # `layerloom train`'s default --out, relative to the working folder
CHECKPOINTS = ("last.safetensors", "best.safetensors")


def user_data_folder() -> str:
    """The per-user data folder, where Qt's AppLocalDataLocation puts it for Layerloom on each system."""
    home = os.path.expanduser("~")
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or os.path.join(home, "AppData", "Local")
    elif sys.platform == "darwin":
        base = os.path.join(home, "Library", "Application Support")
    else:
        base = os.environ.get("XDG_DATA_HOME") or os.path.join(home, ".local", "share")
    return os.path.join(base, APP_FOLDER)


def default_runs_root() -> str:
    """The window's runs folder: $LAYERLOOM_RUNS_DIR, else `runs` in the per-user data folder."""
    env = os.environ.get("LAYERLOOM_RUNS_DIR")
    if env:
        return os.path.abspath(os.path.expanduser(env))
    return os.path.join(user_data_folder(), "runs")


def run_roots(*extra: str | os.PathLike | None) -> list[str]:
    """Every folder that may hold runs, each once: `extra` first, then the per-user folder, then ./runs."""
    roots: list[str] = []
    for root in (*extra, default_runs_root(), LOCAL_RUNS):
        if root is None or root == "":
            continue
        path = os.path.abspath(os.fspath(root))
        if os.path.normcase(path) not in (os.path.normcase(r) for r in roots):
            roots.append(path)
    return roots


def run_name_pattern(project_name: str) -> re.Pattern:
    """A project's run folder names: `<slug>-YYYYmmdd-HHMMSS` (and `-2`, `-3` when started in the same second)."""
    from layerloom.core.training.run_folder import slug

    return re.compile(rf"^{re.escape(slug(project_name or 'run'))}-\d{{8}}-\d{{6}}(-\d+)?$")


def has_checkpoint(path: str) -> bool:
    return any(os.path.isfile(os.path.join(path, name)) for name in CHECKPOINTS)


def _written(path: str) -> float:
    times = [os.path.getmtime(os.path.join(path, n)) for n in CHECKPOINTS if os.path.isfile(os.path.join(path, n))]
    return max(times, default=0.0)


def find_runs(project_name: str, roots: list[str] | None = None) -> list[str]:
    """The run folders of `project_name` that hold a checkpoint, in every root, newest checkpoint first."""
    pattern = run_name_pattern(project_name)
    found = []
    for root in run_roots() if roots is None else roots:
        try:
            names = os.listdir(root)
        except OSError:
            continue
        for name in names:
            path = os.path.join(root, name)
            if pattern.match(name) and os.path.isdir(path) and has_checkpoint(path):
                found.append(path)
    return sorted(found, key=lambda p: (_written(p), os.path.basename(p)), reverse=True)


def latest_run(project_name: str, roots: list[str] | None = None) -> str | None:
    """The newest run folder of `project_name` with a checkpoint, in any root (None when there is none)."""
    runs = find_runs(project_name, roots)
    return runs[0] if runs else None


def list_project_runs(project_name: str | None, roots: list[str]):
    """The RunSummary of every run of `project_name` (all runs when None) in `roots`, newest first."""
    from datetime import datetime

    from layerloom.core.training.history import list_runs

    runs = [r for root in roots for r in list_runs(root, project_name)]
    return sorted(runs, key=lambda r: (r.started or datetime.min, r.name), reverse=True)
