"""What every export shares: its errors, its result, the trained model it starts from (a `Source`), and
writing files so that they appear only once they have passed their check.

    source = open_source("runs/lenet5-20250101-120000")     # or a .layerloom bundle
    source.live_model()                                      # the compiled graph with the trained weights
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from typing import Any

from layerloom.core.errors import LayerloomError

TOLERANCE = 1e-4  # the largest difference an export may show against the live model
FORMATS = ("bundle", "onnx", "torchscript", "torch-export", "python", "safetensors")
SUFFIXES = {"bundle": ".layerloom", "onnx": ".onnx", "torchscript": ".pt", "torch-export": ".pt2", "python": ".py",
            "safetensors": ".safetensors"}
DESCRIPTIONS = {
    "bundle": "Layerloom bundle: project, weights, training settings and history in one file",
    "onnx": "ONNX model for onnxruntime, TensorRT, OpenVINO…",
    "torchscript": "TorchScript, loads with torch.jit.load (no Layerloom needed)",
    "torch-export": "torch.export program (.pt2)",
    "python": "PyTorch source (model.py) with its weights (model.safetensors)",
    "safetensors": "the weights only (a state dict)",
}
TRACE_BATCH = 2  # exports are traced with this batch size…
CHECK_BATCH = 3  # …and checked with another one, which shows that the batch dimension is free


class ExportError(LayerloomError):
    """An export that could not be written or did not pass its check."""


class ParityError(ExportError):
    """The exported model's outputs differ from the live model's by more than the tolerance."""

    def __init__(self, message: str, difference: float):
        super().__init__(message)
        self.difference = difference


@dataclass
class ExportResult:
    """What an export wrote and how well it matches the live model."""

    format: str
    path: str  # the main file (model.py for python)
    files: list[str]
    difference: float  # the largest absolute difference against the live model over the checks
    tolerance: float = TOLERANCE
    checks: list[str] = field(default_factory=list)  # what was compared, in words
    dynamic: dict[str, list[str]] = field(default_factory=dict)  # input name → its free dimensions
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    baked: bool = False  # the preprocessing is the file's first operations: it takes raw values

    @property
    def ok(self) -> bool:
        return self.difference <= self.tolerance

    def parity_text(self) -> str:
        return f"largest difference from the live model {self.difference:.2g} (limit {self.tolerance:g})"

    def summary(self) -> str:
        free = "; ".join(f"{name}: {', '.join(dims)}" for name, dims in self.dynamic.items())
        free = f"; free dimensions — {free}" if free else ""
        return f"{self.format}: {self.path} — {self.parity_text()}{free}"

    def to_dict(self) -> dict[str, Any]:
        return {"format": self.format, "path": self.path, "files": list(self.files), "difference": self.difference,
                "tolerance": self.tolerance, "ok": self.ok, "checks": list(self.checks),
                "dynamic": {k: list(v) for k, v in self.dynamic.items()}, "notes": list(self.notes),
                "seconds": round(self.seconds, 3), "baked": self.baked}


@dataclass
class Staged:
    """What a format's exporter hands back: staged file name → final path, and its check."""

    moves: dict[str, str]
    difference: float
    checks: list[str] = field(default_factory=list)
    dynamic: dict[str, list[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


# --- the trained model an export starts from ----------------------------------------------------------


@dataclass(eq=False)
class Source:
    """A project with trained weights, and what is known of its training.

    state:       the model's state dict (names as the compiled graph's: `conv2d_1.weight`)
    history:     the epoch records the weights went through (epochs.jsonl up to the weights' epoch), oldest first
    settings:    the resolved settings of the run (settings.json), {} when unknown
    checkpoint:  the bytes of the training checkpoint the weights come from (model, optimizer, position), so a
                 bundle resumes training exactly from them; None when there is none
    preprocessing: raw data → model input as trained (a `Preprocessing`), None when unknown
    weights:     which checkpoint the weights are: {"checkpoint": "best", "file", "epoch", "batch", "step",
                 "metric", "value"} (epoch: whole epochs they hold); {} when unknown
    """

    project: Any
    state: dict
    history: list[dict] = field(default_factory=list)
    settings: dict = field(default_factory=dict)
    checkpoint: bytes | None = None
    path: str | None = None
    kind: str = "live"  # "run", "bundle" or "live"
    weights_from: str = ""
    preprocessing: Any = None
    weights: dict = field(default_factory=dict)
    _model: Any = None

    @property
    def graph(self):
        return self.project.graph

    @property
    def name(self) -> str:
        return self.project.name or (os.path.basename(os.path.normpath(self.path)) if self.path else "model")

    def sample_inputs(self, batch: int | None = None, seed: int = 1234, sizes: dict | None = None) -> tuple:
        """Random inputs the live model takes (for tracing and parity checks)."""
        from layerloom.core.export.parity import sample_inputs

        return sample_inputs(self.graph, CHECK_BATCH if batch is None else batch, seed, sizes)

    def live_model(self):
        """The compiled graph with these weights, in evaluation mode (built once)."""
        if self._model is None:
            from layerloom.core.export.weights import apply_weights

            model = compile_for_weights(self.graph, seed=0)
            apply_weights(model, self.state, strict=True)
            self._model = model.eval()
        return self._model


def compile_for_weights(graph, seed: int = 0):
    """Compile `graph` to receive a whole state dict: pretrained backbones are built without fetching their
    ImageNet weights (the state brings the weights), so exporting needs no network."""
    from layerloom.core.blocks.pretrained import BACKBONES
    from layerloom.core.compiler import build_model

    if any(n.type in BACKBONES and n.params.get("weights") != "none" for n in graph):
        graph = graph.copy()
        for n in graph:
            if n.type in BACKBONES:
                graph.set_params(n.id, weights="none")
    return build_model(graph, seed=seed)


def source_from(project, state: dict | None = None, **kw) -> Source:
    """A Source for a project (or a bare Graph) and weights; fresh weights (seed 0) when `state` is None."""
    from layerloom.core.graph import Graph

    if isinstance(project, Graph):
        from layerloom.core.project import Project

        project = Project(project)
    if state is None:
        from layerloom.core.compiler import build_model

        state = build_model(project.graph, seed=0).state_dict()
    return Source(project, {k: v.detach() for k, v in state.items()}, **kw)


def open_source(path: str | os.PathLike, checkpoint: str = "best") -> Source:
    """A run folder (`runs/<project>-<time>/`) or a `.layerloom` bundle as a Source. From a run folder the
    weights are those of `checkpoint` ("best", or "last"; the other when it is missing)."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ExportError(f"{path}: does not exist; give a run folder or a .layerloom bundle")
    if os.path.isdir(path):
        return _open_run(path, checkpoint)
    from layerloom.core.export.bundle import is_bundle, load_bundle

    if is_bundle(path):
        return load_bundle(path).source()
    raise ExportError(f"{path}: is neither a run folder nor a .layerloom bundle")


def _open_run(path: str, checkpoint: str) -> Source:
    from layerloom.core.errors import ProjectError
    from layerloom.core.project import load_project
    from layerloom.core.training.checkpoint import CheckpointError, checkpoint_from_bytes
    from layerloom.core.training.run_folder import BEST, LAST, RunFolderError, check_run_files, read_epochs

    if checkpoint not in ("best", "last"):
        raise ExportError(f"checkpoint must be 'best' or 'last' (got {checkpoint!r})")
    try:
        check_run_files(path)
    except RunFolderError as err:
        raise ExportError(str(err)) from None
    project_file = os.path.join(path, "project.json")
    if not os.path.exists(project_file):
        raise ExportError(f"{path}: is not a run folder (project.json is missing)")
    from layerloom.core.resources import not_regular

    for name in ("project.json", "settings.json", "epochs.jsonl", "preprocessing.json", BEST, LAST):
        odd = not_regular(os.path.join(path, name), "regular file")  # a pipe here would hang the reading
        if odd is not None:
            raise ExportError(str(odd))
    try:
        project = load_project(project_file)
    except ProjectError as err:
        raise ExportError(str(err)) from None
    order = [BEST, LAST] if checkpoint == "best" else [LAST, BEST]
    found = [os.path.join(path, name) for name in order if os.path.exists(os.path.join(path, name))]
    if not found:
        raise ExportError(f"{path}: the run has no checkpoint yet ({BEST} and {LAST} are missing)")
    try:
        with open(found[0], "rb") as f:
            raw = f.read()  # once: the weights, their position and the bundle's checkpoint are the same file
        ckpt = checkpoint_from_bytes(raw, found[0])
    except OSError as err:
        raise ExportError(f"{found[0]}: cannot be read: {err.strerror or err}") from None
    except CheckpointError as err:
        raise ExportError(str(err)) from None
    held = weights_held(ckpt.meta, os.path.basename(found[0]))
    settings = {}
    with contextlib.suppress(OSError, ValueError, RecursionError), open(os.path.join(path, "settings.json"),
                                                                        encoding="utf-8") as f:
        settings = json.load(f)
    from layerloom.core.data.base import DataError
    from layerloom.core.training.run_folder import read_preprocessing

    try:
        pre = read_preprocessing(path)
    except DataError as err:
        raise ExportError(str(err)) from None
    history = history_of_weights(read_epochs(path), held.get("epoch"))
    return Source(project, ckpt.model, history, settings if isinstance(settings, dict) else {}, raw,
                  path, "run", os.path.basename(found[0]), pre, held)


def weights_held(meta: dict, file: str) -> dict:
    """What a checkpoint's weights are, from its position: checkpoint ("best"/"last"), file, epoch (whole
    epochs done), batch, step, metric and value (the watched metric of these weights, when known)."""
    held: dict[str, Any] = {"checkpoint": "best" if file.startswith("best") else "last", "file": file}
    for key in ("epoch", "batch", "step"):
        if isinstance(meta.get(key), int) and not isinstance(meta.get(key), bool):
            held[key] = meta[key]
    if isinstance(meta.get("metric"), str):
        held["metric"] = meta["metric"]
    if isinstance(meta.get("value"), int | float) and not isinstance(meta.get("value"), bool):
        held["value"] = meta["value"]
    return held


def history_of_weights(history: list[dict], epochs: int | None) -> list[dict]:
    """The epoch records that weights holding `epochs` whole epochs went through (all when unknown): a log
    that ran on past its checkpoint (a killed run) says nothing about these weights."""
    if epochs is None:
        return list(history)
    kept = []
    for i, record in enumerate(history):
        epoch = record.get("epoch", i)
        if isinstance(epoch, int) and not isinstance(epoch, bool) and epoch < epochs:
            kept.append(record)
    return kept


def latest_run(project_name: str, root: str | list[str] | None = "runs") -> str | None:
    """The newest run folder of a project that has a checkpoint: under `root` (a folder or a list of them), or
    when None in every folder runs are written to (core/runs.py)."""
    from layerloom.core.runs import latest_run as newest

    return newest(project_name, [root] if isinstance(root, str | os.PathLike) else root)


# --- writing ------------------------------------------------------------------------------------------


class Staging:
    """A temporary folder beside the destination: an export writes there, is checked there, and its files
    are moved into place only when the check passed (so a failed export leaves nothing behind)."""

    def __init__(self, destination: str):
        self.destination = os.path.abspath(destination)
        folder = os.path.dirname(self.destination)
        try:
            os.makedirs(folder, exist_ok=True)
            from layerloom.core.cleanup import STAGING_PREFIX, cleanup_stale

            cleanup_stale(folder, depth=0)  # what exports killed in the middle left here
            self.dir = tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=folder)
        except OSError as err:
            raise ExportError(_cannot_write(destination, err)) from None

    def file(self, name: str) -> str:
        return os.path.join(self.dir, name)

    def commit(self, moves: dict[str, str]) -> list[str]:
        """Move staged files (staged name → final path) into place; returns the final paths."""
        from layerloom.core.resources import NotRegularFile, check_target

        done = []
        try:
            for name, final in moves.items():
                if os.path.isdir(final):
                    raise ExportError(f"{final}: is a folder; give a file name")
                try:
                    check_target(final)
                except NotRegularFile as err:
                    raise ExportError(str(err)) from None
                os.replace(self.file(name), final)
                done.append(final)
        except OSError as err:
            raise ExportError(_cannot_write(final, err)) from None
        return done

    def close(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Staging:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _cannot_write(path: str, err: OSError) -> str:
    reason = (err.strerror or str(err)).lower()
    return f"{path}: cannot be written ({reason}); choose a folder you can write to"
