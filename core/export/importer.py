"""Bringing existing PyTorch models in as graphs: a Python file plus a class name, or a `torch.export` `.pt2`.

    classes = list_module_classes("net.py")                  # read without running the file
    result = import_python_model("net.py", "Net", input_shapes=[(1, 28, 28)], confirm=True)
    result.project, result.state      # the graph (a Project) and its weights, named after the blocks
    result.unsupported                # ["attn (MultiheadAttention): …"] — what has no block
    result.difference                 # the imported graph against the original module on a sample batch

A Python file runs when it is imported, so `import_python_model` refuses to import it unless `confirm` is
True or a callable that returns True for the path (the window asks the user first); nothing else in
Layerloom ever imports a user's file, and opening a project or a bundle never does. A `.pt2` is read
without unpickling (`torch_export.load_program`) and without running anything of the file's.

Both are traced with torch.fx through `torch.export` (non-strict, evaluation mode): each ATen operation
becomes a block (conv, linear, pooling, activations, normalisation, embedding, RNN/LSTM/GRU, add,
multiply, concatenate, flatten, reshape, permute), named after the module it came from (`features.0` →
`features_0`), with its weights. Whatever has no block is listed by name with the reason.
"""

from __future__ import annotations

import ast
import contextlib
import importlib.util
import math
import os
import re
import sys
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from layerloom.core.errors import LayerloomError

TOLERANCE = 1e-4
EXAMPLE_BATCH = 3


class ModelImportError(LayerloomError):
    """A model that cannot be imported; the message says why."""


class ImportRefused(ModelImportError):
    """The user did not confirm running the file's code."""


@dataclass
class ImportResult:
    project: Any
    state: dict
    unsupported: list[str] = field(default_factory=list)
    difference: float | None = None  # None when the graph could not be compared (unsupported layers)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.unsupported and self.difference is not None and self.difference <= TOLERANCE

    def message(self) -> str:
        n = sum(1 for node in self.project.graph if node.type not in ("Input", "Output"))
        lines = [f"Imported {n} block{'s' if n != 1 else ''}."]
        if self.unsupported:
            lines.append(f"{len(self.unsupported)} layer(s) have no Layerloom block and were left out (their "
                         "places are left unconnected):")
            lines += [f"  - {u}" for u in self.unsupported]
        if self.difference is not None:
            verdict = "matches" if self.difference <= TOLERANCE else "does NOT match"
            lines.append(f"The graph {verdict} the original model: largest difference {self.difference:.2g}.")
        lines += self.notes
        return "\n".join(lines)


# --- reading a file without running it ----------------------------------------------------------------------


def list_module_classes(path: str | os.PathLike) -> list[str]:
    """The classes a Python file defines that derive from a torch Module (read as text, never run)."""
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read(), path)
    except (OSError, UnicodeDecodeError, SyntaxError, ValueError) as err:
        raise ModelImportError(f"{path}: cannot be read as Python ({err})") from None
    found = []
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            bases = [ast.unparse(b) for b in node.bases]
            if any(re.search(r"(^|\.)(Module|Sequential)$", b) for b in bases):
                found.append(node.name)
    return found


def _confirmed(confirm, path: str) -> bool:
    if callable(confirm):
        return bool(confirm(path))
    return confirm is True


# --- the two entry points ------------------------------------------------------------------------------------


