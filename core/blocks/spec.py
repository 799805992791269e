"""The declarative description of a block: parameters, ports, shape rule and torch factory.

A block is one `BlockSpec`. Its `infer` rule is plain arithmetic (no torch), so inference of a large
graph is fast; its `build` factory makes the torch module and `emit` writes the block into the
compiled `torch.fx` graph. Tests check every rule against a real forward pass.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from layerloom.core.errors import ParamError

FLOAT = "float32"
INT = "int64"
DTYPES = (FLOAT, INT)


@dataclass(frozen=True)
class TensorSpec:
    """A tensor as seen by one sample: its shape without the batch dimension, and its dtype."""

    shape: tuple[int, ...]
    dtype: str = FLOAT

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    def __str__(self) -> str:
        return fmt_shape(self.shape)


def fmt_shape(shape) -> str:
    """`(16, 5, 5)` → `16×5×5`, the way a lecture writes shapes."""
    return "×".join(str(s) for s in shape) if len(shape) else "scalar"


class BlockProblem(Exception):
    """Raised by a shape rule: a plain-words reason, without the block's name (added by the caller)."""


@dataclass(frozen=True)
class Inferred:
    """What a shape rule returns for one block."""

    output: TensorSpec
    params: int = 0
    macs: int = 0
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class PortSpec:
    """A named port; a `multi` input port takes several edges, in the order they were connected."""

    name: str
    multi: bool = False


# --- parameters ---------------------------------------------------------------------------------

PARAM_KINDS = ("int", "float", "bool", "choice", "size", "padding", "shape", "dims", "optional_size",
               "optional_float")


@dataclass(frozen=True)
class ParamSpec:
    """One block parameter: its kind, default, range and help text.

    Kinds: `int`, `float`, `bool`, `choice` (one of `choices`), `size` (an int, or a list of `arity`
    ints, as PyTorch's kernel_size), `optional_size` (a size or None), `padding` (a size or "same" /
    "valid"), `shape` (a list of ints, -1 allowed where `allow_infer`), `dims` (a list of ints),
    `optional_float` (a float or None).
    """

    name: str
    kind: str
    default: Any
    help: str
    min: float | None = None
    max: float | None = None
    choices: tuple = ()
    arity: int = 1
    allow_infer: bool = False
    exclusive_max: bool = False

    def __post_init__(self):
        if self.kind not in PARAM_KINDS:
            raise ValueError(f"unknown parameter kind {self.kind!r}")

    def coerce(self, value: Any, where: str) -> Any:
        """Return `value` in its canonical JSON-friendly form, or raise ParamError naming `where`."""
        try:
            return _COERCE[self.kind](self, value)
        except _Bad as bad:
            raise ParamError(f"{where}: {self.name} {bad}") from None


class _Bad(Exception):
    pass


