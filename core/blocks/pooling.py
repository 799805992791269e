"""Pooling blocks: max and average pooling (1-D, 2-D), global and adaptive average pooling."""

from __future__ import annotations

from layerloom.core.blocks.registry import register
from layerloom.core.blocks.rules import expand, require_float, sliding_shape, spatial_input
from layerloom.core.blocks.spec import BlockProblem, BlockSpec, Inferred, ParamSpec, TensorSpec

_POOL_HELP = (
    "{what} It keeps the number of channels, shrinks the map (a 2×2 window with stride 2 halves "
    "height and width) and makes the network tolerant to small shifts. It has no weights.\n\n"
    "Output size per dimension: floor((size + 2·padding − kernel_size) / stride) + 1; stride "
    "defaults to kernel_size. padding may be at most half the kernel_size.\n"
    "Parameters: none (0)."
)


def _pool_infer(n: int):
    def infer(p, inputs):
        x = inputs[0]
        spatial_input(x, n, "pool")
        k = expand(p["kernel_size"], n, "kernel_size")
        s = expand(p["stride"] if p["stride"] is not None else p["kernel_size"], n, "stride")
        pad = expand(p["padding"], n, "padding")
        if any(pd > kk // 2 for pd, kk in zip(pad, k)):
            raise BlockProblem("has padding larger than half its kernel_size; lower padding")
        out = sliding_shape(x.shape[1:], k, s, pad, (1,) * n)
        return Inferred(TensorSpec((x.shape[0], *out)))

    return infer


def _pool_build(cls_name: str):
    def build(p, inputs):
        from torch import nn

        def t(v):
            return tuple(v) if isinstance(v, list) else v

        return getattr(nn, cls_name)(t(p["kernel_size"]), stride=t(p["stride"]), padding=t(p["padding"]))

    return build


def _pool_params(n: int):
    return (
        ParamSpec("kernel_size", "size", 2, "Window size.", min=1, arity=n),
        ParamSpec("stride", "optional_size", None, "Step between windows; empty means kernel_size.",
                  min=1, arity=n),
        ParamSpec("padding", "size", 0, "Padding on each side (at most half the kernel).", min=0, arity=n),
    )


for _kind, _what in (
    ("Max", "Max pooling keeps the largest value in each window."),
    ("Avg", "Average pooling keeps the mean of each window."),
):
    for _n in (1, 2):
        register(
            BlockSpec(
                type_id=f"{_kind}Pool{_n}d",
                category="Pooling",
                summary=f"{_what.split(' keeps ')[0]} over {'a sequence' if _n == 1 else 'an image'}: "
                f"keeps the {'largest' if _kind == 'Max' else 'mean'} value of each window.",
                help=_POOL_HELP.format(what=_what),
                infer=_pool_infer(_n),
                build=_pool_build(f"{_kind}Pool{_n}d"),
                params=_pool_params(_n),
                key_params=("kernel_size", "stride"),
            )
        )


def _gap_infer(p, inputs):
    x = inputs[0]
    require_float(x)
    if x.rank < 2:
        raise BlockProblem(
            f"needs channels with a length or a height and width, but got a vector of {x.shape[0]}; "
            "it already has one value per feature, so remove this block"
        )
    return Inferred(TensorSpec((x.shape[0],)))


def _gap_emit(ctx, p, inputs, args):
    dims = tuple(range(2, inputs[0].rank + 1))
    return ctx.call_method("mean", (args[0], dims))


register(
    BlockSpec(
        type_id="GlobalAvgPool",
        category="Pooling",
        summary="Averages each channel over all positions: C×H×W → C.",
        help=(
            "Global average pooling replaces each channel's whole map by its mean, turning C×H×W "
            "(or C×L) into a vector of C values. Modern CNNs (ResNet, GoogLeNet) use it instead of "
            "Flatten before the classifier: it has no weights and works for any input size.\n\n"
            "Parameters: none (0)."
        ),
        infer=_gap_infer,
        emit=_gap_emit,
    )
)


def _adaptive_infer(p, inputs):
    x = inputs[0]
    spatial_input(x, 2, "pool")
    out = expand(p["output_size"], 2, "output_size")
    return Inferred(TensorSpec((x.shape[0], *out)))


def _adaptive_build(p, inputs):
    from torch import nn

    v = p["output_size"]
    return nn.AdaptiveAvgPool2d(tuple(v) if isinstance(v, list) else v)


register(
    BlockSpec(
        type_id="AdaptiveAvgPool2d",
        category="Pooling",
        summary="Average pooling to a fixed output size, whatever the input size.",
        help=(
            "Adaptive average pooling picks its own windows so that the output always has "
            "output_size (for example 7×7 in VGG and 1×1 in ResNet), whatever the input image size.\n\n"
            "Parameters: none (0)."
        ),
        infer=_adaptive_infer,
        build=_adaptive_build,
        params=(ParamSpec("output_size", "size", 1, "Output height and width (one number or [H, W]).",
                          min=1, arity=2),),
        key_params=("output_size",),
    )
)
