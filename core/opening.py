"""Opening a file the user gives (`layerloom open`, File → Open, recent files, a drop): a project or a
`.layerloom` bundle, told apart by content, never by name. A bundle is a zip (with manifest.json); a project is
JSON ({"format": "layerloom-project", …}). A file that is neither is read as what its name suggests, so its
problems are told in the right words.

    opened = open_document("digits model")    # Opened(path, kind, project, source)
    opened.source                             # a bundle's trained model (a Source); None for a project
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from layerloom.core.errors import LayerloomError, ProjectError

BUNDLE, PROJECT = "bundle", "project"
_ZIP = (b"PK\x03\x04", b"PK\x05\x06")  # a zip's first bytes (a member, or an empty archive)
SUFFIXES = (".json", ".layerloom")


@dataclass(eq=False)
class Opened:
    """What a file held: its project (for the window to edit) and, for a bundle, its trained model."""

    path: str
    kind: str  # BUNDLE or PROJECT
    project: Any
    source: Any = None  # a Source with the bundle's weights, history and preprocessing


def _head(path: str) -> bytes:
    """A file's first bytes; none for what cannot be read or is no regular file (a pipe would block)."""
    from layerloom.core.resources import NotRegularFile, open_regular

    try:
        with open_regular(path) as f:
            return f.read(64)
    except (OSError, NotRegularFile):
        return b""


def sniff(path: str | os.PathLike) -> str:
    """BUNDLE or PROJECT, from the file's first bytes (its name only when they tell neither)."""
    path = os.fspath(path)
    head = _head(path)
    if head.startswith(_ZIP):
        return BUNDLE
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    if text.startswith(b"{"):
        return PROJECT
    return BUNDLE if path.lower().endswith(".layerloom") else PROJECT


def recognised(path: str | os.PathLike) -> bool:
    """Whether `path` is a file that looks like a project or a bundle (for drops on the window): a zip, JSON
    text, or a file named like one."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        return False
    if path.lower().endswith(SUFFIXES):
        return True
    head = _head(path)
    return head.startswith(_ZIP) or head.removeprefix(b"\xef\xbb\xbf").lstrip().startswith(b"{")


def open_document(path: str | os.PathLike) -> Opened:
    """Read a project or a bundle (see `sniff`); LayerloomError (ProjectError, BundleError) says why not."""
    path = os.path.abspath(os.fspath(path))
    if os.path.isdir(path):
        raise ProjectError(path, ["is a folder, not a project file or bundle"])
    if sniff(path) == PROJECT:
        from layerloom.core.project import load_project

        return Opened(path, PROJECT, load_project(path))
    from layerloom.core.export.bundle import load_bundle
    from layerloom.core.project import Project
    from layerloom.core.trained import unlinked

    bundle = load_bundle(path)
    source = bundle.source()
    source.project.meta = unlinked(source.project.meta)  # the weights are here, not where it was trained
    project = Project.from_dict(source.project.to_dict())  # the window's own copy: edits leave the source as is
    return Opened(path, BUNDLE, project, source)


def problems_of(err: LayerloomError, path: str) -> list[str]:
    """The problems of an error from `open_document`, without the file's path in front (the dialog names it)."""
    if isinstance(err, ProjectError):
        return list(err.problems)
    text = str(err)
    for prefix in (f"{path}: ", f"{path}:"):
        if text.startswith(prefix):
            return [text[len(prefix):].strip()]
    return [text]