def import_python_model(path: str | os.PathLike, class_name: str, *, confirm: bool | Callable[[str], bool] = False,
                        input_shapes, input_dtypes=None, init_kwargs: dict | None = None,
                        name: str | None = None) -> ImportResult:
    """Import `class_name` from the Python file `path`, built with `init_kwargs` and traced on random inputs
    of `input_shapes` (one per forward argument, batch left out; `input_dtypes` "float32" or "int64").

    The file's code runs: ImportRefused unless `confirm` is True or returns True for the path."""
    import torch

    path = os.path.abspath(os.fspath(path))
    if not os.path.isfile(path):
        raise ModelImportError(f"{path}: the file does not exist")
    if not _confirmed(confirm, path):
        raise ImportRefused(f"{path}: importing a Python file runs its code; it was not confirmed, so nothing was "
                            "run")
    shapes = [tuple(int(s) for s in shape) for shape in input_shapes]
    dtypes = list(input_dtypes or ["float32"] * len(shapes))
    if len(dtypes) != len(shapes) or any(d not in ("float32", "int64") for d in dtypes):
        raise ModelImportError("give one dtype per input, float32 or int64")
    module = _load_file(path)
    cls = getattr(module, class_name, None)
    if cls is None:
        raise ModelImportError(f"{path}: defines no class {class_name!r}")
    if not (isinstance(cls, type) and issubclass(cls, torch.nn.Module)):
        raise ModelImportError(f"{path}: {class_name} is not a torch.nn.Module")
    try:
        model = cls(**(init_kwargs or {})).eval()
    except Exception as err:
        raise ModelImportError(f"{class_name}() failed: {type(err).__name__}: {err}") from None
    gen = torch.Generator().manual_seed(0)
    inputs = tuple(torch.randint(0, 2, (EXAMPLE_BATCH, *s), generator=gen) if d == "int64"
                   else torch.randn((EXAMPLE_BATCH, *s), generator=gen) for s, d in zip(shapes, dtypes))
    if any(d == "int64" for d in dtypes):
        inputs = _token_inputs(model, inputs, dtypes)
    try:
        with torch.no_grad():
            model(*inputs)
    except Exception as err:
        raise ModelImportError(f"{class_name} does not run on inputs of {_shapes_text(shapes)}: "
                               f"{type(err).__name__}: {err}") from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.export.export(model, inputs, strict=False)
    except Exception as err:
        raise ModelImportError(f"{class_name} cannot be traced: {type(err).__name__}: {str(err).splitlines()[0]}") \
            from None
    return _convert(program, model, inputs, name or class_name)


def import_program(path: str | os.PathLike, *, name: str | None = None) -> ImportResult:
    """Import a `torch.export` `.pt2` program (read without unpickling; nothing of the file runs)."""
    import torch

    from layerloom.core.export.base import ExportError
    from layerloom.core.export.torch_export import load_program

    path = os.fspath(path)
    try:
        program = load_program(path)
    except ExportError as err:
        raise ModelImportError(str(err)) from None
    gen = torch.Generator().manual_seed(0)
    inputs = []
    nodes = {n.name: n for n in program.graph.nodes if n.op == "placeholder"}
    for user in program.graph_signature.user_inputs:
        val = nodes[user].meta.get("val")
        if val is None:
            raise ModelImportError(f"{path}: the program does not say the shape of its input {user!r}")
        shape = [EXAMPLE_BATCH if i == 0 and not isinstance(s, int) else _concrete(s) for i, s in enumerate(val.shape)]
        if val.dtype in (torch.int64, torch.int32):
            inputs.append(torch.randint(0, 2, shape, generator=gen, dtype=val.dtype))
        else:
            inputs.append(torch.randn(shape, generator=gen, dtype=val.dtype))
    reference = program.module()
    base = name or os.path.splitext(os.path.basename(path))[0]
    return _convert(program, reference, tuple(inputs), base)


def _concrete(s) -> int:
    """A size as a number, without guarding on it (int() of a symbolic size would fix it for good)."""
    if isinstance(s, int):
        return s
    from torch.fx.experimental.symbolic_shapes import is_concrete_int

    if is_concrete_int(s):
        return int(s)
    hint = getattr(getattr(s, "node", None), "hint", None)
    return int(hint) if hint is not None else EXAMPLE_BATCH


def _shapes_text(shapes) -> str:
    return ", ".join("×".join(map(str, s)) for s in shapes)


def _load_file(path: str):
    """Import a Python file under a private module name, with its folder on sys.path while it imports."""
    name = f"layerloom_user_model_{uuid.uuid4().hex[:8]}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ModelImportError(f"{path}: cannot be imported as a Python file")
    module = importlib.util.module_from_spec(spec)
    folder = os.path.dirname(path)
    sys.path.insert(0, folder)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as err:
        sys.modules.pop(name, None)
        raise ModelImportError(f"{path}: importing it failed: {type(err).__name__}: {err}") from None
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(folder)
    return module


def _token_inputs(model, inputs, dtypes):
    """Token ids below the smallest Embedding's vocabulary."""
    import torch

    vocab = min((m.num_embeddings for m in model.modules() if isinstance(m, torch.nn.Embedding)), default=2)
    gen = torch.Generator().manual_seed(1)
    return tuple(torch.randint(0, vocab, x.shape, generator=gen) if d == "int64" else x
                 for x, d in zip(inputs, dtypes))