def _int(spec: ParamSpec, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise _Bad(f"must be a whole number (got {value!r})")
    _check_range(spec, value)
    return value


def _check_range(spec: ParamSpec, value: float) -> None:
    if spec.min is not None and value < spec.min:
        raise _Bad(f"must be at least {_num(spec.min)} (got {_num(value)})")
    if spec.max is not None:
        if spec.exclusive_max and value >= spec.max:
            raise _Bad(f"must be less than {_num(spec.max)} (got {_num(value)})")
        if value > spec.max:
            raise _Bad(f"must be at most {_num(spec.max)} (got {_num(value)})")


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(x)


def _float(spec: ParamSpec, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Bad(f"must be a number (got {value!r})")
    value = float(value)
    if not math.isfinite(value):
        raise _Bad(f"must be a finite number (got {value!r})")
    _check_range(spec, value)
    return value


def _bool(spec: ParamSpec, value: Any) -> bool:
    if not isinstance(value, bool):
        raise _Bad(f"must be true or false (got {value!r})")
    return value


def _choice(spec: ParamSpec, value: Any) -> Any:
    if value not in spec.choices:
        options = ", ".join(repr(c) for c in spec.choices)
        raise _Bad(f"must be one of {options} (got {value!r})")
    return value


def _size(spec: ParamSpec, value: Any) -> int | list[int]:
    if isinstance(value, list | tuple):
        if len(value) != spec.arity or (spec.arity == 1 and len(value) != 1):
            raise _Bad(f"must be one number or a list of {spec.arity} (got {list(value)!r})")
        return [_int(spec, v) for v in value]
    return _int(spec, value)


def _optional_size(spec: ParamSpec, value: Any) -> int | list[int] | None:
    return None if value is None else _size(spec, value)


def _optional_float(spec: ParamSpec, value: Any) -> float | None:
    return None if value is None else _float(spec, value)


def _padding(spec: ParamSpec, value: Any) -> int | list[int] | str:
    if isinstance(value, str):
        if value not in ("same", "valid"):
            raise _Bad(f"must be a number, 'same' or 'valid' (got {value!r})")
        return value
    return _size(spec, value)


def _shape(spec: ParamSpec, value: Any) -> list[int]:
    if not isinstance(value, list | tuple) or not value:
        raise _Bad(f"must be a non-empty list of sizes, like [1, 28, 28] (got {value!r})")
    out = []
    for v in value:
        if isinstance(v, bool) or not isinstance(v, int):
            raise _Bad(f"must hold whole numbers only (got {v!r})")
        if v == -1 and spec.allow_infer:
            out.append(v)
        elif v < 1:
            hint = " (-1 lets one size be worked out)" if spec.allow_infer else ""
            raise _Bad(f"sizes must be at least 1 (got {v}){hint}")
        else:
            out.append(v)
    if out.count(-1) > 1:
        raise _Bad("may hold at most one -1")
    return out


def _dims(spec: ParamSpec, value: Any) -> list[int]:
    if not isinstance(value, list | tuple) or not value:
        raise _Bad(f"must be a list of dimension numbers, like [0, 2, 1] (got {value!r})")
    if any(isinstance(v, bool) or not isinstance(v, int) for v in value):
        raise _Bad(f"must hold whole numbers only (got {list(value)!r})")
    return list(value)


_COERCE: dict[str, Callable[[ParamSpec, Any], Any]] = {
    "int": _int,
    "float": _float,
    "bool": _bool,
    "choice": _choice,
    "size": _size,
    "optional_size": _optional_size,
    "optional_float": _optional_float,
    "padding": _padding,
    "shape": _shape,
    "dims": _dims,
}


# --- the block ----------------------------------------------------------------------------------

InferFn = Callable[[Mapping[str, Any], list[TensorSpec]], Inferred]
BuildFn = Callable[[Mapping[str, Any], list[TensorSpec]], Any]
EmitFn = Callable[..., Any]

CATEGORIES = (
    "Inputs",
    "Convolution",
    "Pooling",
    "Dense & shape",
    "Recurrent",
    "Composite",
    "Merge",
    "Normalization & regularization",
    "Activations",
    "Outputs",
)


@dataclass(frozen=True)
class BlockSpec:
    """Everything Layerloom knows about one block type.

    `infer(params, inputs)` gives the output, parameter count and MACs per sample, raising
    BlockProblem in plain words; `build(params, inputs)` makes the torch module (None for blocks that
    compile to a function); `emit(ctx, node, args)` writes the block into the fx graph (default: call
    the built module).
    """

    type_id: str
    category: str
    summary: str
    help: str
    infer: InferFn
    params: tuple[ParamSpec, ...] = ()
    inputs: tuple[PortSpec, ...] = (PortSpec("in"),)
    outputs: tuple[PortSpec, ...] = (PortSpec("out"),)
    build: BuildFn | None = None
    emit: EmitFn | None = None
    name_base: str = ""
    key_params: tuple[str, ...] = ()
    min_inputs: int = 1
    param_map: dict[str, ParamSpec] = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        if self.category not in CATEGORIES:
            raise ValueError(f"{self.type_id}: unknown category {self.category!r}")
        object.__setattr__(self, "param_map", {p.name: p for p in self.params})
        if not self.name_base:
            object.__setattr__(self, "name_base", snake_case(self.type_id))

    def defaults(self) -> dict[str, Any]:
        """Every parameter at its default value (lists copied)."""
        return {p.name: _copy(p.default) for p in self.params}

    def port(self, name: str, output: bool) -> PortSpec | None:
        for p in self.outputs if output else self.inputs:
            if p.name == name:
                return p
        return None


def _copy(value: Any) -> Any:
    return list(value) if isinstance(value, list | tuple) else value


def snake_case(type_id: str) -> str:
    """`Conv2d` → `conv2d`, `BatchNorm` → `batch_norm`, `LeakyReLU` → `leaky_relu`, `LSTM` → `lstm`."""
    type_id = type_id.replace("ReLU", "Relu")
    out = []
    for i, ch in enumerate(type_id):
        if ch.isupper() and i > 0:
            prev, nxt = type_id[i - 1], type_id[i + 1] if i + 1 < len(type_id) else ""
            if prev.islower() or (prev.isupper() and nxt.islower()):
                out.append("_")
        out.append(ch.lower())
    return "".join(out)
