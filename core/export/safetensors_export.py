"""The `safetensors` format: the model's state dict, names as the blocks' (`conv2d_1.weight`), with the
project in the file's metadata; checked by reloading it into the compiled graph."""

from __future__ import annotations

import json

from layerloom.core.export.base import Staged
from layerloom.core.export.source import Source


def export_safetensors(source: Source, path: str, staging, tolerance: float) -> Staged:
    from safetensors.torch import load_file, save_file

    from layerloom.core.export.parity import max_difference, run_model, sample_inputs
    from layerloom.core.export.weights import apply_weights, compile_for_weights

    staged = "model.safetensors"
    state = {k: v.detach().cpu().contiguous().clone() for k, v in source.state.items()}
    meta = {"format": "pt", "producer": "layerloom",
            "layerloom_project": json.dumps(source.project.to_dict(), separators=(",", ":"))}
    save_file(state, staging.file(staged), metadata=meta)
    model = compile_for_weights(source.graph, seed=1)  # other fresh weights: only the file's can make it match
    apply_weights(model, load_file(staging.file(staged)), strict=True)
    model.eval()
    inputs = sample_inputs(source.graph)
    diff = max_difference(run_model(source.live_model(), inputs), run_model(model, inputs), "the reloaded weights")
    return Staged({staged: path}, diff, ["reloaded the weights into the compiled graph and ran it on a batch of 3"])
