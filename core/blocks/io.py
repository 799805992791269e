"""Input and Output blocks: where tensors enter the model and where losses are computed."""

from __future__ import annotations

from layerloom.core.blocks.registry import register
from layerloom.core.blocks.spec import DTYPES, FLOAT, BlockProblem, BlockSpec, Inferred, ParamSpec, TensorSpec

LOSSES = ("cross_entropy", "bce_with_logits", "mse", "l1")


def _infer_input(p, inputs):
    return Inferred(TensorSpec(tuple(p["shape"]), p["dtype"]))


def _infer_output(p, inputs):
    x = inputs[0]
    loss = p["loss"]
    if loss == "cross_entropy":
        if x.dtype != FLOAT:
            raise BlockProblem("needs class scores but gets token ids; add layers that end in a Dense")
        if x.rank not in (1, 2, 3):
            raise BlockProblem(
                f"gets a {x} map but cross_entropy wants one score per class; "
                "add Flatten and a Dense with one output per class"
            )
        if x.shape[0] < 2:
            raise BlockProblem(
                "has a single score but cross_entropy needs one per class (at least 2); "
                "give the last Dense one output per class, or use bce_with_logits for yes/no"
            )
    elif x.dtype != FLOAT:
        raise BlockProblem(f"cannot compute {loss} on token ids; add layers that produce numbers")
    return Inferred(x)


INPUT = register(
    BlockSpec(
        type_id="Input",
        category="Inputs",
        summary="Where one sample enters the network.",
        help=(
            "An Input says what one sample looks like: its shape without the batch dimension "
            "(1×28×28 for a grey 28×28 image, 3×32×32 for a colour one, 64 for 64 features, "
            "100 for a sequence of 100 token ids) and its dtype: float32 for numbers, int64 for "
            "token ids that feed an Embedding. A network may have several Inputs; the compiled "
            "model takes them as arguments in the order they were added.\n\n"
            "Parameters: none are learned (0)."
        ),
        infer=_infer_input,
        params=(
            ParamSpec("shape", "shape", [1, 28, 28], "Size of one sample, batch left out: [C, H, W] "
                      "for images, [L] for a sequence of token ids, [T, F] for a time series."),
            ParamSpec("dtype", "choice", FLOAT, "float32 for numbers; int64 for token ids (Embedding).",
                      choices=DTYPES),
        ),
        inputs=(),
        key_params=("shape",),
        min_inputs=0,
    )
)

OUTPUT = register(
    BlockSpec(
        type_id="Output",
        category="Outputs",
        summary="A model output and the loss that trains it.",
        help=(
            "An Output marks a tensor the model returns and says how training compares it with the "
            "target. cross_entropy takes raw class scores (logits, no Softmax before it) and integer "
            "class labels; bce_with_logits takes raw scores for yes/no (or several yes/no) targets; "
            "mse (mean squared error) and l1 (mean absolute error) are for regression and "
            "reconstruction. A network may have several Outputs; the model returns them as a tuple "
            "in the order they were added.\n\nParameters: none are learned (0)."
        ),
        infer=_infer_output,
        params=(
            ParamSpec("loss", "choice", "cross_entropy",
                      "cross_entropy: classes from logits; bce_with_logits: yes/no from logits; "
                      "mse / l1: regression.", choices=LOSSES),
        ),
        outputs=(),
        key_params=("loss",),
    )
)
