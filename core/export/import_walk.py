"""The walk that turns a traced `torch.export` program into a Layerloom graph: every node of the program in
order, inputs and outputs, each result's `Value`, blocks named after the module they came from
(`features.0` → `features_0`) with their weights. The table of operations it dispatches to is
`core/export/import_ops.py`; the front door is `core/export/importer.py`.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field

from layerloom.core.export.base import ModelImportError

EXAMPLE_BATCH = 3  # the batch of the random inputs a model is traced and compared on


@dataclass
class Value:
    """What a node of the program became: a block ("block", its id and name), a part Layerloom has no block
    for ("unsupported"), a tensor of zeros made in forward ("zeros"), or a tuple of those ("tuple")."""

    kind: str  # "block", "unsupported", "zeros", "tuple"
    node_id: str | None = None
    label: str = ""
    items: dict = field(default_factory=dict)  # for "tuple": index → Value


class Unsupported(Exception):
    """A node that has no block; its message says why, in words that follow its label."""


# module class (last part of its type name) → the block type it is the main operation of
MODULE_BLOCKS = {
    "Conv1d": "Conv1d", "Conv2d": "Conv2d", "ConvTranspose2d": "ConvTranspose2d", "Linear": "Dense",
    "MaxPool1d": "MaxPool1d", "MaxPool2d": "MaxPool2d", "AvgPool1d": "AvgPool1d", "AvgPool2d": "AvgPool2d",
    "AdaptiveAvgPool2d": "AdaptiveAvgPool2d", "BatchNorm1d": "BatchNorm", "BatchNorm2d": "BatchNorm",
    "LayerNorm": "LayerNorm", "Dropout": "Dropout", "Embedding": "Embedding", "ReLU": "ReLU",
    "LeakyReLU": "LeakyReLU", "ELU": "ELU", "GELU": "GELU", "Tanh": "Tanh", "Sigmoid": "Sigmoid",
    "Softmax": "Softmax", "RNN": "RNN", "LSTM": "LSTM", "GRU": "GRU", "Flatten": "Flatten",
}


class Walk:
    """Build a graph from a traced program, node by node. The operations are methods `op_<aten name>(node,
    *args, **kwargs)` returning a `Value`, given by a subclass (`import_ops.Converter`); one raising
    `Unsupported` leaves its node out, named in `unsupported` with the reason."""

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
        self.outputs: list = []

    # --- helpers ---

    def tensor(self, node):
        """The tensor behind a get_attr node (a weight or buffer)."""
        if node is None:
            return None
        if getattr(node, "op", None) != "get_attr":
            raise Unsupported("takes weights computed in forward (Layerloom blocks hold their own weights)")
        obj = self.gm
        for part in node.target.split("."):
            obj = getattr(obj, part)
        return obj.detach()

    def shape(self, node) -> tuple:
        val = node.meta.get("val")
        if val is None or not hasattr(val, "shape"):
            raise Unsupported("has no known shape")
        return tuple(concrete_size(s) for s in val.shape)

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
        op = op_name(node)
        if path:
            return f"{path} ({cls}, {op})" if MODULE_BLOCKS.get(cls) is None else f"{path} ({cls})"
        return f"{node.name} (aten.{op} in forward)"

    def block_name(self, node, type_id: str) -> str:
        from layerloom.core.blocks import get_spec

        base = get_spec(type_id).name_base
        path, cls = self.where(node)
        if path:
            name = re.sub(r"[^A-Za-z0-9_]", "_", path)
            if MODULE_BLOCKS.get(cls) != type_id:
                name = f"{name}_{base}"
            if not name[0].isalpha():
                name = f"layer_{name}"
            name = name[:60]
            if self.graph.check_name(name) is None:
                return name
            return self.graph.unique_name(name)
        return self.graph.unique_name(base)

    def add(self, node, type_id: str, params: dict, inputs: list, weights: dict | None = None) -> Value:
        name = self.block_name(node, type_id)
        nid = self.graph.add(type_id, name=name, **params)
        for src in inputs:
            value = self.value(src)
            if value.kind == "block":
                self.graph.connect(value.node_id, nid)
        for key, t in (weights or {}).items():
            self.state[f"{name}.{key}"] = t.detach().clone().contiguous()
        return Value("block", nid, name)

    def value(self, node) -> Value:
        v = self.values.get(node)
        if v is None:
            return Value("unsupported", label=str(node))
        return v

    def block_input(self, node) -> Value:
        v = self.value(node)
        if v.kind == "zeros":
            raise Unsupported("uses a tensor of zeros made inside forward")
        if v.kind == "tuple":
            raise Unsupported("uses a whole tuple of results")
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
                except Unsupported as why:
                    self.values[node] = Value("unsupported", label=self.label(node))
                    self.unsupported.append(f"{self.label(node)}: {why}")
            elif node.op == "output":
                self.output(node)
        self.finish()

    def placeholder(self, node):
        import torch

        val = node.meta.get("val")
        shape = self.shape(node)
        dtype = "int64" if val is not None and val.dtype in (torch.int64, torch.int32) else "float32"
        if not shape[1:]:
            raise ModelImportError(f"the input {node.name!r} has no dimension besides the batch; Layerloom inputs "
                                   "have at least one")
        nid = self.graph.add("Input", name=self.graph.unique_name("input"), shape=list(shape[1:]), dtype=dtype)
        self.values[node] = Value("block", nid, node.name)

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

    # --- dispatch to the operations ---

    def call(self, node) -> Value:
        import operator

        target = node.target
        if target is operator.getitem:
            return self.getitem(node)
        op = op_name(node)
        handler = getattr(self, f"op_{op}", None)
        if handler is None:
            raise Unsupported(f"has no Layerloom block (aten.{op})")
        return handler(node, *node.args, **node.kwargs)

    def getitem(self, node) -> Value:
        src, index = node.args
        v = self.value(src)
        if v.kind == "tuple":
            item = v.items.get(index)
            if item is None:
                raise Unsupported(v.label or "uses a result Layerloom does not keep")
            if isinstance(item, str):  # a reason: that part of the result is not supported
                raise Unsupported(item)
            return item
        raise Unsupported("indexes into a value")


def concrete_size(s) -> int:
    """A size as a number, without guarding on it (int() of a symbolic size would fix it for good)."""
    if isinstance(s, int):
        return s
    from torch.fx.experimental.symbolic_shapes import is_concrete_int

    if is_concrete_int(s):
        return int(s)
    hint = getattr(getattr(s, "node", None), "hint", None)
    return int(hint) if hint is not None else EXAMPLE_BATCH


def op_name(node) -> str:
    """The ATen operation a call node runs, without its overload: `conv2d`, `add_`."""
    target = node.target
    packet = getattr(target, "overloadpacket", None)
    if packet is not None:
        return packet.__name__
    return getattr(target, "__name__", str(target))
