"""The validation pass: the model in eval mode over the validation split, without gradients, its loss and the
recipe's metrics summed over every process of a distributed run.

    metrics = validate(parts, batch_size=256, dist=None)
    metrics["val_loss"], metrics["val_accuracy"], metrics["confusion"]      # a classifier's
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch

from layerloom.core.training.metrics import LossMeter
from layerloom.core.training.state import RunParts


def validate(parts: RunParts, *, batch_size: int, dist=None) -> dict[str, Any]:
    """val_loss and the recipe's validation metrics (empty when there is no validation data). Under torchrun
    each process validates its share and the sums are added up, so every process gets the same figures."""
    val = parts.val
    out_metrics: dict[str, Any] = {}
    if len(val) == 0:
        return out_metrics
    model, device, loss_fn = parts.model, parts.device, parts.recipe.loss_fn
    move = device.type != "cpu" and val.inputs[0].device != device
    loss_meter = LossMeter(device)
    tally = parts.recipe.val_tally(device, distributed=dist is not None)
    evaluate = getattr(tally, "evaluate", None)  # a recipe's own validation forward (a GAN's two networks)
    indices = None
    if dist is not None:
        from layerloom.core.training.distributed import val_indices

        indices = val_indices(len(val), rank=dist.rank, world_size=dist.world_size)
    start = getattr(tally, "start", None)  # a tally that pairs each validation sample with something (a GAN's noise)
    if start is not None:
        start(len(val), indices)
    amp = parts.precision.autocast(device) or contextlib.nullcontext()
    model.eval()
    try:
        with torch.no_grad():
            for xs, ys in val.batches(batch_size, indices=indices):
                if move:
                    xs = tuple(x.to(device, non_blocking=True) for x in xs)
                    ys = tuple(y.to(device, non_blocking=True) for y in ys)
                with amp:
                    if evaluate is not None:
                        out, loss = evaluate(xs, ys)
                    else:
                        out = model(*xs)
                        loss = loss_fn(out, ys)
                loss_meter.update(loss, xs[0].shape[0])
                tally.update(out, ys)
    finally:
        model.train()
    if dist is not None:
        from layerloom.core.training.distributed import all_reduce_sum

        count = torch.tensor([float(loss_meter.count)], dtype=loss_meter.total.dtype, device=device)
        sums = all_reduce_sum(torch.cat([loss_meter.total.reshape(1), count]))
        loss_meter.total, loss_meter.count = sums[0], int(sums[1].item())
        tally.all_reduce()
    out_metrics["val_loss"] = loss_meter.result()
    out_metrics.update(tally.results())
    return out_metrics
