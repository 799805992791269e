"""A project's link to the weights it was trained to: `meta.trained_run` in the project file.

    "meta": {"name": "LeNet-5", "trained_run": {"path": "/home/me/.local/share/Layerloom/Layerloom/runs/
             LeNet-5-20250101-120000", "checkpoint": "last", "epochs": 3}}

`path` is a run folder (whose `checkpoint`, "last" or "best", holds the weights) or a `.layerloom` bundle;
a relative path is read from the project file's folder. `epochs` is how many epochs trained the weights (for
messages). The window records the link when it saves a trained project and loads those weights when the
project opens again (`open_linked`), or says in plain words why it cannot. Files without the link (older
ones) open as before; it lives in `meta`, so no schema version changed. No Qt; torch only in open_linked.
"""

from __future__ import annotations

import os

from layerloom.core.errors import LayerloomError
from layerloom.core.trained_link import KEY

UNTRAINED = "the network opens with untrained weights"


class TrainedRunError(LayerloomError):
    """The weights a project names cannot be loaded; the message says why, in plain words."""


def link_of(project) -> dict | None:
    """The project's `trained_run` (checked when the file was read), None when it has none."""
    link = project.meta.get(KEY)
    return link if isinstance(link, dict) else None


def unlinked(meta: dict) -> dict:
    """A copy of `meta` without the link (for a bundle's project, whose weights travel with it)."""
    return {k: v for k, v in meta.items() if k != KEY}


def link_for(source) -> dict | None:
    """The link naming where `source`'s weights are kept; None for weights kept nowhere (imported, live)."""
    if source is None or not source.path or source.kind not in ("run", "bundle"):
        return None
    checkpoint = "best" if str(source.weights_from).startswith("best") else "last"
    return {"path": os.path.abspath(source.path), "checkpoint": checkpoint, "epochs": len(source.history)}


def resolve(link: dict, project_path: str | os.PathLike | None = None) -> str:
    """The link's path, a relative one read from the project file's folder."""
    path = os.path.expanduser(str(link["path"]))
    if not os.path.isabs(path) and project_path:
        path = os.path.join(os.path.dirname(os.path.abspath(os.fspath(project_path))), path)
    return os.path.normpath(path)


def describe(link: dict) -> str:
    """'run LeNet-5-20250101-120000 (3 epochs)' or 'bundle lenet.layerloom (3 epochs)'."""
    path = str(link.get("path", ""))
    name = os.path.basename(os.path.normpath(path)) or path
    what = "bundle" if os.path.isfile(path) or name.endswith(".layerloom") else "run"
    epochs = link.get("epochs")
    return f"{what} {name}" + (f" ({epochs} epoch{'s' if epochs != 1 else ''})" if isinstance(epochs, int) else "")


def same_network(a, b) -> bool:
    """Whether two graphs are the same network: blocks (name, type, parameters) and wires; positions aside."""

    def shape(graph):
        names = {n.id: n.name for n in graph}
        blocks = sorted((n.name, n.type, repr(sorted(n.params.items()))) for n in graph)
        wires = sorted((names[e.src], e.src_port, names[e.dst], e.dst_port) for e in graph.edges)
        return blocks, wires

    return shape(a) == shape(b)


def with_project(source, project):
    """`source` with a copy of `project` (without its link) as the network its weights belong to."""
    from layerloom.core.export.source import Source
    from layerloom.core.project import Project

    copy = Project.from_dict(project.to_dict())
    copy.meta = unlinked(copy.meta)
    return Source(copy, source.state, list(source.history), dict(source.settings), source.checkpoint, source.path,
                  source.kind, source.weights_from, source.preprocessing)


def fits(source, project) -> bool:
    """Whether `source`'s weights fit `project`'s network (same blocks, or the same names and shapes)."""
    if same_network(source.graph, project.graph):
        return True
    try:
        with_project(source, project).live_model()
    except LayerloomError:
        return False
    return True


def open_linked(project, project_path: str | os.PathLike | None = None, consequence: str = UNTRAINED):
    """A Source of the weights the project names, for its network; TrainedRunError says why not (ending with
    `consequence`, what happens instead)."""
    from layerloom.core.export.reading import open_source

    link = link_of(project)
    if link is None:
        raise TrainedRunError(f"the project names no trained weights; {consequence}")
    path = resolve(link, project_path)
    what = "run folder" if not path.endswith(".layerloom") else "bundle"
    if not os.path.exists(path):
        raise TrainedRunError(f"its trained weights are in the {what} {path}, which was moved or deleted; "
                              f"{consequence}")
    try:
        source = open_source(path, link.get("checkpoint", "last"))
    except LayerloomError as err:
        raise TrainedRunError(f"its trained weights cannot be read: {err}; {consequence}") from None
    adopted = with_project(source, project)
    try:
        adopted.live_model()
    except LayerloomError as err:
        first = " ".join(line.strip(" -") for line in str(err).splitlines()[:2])
        raise TrainedRunError(f"the network was changed after it was trained, so the weights in {path} do not fit "
                              f"it ({first}); {consequence}") from None
    return adopted


def source_of_project(path: str | os.PathLike, checkpoint: str | None = None):
    """(Source, where its weights came from in words) for a project file: the weights it names, else those of
    its project's latest run in the runs folders (core/runs.py). TrainedRunError when there are none."""
    from layerloom.core.export.reading import open_source
    from layerloom.core.project import load_project
    from layerloom.core.runs import latest_run, run_roots

    path = os.fspath(path)
    project = load_project(path)
    nothing = "nothing was exported"
    link = link_of(project)
    if link is not None:
        if checkpoint is not None:
            link = {**link, "checkpoint": checkpoint}
            project.meta[KEY] = link
        try:
            source = open_linked(project, path, nothing)
        except TrainedRunError as err:
            raise TrainedRunError(f"{path}: {err}") from None
        return source, f"{source.path} ({link.get('checkpoint', 'last')} checkpoint), named by the project"
    roots = run_roots()
    run = latest_run(project.name, roots)
    if run is None:
        raise TrainedRunError(f"{path}: there are no trained weights for “{project.name or 'the project'}”: the "
                              f"project names no run, and none of its runs is in {' or '.join(roots)}; train it "
                              f"first (layerloom train {path}), or give a run folder or bundle; {nothing}")
    try:
        source = open_source(run, checkpoint or "best")
    except LayerloomError as err:
        raise TrainedRunError(f"{path}: its latest run cannot be read: {err}; {nothing}") from None
    if not fits(source, project):
        raise TrainedRunError(f"{path}: its latest run {run} trained a different network than the file holds now; "
                              f"give that run folder itself, or train the project again; {nothing}")
    return with_project(source, project), f"the latest run of “{project.name}”, {run}"
