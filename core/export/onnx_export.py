"""The `onnx` format, written by PyTorch's TorchScript-based ONNX exporter (`torch.onnx.export(...,
dynamo=False)`, opset 17): it needs no extra package and handles every Layerloom block, LSTM and GRU with a
free sequence length included. The batch dimension is always free; for sequence models the sequence
length is free too wherever the graph allows it (found by running the live model at another length).
Checked with onnxruntime against the live model at a batch size (and length) it was not traced with."""

from __future__ import annotations

import warnings

from layerloom.core.export.base import TRACE_BATCH, ExportError, Staged
from layerloom.core.export.source import Source

OPSET = 17


def export_onnx(source: Source, path: str, staging, tolerance: float) -> Staged:
    import torch

    from layerloom.core.export.parity import (
        dim_words,
        free_sequence_dims,
        max_difference,
        output_free_dims,
        run_model,
        sequence_checks,
    )

    try:
        import onnxruntime as ort
    except ImportError:
        raise ExportError("checking an ONNX export needs onnxruntime: pip install onnxruntime") from None
    model = source.live_model()
    graph = source.graph
    free = free_sequence_dims(graph, model)
    out_free = output_free_dims(graph, model, free)
    in_names, out_names = list(model.input_names), list(model.output_names)
    axes: dict[str, dict[int, str]] = {}
    for i, name in enumerate(in_names):
        axes[name] = {0: "batch", **{d: f"{name}_length" for d in free.get(i, [])}}
    for k, name in enumerate(out_names):
        axes[name] = {d: "batch" if d == 0 else f"{name}_dim{d}" for d in out_free[k]}
    staged = "model.onnx"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(model, source.sample_inputs(TRACE_BATCH, seed=7), staging.file(staged), dynamo=False,
                              input_names=in_names, output_names=out_names, dynamic_axes=axes, opset_version=OPSET,
                              do_constant_folding=True)
    except Exception as err:
        raise ExportError(f"the ONNX exporter failed: {type(err).__name__}: {err}") from None
    from layerloom.core.export.preprocessing_export import BakedSource, add_onnx_metadata

    try:
        add_onnx_metadata(staging.file(staged), source, isinstance(source, BakedSource))
    except Exception as err:
        raise ExportError(f"the preprocessing facts could not be added to the ONNX file: {err}") from None
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    try:
        session = ort.InferenceSession(staging.file(staged), options, providers=["CPUExecutionProvider"])
    except Exception as err:
        raise ExportError(f"onnxruntime cannot load the exported file: {err}") from None
    live = source.live_model()
    diff = 0.0
    checks = []
    for sizes in [{}, *sequence_checks(graph, free)]:
        inputs = source.sample_inputs(sizes=sizes)
        feed = {name: x.numpy() for name, x in zip(in_names, inputs)}
        try:
            got = session.run(out_names, feed)
        except Exception as err:
            raise ExportError(f"onnxruntime cannot run the exported model: {err}") from None
        diff = max(diff, max_difference(run_model(live, inputs), tuple(torch.from_numpy(g) for g in got),
                                        "the ONNX model"))
        checks.append(_check_words(graph, inputs, sizes))
    return Staged({staged: path}, diff, checks, dim_words(graph, free),
                  [f"torch.onnx.export (TorchScript-based exporter), opset {OPSET}"])


def _check_words(graph, inputs, sizes) -> str:
    if not sizes:
        return f"onnxruntime on a batch of {inputs[0].shape[0]} (traced with {TRACE_BATCH})"
    (_i, _d), size = next(iter(sizes.items()))
    return f"onnxruntime on a batch of {inputs[0].shape[0]} at sequence length {size}"
