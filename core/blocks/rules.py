"""Shared shape arithmetic and checks used by the blocks' shape rules, with messages in plain words."""

from __future__ import annotations

import math
from collections.abc import Sequence

from layerloom.core.blocks.spec import FLOAT, INT, BlockProblem, TensorSpec, fmt_shape


def one_input(inputs: list[TensorSpec]) -> TensorSpec:
    return inputs[0]


def require_float(x: TensorSpec) -> None:
    """Refuse token ids where a block computes with real numbers."""
    if x.dtype == INT:
        raise BlockProblem(
            "gets token ids (int64); add an Embedding first, or set the Input's dtype to float32"
        )


def describe(x: TensorSpec) -> str:
    """'a vector of 784', 'a 100×64 sequence', 'a 16×5×5 map'."""
    if x.rank == 1:
        return f"a vector of {x.shape[0]}"
    if x.rank == 2:
        return f"a {fmt_shape(x.shape)} sequence"
    return f"a {fmt_shape(x.shape)} map"


def spatial_input(x: TensorSpec, n: int, block: str) -> None:
    """Check that `x` is channels × `n` spatial sizes, saying what to do otherwise."""
    require_float(x)
    if x.rank == n + 1:
        return
    want = "C×L (channels × length)" if n == 1 else "C×H×W (channels × height × width)"
    if x.rank == 1:
        fix = "reshape it (add Reshape)" if n == 2 else "reshape it to channels × length (add Reshape)"
        raise BlockProblem(f"expects {want} but got {describe(x)}; {fix}")
    if n == 2 and x.rank == 2:
        raise BlockProblem(
            f"expects {want} but got {describe(x)}; for sequences use the 1-D version of this block"
        )
    if n == 1 and x.rank == 3:
        raise BlockProblem(f"expects {want} but got {describe(x)}; for images use the 2-D version")
    raise BlockProblem(f"expects {want} but got {describe(x)}")


def expand(value, n: int, field: str) -> tuple[int, ...]:
    """An int or a list of `n` ints as a tuple of `n` ints."""
    if isinstance(value, list | tuple):
        if len(value) != n:
            raise BlockProblem(f"{field} needs {n} values (got {list(value)})")
        return tuple(value)
    return (value,) * n


def window_output(
    size: int, kernel: int, stride: int, pad: int, dilation: int = 1
) -> int:
    """floor((size + 2·pad − dilation·(kernel − 1) − 1) / stride) + 1, as in PyTorch."""
    return (size + 2 * pad - dilation * (kernel - 1) - 1) // stride + 1


def sliding_shape(
    spatial: Sequence[int],
    kernel: Sequence[int],
    stride: Sequence[int],
    pad: Sequence[int],
    dilation: Sequence[int],
) -> tuple[int, ...]:
    """Output sizes of a sliding window, refusing a window larger than its (padded) input."""
    out = []
    for size, k, s, p, d in zip(spatial, kernel, stride, pad, dilation):
        reach = d * (k - 1) + 1
        if reach > size + 2 * p:
            kernel_text = "×".join(str(v) for v in kernel)
            input_text = fmt_shape(spatial)
            pad_text = f" even with padding {p}" if p else ""
            raise BlockProblem(
                f"has a {kernel_text} window larger than its {input_text} input{pad_text}; "
                "use a smaller kernel_size, add padding, or pool less before it"
            )
        out.append(window_output(size, k, s, p, d))
    return tuple(out)


def resolve_padding(
    padding, n: int, kernel: Sequence[int], dilation: Sequence[int], stride: Sequence[int]
) -> tuple[int, ...] | str:
    """Padding as a tuple of ints, or "same" (checked: PyTorch allows it only with stride 1)."""
    if padding == "valid":
        return (0,) * n
    if padding == "same":
        if any(s != 1 for s in stride):
            raise BlockProblem("uses padding 'same', which needs stride 1; set stride to 1 or use a number")
        return "same"
    return expand(padding, n, "padding")


def check_broadcast(shapes: list[tuple[int, ...]], verb: str) -> tuple[int, ...]:
    """Broadcast shapes as PyTorch does (batch left out), or explain why they do not fit."""
    rank = max(len(s) for s in shapes)
    if any(len(s) != rank for s in shapes):
        # the batch dimension comes first in every tensor, so a shorter shape would line up its batch
        # with a per-sample dimension of the longer one
        listed = " and ".join(fmt_shape(s) for s in shapes)
        raise BlockProblem(
            f"gets {listed}, which cannot be {verb}: they have different numbers of dimensions; "
            "reshape one so both have the same (a size of 1 is stretched)"
        )
    out = []
    for i in range(rank):
        sizes = {s[len(s) - rank + i] for s in shapes if len(s) - rank + i >= 0}
        sizes.discard(1)
        if len(sizes) > 1:
            listed = " and ".join(fmt_shape(s) for s in shapes)
            raise BlockProblem(
                f"gets {listed}, which cannot be {verb}; make the shapes equal "
                "(for example a 1×1 Conv2d to match channels, or pooling to match sizes)"
            )
        out.append(sizes.pop() if sizes else 1)
    return tuple(out)


def merge_dtype(inputs: list[TensorSpec]) -> str:
    dtypes = {x.dtype for x in inputs}
    if len(dtypes) > 1:
        raise BlockProblem("mixes token ids (int64) with real numbers; add an Embedding to the token ids")
    return dtypes.pop()


def numel(shape: Sequence[int]) -> int:
    return math.prod(shape)


__all__ = [
    "FLOAT",
    "INT",
    "check_broadcast",
    "describe",
    "expand",
    "merge_dtype",
    "numel",
    "one_input",
    "require_float",
    "resolve_padding",
    "sliding_shape",
    "spatial_input",
    "window_output",
]
