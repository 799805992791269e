"""The block registry. Importing this package registers every built-in block."""

from layerloom.core.blocks import (  # noqa: F401  (each module registers its blocks)
    activations,
    composite,
    conv,
    dense_shape,
    generative,
    io,
    merge,
    norm,
    pooling,
    pretrained,
    recurrent,
)
from layerloom.core.blocks.registry import all_specs, get_spec, has_spec, register
from layerloom.core.blocks.spec import (
    CATEGORIES,
    BlockProblem,
    BlockSpec,
    Inferred,
    ParamSpec,
    PortSpec,
    TensorSpec,
    fmt_shape,
)

__all__ = [
    "CATEGORIES",
    "BlockProblem",
    "BlockSpec",
    "Inferred",
    "ParamSpec",
    "PortSpec",
    "TensorSpec",
    "all_specs",
    "fmt_shape",
    "get_spec",
    "has_spec",
    "register",
]
