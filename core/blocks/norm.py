"""Normalization and regularization blocks: Dropout, BatchNorm, LayerNorm."""

from __future__ import annotations

from layerloom.core.blocks.registry import register
from layerloom.core.blocks.rules import require_float
from layerloom.core.blocks.spec import BlockProblem, BlockSpec, Inferred, ParamSpec


def _dropout_infer(p, inputs):
    require_float(inputs[0])
    return Inferred(inputs[0])


def _dropout_build(p, inputs):
    from torch import nn

    return nn.Dropout(p["p"])


register(
    BlockSpec(
        type_id="Dropout",
        category="Normalization & regularization",
        summary="Randomly zeroes a fraction p of values while training (regularization).",
        help=(
            "During training Dropout sets each value to zero with probability p and scales the rest "
            "by 1/(1 − p); at evaluation it does nothing. The network cannot rely on any single "
            "neuron, which reduces overfitting.\n\nParameters: none (0)."
        ),
        infer=_dropout_infer,
        build=_dropout_build,
        params=(ParamSpec("p", "float", 0.5, "Probability of zeroing a value (0 ≤ p < 1).", min=0.0,
                          max=1.0, exclusive_max=True),),
        key_params=("p",),
    )
)


def _bn_infer(p, inputs):
    x = inputs[0]
    require_float(x)
    if x.rank not in (1, 2, 3):
        raise BlockProblem(f"works on C, C×L or C×H×W inputs, not on {x.rank}-D ones")
    c = x.shape[0]
    return Inferred(x, params=2 * c, macs=0)


def _bn_build(p, inputs):
    from torch import nn

    x = inputs[0]
    return (nn.BatchNorm2d if x.rank == 3 else nn.BatchNorm1d)(x.shape[0])


register(
    BlockSpec(
        type_id="BatchNorm",
        category="Normalization & regularization",
        summary="Normalizes each channel over the batch, then scales and shifts it.",
        help=(
            "Batch normalization rescales each channel (or feature) to mean 0 and variance 1 over the "
            "batch, then applies a learned scale γ and shift β. It steadies and speeds up training of "
            "deep networks. BatchNorm2d is used for C×H×W maps, BatchNorm1d for C or C×L; at "
            "evaluation it uses running averages kept during training.\n\n"
            "Parameters: 2 × channels (γ and β; the running averages are not trained)."
        ),
        infer=_bn_infer,
        build=_bn_build,
    )
)


def _ln_infer(p, inputs):
    x = inputs[0]
    require_float(x)
    return Inferred(x, params=2 * x.shape[-1])


def _ln_build(p, inputs):
    from torch import nn

    return nn.LayerNorm(inputs[0].shape[-1])


register(
    BlockSpec(
        type_id="LayerNorm",
        category="Normalization & regularization",
        summary="Normalizes each sample over its last dimension (used in RNNs and Transformers).",
        help=(
            "Layer normalization rescales the features of each sample (its last dimension) to mean 0 "
            "and variance 1, then applies a learned scale and shift per feature. Unlike BatchNorm it "
            "does not depend on the batch, so it suits sequences.\n\n"
            "Parameters: 2 × size of the last dimension."
        ),
        infer=_ln_infer,
        build=_ln_build,
    )
)