# --- the conversion ---------------------------------------------------------------------------------------


@dataclass
class _Value:
    kind: str  # "block", "unsupported", "zeros", "tuple"
    node_id: str | None = None
    label: str = ""
    items: dict = field(default_factory=dict)  # for "tuple": index → _Value


class _Unsupported(Exception):
    pass


# module class (last part of its type name) → the block type it is the main operation of
_MODULE_BLOCKS = {
    "Conv1d": "Conv1d", "Conv2d": "Conv2d", "ConvTranspose2d": "ConvTranspose2d", "Linear": "Dense",
    "MaxPool1d": "MaxPool1d", "MaxPool2d": "MaxPool2d", "AvgPool1d": "AvgPool1d", "AvgPool2d": "AvgPool2d",
    "AdaptiveAvgPool2d": "AdaptiveAvgPool2d", "BatchNorm1d": "BatchNorm", "BatchNorm2d": "BatchNorm",
    "LayerNorm": "LayerNorm", "Dropout": "Dropout", "Embedding": "Embedding", "ReLU": "ReLU",
    "LeakyReLU": "LeakyReLU", "ELU": "ELU", "GELU": "GELU", "Tanh": "Tanh", "Sigmoid": "Sigmoid",
    "Softmax": "Softmax", "RNN": "RNN", "LSTM": "LSTM", "GRU": "GRU", "Flatten": "Flatten",
}


