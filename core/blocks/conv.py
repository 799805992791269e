"""Convolution blocks: Conv1d, Conv2d and ConvTranspose2d."""

from __future__ import annotations

import math

from layerloom.core.blocks.registry import register
from layerloom.core.blocks.rules import expand, resolve_padding, sliding_shape, spatial_input
from layerloom.core.blocks.spec import BlockProblem, BlockSpec, Inferred, ParamSpec, TensorSpec

_CONV_HELP = (
    "A convolution slides a small learned filter (its local receptive field, kernel_size wide) over "
    "the input and writes one output map per filter (out_channels). The same weights are used at "
    "every position (shared weights), so the layer has few parameters and finds a pattern wherever "
    "it appears. stride is the step between positions (2 halves the size); padding adds zeros "
    "around the border ('same' keeps the size, with stride 1; 'valid' adds none); dilation spreads "
    "the filter's taps apart; groups splits the channels into independent groups.\n\n"
    "Output size per dimension: floor((size + 2·padding − dilation·(kernel − 1) − 1) / stride) + 1.\n"
    "Parameters: out_channels × (in_channels / groups) × {kernel} + out_channels (the biases). "
    "Example: 6 filters of 5×5 on 3 channels → 6·3·25 + 6 = 456; on 1 channel → 156."
)


def _conv_params(n: int) -> tuple[ParamSpec, ...]:
    dims = "one number or [H, W]" if n == 2 else "one number"
    return (
        ParamSpec("out_channels", "int", 16, "Number of filters, so of output channels.", min=1),
        ParamSpec("kernel_size", "size", 3, f"Filter size ({dims}).", min=1, arity=n),
        ParamSpec("stride", "size", 1, "Step between filter positions.", min=1, arity=n),
        ParamSpec("padding", "padding", 0, "Zeros added on each side; 'same' keeps the size (stride 1).",
                  min=0, arity=n),
        ParamSpec("dilation", "size", 1, "Spacing between the filter's taps (1: none).", min=1, arity=n),
        ParamSpec("groups", "int", 1, "Split channels into this many independent groups.", min=1),
        ParamSpec("bias", "bool", True, "Learn one bias per filter."),
    )


def _conv_infer(n: int):
    def infer(p, inputs):
        x = inputs[0]
        spatial_input(x, n, "conv")
        cin, spatial = x.shape[0], x.shape[1:]
        out, groups = p["out_channels"], p["groups"]
        if cin % groups or out % groups:
            raise BlockProblem(
                f"has groups={groups}, which must divide both its {cin} input channels and its "
                f"{out} out_channels"
            )
        k = expand(p["kernel_size"], n, "kernel_size")
        s = expand(p["stride"], n, "stride")
        d = expand(p["dilation"], n, "dilation")
        pad = resolve_padding(p["padding"], n, k, d, s)
        if pad == "same":
            out_spatial = tuple(spatial)
        else:
            out_spatial = sliding_shape(spatial, k, s, pad, d)
        per_filter = (cin // groups) * math.prod(k)
        params = out * per_filter + (out if p["bias"] else 0)
        macs = out * math.prod(out_spatial) * per_filter
        return Inferred(TensorSpec((out, *out_spatial)), params, macs)

    return infer


def _conv_build(n: int):
    def build(p, inputs):
        from torch import nn

        cls = nn.Conv1d if n == 1 else nn.Conv2d
        return cls(
            inputs[0].shape[0],
            p["out_channels"],
            _tuple(p["kernel_size"]),
            stride=_tuple(p["stride"]),
            padding=_tuple(p["padding"]),
            dilation=_tuple(p["dilation"]),
            groups=p["groups"],
            bias=p["bias"],
        )

    return build


def _tuple(v):
    return tuple(v) if isinstance(v, list) else v


for _n in (1, 2):
    register(
        BlockSpec(
            type_id=f"Conv{_n}d",
            category="Convolution",
            summary=(
                "Learned filters slid along a sequence (channels × length)."
                if _n == 1
                else "Learned filters slid over an image (channels × height × width)."
            ),
            help=_CONV_HELP.format(kernel="kernel_size" if _n == 1 else "kernel_h × kernel_w"),
            infer=_conv_infer(_n),
            build=_conv_build(_n),
            params=_conv_params(_n),
            key_params=("out_channels", "kernel_size", "stride", "padding"),
        )
    )


def _tconv_infer(p, inputs):
    x = inputs[0]
    spatial_input(x, 2, "conv")
    cin, spatial = x.shape[0], x.shape[1:]
    out = p["out_channels"]
    k = expand(p["kernel_size"], 2, "kernel_size")
    s = expand(p["stride"], 2, "stride")
    pad = expand(p["padding"], 2, "padding")
    op = expand(p["output_padding"], 2, "output_padding")
    if any(o >= st for o, st in zip(op, s)):
        raise BlockProblem("has output_padding that is not smaller than stride; lower output_padding")
    out_spatial = tuple(
        (size - 1) * st - 2 * pd + (kk - 1) + o + 1 for size, st, pd, kk, o in zip(spatial, s, pad, k, op)
    )
    if any(v < 1 for v in out_spatial):
        raise BlockProblem(f"would output a size below 1 ({out_spatial}); use less padding")
    params = cin * out * math.prod(k) + out
    macs = cin * math.prod(spatial) * out * math.prod(k)
    return Inferred(TensorSpec((out, *out_spatial)), params, macs)


def _tconv_build(p, inputs):
    from torch import nn

    return nn.ConvTranspose2d(
        inputs[0].shape[0],
        p["out_channels"],
        _tuple(p["kernel_size"]),
        stride=_tuple(p["stride"]),
        padding=_tuple(p["padding"]),
        output_padding=_tuple(p["output_padding"]),
    )


register(
    BlockSpec(
        type_id="ConvTranspose2d",
        category="Convolution",
        summary="Upsamples a map with learned filters (the decoder half of an autoencoder).",
        help=(
            "A transposed convolution runs a convolution backwards: each input position spreads a "
            "learned kernel_size filter into the output, stride positions apart, so stride 2 doubles "
            "height and width. Decoders and autoencoders use it to grow maps back to image size.\n\n"
            "Output size: (size − 1)·stride − 2·padding + kernel_size + output_padding.\n"
            "Parameters: in_channels × out_channels × kernel_h × kernel_w + out_channels."
        ),
        infer=_tconv_infer,
        build=_tconv_build,
        params=(
            ParamSpec("out_channels", "int", 16, "Number of output channels.", min=1),
            ParamSpec("kernel_size", "size", 2, "Filter size (one number or [H, W]).", min=1, arity=2),
            ParamSpec("stride", "size", 2, "Upsampling step (2 doubles the size).", min=1, arity=2),
            ParamSpec("padding", "size", 0, "Rows and columns removed from each side.", min=0, arity=2),
            ParamSpec("output_padding", "size", 0, "Extra size on one side (less than stride).",
                      min=0, arity=2),
        ),
        key_params=("out_channels", "kernel_size", "stride"),
    )
)
