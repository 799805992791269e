"""Project files: the graph, its data source, training settings and metadata, as versioned JSON.

    project = Project(graph, training=TrainingSettings(epochs=5), meta={"name": "LeNet-5"})
    save_project(project, "lenet.json")     # atomic: a crash never leaves a half-written file
    project = load_project("lenet.json")    # ProjectError lists every problem with its place

A file is `{"format": "layerloom-project", "schema_version": N, "app_version", "meta", "data",
"training", "nodes", "edges"}`. Files of older schema versions are upgraded step by step through
MIGRATIONS; newer ones are refused with a message that names both versions. Loading only parses JSON
and checks plain data: nothing in a file is ever executed or unpickled.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import re
import secrets
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from layerloom.core.errors import ProjectError
from layerloom.core.graph import Graph
from layerloom.core.settings import DataSettings, TrainingSettings, plain_json
from layerloom.core.trained_link import KEY as KEY_TRAINED
from layerloom.core.trained_link import check as check_trained_link

FORMAT = "layerloom-project"
SCHEMA_VERSION = 2
MAX_FILE_BYTES = 64 * 1024 * 1024

# from_version → function turning a dict of that version into a dict of the next one. A migration
# may change its argument (it is a private copy) and returns the upgraded dict.
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}


def _lstm_forget_bias_unset(d: dict[str, Any]) -> dict[str, Any]:
    """Schema 1 → 2: LSTM blocks gained `forget_bias` (default 1 for new blocks); an LSTM saved before
    keeps PyTorch's random start (None), so an old project trains exactly as it did. Malformed nodes are
    left for the graph loader to report."""
    nodes = d.get("nodes")
    for node in nodes if isinstance(nodes, list) else ():
        if isinstance(node, dict) and node.get("type") == "LSTM" and isinstance(node.get("params", {}), dict):
            node.setdefault("params", {}).setdefault("forget_bias", None)
    return d


MIGRATIONS[1] = _lstm_forget_bias_unset

_TOP_KEYS = ("format", "schema_version", "app_version", "meta", "data", "training", "nodes", "edges")
_REQUIRED = ("data", "training")  # format and schema_version are checked first; nodes by the graph loader


def _app_version() -> str:
    from layerloom import __version__

    return __version__


@dataclass(eq=False)
class Project:
    """A network with everything needed to train it again: graph, data, training settings, meta.

    `meta` holds plain JSON data; `meta["name"]` and `meta["description"]` are texts shown to users;
    `meta["trained_run"]` names the run folder or bundle holding the trained weights (core/trained.py).
    `migrated_from` is the schema version a loaded file was upgraded from (None if it was current).
    """

    graph: Graph = field(default_factory=Graph)
    training: TrainingSettings = field(default_factory=TrainingSettings)
    data: DataSettings = field(default_factory=DataSettings)
    meta: dict[str, Any] = field(default_factory=dict)
    migrated_from: int | None = None

    @property
    def name(self) -> str:
        return str(self.meta.get("name", ""))

    @property
    def description(self) -> str:
        return str(self.meta.get("description", ""))

    def to_dict(self) -> dict[str, Any]:
        """The project as plain data, in the current schema."""
        graph = self.graph.to_dict()
        problems: list[str] = []
        return {
            "format": FORMAT,
            "schema_version": SCHEMA_VERSION,
            "app_version": _app_version(),
            "meta": plain_json(self.meta, "meta", problems),
            "data": self.data.to_dict(),
            "training": self.training.to_dict(),
            "nodes": graph["nodes"],
            "edges": graph["edges"],
        }

    def problems(self) -> list[str]:
        """What would stop this project from being saved and loaded back (empty when nothing)."""
        found: list[str] = []
        _check_meta(self.meta, found)
        found += self.data.problems("data")
        found += self.training.problems("training")
        return found

    def to_json(self) -> str:
        """The file's text; ProjectError when the settings or meta hold values a file cannot keep."""
        found = self.problems()
        if found:
            raise ProjectError(None, [f"cannot be saved: {p}" for p in found])
        return dumps(self.to_dict())

    @classmethod
    def from_dict(cls, d: Any, path: str | None = None) -> Project:
        """A project from a file's parsed data, upgraded to the current schema and fully checked.

        Raises ProjectError listing every problem with its place ('training.lr', 'nodes[3] ('conv1')').
        """
        d, version = migrate(d, path)
        problems: list[str] = []
        for key in d:
            if key not in _TOP_KEYS:
                problems.append(f"{key!r} is not a field of a project file")
        for key in _REQUIRED:
            if key not in d:
                problems.append(f"the field '{key}' is missing (the {key} settings)")
        if "app_version" in d and not isinstance(d["app_version"], str):
            problems.append("app_version must be a text like '0.1.0'")
        meta = d.get("meta", {})
        _check_meta(meta, problems)
        data = DataSettings.from_dict(d.get("data", {}), problems, "data")
        training = TrainingSettings.from_dict(d.get("training", {}), problems, "training")
        graph = None
        try:
            graph = Graph.from_dict({"nodes": d.get("nodes"), "edges": d.get("edges", [])})
        except ProjectError as err:
            problems += err.problems
        if problems or graph is None:
            raise ProjectError(path, problems)
        migrated_from = version if version != SCHEMA_VERSION else None
        return cls(graph, training, data, plain_json(meta, "meta", []), migrated_from=migrated_from)

    @classmethod
    def loads(cls, text: str | bytes, path: str | None = None) -> Project:
        """A project from the text of a file (see load_project)."""
        from layerloom.core.gc_pause import paused_gc

        with paused_gc():  # a big project is a great many objects made at once
            return cls.from_dict(parse_json(text, path), path)


