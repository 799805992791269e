"""Does the data fit the network? Compares a DataInfo with a graph's Inputs and Outputs (shapes from
`layerloom.core.infer`) and says, for every mismatch, what to change in the graph or in the data options."""

from __future__ import annotations

import math

from layerloom.core.blocks.spec import fmt_shape
from layerloom.core.data.base import CLASSIFICATION, IMAGE, RECONSTRUCTION, SEQUENCE, SERIES, SIGNAL, TEXT, DataInfo

# Blocks that keep the number of features, walked through to find the layer that sets an Output's width.
_PASS_THROUGH = {"Dropout", "ReLU", "LeakyReLU", "ELU", "GELU", "Tanh", "Sigmoid", "Softmax", "BatchNorm", "LayerNorm"}


def _list(shape) -> str:
    return "[" + ", ".join(str(s) for s in shape) + "]"


def _names(nodes) -> str:
    return ", ".join(repr(n.name) for n in nodes)


def describe(info: DataInfo, i: int = 0) -> str:
    """'1×8×8 images', 'vectors of 64 values', … for the i-th input."""
    shape = tuple(info.input_shapes[i])
    kind = info.kind
    if kind == IMAGE:
        if len(shape) == 1 and info.image_shape is not None:
            return f"vectors of {shape[0]} values (flattened {fmt_shape(info.image_shape)} images)"
        return f"{fmt_shape(shape)} images"
    if kind == TEXT:
        return f"sequences of {shape[0]} token ids" if len(shape) == 1 else f"{fmt_shape(shape)} token ids"
    if kind == SEQUENCE and len(shape) == 2:
        return f"sequences of {fmt_shape(shape)} (steps × features)"
    if kind == SIGNAL and len(shape) == 2:
        return f"signals of {fmt_shape(shape)} (channels × steps)"
    if kind == SERIES and len(shape) == 2:
        return f"windows of {fmt_shape(shape)} (steps × features)"
    if len(shape) == 1:
        return f"vectors of {shape[0]} values"
    return f"samples of {fmt_shape(shape)}"


