"""Where a run computes: the device (CUDA, Apple MPS or the CPU), the torch settings a run changes and puts
back, the data copied onto a GPU when it fits, and mixed precision.

    device = resolve_device("auto")                 # cuda, then mps, then cpu
    train, val = data_on_device(train, val, device)
    precision = choose_precision("bf16", device)     # Precision(name, amp_dtype, scaler, notes)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from layerloom.core.training import thread_policy
from layerloom.core.training.outcome import TrainingError

DEVICE_DATA_LIMIT = 2 * 2**30  # data sets up to this size (and a quarter of the free GPU memory) live on the GPU


def resolve_device(name: str = "auto") -> torch.device:
    """`auto` → CUDA, then Apple MPS, then CPU; or the named one, checked to exist."""
    name = (name or "auto").strip().lower()
    cuda = torch.cuda.is_available()
    mps = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    if name == "auto":
        return torch.device("cuda") if cuda else torch.device("mps") if mps else torch.device("cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "mps":
        if not mps:
            raise TrainingError("the device 'mps' (Apple GPU) is not available on this machine; use --device cpu "
                                "or auto")
        return torch.device("mps")
    if name == "cuda" or name.startswith("cuda:"):
        if not cuda:
            raise TrainingError(f"the device {name!r} was asked for but no CUDA GPU is available here; use "
                                "--device cpu or auto")
        if ":" in name:
            try:
                index = int(name.split(":", 1)[1])
            except ValueError:
                raise TrainingError(f"{name!r} is not a device; use cuda:0, cuda:1, …") from None
            if index >= torch.cuda.device_count():
                raise TrainingError(f"there is no GPU {index}: this machine has {torch.cuda.device_count()} "
                                    f"(cuda:0 to cuda:{torch.cuda.device_count() - 1})")
            return torch.device("cuda", index)
        return torch.device("cuda", torch.cuda.current_device())
    raise TrainingError(f"unknown device {name!r}; use auto, cpu, cuda, cuda:N or mps")


def device_description(device: torch.device) -> str:
    """The device in words: the GPU's name, "Apple GPU (MPS)" or "CPU (n threads)"."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "mps":
        return "Apple GPU (MPS)"
    n = torch.get_num_threads()
    return f"CPU ({n} thread{'s' if n != 1 else ''})"


def run_device(settings, dist=None, choice: thread_policy.ThreadChoice | None = None) -> torch.device:
    """The device of this process (the distributed context's, under torchrun), with the torch settings the run
    asks for: its thread count (core/training/thread_policy.py), and deterministic cuDNN kernels on a GPU.
    `choice`: the thread choice to apply (made from the settings when None). `TorchState` puts them back."""
    if dist is not None:
        try:
            device = dist.init(settings.device)
        except RuntimeError as err:
            raise TrainingError(str(err)) from None
    else:
        device = resolve_device(settings.device)
    thread_policy.apply(choice if choice is not None else thread_policy.choice_for_run(settings, dist))
    if device.type == "cuda":
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
    return device


class TorchState:
    """The process-wide torch settings a run changes (threads, cuDNN flags), taken now and put back later."""

    def __init__(self) -> None:
        self.threads = torch.get_num_threads()
        self.cudnn = (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)

    def restore(self) -> None:
        torch.set_num_threads(self.threads)
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = self.cudnn


def data_on_device(train, val, device: torch.device):
    """On a GPU, copy small data sets to it once, so batches are gathered (and augmented) there instead
    of being copied over for every step. Falls back to the CPU copies when they do not fit."""
    from layerloom.core.data.base import TensorSplit

    if device.type == "cpu":
        return train, val
    tensors = [*train.inputs, *train.targets, *val.inputs, *val.targets]
    size = sum(t.numel() * t.element_size() for t in tensors)
    limit = DEVICE_DATA_LIMIT
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        limit = min(limit, free // 4)
    if size > limit:
        return train, val
    try:
        return tuple(TensorSplit(tuple(t.to(device) for t in split.inputs),
                                 tuple(t.to(device) for t in split.targets), split.transform, split.labels)
                     if len(split) else split for split in (train, val))
    except (RuntimeError, torch.OutOfMemoryError):
        return train, val


@dataclass
class Precision:
    """The precision a run trains in: "fp32", "bf16" or "fp16"; the autocast dtype and the gradient scaler it
    needs; and notes when the asked-for precision could not be had here."""

    name: str
    amp_dtype: torch.dtype | None = None
    scaler: torch.amp.GradScaler | None = None
    notes: list[str] = field(default_factory=list)

    def autocast(self, device: torch.device):
        """The autocast context of this precision, or None in fp32."""
        return torch.autocast(device.type, dtype=self.amp_dtype) if self.amp_dtype is not None else None


def choose_precision(precision: str, device: torch.device) -> Precision:
    """Mixed precision needs a CUDA GPU, and bf16 one that has it: otherwise fp32 or fp16, with a note."""
    notes = []
    if precision != "fp32" and device.type != "cuda":
        notes.append(f"{precision} mixed precision needs a CUDA GPU; training in fp32")
        precision = "fp32"
    if precision == "bf16" and not torch.cuda.is_bf16_supported():
        notes.append("this GPU has no bf16; training in fp16 with a gradient scaler")
        precision = "fp16"
    return Precision(precision, {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision),
                     torch.amp.GradScaler("cuda") if precision == "fp16" else None, notes)


def out_of_memory_message(batch_size: int, device: torch.device | None) -> str:
    """What to do when the device (or the computer) ran out of memory."""
    where = "the GPU" if device is not None and device.type != "cpu" else "the computer"
    smaller = max(1, batch_size // 2)
    return (f"{where} ran out of memory with a batch size of {batch_size}; try a smaller batch size "
            f"(--batch-size {smaller}) or a smaller model")
