"""Activation blocks: the non-linearities between layers."""

from __future__ import annotations

from layerloom.core.blocks.registry import register
from layerloom.core.blocks.rules import require_float
from layerloom.core.blocks.spec import BlockProblem, BlockSpec, Inferred, ParamSpec


def _same(p, inputs):
    x = inputs[0]
    require_float(x)
    return Inferred(x)


def _softmax_infer(p, inputs):
    x = inputs[0]
    require_float(x)
    full = x.rank + 1
    if not -full <= p["dim"] < full or p["dim"] % full == 0:
        raise BlockProblem(f"has dim {p['dim']}, which must be one of 1..{full - 1} (or negative)")
    warnings = ()
    return Inferred(x, warnings=warnings)


def _build(cls_name, *keys):
    def build(p, inputs):
        from torch import nn

        return getattr(nn, cls_name)(**{k: p[k] for k in keys})

    return build


_TAIL = "\n\nParameters: none (0)."

for type_id, summary, help_text, params in (
    ("ReLU", "max(0, x): the default activation of deep networks.",
     "ReLU passes positive values and zeroes negative ones. Cheap, and its gradient does not shrink "
     "for positive inputs, which is why it replaced sigmoid and tanh in deep networks.", ()),
    ("LeakyReLU", "Like ReLU, with a small slope for negative values.",
     "LeakyReLU lets a little of the negative values through (x·negative_slope), so a neuron whose "
     "input stays negative still gets a gradient (no 'dying ReLU').",
     (ParamSpec("negative_slope", "float", 0.01, "Slope for negative inputs.", min=0.0),)),
    ("ELU", "Smooth ReLU: exponential for negative values.",
     "ELU is x for positive inputs and alpha·(exp(x) − 1) below zero: smooth, with outputs whose "
     "mean is closer to zero.", (ParamSpec("alpha", "float", 1.0, "Value approached for very negative x.",
                                           min=0.0),)),
    ("GELU", "Smooth ReLU used in Transformers.",
     "GELU weighs x by the chance a standard normal value is below it: a smooth ReLU used by BERT "
     "and GPT.", (ParamSpec("approximate", "choice", "none", "'tanh' uses a faster approximation.",
                            choices=("none", "tanh")),)),
    ("Tanh", "Squashes values into (−1, 1).",
     "tanh squashes values into (−1, 1). Its gradient vanishes for large |x|, which is why deep "
     "stacks of tanh layers learn slowly (the vanishing-gradient problem); RNNs use it inside.", ()),
    ("Sigmoid", "Squashes values into (0, 1).",
     "The logistic sigmoid squashes values into (0, 1), read as a probability. Its gradient is at "
     "most 0.25, so gradients vanish through many sigmoid layers. Before an Output with "
     "bce_with_logits leave it out: the loss applies it.", ()),
):
    register(
        BlockSpec(
            type_id=type_id,
            category="Activations",
            summary=summary,
            help=help_text + _TAIL,
            infer=_same,
            build=_build(type_id, *(p.name for p in params)),
            params=params,
            key_params=tuple(p.name for p in params),
        )
    )

register(
    BlockSpec(
        type_id="Softmax",
        category="Activations",
        summary="Turns scores into probabilities that sum to 1.",
        help=(
            "Softmax exponentiates the scores along dim and divides by their sum, so they become "
            "probabilities. Do not put it before an Output with cross_entropy: that loss expects raw "
            "scores (logits) and applies softmax itself." + _TAIL
        ),
        infer=_softmax_infer,
        build=_build("Softmax", "dim"),
        params=(ParamSpec("dim", "int", -1, "Dimension that sums to 1 (PyTorch numbering, batch is 0)."),),
        key_params=("dim",),
    )
)
