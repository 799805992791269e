"""Merge blocks: Add, Multiply and Concat join several branches."""

from __future__ import annotations

import operator

from layerloom.core.blocks.registry import register
from layerloom.core.blocks.rules import check_broadcast, merge_dtype
from layerloom.core.blocks.spec import BlockProblem, BlockSpec, Inferred, ParamSpec, PortSpec, TensorSpec, fmt_shape

_MULTI_IN = (PortSpec("in", multi=True),)


def _elementwise(verb: str):
    def infer(p, inputs):
        dtype = merge_dtype(inputs)
        shape = check_broadcast([x.shape for x in inputs], verb)
        return Inferred(TensorSpec(shape, dtype))

    return infer


def _fold(op):
    def emit(ctx, p, inputs, args):
        acc = args[0]
        for i, nxt in enumerate(args[1:], start=1):
            acc = ctx.call_function(op, (acc, nxt), final=i == len(args) - 1, suffix=f"part{i}")
        return acc

    return emit


register(
    BlockSpec(
        type_id="Add",
        category="Merge",
        summary="Adds its inputs element by element (skip connections).",
        help=(
            "Add sums two or more tensors of the same shape, value by value. It is the join of a "
            "residual (skip) connection: the block learns a correction added to its input, and the "
            "gradient flows through the addition unchanged. Shapes must match (a size of 1 is "
            "stretched, as in PyTorch broadcasting).\n\nParameters: none (0)."
        ),
        infer=_elementwise("added"),
        emit=_fold(operator.add),
        inputs=_MULTI_IN,
        min_inputs=2,
    )
)

register(
    BlockSpec(
        type_id="Multiply",
        category="Merge",
        summary="Multiplies its inputs element by element (gating, attention weights).",
        help=(
            "Multiply takes the product of two or more tensors value by value, as gates do: a branch "
            "ending in Sigmoid can scale each channel of another (squeeze-and-excitation). Shapes must "
            "match or broadcast (a C×1×1 gate scales a C×H×W map).\n\nParameters: none (0)."
        ),
        infer=_elementwise("multiplied"),
        emit=_fold(operator.mul),
        inputs=_MULTI_IN,
        min_inputs=2,
    )
)


def _concat_infer(p, inputs):
    dtype = merge_dtype(inputs)
    ranks = {x.rank for x in inputs}
    shapes = " and ".join(fmt_shape(x.shape) for x in inputs)
    if len(ranks) > 1:
        raise BlockProblem(f"gets {shapes}, which have different numbers of dimensions")
    rank = ranks.pop()
    full = rank + 1
    dim = p["dim"]
    if not -full <= dim < full:
        raise BlockProblem(f"has dim {dim}, but its inputs only have dims 1..{rank}")
    d = dim % full
    if d == 0:
        raise BlockProblem("cannot join along the batch dimension (dim 0); use dim 1 for channels")
    axis = d - 1
    for i in range(rank):
        if i != axis and len({x.shape[i] for x in inputs}) > 1:
            raise BlockProblem(
                f"gets {shapes}; all sizes except along dim {d} must match — pool or pad the "
                "branches to the same size"
            )
    out = list(inputs[0].shape)
    out[axis] = sum(x.shape[axis] for x in inputs)
    return Inferred(TensorSpec(tuple(out), dtype))


def _concat_emit(ctx, p, inputs, args):
    import torch

    return ctx.call_function(torch.cat, (list(args),), {"dim": p["dim"]})


register(
    BlockSpec(
        type_id="Concat",
        category="Merge",
        summary="Joins its inputs along a dimension (channels by default).",
        help=(
            "Concat stacks two or more tensors along dim (PyTorch numbering, batch is 0): dim 1 "
            "puts the channels of several branches side by side, as an Inception module does; the "
            "other sizes must match. Inputs are joined in the order they were connected.\n\n"
            "Parameters: none (0)."
        ),
        infer=_concat_infer,
        emit=_concat_emit,
        params=(ParamSpec("dim", "int", 1, "Dimension to join along (1: channels; -1: last)."),),
        inputs=_MULTI_IN,
        min_inputs=2,
        key_params=("dim",),
    )
)
