"""`.layerloom` bundles: a trained model in one file that Layerloom opens again, trains on and exports.

A bundle is a zip holding exactly these members, nothing else:

    manifest.json            {"format": "layerloom-bundle", "version": 1, "app_version", "created", "name",
                             "weights": which checkpoint the weights are (best/last, epoch, step, value), …}
    project.json             the project (graph, data and training settings), as a project file
    weights.safetensors      the model's state dict
    checkpoint.safetensors   (optional) the training checkpoint the weights come from: optimizer state and
                             position, so `layerloom train --resume BUNDLE` continues exactly from them
    settings.json            (optional) the resolved settings of the run that trained it
    metrics.json             (optional) {"summary": {epochs, final, best, best_metric, best_epoch}, "epochs": [...]}
    preprocessing.json       (optional) raw data → model input as trained: scaling, normalization, vocabulary,
                             class names (see core/data/preprocessing.py)

Reading is safe by construction: nothing is extracted to disk, so no member can name a path to write to
(names with `..`, absolute paths or folders are refused anyway); each member's declared size is checked
against a limit before reading and its actual size while reading (zip bombs); weights are read with
safetensors only and a member holding a pickle is refused; the project is validated JSON.
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import tempfile
import time
import zipfile
import zlib
from dataclasses import dataclass, field
from typing import Any

from layerloom.core.export.base import ExportError, Staged
from layerloom.core.export.source import Source, history_of_weights
from layerloom.core.resources import size_text

FORMAT = "layerloom-bundle"
VERSION = 1
SUFFIX = ".layerloom"
MANIFEST, PROJECT, WEIGHTS, CHECKPOINT, SETTINGS, METRICS, PREPROCESSING = (
    "manifest.json", "project.json", "weights.safetensors", "checkpoint.safetensors", "settings.json", "metrics.json",
    "preprocessing.json")
REQUIRED = (MANIFEST, PROJECT, WEIGHTS)
MiB, GiB = 2**20, 2**30
# the most each member may decompress to
LIMITS = {MANIFEST: 1 * MiB, PROJECT: 64 * MiB, SETTINGS: 16 * MiB, METRICS: 64 * MiB, WEIGHTS: 2 * GiB,
          CHECKPOINT: 6 * GiB, PREPROCESSING: 256 * MiB}
MAX_TOTAL = 8 * GiB
MAX_MEMBERS = 32
MAX_RATIO = 200  # a member above RATIO_FLOOR that compressed better than this is a zip bomb, not weights
RATIO_FLOOR = 64 * MiB
CHUNK = 1 * MiB
_PICKLE_SUFFIXES = (".pkl", ".pickle", ".pt", ".pth", ".bin", ".ckpt", ".npy", ".joblib")


class BundleError(ExportError):
    """A bundle that cannot be opened, or is refused for safety; the message names the file and why."""


# --- reading --------------------------------------------------------------------------------------------


def is_bundle(path) -> bool:
    """True for a file named *.layerloom, or a zip file with a bundle manifest."""
    if path is None:
        return False
    path = os.fspath(path)
    if not os.path.isfile(path):
        return False
    if path.lower().endswith(SUFFIX):
        return True
    try:
        with zipfile.ZipFile(path) as zf:
            return MANIFEST in zf.namelist() and PROJECT in zf.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return False


def _unsafe_name(name: str) -> bool:
    if not name or "\\" in name or "\x00" in name or name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return True
    return any(part in ("", ".", "..") for part in name.split("/"))


def read_members(path: str) -> dict[str, bytes]:
    """The members of a bundle as bytes, after every safety check (see the module's text)."""
    from layerloom.core.resources import not_regular

    where = f"{path}:"
    odd = not_regular(path, "bundle")  # a pipe or a device is never opened: it could block or never end
    if odd is not None:
        raise BundleError(str(odd))
    try:
        zf = zipfile.ZipFile(path)
    except FileNotFoundError:
        raise BundleError(f"{path}: does not exist") from None
    except (zipfile.BadZipFile, OSError, ValueError) as err:
        raise BundleError(f"{where} is not a Layerloom bundle (not a readable zip file: {err})") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_MEMBERS:
            raise BundleError(f"{where} holds {len(infos)} files; a bundle holds at most {len(LIMITS)} — refused")
        seen: set[str] = set()
        total = 0
        for info in infos:
            name = info.filename
            if _unsafe_name(name) or info.is_dir():
                raise BundleError(f"{where} holds an entry named {name!r}, a path that points outside the "
                                  "bundle or into folders; bundles are never unpacked to the paths they name, "
                                  "and one like this is refused")
            if name in seen:
                raise BundleError(f"{where} holds {name!r} twice; the bundle is refused")
            seen.add(name)
            if name not in LIMITS:
                if name.lower().endswith(_PICKLE_SUFFIXES):
                    raise BundleError(f"{where} holds {name!r}, a Python pickle (or a file that may be one); "
                                      "Layerloom never unpickles files, so the bundle is refused")
                raise BundleError(f"{where} holds {name!r}, which is not part of a Layerloom bundle; the bundle "
                                  "is refused")
            if info.flag_bits & 0x1:
                raise BundleError(f"{where} {name} is encrypted; bundles are not")
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise BundleError(f"{where} {name} uses a compression bundles do not use; refused")
            limit = LIMITS[name]
            if info.file_size > limit:
                raise BundleError(f"{where} {name} would decompress to {size_text(info.file_size)}; a bundle's {name} "
                                  f"may be at most {size_text(limit)} — refused (a zip bomb, or not a bundle)")
            if info.file_size > RATIO_FLOOR and info.file_size > MAX_RATIO * max(1, info.compress_size):
                raise BundleError(f"{where} {name} would decompress from {size_text(info.compress_size)} to "
                                  f"{size_text(info.file_size)}; real weights do not compress like that — refused "
                                  "(a zip bomb)")
            total += info.file_size
            if total > MAX_TOTAL:
                raise BundleError(f"{where} would decompress to more than {size_text(MAX_TOTAL)} in all — refused")
        missing = [m for m in REQUIRED if m not in seen]
        if missing:
            raise BundleError(f"{where} is not a Layerloom bundle ({', '.join(missing)} missing)")
        members = {}
        for info in infos:
            members[info.filename] = _read_limited(zf, info, min(LIMITS[info.filename], info.file_size), where)
    return members


def _read_limited(zf: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int, where: str) -> bytes:
    """Read one member, counting what it actually decompresses to and stopping past `limit`."""
    buf = io.BytesIO()
    count = 0
    try:
        with zf.open(info) as f:
            while True:
                chunk = f.read(CHUNK)
                if not chunk:
                    break
                count += len(chunk)
                if count > limit:
                    raise BundleError(f"{where} {info.filename} decompresses to more than its declared "
                                      f"{size_text(limit)}; refused (a zip bomb)")
                buf.write(chunk)
    except BundleError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as err:
        raise BundleError(f"{where} {info.filename} is damaged ({err})") from None
    return buf.getvalue()


def _json(data: bytes, name: str, where: str, allow_nan: bool = False) -> Any:
    def refuse(const):
        raise ValueError(f"{const} is not allowed")

    try:
        text = data.decode("utf-8-sig")
        return json.loads(text) if allow_nan else json.loads(text, parse_constant=refuse)
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        raise BundleError(f"{where} {name} is not valid JSON ({err})") from None


def _tensors(data: bytes, name: str, where: str) -> dict:
    """The tensors of a safetensors member, after its header was parsed and checked (a pickle, a torch.save
    zip or any other file is refused before a loader sees it)."""
    from layerloom.core.export.safetensors_header import HeaderError, looks_like_pickle, parse_header

    try:
        parse_header(data)
    except HeaderError as err:
        if looks_like_pickle(data):
            raise BundleError(f"{where} {name} holds a Python pickle instead of safetensors weights; Layerloom never "
                              "unpickles files, so the bundle is refused") from None
        raise BundleError(f"{where} {name} is not a readable safetensors file ({err}); the bundle is refused") \
            from None
    from safetensors.torch import load

    try:
        return load(data)
    except Exception as err:  # safetensors raises its own error types for a damaged file
        raise BundleError(f"{where} {name} is not a readable safetensors file ({err})") from None


def safetensors_metadata(data: bytes) -> dict:
    """The `__metadata__` of safetensors bytes (the JSON header), {} when there is none or no valid header."""
    from layerloom.core.export.safetensors_header import HeaderError, metadata, parse_header

    try:
        return metadata(parse_header(data))
    except HeaderError:
        return {}


def _check_fit(project, state: dict, name: str, where: str) -> None:
    """Refuse weights that do not fit the bundle's own network (shape, dtype, missing or extra names)."""
    from layerloom.core.errors import CompileError
    from layerloom.core.export.weights import fit_problems

    try:
        problems = fit_problems(project.graph, state)
    except CompileError:
        return  # a network with errors: they are shown with it, and nothing can run it anyway
    if problems:
        shown = problems[:20] + ([f"…and {len(problems) - 20} more"] if len(problems) > 20 else [])
        raise BundleError(f"{where} {name} does not fit the bundle's network (export the bundle again from its "
                          "run folder):\n" + "\n".join(f"  - {p}" for p in shown))


_WHOLE_FIELDS = ("epoch", "step")


def _check_history(history: list[dict], where: str) -> None:
    """Every epoch record's numbers are numbers: its epoch and step whole numbers, its metrics numbers or null."""
    from layerloom.core.training.run_folder import EPOCH_SCALARS

    for i, record in enumerate(history):
        for key in EPOCH_SCALARS:
            if key not in record or record[key] is None:
                continue
            value = record[key]
            number = isinstance(value, int | float) and not isinstance(value, bool)
            if key in _WHOLE_FIELDS and not (number and float(value).is_integer() and value >= 0):
                raise BundleError(f"{where} {METRICS}, epoch record {i + 1}: {key} must be a whole number of at "
                                  f"least 0 (got {value!r}); the file is damaged — export the bundle again")
            if not number:
                raise BundleError(f"{where} {METRICS}, epoch record {i + 1}: {key} must be a number (got {value!r}); "
                                  "the file is damaged — export the bundle again")


@dataclass(eq=False)
class Bundle:
    """An opened bundle: the project, its weights, and what is known of its training."""

    project: Any
    state: dict
    settings: dict = field(default_factory=dict)
    history: list[dict] = field(default_factory=list)
    summary: dict = field(default_factory=dict)
    manifest: dict = field(default_factory=dict)
    checkpoint: bytes | None = None
    path: str | None = None
    preprocessing: Any = None

    def source(self) -> Source:
        weights = self.manifest.get("weights")
        return Source(self.project, self.state, list(self.history), dict(self.settings), self.checkpoint,
                      self.path, "bundle", str(self.manifest.get("weights_from", WEIGHTS)), self.preprocessing,
                      dict(weights) if isinstance(weights, dict) else {})

    def training_checkpoint(self):
        """The training checkpoint to resume from: the bundle's own, or one made of its weights (a fresh
        optimizer) positioned after the epochs in its history."""
        from layerloom.core.training.checkpoint import CheckpointError, load_checkpoint

        data = self.checkpoint or checkpoint_from_weights(self.state, self.history)
        with tempfile.TemporaryDirectory(prefix="layerloom-bundle-") as tmp:
            file = os.path.join(tmp, "last.safetensors")
            with open(file, "wb") as f:
                f.write(data)
            try:
                return load_checkpoint(file)
            except CheckpointError as err:
                raise BundleError(f"{self.path}: {CHECKPOINT} {str(err).split(': ', 1)[-1]}") from None


def load_bundle(path: str | os.PathLike) -> Bundle:
    """Open a `.layerloom` bundle: project, weights, settings and history; BundleError says why not."""
    from layerloom.core.errors import ProjectError
    from layerloom.core.project import Project

    path = os.fspath(path)
    members = read_members(path)
    where = f"{path}:"
    manifest = _json(members[MANIFEST], MANIFEST, where)
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BundleError(f"{where} is not a Layerloom bundle (its manifest does not say {FORMAT!r})")
    version = manifest.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise BundleError(f"{where} the manifest's version must be a whole number (got {version!r})")
    if version > VERSION:
        raise BundleError(f"{where} was written by a newer Layerloom (bundle version {version}; this one reads up "
                          f"to {VERSION}) — please update")
    try:
        project = Project.loads(members[PROJECT], f"{path}!{PROJECT}")
    except ProjectError as err:
        raise BundleError(str(err)) from None
    state = _tensors(members[WEIGHTS], WEIGHTS, where)
    _check_fit(project, state, WEIGHTS, where)
    checkpoint = None
    if CHECKPOINT in members:
        data = members[CHECKPOINT]
        tensors = _tensors(data, CHECKPOINT, where)  # refuses a pickle, checks the file
        if safetensors_metadata(data).get("format") != "layerloom-checkpoint":
            raise BundleError(f"{where} {CHECKPOINT} is not a Layerloom training checkpoint")
        _check_fit(project, {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")},
                   CHECKPOINT, where)
        checkpoint = data
    settings = _json(members[SETTINGS], SETTINGS, where, allow_nan=True) if SETTINGS in members else {}
    metrics = _json(members[METRICS], METRICS, where, allow_nan=True) if METRICS in members else {}
    if not isinstance(settings, dict):
        raise BundleError(f"{where} {SETTINGS} must hold an object")
    if not isinstance(metrics, dict) or not isinstance(metrics.get("epochs", []), list):
        raise BundleError(f"{where} {METRICS} must hold an object with a list of epochs")
    history = [r for r in metrics.get("epochs", []) if isinstance(r, dict)]
    _check_history(history, where)
    summary = metrics.get("summary", {}) if isinstance(metrics.get("summary", {}), dict) else {}
    from layerloom.core.data.preprocessing import Preprocessing, PreprocessingError, from_settings

    if PREPROCESSING in members:
        try:
            facts = _json(members[PREPROCESSING], PREPROCESSING, where)
            pre = Preprocessing.from_dict(facts, f"{path}!{PREPROCESSING}")
        except PreprocessingError as err:
            raise BundleError(str(err)) from None
    else:  # a bundle from before preprocessing.json: what its settings recorded
        pre = from_settings(settings)
    return Bundle(project, state, settings, history, summary, manifest, checkpoint, path, pre)


# --- writing --------------------------------------------------------------------------------------------


def metrics_summary(history: list[dict]) -> dict:
    """epochs, final metrics, and the best epoch (by validation accuracy, else validation loss)."""
    if not history:
        return {"epochs": 0, "final": {}, "best": None, "best_metric": None, "best_epoch": None}
    last = history[-1]
    keys = ("train_loss", "val_loss", "val_accuracy", "train_accuracy", "val_mae", "val_r2")
    final = {k: last[k] for k in keys if isinstance(last.get(k), int | float)}
    metric = "val_accuracy" if any(isinstance(r.get("val_accuracy"), int | float) for r in history) else "val_loss"
    scored = [(r.get(metric), i) for i, r in enumerate(history)
              if isinstance(r.get(metric), int | float) and math.isfinite(r.get(metric))]
    best = best_epoch = None
    if scored:
        value, i = (max if metric == "val_accuracy" else min)(scored)
        best, best_epoch = value, int(history[i].get("epoch", i)) + 1
    return {"epochs": len(history), "final": final, "best": best, "best_metric": metric, "best_epoch": best_epoch}


def checkpoint_from_weights(state: dict, history: list[dict]) -> bytes:
    """A training checkpoint holding only weights, placed after the epochs of `history`."""
    from layerloom.core.training.checkpoint import checkpoint_bytes

    step = 0
    for r in history:
        if isinstance(r.get("step"), int):
            step = max(step, r["step"])
    return checkpoint_bytes(model_state=state, meta={"epoch": len(history), "batch": 0, "step": step})


def _clean(value: Any) -> Any:
    """JSON-safe copy: non-finite floats become null (the files must be strict JSON)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def _data_words(source: Source) -> str | None:
    data = source.settings.get("data") if isinstance(source.settings, dict) else None
    if isinstance(data, dict) and data.get("name"):
        return str(data["name"])
    return source.preprocessing.facts.get("data") if source.preprocessing is not None else None


def save_bundle(source: Source, path: str, *, include_checkpoint: bool = True) -> str:
    """Write `source` as a bundle at `path` (written as it goes: callers write to a staging file). The history
    and summary are those of the weights: the epochs up to the checkpoint they come from."""
    from safetensors.torch import save as st_save

    from layerloom import __version__
    from layerloom.core.project import dumps

    state = {k: v.detach().cpu().contiguous().clone() for k, v in source.state.items()}
    weights = st_save(state, {"format": "pt", "producer": "layerloom"})
    records = history_of_weights(source.history, source.weights.get("epoch"))  # what these weights went through
    summary = _clean(metrics_summary(records))
    manifest = {"format": FORMAT, "version": VERSION, "app_version": __version__,
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "name": source.name,
                "weights_from": source.weights_from or WEIGHTS, "source": source.kind,
                "trained_from": source.path if source.kind == "run" else None,
                "epochs_trained": summary["epochs"], "best": summary["best"], "best_metric": summary["best_metric"],
                "best_epoch": summary["best_epoch"], "weights": _clean(source.weights) or None,
                "data": _data_words(source),
                "preprocessing": source.preprocessing.describe() if source.preprocessing is not None else None}
    history = [_clean(r) for r in records]
    deflated, stored = zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED
    try:
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr(MANIFEST, json.dumps(manifest, indent=2) + "\n", compress_type=deflated)
            zf.writestr(PROJECT, dumps(source.project.to_dict()), compress_type=deflated)
            zf.writestr(WEIGHTS, weights, compress_type=stored)
            if include_checkpoint and source.checkpoint:
                zf.writestr(CHECKPOINT, source.checkpoint, compress_type=stored)
            if source.settings:
                zf.writestr(SETTINGS, json.dumps(_clean(source.settings), indent=2) + "\n", compress_type=deflated)
            metrics = {"summary": summary, "epochs": history}
            zf.writestr(METRICS, json.dumps(metrics, indent=1) + "\n", compress_type=deflated)
            if source.preprocessing is not None:
                zf.writestr(PREPROCESSING, json.dumps(_clean(source.preprocessing.to_dict())) + "\n",
                            compress_type=deflated)
    except OSError as err:
        raise BundleError(f"{path}: cannot be written: {err.strerror or err}") from None
    return path


def bundle_to_run_folder(bundle: Bundle | str, root: str, name: str | None = None) -> str:
    """Unpack a bundle into a new run folder under `root` (project.json, settings.json, epochs.jsonl,
    last.safetensors) that `layerloom train --resume` and the trainer continue from; returns its path."""
    from layerloom.core.project import dumps
    from layerloom.core.training.checkpoint import atomic_write
    from layerloom.core.training.run_folder import LAST, new_run_dir, write_json

    if not isinstance(bundle, Bundle):
        bundle = load_bundle(bundle)
    run_dir = new_run_dir(root, name or bundle.project.name or "run")
    atomic_write(os.path.join(run_dir, "project.json"), dumps(bundle.project.to_dict()).encode("utf-8"),
                 durable=False)
    settings = dict(bundle.settings)
    settings["unpacked_from"] = bundle.path
    write_json(os.path.join(run_dir, "settings.json"), settings)
    if bundle.preprocessing is not None:
        write_json(os.path.join(run_dir, PREPROCESSING), bundle.preprocessing.to_dict())
    with open(os.path.join(run_dir, "epochs.jsonl"), "w", encoding="utf-8") as f:
        for record in bundle.history:
            f.write(json.dumps(record) + "\n")
    data = bundle.checkpoint or checkpoint_from_weights(bundle.state, bundle.history)
    atomic_write(os.path.join(run_dir, LAST), data)
    return run_dir


def export_bundle(source: Source, path: str, staging, tolerance: float) -> Staged:
    """Write the bundle in `staging`, reopen it and compare its model's outputs with the live model's."""
    from layerloom.core.export.parity import max_difference, run_model, sample_inputs
    from layerloom.core.export.weights import apply_weights, compile_for_weights

    staged = "model" + SUFFIX
    save_bundle(source, staging.file(staged))
    reopened = load_bundle(staging.file(staged))
    model = compile_for_weights(reopened.project.graph, seed=1)
    apply_weights(model, reopened.state, strict=True)
    model.eval()
    inputs = sample_inputs(source.graph)
    diff = max_difference(run_model(source.live_model(), inputs), run_model(model, inputs), "the reopened bundle")
    return Staged({staged: path}, diff, ["reopened the bundle and ran its model on a batch of 3 samples"])
