"""Dense (fully connected) and shape blocks: Dense, Flatten, Reshape, Permute, Embedding."""

from __future__ import annotations

import math

from layerloom.core.blocks.registry import register
from layerloom.core.blocks.rules import INT, describe, require_float
from layerloom.core.blocks.spec import BlockProblem, BlockSpec, Inferred, ParamSpec, TensorSpec, fmt_shape


def _dense_infer(p, inputs):
    x = inputs[0]
    require_float(x)
    if x.rank > 2:
        raise BlockProblem(f"got {describe(x)}; flatten it first (add Flatten)")
    fin, fout = x.shape[-1], p["out_features"]
    params = fin * fout + (fout if p["bias"] else 0)
    steps = x.shape[0] if x.rank == 2 else 1
    return Inferred(TensorSpec((*x.shape[:-1], fout)), params, steps * fin * fout)


def _dense_build(p, inputs):
    from torch import nn

    return nn.Linear(inputs[0].shape[-1], p["out_features"], bias=p["bias"])


register(
    BlockSpec(
        type_id="Dense",
        category="Dense & shape",
        summary="Fully connected layer: every output sees every input feature.",
        help=(
            "A dense (fully connected) layer computes out_features weighted sums of all its input "
            "features, plus a bias each: y = W·x + b. It acts on the last dimension, so on a sequence "
            "(T×F) it is applied at every time step with the same weights. Feed it a vector: an "
            "image map must be flattened first (Flatten or GlobalAvgPool).\n\n"
            "Parameters: in_features × out_features + out_features. Example: 400 → 120 has "
            "400·120 + 120 = 48,120."
        ),
        infer=_dense_infer,
        build=_dense_build,
        params=(
            ParamSpec("out_features", "int", 10, "Number of outputs (neurons).", min=1),
            ParamSpec("bias", "bool", True, "Learn one bias per output."),
        ),
        key_params=("out_features",),
    )
)


def _flatten_infer(p, inputs):
    x = inputs[0]
    return Inferred(TensorSpec((x.numel,), x.dtype))


def _flatten_emit(ctx, p, inputs, args):
    import torch

    return ctx.call_function(torch.flatten, (args[0], 1))


register(
    BlockSpec(
        type_id="Flatten",
        category="Dense & shape",
        summary="Unrolls a map into one long vector (C×H×W → C·H·W).",
        help=(
            "Flatten lays all values of one sample out in a single vector, so that a Dense layer "
            "can follow a convolution: 16×5×5 becomes 400. Nothing is learned.\n\nParameters: none (0)."
        ),
        infer=_flatten_infer,
        emit=_flatten_emit,
    )
)


def _reshape_infer(p, inputs):
    x = inputs[0]
    target = list(p["shape"])
    known = math.prod(v for v in target if v != -1)
    if -1 in target:
        if x.numel % known:
            raise BlockProblem(
                f"cannot reshape {fmt_shape(x.shape)} ({x.numel} values) to {fmt_shape(target)}: "
                f"{x.numel} is not a multiple of {known}"
            )
        target[target.index(-1)] = x.numel // known
    elif known != x.numel:
        raise BlockProblem(
            f"cannot reshape {fmt_shape(x.shape)} ({x.numel} values) to {fmt_shape(target)} "
            f"({known} values); the number of values must stay the same"
        )
    return Inferred(TensorSpec(tuple(target), x.dtype))


def _reshape_emit(ctx, p, inputs, args):
    # the batch is the -1; a -1 in `shape` is replaced by its inferred size (torch allows one -1 only)
    target = _reshape_infer(p, inputs).output.shape
    return ctx.call_method("reshape", (args[0], -1, *target))


register(
    BlockSpec(
        type_id="Reshape",
        category="Dense & shape",
        summary="Gives the values of a sample a new shape (same number of values).",
        help=(
            "Reshape rearranges the values of one sample into a new shape, batch left out: 784 to "
            "[1, 28, 28] turns a vector into an image. The number of values must stay the same; one "
            "size may be -1 to have it worked out.\n\nParameters: none (0)."
        ),
        infer=_reshape_infer,
        emit=_reshape_emit,
        params=(ParamSpec("shape", "shape", [1, 28, 28], "New shape without the batch, e.g. [1, 28, 28].",
                          allow_infer=True),),
        key_params=("shape",),
    )
)


def _permute_infer(p, inputs):
    x = inputs[0]
    dims = p["dims"]
    full = x.rank + 1
    if len(dims) != full:
        raise BlockProblem(
            f"needs {full} dims (batch first, then one per dimension of {fmt_shape(x.shape)}), "
            f"got {dims}"
        )
    norm = [d % full if -full <= d < full else None for d in dims]
    if None in norm or sorted(norm) != list(range(full)):
        raise BlockProblem(f"dims {dims} must list each of 0..{full - 1} once")
    if norm[0] != 0:
        raise BlockProblem("must keep the batch dimension first (dims must start with 0)")
    full_shape = (None, *x.shape)
    return Inferred(TensorSpec(tuple(full_shape[d] for d in norm[1:]), x.dtype))


def _permute_emit(ctx, p, inputs, args):
    return ctx.call_method("permute", (args[0], *p["dims"]))


register(
    BlockSpec(
        type_id="Permute",
        category="Dense & shape",
        summary="Reorders dimensions, e.g. time × features ↔ features × time.",
        help=(
            "Permute reorders the dimensions of the tensor, as torch's permute: dims lists the old "
            "dimension for each new position, batch (0) first. [0, 2, 1] swaps a sequence's T×F to "
            "F×T so that Conv1d can read features as channels.\n\nParameters: none (0)."
        ),
        infer=_permute_infer,
        emit=_permute_emit,
        params=(ParamSpec("dims", "dims", [0, 2, 1], "New order of dimensions, batch (0) first."),),
        key_params=("dims",),
    )
)


def _embedding_infer(p, inputs):
    x = inputs[0]
    if x.dtype != INT:
        raise BlockProblem(
            "needs token ids: set the Input's dtype to int64 (each value a word or character number)"
        )
    params = p["num_embeddings"] * p["embedding_dim"]
    return Inferred(TensorSpec((*x.shape, p["embedding_dim"])), params, 0)


def _embedding_build(p, inputs):
    from torch import nn

    return nn.Embedding(p["num_embeddings"], p["embedding_dim"])


register(
    BlockSpec(
        type_id="Embedding",
        category="Dense & shape",
        summary="Turns token ids into learned vectors (a lookup table).",
        help=(
            "An embedding is a learned table with one row of embedding_dim numbers per token id "
            "(num_embeddings rows, the vocabulary size). A sequence of L ids becomes an L × "
            "embedding_dim sequence of vectors, ready for an RNN, LSTM, GRU or Conv1d. Ids must be "
            "below num_embeddings.\n\nParameters: num_embeddings × embedding_dim."
        ),
        infer=_embedding_infer,
        build=_embedding_build,
        params=(
            ParamSpec("num_embeddings", "int", 1000, "Vocabulary size: how many token ids exist.", min=1),
            ParamSpec("embedding_dim", "int", 32, "Length of each token's vector.", min=1),
        ),
        key_params=("num_embeddings", "embedding_dim"),
    )
)
