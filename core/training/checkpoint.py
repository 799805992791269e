"""Checkpoints as safetensors files: the model's weights and buffers, the optimizer's and schedule's
state, the random generators and the position in the run, so training resumes exactly where it was.

    save_checkpoint(path, model_state=model.state_dict(), optimizer=opt.state_dict(), ...)
    ckpt = load_checkpoint(path)     # Checkpoint(model, optimizer, scheduler, scaler, rng, meta)

Tensors are stored under prefixes (`model.`, `optimizer.`, `scheduler.`, `scaler.`, `rng.`); the
structure around them (param groups, step counters, the run position) is JSON in the safetensors
metadata, with tensors referenced by key. Loading uses safetensors and json only: nothing is unpickled
and nothing in the file is executed. Writes are atomic: a temporary file in the same folder is written,
flushed to disk, and renamed over the target in one step, so a crash never leaves a broken checkpoint.
"""

from __future__ import annotations

import json
import math
import os
import secrets
from dataclasses import dataclass, field
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import load_file
from safetensors.torch import save as st_save

FORMAT = "layerloom-checkpoint"
VERSION = 1


class CheckpointError(Exception):
    """A checkpoint that cannot be read or written; the message names the file."""


@dataclass
class Checkpoint:
    model: dict[str, torch.Tensor]
    optimizer: dict | None = None
    scheduler: dict | None = None
    scaler: dict | None = None
    rng: dict[str, torch.Tensor] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)


# --- nested state ↔ JSON with tensor references ---------------------------------------------------


class _Encoder:
    def __init__(self, prefix: str, tensors: dict[str, torch.Tensor]):
        self.prefix = prefix
        self.tensors = tensors
        self.n = 0

    def __call__(self, obj: Any) -> Any:
        if isinstance(obj, torch.Tensor):
            key = f"{self.prefix}{self.n}"
            self.n += 1
            self.tensors[key] = obj.detach().cpu().contiguous().clone()
            return {"__tensor__": key}
        if isinstance(obj, dict):
            return {"__dict__": [[self(k), self(v)] for k, v in obj.items()]}
        if isinstance(obj, tuple):
            return {"__tuple__": [self(v) for v in obj]}
        if isinstance(obj, list):
            return [self(v) for v in obj]
        if isinstance(obj, float) and not math.isfinite(obj):
            return {"__float__": repr(obj)}
        if obj is None or isinstance(obj, bool | int | float | str):
            return obj
        raise TypeError(f"cannot store a {type(obj).__name__} in a checkpoint")


def _decode(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, list):
        return [_decode(v, tensors) for v in obj]
    if isinstance(obj, dict):
        if "__tensor__" in obj:
            return tensors[obj["__tensor__"]]
        if "__dict__" in obj:
            return {_decode(k, tensors): _decode(v, tensors) for k, v in obj["__dict__"]}
        if "__tuple__" in obj:
            return tuple(_decode(v, tensors) for v in obj["__tuple__"])
        if "__float__" in obj:
            return float(obj["__float__"])
        raise ValueError("unknown entry in a checkpoint's metadata")
    return obj


# --- writing --------------------------------------------------------------------------------------


