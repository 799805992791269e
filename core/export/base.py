"""The words every export and import shares: the formats and their file suffixes, the tolerance and batch
sizes of the checks, the errors, an export's result, and writing files so that they appear only once they have
passed their check. It imports no other module of core/export, so every one of them may import it.

    with Staging("out/lenet5.onnx") as staging:     # a temporary folder beside the destination
        ...                                          # write staging.file("model.onnx"), check it
        staging.commit({"model.onnx": "out/lenet5.onnx"})
"""

from __future__ import annotations

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


class ModelImportError(LayerloomError):
    """A model that cannot be imported; the message says why."""


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