class _Converter:
    def __init__(self, program, name: str):
        from layerloom.core.graph import Graph
        from layerloom.core.project import Project

        self.program = program
        self.gm = program.module()
        self.graph = Graph()
        self.project = Project(self.graph, meta={"name": name, "description": f"Imported from PyTorch ({name})"})
        self.state: dict = {}
        self.values: dict = {}
        self.unsupported: list[str] = []
        self.notes: list[str] = []
        self.batch = EXAMPLE_BATCH
        self.outputs: list = []

    # --- helpers ---

    def tensor(self, node):
        """The tensor behind a get_attr node (a weight or buffer)."""
        if node is None:
            return None
        if getattr(node, "op", None) != "get_attr":
            raise _Unsupported("takes weights computed in forward (Layerloom blocks hold their own weights)")
        obj = self.gm
        for part in node.target.split("."):
            obj = getattr(obj, part)
        return obj.detach()

    def shape(self, node) -> tuple:
        val = node.meta.get("val")
        if val is None or not hasattr(val, "shape"):
            raise _Unsupported("has no known shape")
        return tuple(_concrete(s) for s in val.shape)

    def where(self, node) -> tuple[str, str]:
        """(module path, module class name) the node came from; ("", "") at the top level."""
        stack = node.meta.get("nn_module_stack") or {}
        if not stack:
            return "", ""
        path, type_name = list(stack.values())[-1]
        type_name = type_name if isinstance(type_name, str) else getattr(type_name, "__name__", str(type_name))
        path = re.sub(r"^L\['self'\]\.?", "", str(path))
        return path, type_name.rsplit(".", 1)[-1]

    def label(self, node) -> str:
        path, cls = self.where(node)
        op = _op_name(node)
        if path:
            return f"{path} ({cls}, {op})" if _MODULE_BLOCKS.get(cls) is None else f"{path} ({cls})"
        return f"{node.name} (aten.{op} in forward)"

    def block_name(self, node, type_id: str) -> str:
        from layerloom.core.blocks import get_spec

        base = get_spec(type_id).name_base
        path, cls = self.where(node)
        if path:
            name = re.sub(r"[^A-Za-z0-9_]", "_", path)
            if _MODULE_BLOCKS.get(cls) != type_id:
                name = f"{name}_{base}"
            if not name[0].isalpha():
                name = f"layer_{name}"
            name = name[:60]
            if self.graph.check_name(name) is None:
                return name
            return self.graph.unique_name(name)
        return self.graph.unique_name(base)

    def add(self, node, type_id: str, params: dict, inputs: list, weights: dict | None = None) -> _Value:
        name = self.block_name(node, type_id)
        nid = self.graph.add(type_id, name=name, **params)
        for src in inputs:
            value = self.value(src)
            if value.kind == "block":
                self.graph.connect(value.node_id, nid)
        for key, t in (weights or {}).items():
            self.state[f"{name}.{key}"] = t.detach().clone().contiguous()
        return _Value("block", nid, name)

    def value(self, node) -> _Value:
        v = self.values.get(node)
        if v is None:
            return _Value("unsupported", label=str(node))
        return v

    def block_input(self, node) -> _Value:
        v = self.value(node)
        if v.kind == "zeros":
            raise _Unsupported("uses a tensor of zeros made inside forward")
        if v.kind == "tuple":
            raise _Unsupported("uses a whole tuple of results")
        return v

    # --- the walk ---

    def run(self):
        self.gm.graph.eliminate_dead_code()  # unused results (`out, _ = self.lstm(x)`) need no block
        for node in self.gm.graph.nodes:
            if node.op == "placeholder":
                self.placeholder(node)
            elif node.op == "get_attr":
                continue
            elif node.op == "call_module":
                continue  # _guards_fn: export's input checks
            elif node.op == "call_function":
                try:
                    self.values[node] = self.call(node)
                except _Unsupported as why:
                    self.values[node] = _Value("unsupported", label=self.label(node))
                    self.unsupported.append(f"{self.label(node)}: {why}")
            elif node.op == "output":
                self.output(node)
        self.finish()

    def placeholder(self, node):
        import torch

        val = node.meta.get("val")
        shape = self.shape(node)
        self.batch = shape[0] if shape else self.batch
        dtype = "int64" if val is not None and val.dtype in (torch.int64, torch.int32) else "float32"
        if not shape[1:]:
            raise ModelImportError(f"the input {node.name!r} has no dimension besides the batch; Layerloom inputs "
                                   "have at least one")
        nid = self.graph.add("Input", name=self.graph.unique_name("input"), shape=list(shape[1:]), dtype=dtype)
        self.values[node] = _Value("block", nid, node.name)

    def output(self, node):
        results = node.args[0]
        results = list(results) if isinstance(results, list | tuple) else [results]
        for r in results:
            shape = self.shape(r) if hasattr(r, "meta") else ()
            loss = "cross_entropy" if len(shape) == 2 and shape[1] >= 2 else "mse"
            nid = self.graph.add("Output", name=self.graph.unique_name("output"), loss=loss)
            v = self.value(r)
            if v.kind == "block":
                self.graph.connect(v.node_id, nid)
            self.outputs.append(nid)

    def finish(self):
        from layerloom.core.layout import layered_positions

        with contextlib.suppress(Exception):
            for nid, pos in layered_positions(self.graph).items():
                self.graph.move(nid, pos)

    # --- operations ---

    def call(self, node) -> _Value:
        import operator

        target = node.target
        if target is operator.getitem:
            return self.getitem(node)
        op = _op_name(node)
        handler = getattr(self, f"op_{op}", None)
        if handler is None:
            raise _Unsupported(f"has no Layerloom block (aten.{op})")
        return handler(node, *node.args, **node.kwargs)

    def getitem(self, node) -> _Value:
        src, index = node.args
        v = self.value(src)
        if v.kind == "tuple":
            item = v.items.get(index)
            if item is None:
                raise _Unsupported(v.label or "uses a result Layerloom does not keep")
            if isinstance(item, str):  # a reason: that part of the result is not supported
                raise _Unsupported(item)
            return item
        raise _Unsupported("indexes into a value")

    def _alias(self, x) -> _Value:
        return self.block_input(x)

    # pass-through operations
    def op_contiguous(self, node, x, *a, **k):
        return self._alias(x)

    op_clone = op_alias = op_detach = op_lift_fresh_copy = op_contiguous

    def op_zeros(self, node, *a, **k):
        return _Value("zeros")

    op_new_zeros = op_zeros

    def op__assert_tensor_metadata(self, node, *a, **k):
        return _Value("unsupported", label="an assertion")

    op_sym_size = op__assert_scalar = op__assert_tensor_metadata

    # convolutions
    def _conv(self, node, n, x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
        w = self.tensor(weight)
        b = self.tensor(bias)
        params = {"out_channels": int(w.shape[0]), "kernel_size": _size(list(w.shape[2:])),
                  "stride": _size(stride, n), "padding": padding if isinstance(padding, str) else _size(padding, n),
                  "dilation": _size(dilation, n), "groups": int(groups), "bias": b is not None}
        weights = {"weight": w, **({"bias": b} if b is not None else {})}
        return self.add(node, f"Conv{n}d", params, [x], weights)

    def op_conv1d(self, node, x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
        self.block_input(x)
        return self._conv(node, 1, x, weight, bias, stride, padding, dilation, groups)

    def op_conv2d(self, node, x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
        self.block_input(x)
        return self._conv(node, 2, x, weight, bias, stride, padding, dilation, groups)

    def op_conv_transpose2d(self, node, x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                            dilation=1):
        import torch

        if groups != 1 or _size(dilation, 2) != 1:
            raise _Unsupported("uses groups or dilation, which Layerloom's ConvTranspose2d does not have")
        w = self.tensor(weight)
        b = self.tensor(bias)
        if b is None:  # a transposed convolution without bias is one with a zero bias
            b = torch.zeros(w.shape[1], dtype=w.dtype)
        params = {"out_channels": int(w.shape[1]), "kernel_size": _size(list(w.shape[2:])),
                  "stride": _size(stride, 2), "padding": _size(padding, 2),
                  "output_padding": _size(output_padding, 2)}
        return self.add(node, "ConvTranspose2d", params, [x], {"weight": w, "bias": b})

    # dense and embedding
    def op_linear(self, node, x, weight, bias=None):
        self.block_input(x)
        if len(self.shape(x)) - 1 > 2:
            raise _Unsupported("is applied to a tensor of more than 2 dimensions per sample; flatten it first")
        w, b = self.tensor(weight), self.tensor(bias)
        weights = {"weight": w, **({"bias": b} if b is not None else {})}
        return self.add(node, "Dense", {"out_features": int(w.shape[0]), "bias": b is not None}, [x], weights)

    def op_embedding(self, node, weight, indices, padding_idx=-1, scale_grad_by_freq=False, sparse=False):
        self.block_input(indices)
        w = self.tensor(weight)
        if padding_idx not in (-1, None):
            self.notes.append(f"{self.label(node)}: padding_idx={padding_idx} only changes training; imported "
                              "without it")
        return self.add(node, "Embedding", {"num_embeddings": int(w.shape[0]), "embedding_dim": int(w.shape[1])},
                        [indices], {"weight": w})

    # pooling
    def _pool(self, node, kind, n, x, kernel, stride=(), padding=0):
        self.block_input(x)
        stride = None if stride in ((), [], None) or _size(stride, n) == _size(kernel, n) else _size(stride, n)
        return self.add(node, f"{kind}Pool{n}d", {"kernel_size": _size(kernel, n), "stride": stride,
                                                   "padding": _size(padding, n)}, [x])

    def op_max_pool2d(self, node, x, kernel, stride=(), padding=0, dilation=1, ceil_mode=False):
        if _size(dilation, 2) != 1 or ceil_mode:
            raise _Unsupported("uses dilation or ceil_mode, which Layerloom's pooling does not have")
        return self._pool(node, "Max", 2, x, kernel, stride, padding)

    def op_max_pool1d(self, node, x, kernel, stride=(), padding=0, dilation=1, ceil_mode=False):
        if _size(dilation, 1) != 1 or ceil_mode:
            raise _Unsupported("uses dilation or ceil_mode, which Layerloom's pooling does not have")
        return self._pool(node, "Max", 1, x, kernel, stride, padding)

    def op_avg_pool2d(self, node, x, kernel, stride=(), padding=0, ceil_mode=False, count_include_pad=True,
                      divisor_override=None):
        if ceil_mode or not count_include_pad or divisor_override is not None:
            raise _Unsupported("uses ceil_mode, count_include_pad=False or divisor_override")
        return self._pool(node, "Avg", 2, x, kernel, stride, padding)

    def op_avg_pool1d(self, node, x, kernel, stride=(), padding=0, ceil_mode=False, count_include_pad=True):
        if ceil_mode or not count_include_pad:
            raise _Unsupported("uses ceil_mode or count_include_pad=False")
        return self._pool(node, "Avg", 1, x, kernel, stride, padding)

    def op_adaptive_avg_pool2d(self, node, x, output_size):
        self.block_input(x)
        return self.add(node, "AdaptiveAvgPool2d", {"output_size": _size(output_size, 2)}, [x])

    def op_mean(self, node, x, dims=None, keepdim=False, dtype=None):
        self.block_input(x)
        rank = len(self.shape(x))
        dims = sorted(d % rank for d in (dims if isinstance(dims, list | tuple) else [dims]))
        if keepdim or rank < 3 or dims != list(range(2, rank)):
            raise _Unsupported("takes a mean Layerloom has no block for (GlobalAvgPool averages all positions)")
        return self.add(node, "GlobalAvgPool", {}, [x])

    # activations
    def _act(self, node, type_id, x, **params):
        self.block_input(x)
        return self.add(node, type_id, params, [x])

    def op_relu(self, node, x):
        return self._act(node, "ReLU", x)

    op_relu_ = op_relu

    def op_tanh(self, node, x):
        return self._act(node, "Tanh", x)

    def op_sigmoid(self, node, x):
        return self._act(node, "Sigmoid", x)

    def op_leaky_relu(self, node, x, negative_slope=0.01):
        return self._act(node, "LeakyReLU", x, negative_slope=float(negative_slope))

    op_leaky_relu_ = op_leaky_relu

    def op_elu(self, node, x, alpha=1.0, scale=1, input_scale=1):
        if scale != 1 or input_scale != 1:
            raise _Unsupported("is a scaled ELU (SELU), which has no block")
        return self._act(node, "ELU", x, alpha=float(alpha))

    def op_gelu(self, node, x, approximate="none"):
        return self._act(node, "GELU", x, approximate=approximate)

    def op_softmax(self, node, x, dim, *rest, **kw):
        return self._act(node, "Softmax", x, dim=int(dim))

    op__softmax = op_softmax

    def op_dropout(self, node, x, p=0.5, train=False):
        return self._act(node, "Dropout", x, p=float(p))

    # normalisation
    def op_batch_norm(self, node, x, weight, bias, running_mean, running_var, training=False, momentum=0.1,
                      eps=1e-5, cudnn_enabled=False):
        return self._batch_norm(node, x, weight, bias, running_mean, running_var, eps)

    def op__native_batch_norm_legit_no_training(self, node, x, weight, bias, running_mean, running_var, momentum,
                                                eps):
        v = self._batch_norm(node, x, weight, bias, running_mean, running_var, eps)
        return _Value("tuple", items={0: v, 1: "uses BatchNorm's saved statistics", 2: "uses BatchNorm's statistics"})

    def _batch_norm(self, node, x, weight, bias, running_mean, running_var, eps):
        import torch

        self.block_input(x)
        if running_mean is None or running_var is None:
            raise _Unsupported("is a BatchNorm without running statistics (track_running_stats=False)")
        if not math.isclose(float(eps), 1e-5, rel_tol=1e-3):
            raise _Unsupported(f"is a BatchNorm with eps={eps:g}; Layerloom's BatchNorm uses 1e-05")
        rank = len(self.shape(x)) - 1
        if rank not in (1, 2, 3):
            raise _Unsupported("normalises a tensor of a rank BatchNorm does not take")
        mean, var = self.tensor(running_mean), self.tensor(running_var)
        w = self.tensor(weight) if weight is not None else torch.ones_like(mean)
        b = self.tensor(bias) if bias is not None else torch.zeros_like(mean)
        tracked = torch.tensor(0, dtype=torch.long)
        if getattr(running_mean, "op", None) == "get_attr":
            prefix = running_mean.target.rsplit(".", 1)[0]
            with contextlib.suppress(AttributeError):
                tracked = self.gm.get_buffer(f"{prefix}.num_batches_tracked").detach()
        return self.add(node, "BatchNorm", {}, [x], {"weight": w, "bias": b, "running_mean": mean,
                                                     "running_var": var, "num_batches_tracked": tracked})

    def op_layer_norm(self, node, x, normalized_shape, weight=None, bias=None, eps=1e-5, cudnn_enable=True):
        import torch

        self.block_input(x)
        last = self.shape(x)[-1]
        if list(normalized_shape) != [last]:
            raise _Unsupported("normalises over more than the last dimension; Layerloom's LayerNorm takes the last")
        if not math.isclose(float(eps), 1e-5, rel_tol=1e-3):
            raise _Unsupported(f"is a LayerNorm with eps={eps:g}; Layerloom's LayerNorm uses 1e-05")
        w = self.tensor(weight) if weight is not None else torch.ones(last)
        b = self.tensor(bias) if bias is not None else torch.zeros(last)
        return self.add(node, "LayerNorm", {}, [x], {"weight": w, "bias": b})

    # recurrent layers
    def _recurrent(self, node, kind, x, hx, params, has_biases, num_layers, dropout, train, bidirectional,
                   batch_first):
        import torch

        self.block_input(x)
        hxs = hx if isinstance(hx, list | tuple) else [hx]
        if any(self.value(h).kind != "zeros" for h in hxs):
            raise _Unsupported("starts from a given hidden state; Layerloom's recurrent blocks start from zeros")
        if not batch_first:
            raise _Unsupported("is not batch_first; Layerloom's recurrent blocks take batch × time × features "
                               "(use batch_first=True)")
        tensors = [self.tensor(p) for p in params]
        dirs = 2 if bidirectional else 1
        per = 4 if has_biases else 2
        if len(tensors) != per * dirs * num_layers:
            raise _Unsupported("has a layout of weights Layerloom does not know (proj_size?)")
        gates = {"LSTM": 4, "GRU": 3, "RNN": 1}[kind]
        hidden = int(tensors[1].shape[1])
        weights = {}
        i = 0
        for layer in range(num_layers):
            for d in range(dirs):
                suffix = f"l{layer}" + ("_reverse" if d else "")
                w_ih, w_hh = tensors[i], tensors[i + 1]
                b_ih = tensors[i + 2] if has_biases else torch.zeros(gates * hidden, dtype=w_ih.dtype)
                b_hh = tensors[i + 3] if has_biases else torch.zeros(gates * hidden, dtype=w_ih.dtype)
                i += per
                weights.update({f"weight_ih_{suffix}": w_ih, f"weight_hh_{suffix}": w_hh, f"bias_ih_{suffix}": b_ih,
                                f"bias_hh_{suffix}": b_hh})
        params_ = {"hidden_size": hidden, "num_layers": int(num_layers), "bidirectional": bool(bidirectional),
                   "dropout": float(dropout), "return_sequences": True}
        v = self.add(node, kind, params_, [x], weights)
        hidden_why = (f"uses the final hidden state of {v.label}; Layerloom's {kind} block gives the output "
                      "sequence or its last step")
        return _Value("tuple", items={0: v, 1: hidden_why, 2: hidden_why}, label=v.label)

    def op_lstm(self, node, x, hx, params, has_biases, num_layers, dropout, train, bidirectional, batch_first):
        return self._recurrent(node, "LSTM", x, hx, params, has_biases, num_layers, dropout, train, bidirectional,
                               batch_first)

    def op_gru(self, node, x, hx, params, has_biases, num_layers, dropout, train, bidirectional, batch_first):
        return self._recurrent(node, "GRU", x, [hx], params, has_biases, num_layers, dropout, train, bidirectional,
                               batch_first)

    def op_rnn_tanh(self, node, x, hx, params, has_biases, num_layers, dropout, train, bidirectional, batch_first):
        return self._recurrent(node, "RNN", x, [hx], params, has_biases, num_layers, dropout, train, bidirectional,
                               batch_first)

    def op_select(self, node, x, dim, index):
        """`out[:, -1]` after a recurrent block: its last step (the block's return_sequences off)."""
        v = self.block_input(x)
        rank = len(self.shape(x))
        block = self.graph.node(v.node_id) if v.kind == "block" else None
        if (block is not None and block.type in ("RNN", "LSTM", "GRU") and dim % rank == 1
                and index in (-1, self.shape(x)[1] - 1) and not block.params["bidirectional"]
                and block.params["return_sequences"] and len(x.users) == 1):
            self.graph.set_params(block.id, return_sequences=False)
            return v
        raise _Unsupported("picks one position of a tensor; Layerloom has no block for that (the last step of a "
                           "one-directional recurrent block is supported)")

    def op_slice(self, node, x, dim=0, start=None, end=None, step=1):
        v = self.block_input(x)
        size = self.shape(x)[dim]
        if (start in (None, 0)) and (end is None or end >= size) and step == 1:
            return v
        raise _Unsupported("takes a slice of a tensor; Layerloom has no block for that")

    # shapes
    def op_flatten(self, node, x, start_dim=0, end_dim=-1):
        self.block_input(x)
        rank = len(self.shape(x))
        if start_dim == 1 and end_dim % rank == rank - 1:
            return self.add(node, "Flatten", {}, [x])
        return self._reshape(node, x)

    def op_view(self, node, x, *a, **k):
        return self._reshape(node, x)

    op_reshape = op__unsafe_view = op_view

    def _reshape(self, node, x):
        self.block_input(x)
        before, after = self.shape(x), self.shape(node)
        if not after or after[0] != before[0]:
            raise _Unsupported("reshapes across the batch dimension")
        if len(after) == 2 and len(before) > 2:
            return self.add(node, "Flatten", {}, [x])
        return self.add(node, "Reshape", {"shape": list(after[1:])}, [x])

    def op_permute(self, node, x, dims):
        self.block_input(x)
        rank = len(self.shape(x))
        dims = [d % rank for d in dims]
        if dims[0] != 0:
            raise _Unsupported("moves the batch dimension")
        return self.add(node, "Permute", {"dims": dims}, [x])

    def op_transpose(self, node, x, d0, d1):
        self.block_input(x)
        rank = len(self.shape(x))
        d0, d1 = d0 % rank, d1 % rank
        if 0 in (d0, d1):
            raise _Unsupported("moves the batch dimension")
        dims = list(range(rank))
        dims[d0], dims[d1] = dims[d1], dims[d0]
        return self.add(node, "Permute", {"dims": dims}, [x])

    # merges
    def _merge(self, node, type_id, a, b, alpha=1):
        if not (hasattr(a, "op") and hasattr(b, "op")):
            raise _Unsupported("combines a tensor with a constant; Layerloom has no block for that")
        if alpha != 1:
            raise _Unsupported("adds with a factor (alpha)")
        self.block_input(a)
        self.block_input(b)
        if a is b:
            raise _Unsupported("combines a tensor with itself")
        return self.add(node, type_id, {}, [a, b])

    def op_add(self, node, a, b, alpha=1):
        return self._merge(node, "Add", a, b, alpha)

    op_add_ = op_add

    def op_mul(self, node, a, b):
        return self._merge(node, "Multiply", a, b)

    def op_cat(self, node, tensors, dim=0):
        for t in tensors:
            self.block_input(t)
        if len(tensors) < 2 or len(set(tensors)) != len(tensors):
            raise _Unsupported("concatenates fewer than two different tensors")
        if dim % len(self.shape(tensors[0])) == 0:
            raise _Unsupported("concatenates along the batch dimension")
        return self.add(node, "Concat", {"dim": int(dim)}, list(tensors))


def _op_name(node) -> str:
    target = node.target
    packet = getattr(target, "overloadpacket", None)
    if packet is not None:
        return packet.__name__
    return getattr(target, "__name__", str(target))


def _size(value, n: int = 0):
    """A size as Layerloom's parameters keep it: one int when every entry is equal, else a list."""
    if isinstance(value, list | tuple):
        values = [int(v) for v in value]
        if not values:
            return 1
        if len(set(values)) == 1:
            return values[0]
        return values
    return int(value)


def _convert(program, reference, inputs, name: str) -> ImportResult:
    from layerloom.core.compiler import build_model
    from layerloom.core.export.parity import max_difference, run_model
    from layerloom.core.export.weights import apply_weights
    from layerloom.core.inference import infer

    conv = _Converter(program, name)
    try:
        conv.run()
    except ModelImportError:
        raise
    except Exception as err:  # a graph Layerloom refuses (a shape rule, a name): say which
        raise ModelImportError(f"the model cannot be turned into a graph: {err}") from None
    result = ImportResult(conv.project, conv.state, conv.unsupported, None, conv.notes)
    report = infer(conv.graph)
    if conv.unsupported:
        return result
    if report.errors:
        result.notes += [f"the graph has a problem: {p.message}" for p in report.errors]
        return result
    model = build_model(conv.graph, seed=0)
    fit = apply_weights(model, conv.state)
    if not fit.ok:
        result.notes += fit.messages()
    model.eval()
    try:
        result.difference = max_difference(run_model(reference, inputs), run_model(model, inputs),
                                           "the imported graph")
    except LayerloomError as err:
        result.notes.append(str(err))
    return result