def _unshared(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    for k, v in state.items():
        out[prefix + k] = v.detach().cpu().contiguous().clone()  # clone: safetensors refuses shared memory
    return out


def save_checkpoint(path: str, *, model_state: dict[str, torch.Tensor], optimizer: dict | None = None,
                    scheduler: dict | None = None, scaler: dict | None = None,
                    rng: dict[str, torch.Tensor] | None = None, meta: dict[str, Any] | None = None) -> str:
    """Write a checkpoint atomically to `path`; returns the path."""
    atomic_write(path, checkpoint_bytes(model_state=model_state, optimizer=optimizer, scheduler=scheduler,
                                        scaler=scaler, rng=rng, meta=meta))
    return path


def checkpoint_bytes(*, model_state: dict[str, torch.Tensor], optimizer: dict | None = None,
                     scheduler: dict | None = None, scaler: dict | None = None,
                     rng: dict[str, torch.Tensor] | None = None, meta: dict[str, Any] | None = None) -> bytes:
    """The content of a checkpoint file: a snapshot taken now (tensors are copied to the CPU)."""
    tensors = _unshared(model_state, "model.")
    metadata = {"format": FORMAT, "version": str(VERSION), "meta": json.dumps(meta or {})}
    for name, state in (("optimizer", optimizer), ("scheduler", scheduler), ("scaler", scaler)):
        if state is not None:
            metadata[name] = json.dumps(_Encoder(f"{name}.", tensors)(state))
    for k, v in (rng or {}).items():
        tensors[f"rng.{k}"] = v.detach().cpu().contiguous().clone()
    return st_save(tensors, metadata)



def atomic_write(path: str, data: bytes, *, durable: bool = True) -> None:
    """Write `data` to `path` through a temporary file, fsync and rename; `path` is either the old file
    or the complete new one, never a part. `durable=False` leaves out the fsyncs (the file is still
    whole or absent after a crash of the program, not necessarily after a power cut)."""
    folder = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(folder, f".{os.path.basename(path)}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            if durable:
                os.fsync(f.fileno())
        os.replace(tmp, path)
        tmp = None
        if durable and os.name == "posix":
            fd = os.open(folder, os.O_RDONLY)
            try:
                os.fsync(fd)
            except OSError:
                pass
            finally:
                os.close(fd)
    except OSError as err:
        raise CheckpointError(f"{path}: cannot be written: {err.strerror or err}") from None
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)


# --- reading --------------------------------------------------------------------------------------


def load_checkpoint(path: str) -> Checkpoint:
    """Read a checkpoint written by save_checkpoint (safetensors only, never pickle)."""
    try:
        with safe_open(path, framework="pt") as f:
            metadata = f.metadata() or {}
        tensors = load_file(path)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: the checkpoint does not exist") from None
    except Exception as err:  # safetensors raises its own error types for a damaged file
        raise CheckpointError(f"{path}: is not a readable checkpoint ({err})") from None
    return _checkpoint(tensors, metadata, path)


def checkpoint_from_bytes(data: bytes, where: str) -> Checkpoint:
    """A checkpoint from the bytes of its file (read once, so that they match what is parsed); `where`
    names it in messages."""
    from safetensors.torch import load

    try:
        n = int.from_bytes(data[:8], "little")
        if len(data) < 8 or n > len(data) - 8:
            raise ValueError("the file is cut short")
        header = json.loads(data[8:8 + n])
        metadata = header.get("__metadata__") if isinstance(header, dict) else None
        tensors = load(data)
    except Exception as err:  # safetensors raises its own error types for a damaged file
        raise CheckpointError(f"{where}: is not a readable checkpoint ({err})") from None
    return _checkpoint(tensors, metadata if isinstance(metadata, dict) else {}, where)


def _checkpoint(tensors: dict[str, torch.Tensor], metadata: dict, path: str) -> Checkpoint:
    if metadata.get("format") != FORMAT:
        raise CheckpointError(f"{path}: is not a Layerloom checkpoint")
    try:
        if int(metadata.get("version", "0")) > VERSION:
            raise CheckpointError(f"{path}: was written by a newer Layerloom")
        ckpt = Checkpoint(
            model={k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")},
            rng={k[len("rng."):]: v for k, v in tensors.items() if k.startswith("rng.")},
            meta=json.loads(metadata.get("meta", "{}")),
        )
        for name in ("optimizer", "scheduler", "scaler"):
            if name in metadata:
                setattr(ckpt, name, _decode(json.loads(metadata[name]), tensors))
    except (ValueError, KeyError, TypeError, RecursionError) as err:
        raise CheckpointError(f"{path}: the checkpoint is damaged ({err})") from None
    if not isinstance(ckpt.meta, dict):
        raise CheckpointError(f"{path}: the checkpoint is damaged (its position is not an object)")
    return ckpt
