"""Loading weights into a graph: names and shapes matched, what does not fit listed block by block.

    model, report = load_weights(graph, read_weights("old_run/best.safetensors"))
    report.ok            # False when a block's weights are missing, extra or of another shape
    report.messages()    # ["dense_2: weight is 10×84 in the weights but 5×84 in the model (kept its own)", ...]

Reading weights from a file (`read_weights`) is `core/export/reading.py`'s job; this module only matches
a state dict against a graph and copies what fits.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from layerloom.core.errors import LayerloomError


class WeightsError(LayerloomError):
    """Weights that cannot be read, or (strict) do not fit the model."""


def _block(name: str) -> str:
    return name.split(".", 1)[0]


def _shape(t) -> str:
    return "×".join(str(s) for s in t) if len(t) else "a scalar"


@dataclass
class WeightsReport:
    """How a state dict fits a model. Every mapping goes block name → parameter names (without the block)."""

    loaded: dict[str, list[str]] = field(default_factory=dict)
    missing: dict[str, list[str]] = field(default_factory=dict)  # in the model, not in the weights
    unexpected: dict[str, list[str]] = field(default_factory=dict)  # in the weights, not in the model
    shapes: dict[str, list[tuple[str, tuple, tuple]]] = field(default_factory=dict)  # (name, model's, weights')
    dtypes: dict[str, list[tuple[str, str, str]]] = field(default_factory=dict)  # (name, model's, weights')
    skipped: dict[str, list[str]] = field(default_factory=dict)  # matched, but their block did not fit as a whole

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.shapes or self.dtypes)

    @property
    def mismatched_blocks(self) -> list[str]:
        return list(dict.fromkeys([*self.shapes, *self.dtypes, *self.missing, *self.unexpected]))

    def messages(self) -> list[str]:
        """One line per block that does not fit, in plain words."""
        out = []
        for block, items in self.shapes.items():
            parts = [f"{name} is {_shape(got)} in the weights but {_shape(want)} in the model"
                     for name, want, got in items]
            out.append(f"{block}: {'; '.join(parts)} (kept its own weights)")
        for block, items in self.dtypes.items():
            if block in self.shapes:
                continue
            parts = [f"{name} holds {got} numbers in the weights but {want} in the model" for name, want, got in items]
            out.append(f"{block}: {'; '.join(parts)} (kept its own weights)")
        for block, names in self.missing.items():
            if block in self.shapes or block in self.dtypes:
                continue
            what = f"misses {', '.join(names)}" if block in self.skipped else "has no weights in the file"
            out.append(f"{block}: {what} (kept its own weights)")
        for block in self.unexpected:
            if block in self.shapes or block in self.missing or block in self.dtypes:
                continue
            out.append(f"{block}: is in the weights but not in the model (ignored)")
        return out

    def problems(self) -> list[str]:
        """Every parameter that does not fit, by its full name, in plain words (for refusing a file)."""
        out = [f"{b}.{n} is {_shape(got)} in the file but {_shape(want)} in the network"
               for b, items in self.shapes.items() for n, want, got in items]
        out += [f"{b}.{n} holds {got} numbers in the file but the network's are {want}"
                for b, items in self.dtypes.items() for n, want, got in items]
        out += [f"{b}.{n} is missing from the file" for b, names in self.missing.items() for n in names]
        out += [f"{b}.{n} is in the file but not in the network" if n else f"{b} is in the file but not in the network"
                for b, names in self.unexpected.items() for n in names]
        return out

    def notes(self) -> list[str]:
        """A summary line and the mismatches, for a training run's notes."""
        n = len(self.loaded)
        head = f"started from the given weights: {n} block{'s' if n != 1 else ''} loaded"
        return [head, *self.messages()]

    def to_dict(self) -> dict:
        return {"ok": self.ok, "loaded": self.loaded, "missing": self.missing, "unexpected": self.unexpected,
                "shapes": {b: [[n, list(w), list(g)] for n, w, g in items] for b, items in self.shapes.items()},
                "dtypes": {b: [list(item) for item in items] for b, items in self.dtypes.items()},
                "messages": self.messages()}


def dtype_name(dtype) -> str:
    """torch.float32 → 'float32'."""
    return str(dtype).removeprefix("torch.")


def same_kind(want, got) -> bool:
    """Whether weights of dtype `got` may be copied into a tensor of dtype `want`: the same dtype, or both
    floating point (float16 weights into a float32 model), or both whole numbers. int8 (quantized) or bool
    values into float weights are not the same weights."""
    if want == got:
        return True
    if want.is_floating_point or got.is_floating_point:
        return want.is_floating_point and got.is_floating_point
    if want.is_complex or got.is_complex:
        return False
    return (want == _bool()) == (got == _bool())


