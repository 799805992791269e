"""The state of a run: where it is (`RunPosition`, saved in every checkpoint and read back on resume) and
what it trains with (`RunParts`, put together once at setup).

    position = RunPosition()
    position.load_meta(checkpoint.meta, steps_per_epoch)    # resume: epoch, batch, step, best, …
    checkpoint_meta = position.to_meta(epochs_done=2, batch=0)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from layerloom.core.training.device import Precision


@dataclass
class RunPosition:
    """Where a run is. `epoch` is the epoch under way and `epochs_done` the epochs completed (the two differ
    only while an epoch ends); `batch` the batches done in the epoch under way; `skip` the batches a resumed
    run skips at its first epoch, in the order `resumed_order`; `order` the order of the epoch under way
    (saved by a checkpoint within it). `started` is the clock's start, moved on by every pause."""

    epoch: int = 0
    epochs_done: int = 0
    step: int = 0
    batch: int = 0
    skip: int = 0
    order: torch.Tensor | None = None
    resumed_order: torch.Tensor | None = None
    best: float | None = None
    best_epoch: int | None = None
    bad_epochs: int = 0
    final: dict[str, float | None] = field(default_factory=dict)
    train_time: float = 0.0
    train_cpu: float = 0.0
    train_samples: int = 0
    started: float = 0.0

    def to_meta(self, epochs_done: int, batch: int) -> dict[str, Any]:
        """The position entries of a checkpoint's metadata, for a checkpoint after `epochs_done` epochs and
        `batch` batches of the next."""
        return {"epoch": epochs_done, "batch": batch, "step": self.step, "best": self.best,
                "best_epoch": self.best_epoch, "bad_epochs": self.bad_epochs, "final": self.final,
                "train_time": self.train_time, "train_samples": self.train_samples}

    def load_meta(self, meta: dict, steps_per_epoch: int) -> None:
        """Take the position of a checkpoint's metadata (written by `to_meta`); ValueError (or TypeError …)
        when an entry is not what it should be."""
        self.epochs_done = _count(meta, "epoch")
        self.skip = _count(meta, "batch")
        self.step = _count(meta, "step")
        self.best_epoch = _count(meta, "best_epoch") if meta.get("best_epoch") is not None else None
        self.bad_epochs = _count(meta, "bad_epochs")
        self.train_samples = _count(meta, "train_samples")
        final = meta.get("final", {})
        if not isinstance(final, dict):
            raise ValueError("its final metrics are not an object")
        self.epoch = self.epochs_done
        self.best = _real(meta, "best")
        self.final = {str(k): _real(final, k) for k in final}
        self.train_time = _real(meta, "train_time") or 0.0
        if self.skip >= steps_per_epoch:  # stopped after the last batch of an epoch
            self.skip = 0

    def improved(self, watched: float, mode: str) -> bool:
        """Count an epoch's watched metric: True (and remembered as the best) when it beats the best so far."""
        if self.best is None or (watched > self.best if mode == "max" else watched < self.best):
            self.best, self.best_epoch, self.bad_epochs = float(watched), self.epoch, 0
            return True
        self.bad_epochs += 1
        return False

    def samples_per_s(self) -> float:
        """The training speed over the run so far (training steps only)."""
        return self.train_samples / self.train_time if self.train_time > 0 else 0.0


@dataclass
class RunParts:
    """What a run trains with, fixed at setup: the model (and `forward`, the model or its distributed wrapper),
    the recipe, the optimizer and schedule, the precision, the data splits (on the device when they fit), the
    shuffling generator, and the sizes of the run."""

    device: torch.device
    model: torch.nn.Module
    forward: Callable
    recipe: Any  # a recipe (see recipe.py)
    optimizer: torch.optim.Optimizer
    scheduler: Any
    scheduler_per_step: bool
    precision: Precision
    train: Any  # TensorSplit
    val: Any
    generator: torch.Generator
    seed: int
    world: int
    batch_size: int
    steps_per_epoch: int
    epochs: int
    metric: str
    mode: str  # "max" or "min": which way the metric improves


def _count(meta: dict, key: str) -> int:
    """A whole number ≥ 0 of a checkpoint's position (0 when absent); ValueError when it is something else."""
    value = meta.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"its {key} is {str(value)[:40]!r}, not a whole number")
    return value


def _real(meta: dict, key: str) -> float | None:
    value = meta.get(key)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