def _shape_fix(info: DataInfo, data: tuple, wanted: tuple) -> str:
    """What else than changing the Input could make the data `wanted`."""
    kind = info.kind
    if kind == IMAGE and info.image_shape is not None:
        c, h, w = info.image_shape
        flattened = len(data) == 1
        if len(wanted) == 3:
            wc, wh, ww = wanted
            parts = []
            if (wh, ww) != (h, w):
                parts.append(f"resize the data (option resize: [{wh}, {ww}])")
            if wc != c:
                parts.append(f"give the data {wc} channel(s)" + (
                    " (option color: rgb)" if wc == 3 else " (option color: grayscale)" if wc == 1 else ""))
            if flattened:
                parts.append("remove the option flatten")
            return " and ".join(parts)
        if len(wanted) == 1:
            if wanted[0] == c * h * w:
                return "set the option flatten: true"
            side = math.isqrt(wanted[0] // c) if wanted[0] % c == 0 else 0
            if side and side * side * c == wanted[0]:
                return f"resize and flatten the data (options resize: [{side}, {side}] and flatten: true)"
        return ""
    if kind == TEXT and len(wanted) == 1:
        return f"set the option seq_len: {wanted[0]}"
    if kind == SERIES and len(wanted) == 2 and wanted[0] != data[0]:
        return f"set the option window: {wanted[0]}"
    return ""


def _width_source(graph, node_id: str):
    """The Dense that sets the features reaching `node_id` (walking back through dropout, activations
    and normalization), or None."""
    seen = 0
    current = node_id
    while seen < 64:
        node = graph.node(current)
        if node.type == "Dense":
            return node
        ins = graph.in_edges(current)
        if node.type not in _PASS_THROUGH or len(ins) != 1:
            return None
        current = ins[0].src
        seen += 1
    return None


def check_against_graph(info: DataInfo, graph) -> list[str]:
    """Messages that say what to change so the data fits the graph; empty when it fits. Shape checks are
    left out for blocks whose shapes inference cannot give yet (the graph's own problems list says why)."""
    from layerloom.core.inference import infer

    report = infer(graph)
    messages: list[str] = []
    inputs = [n for n in graph if n.type == "Input"]
    outputs = [n for n in graph if n.type == "Output"]
    messages.extend(_check_inputs(info, graph, inputs))
    if not any(n.type == "Noise" for n in graph):  # a GAN's Outputs take no targets: the recipe makes its own
        messages.extend(_check_outputs(info, graph, report, outputs))
    return messages


def _check_inputs(info: DataInfo, graph, inputs) -> list[str]:
    out: list[str] = []
    count = len(info.input_shapes)
    if not inputs:
        return [f"the network has no Input block; add one with shape {_list(info.input_shapes[0])} and dtype "
                f"{info.input_dtypes[0]} for the data's {describe(info)}"] if count else []
    if len(inputs) != count:
        what = describe(info) if count == 1 else f"{count} inputs"
        return [f"the data gives {count} input{'s' if count != 1 else ''} ({what}) but the network has "
                f"{len(inputs)} Input blocks ({_names(inputs)}); give the network {count} Input"
                f"{'s' if count != 1 else ''}"]
    for i, node in enumerate(inputs):
        data_shape = tuple(info.input_shapes[i])
        data_dtype = info.input_dtypes[i]
        want_shape = tuple(node.params.get("shape") or ())
        want_dtype = node.params.get("dtype", "float32")
        label = f"the Input block {node.name!r}"
        if data_dtype == "int64" and want_dtype != "int64":
            out.append(f"the data gives token ids (int64); {label} expects {want_dtype} numbers — set the Input's "
                       "dtype to int64 and feed it to an Embedding")
        elif data_dtype != "int64" and want_dtype == "int64":
            out.append(f"the data gives {data_dtype} numbers; {label} expects token ids (int64) — set the Input's "
                       f"dtype to {data_dtype} (int64 is for text data that feeds an Embedding)")
        if data_shape != want_shape:
            fix = _shape_fix(info, data_shape, want_shape)
            out.append(f"the data gives {describe(info, i)}; {label} expects {fmt_shape(want_shape)} — change the "
                       f"Input's shape to {_list(data_shape)}" + (f" or {fix}" if fix else ""))
        if data_dtype == "int64" and info.vocabulary:
            vocab = len(info.vocabulary)
            position = {n.id: k for k, n in enumerate(graph)}  # index_of is a scan: sorting by it was quadratic
            for nid in sorted(graph.descendants(node.id), key=position.__getitem__):
                emb = graph.node(nid)
                if emb.type != "Embedding":
                    continue
                size = emb.params.get("num_embeddings", 0)
                if size < vocab:
                    out.append(f"the data's vocabulary has {vocab:,} tokens (ids 0–{vocab - 1:,}) but "
                               f"{emb.label()} has num_embeddings {size:,} — set num_embeddings to {vocab} or "
                               f"more, or make the vocabulary smaller (option vocab_size: {size})")
    return out


def _check_outputs(info: DataInfo, graph, report, outputs) -> list[str]:
    out: list[str] = []
    count = len(info.target_shapes)
    loss_hint = "cross_entropy" if info.task == CLASSIFICATION else "mse"
    if not outputs:
        return [f"the network has no Output block; add one after the last layer (loss {loss_hint})"] if count else []
    if len(outputs) != count:
        return [f"the data gives {count} target{'s' if count != 1 else ''} per sample but the network has "
                f"{len(outputs)} Output blocks ({_names(outputs)}); give the network {count} Output"
                f"{'s' if count != 1 else ''}"]
    for i, node in enumerate(outputs):
        ins = graph.in_edges(node.id)
        loss = node.params.get("loss", "cross_entropy")
        label = f"Output {node.name!r}"
        src = report[ins[0].src] if ins and ins[0].src in report else None
        shape = src.output_shape if src is not None and src.ok else None
        dense = _width_source(graph, ins[0].src) if ins else None
        from_dense = f" from {dense.label()}" if dense is not None else ""
        if info.task == CLASSIFICATION:
            k = info.num_classes or 0
            if loss in ("mse", "l1"):
                out.append(f"the data has {k} classes but {label} uses the {loss} loss, which compares numbers — "
                           "set its loss to cross_entropy")
                continue
            if loss == "bce_with_logits":
                if k != 2:
                    out.append(f"the data has {k} classes but {label} uses bce_with_logits, which is for yes/no "
                               "targets — set its loss to cross_entropy")
                elif shape is not None and shape != (1,):
                    where = f"set the out_features of {dense.label()} to 1" if dense else "make the last layer give 1"
                    out.append(f"the data has 2 classes; with bce_with_logits {label} needs 1 score per sample but "
                               f"gets {fmt_shape(shape)}{from_dense} — {where}, or use cross_entropy with 2")
                continue
            if shape is None:
                continue
            if len(shape) != 1:
                out.append(f"the data has one class label per sample but {label} gets {fmt_shape(shape)} scores "
                           f"per sample — end the network in a Dense with {k} outputs (Flatten or GlobalAvgPool "
                           "before it)")
            elif shape[0] != k:
                where = (f"set its out_features to {k}" if dense is not None
                         else f"make the last layer give {k} scores (a Dense with out_features {k})")
                out.append(f"the data has {k} classes; {label} gets {shape[0]} scores{from_dense} — {where}")
            continue
        target = tuple(info.target_shapes[i])
        if info.task == RECONSTRUCTION:
            if loss not in ("mse", "l1"):
                out.append(f"the target is the input itself (reconstruction) but {label} uses {loss} — set its "
                           "loss to mse or l1")
            elif shape is not None and tuple(shape) != target:
                out.append(f"the target is the input itself, {fmt_shape(target)}, but {label} gets "
                           f"{fmt_shape(shape)} — make the network's output the input's shape")
            continue
        values = target[0] if len(target) == 1 else math.prod(target)
        if loss in ("cross_entropy", "bce_with_logits"):
            out.append(f"the data has numeric targets ({values} value{'s' if values != 1 else ''} per sample), not "
                       f"classes, but {label} uses {loss} — set its loss to mse or l1")
            continue
        if shape is not None and tuple(shape) != target:
            if dense is not None and len(shape) == 1:
                where = f"set its out_features to {values}"
            else:
                where = (f"make the last layer give {values} value{'s' if values != 1 else ''} (a Dense with "
                         f"out_features {values}"
                         + ("; a recurrent layer before it with return_sequences off)" if len(shape) > 1 else ")"))
            out.append(f"the data has {values} target value{'s' if values != 1 else ''} per sample; {label} gets "
                       f"{fmt_shape(shape)}{from_dense} — {where}")
    return out