def blank_project(name: str = "Untitled") -> Project:
    """A new project with no blocks (File → New, "Empty canvas"). Its data fits the first block one adds,
    an Input of the default shape 1×28×28: the digits resized to 28×28, as in the LeNet-5 template."""
    return Project(data=DataSettings("digits", {"resize": [28, 28]}), meta={"name": name})


def _check_meta(meta: Any, problems: list[str]) -> None:
    if not isinstance(meta, dict):
        problems.append("meta must be an object (with 'name' and 'description')")
        return
    for key in ("name", "description"):
        if key in meta and not isinstance(meta[key], str):
            problems.append(f"meta.{key} must be a text")
    if KEY_TRAINED in meta:
        check_trained_link(meta[KEY_TRAINED], problems)
    plain_json(meta, "meta", problems)


# --- versions -----------------------------------------------------------------------------------


def migrate(d: Any, path: str | None = None) -> tuple[dict[str, Any], int]:
    """`d` upgraded to SCHEMA_VERSION (a copy when it had to change), and the version it was saved with.

    ProjectError when `d` is not a Layerloom project, or is newer than this version reads.
    """
    if not isinstance(d, dict):
        raise ProjectError(path, [f"a project file must hold a JSON object, not a {_kind(d)}"])
    fmt = d.get("format")
    if fmt != FORMAT:
        if fmt is None:
            why = "it has no 'format' field"
        else:
            why = f"its format is {fmt!r}, not {FORMAT!r}"
        raise ProjectError(path, [f"this is not a Layerloom project file ({why})"])
    version = d.get("schema_version")
    if isinstance(version, bool) or not isinstance(version, int):
        raise ProjectError(path, [f"schema_version must be a whole number like {SCHEMA_VERSION} (got {version!r})"])
    if version < 1:
        raise ProjectError(path, [f"schema_version {version} does not exist; versions start at 1"])
    if version > SCHEMA_VERSION:
        raise ProjectError(path, [
            f"was saved by a newer Layerloom (schema {version}); this version reads up to {SCHEMA_VERSION}"
            " — please update"
        ])
    if version < SCHEMA_VERSION:
        d = copy.deepcopy(d)  # migrations may change what they get; the caller's dict stays as it was
    for v in range(version, SCHEMA_VERSION):
        step = MIGRATIONS.get(v)
        if step is None:
            raise ProjectError(path, [f"cannot upgrade a file from schema {v} to {v + 1} (no migration is known)"])
        try:
            d = step(d)
        except Exception as err:  # a migration meeting data it did not expect must not crash the app
            raise ProjectError(path, [f"cannot upgrade the file from schema {v} to {v + 1}: {err}"]) from None
        if not isinstance(d, dict):
            raise ProjectError(path, [f"the upgrade from schema {v} to {v + 1} did not give an object"])
        d["schema_version"] = v + 1
    return d, version


# --- reading and writing ------------------------------------------------------------------------


def _kind(value: Any) -> str:
    names = {dict: "object", list: "list", str: "text", bool: "true/false", type(None): "null"}
    return names.get(type(value), "number")


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in JSON")


