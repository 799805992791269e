"""Metrics accumulated on the training device and fetched once per epoch: accuracy and confusion counts
for classifiers, MAE and R² for regression. Nothing here synchronises with the device until `result()`.
"""

from __future__ import annotations

import math

import torch

from layerloom.core.training.losses import class_logits

MAX_MISCLASSIFIED = 64


def accumulation_dtype(device: torch.device) -> torch.dtype:
    """What metric sums add up in on `device`: float64, or float32 where the device has no float64 (MPS)."""
    return torch.float32 if device.type == "mps" else torch.float64


class LossMeter:
    """A sum of per-sample losses and a count, on the device."""

    def __init__(self, device):
        self.total = torch.zeros((), dtype=accumulation_dtype(torch.device(device)), device=device)
        self.count = 0

    def update(self, loss: torch.Tensor, n: int) -> None:
        self.total += loss.detach().to(self.total.dtype) * n
        self.count += n

    def result(self) -> float | None:
        return float(self.total.item()) / self.count if self.count else None


class ClassificationMeter:
    """Confusion counts (true × predicted) for cross_entropy outputs and yes/no (bce_with_logits) outputs."""

    def __init__(self, num_classes: int, device, *, binary: bool = False):
        self.binary = binary
        self.num_classes = 2 if binary else num_classes
        self.device = torch.device(device)
        self.confusion = torch.zeros(self.num_classes * self.num_classes, dtype=torch.long, device=self.device)
        self._wrong: list[torch.Tensor] = []

    def predictions(self, out: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.binary:
            pred = (out.detach() > 0).long().reshape(-1)
            true = (target > 0.5).long().reshape(-1)
            return pred, true
        logits = class_logits(out.detach(), target)
        pred = logits.argmax(1)
        return pred.reshape(-1), target.long().reshape(-1)

    def update(self, out: torch.Tensor, target: torch.Tensor, *, track_wrong: bool = False) -> None:
        pred, true = self.predictions(out, target)
        c = self.num_classes
        idx = true.clamp(0, c - 1) * c + pred.clamp(0, c - 1)
        self.confusion += torch.bincount(idx, minlength=c * c)
        if track_wrong and pred.numel() == out.shape[0]:  # one prediction per sample
            self._wrong.append(pred != true)  # a mask: nonzero() here would wait for the device

    def result(self) -> dict:
        conf = self.confusion.cpu().reshape(self.num_classes, self.num_classes)
        total = int(conf.sum())
        correct = int(conf.diagonal().sum())
        wrong = None
        if self._wrong:
            mask = torch.cat(self._wrong).cpu()
            wrong = torch.nonzero(mask).reshape(-1)[:MAX_MISCLASSIFIED].numpy()
        return {
            "accuracy": correct / total if total else None,
            "confusion": conf.numpy(),
            "misclassified": wrong,
        }


class RegressionMeter:
    """Mean absolute error and R² over every predicted value."""

    def __init__(self, device):
        dt = accumulation_dtype(torch.device(device))
        self.sums = torch.zeros(4, dtype=dt, device=device)  # |e|, e², y, y²
        self.count = 0

    def update(self, out: torch.Tensor, target: torch.Tensor) -> None:
        out = out.detach()
        if target.shape != out.shape:
            target = target.reshape(out.shape)
        y = target.to(self.sums.dtype)
        e = out.to(self.sums.dtype) - y
        self.sums += torch.stack([e.abs().sum(), (e * e).sum(), y.sum(), (y * y).sum()])
        self.count += y.numel()

    def result(self) -> dict:
        if not self.count:
            return {"mae": None, "r2": None}
        abs_e, sq_e, sy, syy = (float(v) for v in self.sums.cpu())
        n = self.count
        sst = syy - sy * sy / n
        r2 = 1.0 - sq_e / sst if sst > 1e-12 else (1.0 if sq_e < 1e-12 else -math.inf)
        return {"mae": abs_e / n, "r2": r2}