def _bool():
    import torch

    return torch.bool


def match_weights(model, state: dict) -> WeightsReport:
    """Compare `state` with the model's own state dict by name and shape, changing nothing."""
    own = model.state_dict()
    report = WeightsReport()
    for name, tensor in own.items():
        block, rest = _block(name), name.partition(".")[2]
        if name not in state:
            report.missing.setdefault(block, []).append(rest)
            continue
        got = tuple(state[name].shape)
        if got != tuple(tensor.shape):
            report.shapes.setdefault(block, []).append((rest, tuple(tensor.shape), got))
        elif not same_kind(tensor.dtype, state[name].dtype):
            report.dtypes.setdefault(block, []).append((rest, dtype_name(tensor.dtype), dtype_name(state[name].dtype)))
        else:
            report.loaded.setdefault(block, []).append(rest)
    for name in state:
        if name not in own:
            report.unexpected.setdefault(_block(name), []).append(name.partition(".")[2])
    # a block only partly loaded keeps all its own weights: half a layer from elsewhere is no use
    for block in list(report.loaded):
        if block in report.shapes or block in report.missing or block in report.dtypes:
            report.skipped[block] = report.loaded.pop(block)
    return report


def apply_weights(model, state: dict, *, strict: bool = False) -> WeightsReport:
    """Copy the weights that fit (whole blocks whose names and shapes match) into `model`; the others keep
    theirs. `strict`: WeightsError listing the mismatches instead of loading anything when any block does
    not fit."""
    import torch

    report = match_weights(model, state)
    if strict and not report.ok:
        lines = report.messages()
        raise WeightsError("the weights do not fit the model:\n" + "\n".join(f"  - {m}" for m in lines))
    own = model.state_dict()
    with torch.no_grad():
        for block, names in report.loaded.items():
            for rest in names:
                key = f"{block}.{rest}"
                own[key].copy_(state[key].to(dtype=own[key].dtype, device=own[key].device))
    return report


def compile_for_weights(graph, seed: int = 0):
    """Compile `graph` to receive a whole state dict: pretrained backbones are built without fetching their
    ImageNet weights (the state brings the weights), so exporting needs no network."""
    from layerloom.core.blocks.pretrained import BACKBONES
    from layerloom.core.compiler import build_model

    if any(n.type in BACKBONES and n.params.get("weights") != "none" for n in graph):
        graph = graph.copy()
        for n in graph:
            if n.type in BACKBONES:
                graph.set_params(n.id, weights="none")
    return build_model(graph, seed=seed)


def shape_model(graph):
    """The model `graph` compiles to, built on the meta device: its state dict has every name, shape and
    dtype, and no memory is allocated (so a file can be checked against a network of any size)."""
    import torch

    with torch.device("meta"):
        return compile_for_weights(graph, seed=0)


def fit_problems(graph, state: dict) -> list[str]:
    """How `state` does not fit `graph`, one line per parameter (empty when it fits); CompileError when the
    graph cannot be compiled."""
    return match_weights(shape_model(graph), state).problems()


_SAFETENSORS_DTYPES = {"F64": "float64", "F32": "float32", "F16": "float16", "BF16": "bfloat16", "I64": "int64",
                       "I32": "int32", "I16": "int16", "I8": "int8", "U8": "uint8", "BOOL": "bool"}


def header_state(header: dict, prefix: str = "") -> dict:
    """The tensors a safetensors header describes (those named `prefix…`, without it) as meta tensors: their
    names, shapes and dtypes, with nothing read or allocated — to check a checkpoint before loading it."""
    import torch

    out = {}
    for name, entry in header.items():
        if name == "__metadata__" or not name.startswith(prefix):
            continue
        dtype = getattr(torch, _SAFETENSORS_DTYPES.get(entry["dtype"], "uint8"))
        out[name[len(prefix):]] = torch.empty(entry["shape"], dtype=dtype, device="meta")
    return out


def load_weights(graph, state: dict, *, strict: bool = False, seed: int | None = 0):
    """Compile `graph` and load `state` into it: (model, WeightsReport). Blocks that do not fit keep their
    fresh weights (or, with `strict`, WeightsError)."""
    from layerloom.core.compiler import build_model

    model = build_model(graph, seed=seed)
    report = apply_weights(model, state, strict=strict)
    return model, report