def parse_json(text: str | bytes, path: str | None = None) -> Any:
    """Parse a file's text, with a message for each way it can fail (never executes anything)."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as err:
            raise ProjectError(path, [f"is not a text file in UTF-8 (bad byte at position {err.start})"]) from None
    if not text.strip():
        raise ProjectError(path, ["the file is empty"])
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as err:
        cut = err.pos >= len(text.rstrip()) or err.msg.startswith("Unterminated string")
        short = "; the file ends too early, it may have been cut short" if cut else ""
        where = f"line {err.lineno}, column {err.colno}"
        detail = f"{err.msg} {where}" if err.msg.endswith(" at") else f"{err.msg} at {where}"
        raise ProjectError(path, [f"is not valid JSON: {detail}{short}"]) from None
    except ValueError as err:
        raise ProjectError(path, [f"is not valid JSON: {err}"]) from None
    except RecursionError:
        raise ProjectError(path, ["is not a project file: its JSON is nested too deeply"]) from None


def load_project(path: str | os.PathLike) -> Project:
    """Read and check a project file; ProjectError lists every problem with its place."""
    from layerloom.core.resources import NotRegularFile, open_regular

    path = os.fspath(path)
    try:
        with open_regular(path, "project file") as f:
            size = os.fstat(f.fileno()).st_size
            if size > MAX_FILE_BYTES:
                raise ProjectError(path, [_too_big(size)])
            raw = f.read(MAX_FILE_BYTES + 1)
    except NotRegularFile as err:
        raise ProjectError(path, [err.reason]) from None
    except FileNotFoundError:
        raise ProjectError(path, ["the file does not exist"]) from None
    except IsADirectoryError:
        raise ProjectError(path, ["is a folder, not a project file"]) from None
    except PermissionError:
        raise ProjectError(path, ["cannot be read: permission denied"]) from None
    except OSError as err:
        raise ProjectError(path, [f"cannot be read: {err.strerror or err}"]) from None
    if len(raw) > MAX_FILE_BYTES:
        raise ProjectError(path, [_too_big(len(raw))])
    return Project.loads(raw, path)


def _too_big(size: int) -> str:
    return f"is {_bytes(size)}; project files are at most {_bytes(MAX_FILE_BYTES)} (is this really a project?)"


def _bytes(n: int) -> str:
    for unit, scale in (("MB", 2**20), ("KB", 2**10)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n} bytes"


def save_project(project: Project, path: str | os.PathLike) -> None:
    """Write `project` to `path` atomically: the text goes to a temporary file in the same folder, is
    flushed to disk, then replaces `path` in one step. On any failure the old file is left as it was
    and the temporary file is removed. ProjectError for values a file cannot keep or a disk error."""
    path = os.fspath(path)
    try:
        # Every error of the content comes before the disk is touched. A lone surrogate (from a "\ud800"
        # escape in a file) is written back as that same escape.
        text = project.to_json().encode("utf-8", errors="backslashreplace")
    except ProjectError as err:
        raise ProjectError(path, err.problems) from None
    target = os.path.realpath(path)  # saving through a link updates the file it points to
    folder, base = os.path.split(target)
    from layerloom.core.resources import NotRegularFile, check_target

    try:
        check_target(target, "project file")
    except NotRegularFile as err:
        raise ProjectError(path, [f"cannot be saved: {err.reason}"]) from None
    tmp = None
    try:
        fd, tmp = _create_temp(folder, base)
        with os.fdopen(fd, "wb") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        with contextlib.suppress(FileNotFoundError):
            os.chmod(tmp, stat.S_IMODE(os.stat(target).st_mode))  # keep the old file's permissions
        os.replace(tmp, target)
        tmp = None
        _sync_folder(folder)
    except FileNotFoundError:
        raise ProjectError(path, [f"cannot be saved: the folder {folder} does not exist"]) from None
    except OSError as err:
        raise ProjectError(path, [f"cannot be saved: {err.strerror or err}"]) from None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def _create_temp(folder: str, base: str) -> tuple[int, str]:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        tmp = os.path.join(folder, f".{base}.{secrets.token_hex(4)}.tmp")
        try:
            return os.open(tmp, flags, 0o666), tmp  # 0o666 less the umask, like any new file
        except FileExistsError:
            continue


def _sync_folder(folder: str) -> None:
    """Make the rename itself durable (POSIX); harmless where folders cannot be opened."""
    if os.name != "posix":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


# --- the file's look ----------------------------------------------------------------------------


def dumps(value: Any) -> str:
    """JSON text for people and diffs: two-space indents, short lists and flat objects on one line. A lone
    surrogate (from a "\\ud800" escape in a file, or a file name that is not UTF-8) is written as that same
    escape, so the text always encodes as UTF-8 and reads back the same."""
    return _SURROGATE.sub(_escape, _dump(value, "") + "\n")


_SURROGATE = re.compile("[\ud800-\udfff]")


def _escape(match: re.Match) -> str:
    return f"\\u{ord(match.group()):04x}"


_INLINE_WIDTH = 110


def _dump(value: Any, indent: str) -> str:
    if isinstance(value, dict | list) and value and not _inline(value):
        inner = indent + "  "
        if isinstance(value, dict):
            items = [f"{inner}{_scalar(k)}: {_dump(v, inner)}" for k, v in value.items()]
            return "{\n" + ",\n".join(items) + f"\n{indent}}}"
        items = [f"{inner}{_dump(v, inner)}" for v in value]
        return "[\n" + ",\n".join(items) + f"\n{indent}]"
    return _scalar(value)


def _inline(value: dict | list) -> bool:
    """Lists of scalars or lists, and objects of scalars or such lists, that fit on one line."""
    values = value.values() if isinstance(value, dict) else value
    for v in values:
        if isinstance(v, dict) or (isinstance(v, list) and not _inline(v)):
            return False
    return len(_scalar(value)) <= _INLINE_WIDTH


def _scalar(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, allow_nan=False)
