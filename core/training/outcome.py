"""How a run ends: the result `Trainer.run` returns, the error that ends a run early, and the signal of a
loss that stopped being a finite number."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from layerloom.core.errors import LayerloomError


class TrainingError(LayerloomError):
    """A run that cannot start or go on; `reason` is "setup", "data", "nan", "out_of_memory" or "error"."""

    def __init__(self, message: str, reason: str = "setup"):
        super().__init__(message)
        self.reason = reason


class NonFiniteLoss(Exception):
    """Raised inside the loop when a training loss is NaN or infinite: where, and the value."""

    def __init__(self, step: int, epoch: int, batch: int, value: float):
        self.step, self.epoch, self.batch, self.value = step, epoch, batch, value


@dataclass
class TrainResult:
    """What `Trainer.run` returns (the content of its last event)."""

    status: str  # "finished", "stopped", "failed"
    reason: str
    message: str = ""
    epochs: int = 0
    step: int = 0
    metric: str = "val_loss"
    best: float | None = None
    best_epoch: int | None = None
    final: dict[str, float | None] = field(default_factory=dict)
    samples_per_s: float = 0.0
    seconds: float = 0.0
    run_dir: str | None = None
    checkpoint: str | None = None
    train_cpu_s: float = 0.0  # CPU time of the training thread over the training steps of this run

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status, "reason": self.reason, "message": self.message, "epochs": self.epochs,
            "step": self.step, "metric": self.metric, "best": self.best, "best_epoch": self.best_epoch,
            "final": dict(self.final), "samples_per_s": self.samples_per_s, "seconds": self.seconds,
            "run_dir": self.run_dir, "checkpoint": self.checkpoint, "train_cpu_s": self.train_cpu_s,
        }
