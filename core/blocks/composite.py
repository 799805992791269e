"""Composite blocks: GoogLeNet's Inception module and ResNet's residual block."""

from __future__ import annotations

from layerloom.core.blocks.registry import register
from layerloom.core.blocks.rules import spatial_input, window_output
from layerloom.core.blocks.spec import BlockProblem, BlockSpec, Inferred, ParamSpec, TensorSpec

_INCEPTION_PARAMS = ("ch1x1", "ch3x3red", "ch3x3", "ch5x5red", "ch5x5", "pool_proj")


def _inception_infer(p, inputs):
    x = inputs[0]
    spatial_input(x, 2, "inception")
    c, h, w = x.shape
    hw = h * w
    convs = [  # (in, out, kernel) of every convolution in the four branches
        (c, p["ch1x1"], 1),
        (c, p["ch3x3red"], 1), (p["ch3x3red"], p["ch3x3"], 3),
        (c, p["ch5x5red"], 1), (p["ch5x5red"], p["ch5x5"], 5),
        (c, p["pool_proj"], 1),
    ]
    params = sum(i * o * k * k + o for i, o, k in convs)
    macs = sum(i * o * k * k * hw for i, o, k in convs)
    out = p["ch1x1"] + p["ch3x3"] + p["ch5x5"] + p["pool_proj"]
    return Inferred(TensorSpec((out, h, w)), params, macs)


def _inception_build(p, inputs):
    from layerloom.core.blocks.modules import Inception

    return Inception(inputs[0].shape[0], *(p[k] for k in _INCEPTION_PARAMS))


register(
    BlockSpec(
        type_id="Inception",
        category="Composite",
        summary="GoogLeNet's module: 1×1, 3×3, 5×5 and pooling branches side by side.",
        help=(
            "An Inception module looks at the same map at several scales at once and concatenates the "
            "results along the channels: a 1×1 convolution (ch1x1 filters); a 1×1 reduction to "
            "ch3x3red channels then a 3×3 convolution (ch3x3); a 1×1 reduction to ch5x5red then a "
            "5×5 convolution (ch5x5); and 3×3 max pooling then a 1×1 projection (pool_proj). The 1×1 "
            "reductions keep the big filters cheap. Each convolution is followed by ReLU; height and "
            "width are kept.\n\nOutput channels: ch1x1 + ch3x3 + ch5x5 + pool_proj.\n"
            "Parameters: the sum over its six convolutions of in × out × k × k + out."
        ),
        infer=_inception_infer,
        build=_inception_build,
        params=(
            ParamSpec("ch1x1", "int", 64, "Filters of the 1×1 branch.", min=1),
            ParamSpec("ch3x3red", "int", 96, "1×1 reduction before the 3×3 convolution.", min=1),
            ParamSpec("ch3x3", "int", 128, "Filters of the 3×3 branch.", min=1),
            ParamSpec("ch5x5red", "int", 16, "1×1 reduction before the 5×5 convolution.", min=1),
            ParamSpec("ch5x5", "int", 32, "Filters of the 5×5 branch.", min=1),
            ParamSpec("pool_proj", "int", 32, "1×1 filters after the 3×3 max pooling.", min=1),
        ),
        key_params=("ch1x1", "ch3x3", "ch5x5", "pool_proj"),
    )
)


def _residual_infer(p, inputs):
    x = inputs[0]
    spatial_input(x, 2, "residual")
    c, h, w = x.shape
    o, s = p["out_channels"], p["stride"]
    oh, ow = window_output(h, 3, s, 1), window_output(w, 3, s, 1)
    ohw, ihw = oh * ow, h * w
    if p["bottleneck"]:
        if o % 4 or o < 4:
            raise BlockProblem(f"is a bottleneck, so out_channels must be a multiple of 4 (got {o})")
        m = o // 4
        convs = [(c, m, 1, ihw), (m, m, 3, ohw), (m, o, 1, ohw)]
        bn = 2 * (m + m + o)
    else:
        convs = [(c, o, 3, ohw), (o, o, 3, ohw)]
        bn = 2 * (o + o)
    if s != 1 or c != o:
        convs.append((c, o, 1, ohw))
        bn += 2 * o
    params = sum(i * oc * k * k for i, oc, k, _ in convs) + bn
    macs = sum(i * oc * k * k * n for i, oc, k, n in convs)
    return Inferred(TensorSpec((o, oh, ow)), params, macs)


def _residual_build(p, inputs):
    from layerloom.core.blocks.modules import Residual

    return Residual(inputs[0].shape[0], p["out_channels"], p["stride"], p["bottleneck"])


register(
    BlockSpec(
        type_id="Residual",
        category="Composite",
        summary="ResNet's block: two convolutions plus a skip connection.",
        help=(
            "A residual block learns a correction F(x) that is added to its input: out = ReLU(F(x) + "
            "x). F is conv 3×3 → BatchNorm → ReLU → conv 3×3 → BatchNorm (or, with bottleneck, 1×1 "
            "down to out_channels/4 → 3×3 → 1×1 back up, each with BatchNorm). The skip connection "
            "lets gradients reach early layers undiminished, which is what made networks of 100+ "
            "layers trainable. When stride or the channel count changes, the skip path is a 1×1 "
            "convolution with BatchNorm (a projection) so that the shapes match.\n\n"
            "Parameters: the convolutions' in × out × k × k (no biases: BatchNorm follows) plus 2 per "
            "BatchNorm channel."
        ),
        infer=_residual_infer,
        build=_residual_build,
        params=(
            ParamSpec("out_channels", "int", 64, "Output channels.", min=1),
            ParamSpec("stride", "int", 1, "2 halves height and width.", min=1),
            ParamSpec("bottleneck", "bool", False, "Use the 1×1-3×3-1×1 bottleneck form."),
        ),
        key_params=("out_channels", "stride", "bottleneck"),
    )
)
