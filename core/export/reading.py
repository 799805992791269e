"""Opening a trained model from disk: a run folder or a `.layerloom` bundle as a `Source` (`open_source`), any
file of weights as a state dict (`read_weights`), and the newest run of a project (`latest_run`).

    source = open_source("runs/lenet5-20250101-120000")     # or a .layerloom bundle
    source.live_model()                                      # the compiled graph with the trained weights
    state = read_weights("old_run/best.safetensors")         # or a bundle, a run folder, a .pt state dict

Weights are read from safetensors files, Layerloom checkpoints, bundles and run folders; a `.pt`/`.pth`
state dict only through `torch.load(weights_only=True)`. Nothing is unpickled or executed.
"""

from __future__ import annotations

import contextlib
import json
import os
from typing import Any

from layerloom.core.export.base import ExportError
from layerloom.core.export.bundle import is_bundle, load_bundle
from layerloom.core.export.safetensors_header import HeaderError, looks_like_pickle, read_header
from layerloom.core.export.source import Source, history_of_weights
from layerloom.core.export.weights import WeightsError

# --- a trained model ------------------------------------------------------------------------------------


def open_source(path: str | os.PathLike, checkpoint: str = "best") -> Source:
    """A run folder (`runs/<project>-<time>/`) or a `.layerloom` bundle as a Source. From a run folder the
    weights are those of `checkpoint` ("best", or "last"; the other when it is missing)."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ExportError(f"{path}: does not exist; give a run folder or a .layerloom bundle")
    if os.path.isdir(path):
        return _open_run(path, checkpoint)
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


def latest_run(project_name: str, root: str | list[str] | None = "runs") -> str | None:
    """The newest run folder of a project that has a checkpoint: under `root` (a folder or a list of them), or
    when None in every folder runs are written to (core/runs.py)."""
    from layerloom.core.runs import latest_run as newest

    return newest(project_name, [root] if isinstance(root, str | os.PathLike) else root)


# --- weights alone ------------------------------------------------------------------------------------


def read_weights(path: str | os.PathLike) -> dict:
    """A state dict from a file: safetensors (a plain state dict or a Layerloom checkpoint), a .layerloom
    bundle, a run folder (its best checkpoint), or a .pt/.pth state dict (torch.load with weights_only)."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise WeightsError(f"{path}: does not exist")
    if os.path.isdir(path):
        try:
            return open_source(path).state
        except ExportError as err:
            raise WeightsError(str(err)) from None
    from layerloom.core.resources import not_regular

    odd = not_regular(path, "weights file")
    if odd is not None:
        raise WeightsError(str(odd))
    if is_bundle(path):
        return load_bundle(path).state
    try:
        read_header(path)  # a safetensors file whatever its first bytes (a header length of 384 is 80 01 …)
    except HeaderError as err:
        if path.endswith((".pt", ".pth", ".bin")) or _starts_like_pickle(path):
            return _torch_state_dict(path)
        raise WeightsError(f"{path}: is not a readable safetensors file ({err})") from None
    except OSError as err:
        from layerloom.core.errors_text import describe

        raise WeightsError(describe(err, path)) from None
    return _safetensors_state_dict(path)


def _starts_like_pickle(path: str) -> bool:
    with open(path, "rb") as f:
        return looks_like_pickle(f.read(2))


def _safetensors_state_dict(path: str) -> dict:
    from safetensors import safe_open
    from safetensors.torch import load_file

    try:
        with safe_open(path, framework="pt") as f:
            meta = f.metadata() or {}
        tensors = load_file(path)
    except Exception as err:  # safetensors raises its own types for a damaged file
        raise WeightsError(f"{path}: is not a readable safetensors file ({err})") from None
    if meta.get("format") == "layerloom-checkpoint":
        return {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    return tensors


def _torch_state_dict(path: str) -> dict:
    import torch

    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise WeightsError(f"{path}: cannot be read as weights without running code in it (only plain "
                           f"state dicts are accepted; {type(err).__name__})") from None
    if isinstance(data, dict) and "state_dict" in data and isinstance(data["state_dict"], dict):
        data = data["state_dict"]
    if not isinstance(data, dict) or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise WeightsError(f"{path}: does not hold a state dict (names → tensors)")
    return dict(data)
