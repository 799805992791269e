"""The `torchscript` format: a `.pt` file that `torch.jit.load` opens with PyTorch alone. The compiled
graph is scripted (`torch.jit.script`), or traced where scripting fails; checked in a fresh Python in
which Layerloom cannot be imported, at a batch size (and sequence length) it was not traced with."""

from __future__ import annotations

import warnings

from layerloom.core.export.base import TRACE_BATCH, ExportError, Staged
from layerloom.core.export.source import Source


def export_torchscript(source: Source, path: str, staging, tolerance: float, *, isolated: bool = True) -> Staged:
    import torch

    from layerloom.core.export.parity import (
        dim_words,
        free_sequence_dims,
        max_difference,
        run_isolated,
        run_model,
        sequence_checks,
    )

    model = source.live_model()
    graph = source.graph
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            scripted, how = torch.jit.script(model), "torch.jit.script"
        except Exception:
            try:
                scripted = torch.jit.trace(model, source.sample_inputs(TRACE_BATCH, seed=7), check_trace=False)
                how = "torch.jit.trace (the model could not be scripted)"
            except Exception as err:
                raise ExportError(f"TorchScript cannot compile this model: {type(err).__name__}: {err}") from None
        staged = "model.pt"
        torch.jit.save(scripted, staging.file(staged))
    # a traced model may have kept the sequence length it was traced with: only the batch is claimed free
    free = free_sequence_dims(graph, model) if how == "torch.jit.script" else {}
    batches = [source.sample_inputs(sizes=sizes) for sizes in [{}, *sequence_checks(graph, free)]]
    if isolated:
        outputs = run_isolated("torchscript", staging.file(staged), batches)
        where = "in a fresh Python without Layerloom"
    else:
        loaded = torch.jit.load(staging.file(staged), map_location="cpu")
        outputs = [run_model(loaded, b) for b in batches]
        where = "in this process"
    diff = 0.0
    for batch, got in zip(batches, outputs):
        diff = max(diff, max_difference(run_model(model, batch), got, "the TorchScript model"))
    checks = [f"torch.jit.load {where}, batches of {batches[0][0].shape[0]}"
              + (f" (and {len(batches) - 1} other sequence length(s))" if len(batches) > 1 else "")]
    return Staged({staged: path}, diff, checks, dim_words(graph, free), [how])
