"""Graph → `torch.fx.GraphModule`: a real `nn.Module` with a generated, readable `forward`.

    model = build_model(graph)        # model(*inputs) → a tensor, or a tuple for several Outputs
    print(model.code)                 # def forward(self, input_1): conv2d_1 = self.conv2d_1(input_1) ...

Submodules and fx nodes are named after the blocks, so parameter names (`conv2d_1.weight`) are stable
across save and load, and the value of any block can be found by name in `model.graph`. Only blocks
that lead to an Output are compiled; Inputs become the forward's arguments in the order they were
added, Outputs its results in the order they were added.
"""

from __future__ import annotations

import contextlib
from typing import Any

from layerloom.core.errors import CompileError
from layerloom.core.graph import Graph
from layerloom.core.inference import infer, memory_problem


class _EmitContext:
    """What a block's `emit` uses to write itself into the fx graph."""

    def __init__(self, fx_graph, root, block_name: str, module_factory):
        self._fx = fx_graph
        self._root = root
        self._name = block_name
        self._module_factory = module_factory
        self._module_added = False

    def _node_name(self, final: bool, suffix: str | None) -> str:
        return self._name if final else f"{self._name}_{suffix or 'part'}"

    def call_module(self, args, kwargs=None, *, final: bool = True, suffix: str | None = None):
        """Call the block's own torch module (built once, registered under the block's name)."""
        if not self._module_added:
            self._root.add_module(self._name, self._module_factory())
            self._module_added = True
        return self._fx.create_node(
            "call_module", self._name, tuple(args), kwargs or {}, name=self._node_name(final, suffix)
        )

    def call_function(self, fn, args, kwargs=None, *, final: bool = True, suffix: str | None = None):
        return self._fx.create_node(
            "call_function", fn, tuple(args), kwargs or {}, name=self._node_name(final, suffix)
        )

    def call_method(self, method: str, args, kwargs=None, *, final: bool = True, suffix: str | None = None):
        return self._fx.create_node(
            "call_method", method, tuple(args), kwargs or {}, name=self._node_name(final, suffix)
        )


def _default_emit(ctx: _EmitContext, params, inputs, args):
    return ctx.call_module(args)


def build_model(graph: Graph, *, seed: int | None = None):
    """Compile `graph` into a `torch.fx.GraphModule`; CompileError lists every problem.

    With `seed`, the initial weights are the same at every call (the global RNG is left untouched).
    """
    import torch
    import torch.fx

    report = infer(graph)
    problems = [p.message for p in report.errors]
    if problems:
        raise CompileError(problems)
    memory = memory_problem(report)
    if memory is not None and _default_device(torch) != "meta":  # meta tensors take no memory
        raise CompileError([memory[1]])

    leads_to_output = _nodes_leading_to_outputs(graph)
    fx_graph = torch.fx.Graph()
    root = torch.nn.Module()
    values: dict[str, Any] = {}
    outputs = []
    input_names, output_names, block_nodes = [], [], {}
    position = {n.id: i for i, n in enumerate(graph)}  # the order blocks were added, which orders the Outputs

    rng = torch.random.fork_rng(devices=[]) if seed is not None else contextlib.nullcontext()
    with rng:
        if seed is not None:
            torch.default_generator.manual_seed(seed)  # CPU only: torch.manual_seed would reseed CUDA too
        for nid in graph.topological_order():
            node = graph.node(nid)
            if node.type in ("Input", "Noise"):  # a GAN's noise is an argument of the whole model
                values[nid] = fx_graph.placeholder(node.name)
                input_names.append(node.name)
                block_nodes[node.name] = values[nid].name
                continue
            if nid not in leads_to_output:
                continue
            args = [values[e.src] for e in graph.in_edges(nid)]
            if node.type == "Output":
                outputs.append((position[nid], node.name, args[0]))
                continue
            spec = node.spec
            in_specs = [report[e.src].output for e in graph.in_edges(nid)]
            params = dict(node.params)
            factory = (lambda s=spec, p=params, i=in_specs: s.build(p, i)) if spec.build else None
            ctx = _EmitContext(fx_graph, root, node.name, factory)
            emit = spec.emit or _default_emit
            values[nid] = emit(ctx, params, in_specs, args)
            block_nodes[node.name] = values[nid].name

    outputs.sort(key=lambda t: t[0])
    output_names = [name for _, name, _ in outputs]
    results = [value for _, _, value in outputs]
    fx_graph.output(results[0] if len(results) == 1 else tuple(results))
    fx_graph.lint()
    model = torch.fx.GraphModule(root, fx_graph, class_name="LayerloomModel")
    model.input_names = input_names
    model.output_names = output_names
    model.block_nodes = block_nodes
    return model


def _default_device(torch) -> str:
    get = getattr(torch, "get_default_device", None)
    return get().type if get is not None else "cpu"


def _nodes_leading_to_outputs(graph: Graph) -> set[str]:
    outputs = [n.id for n in graph if n.type == "Output"]
    seen = set(outputs)
    stack = list(outputs)
    while stack:
        for src in graph.predecessors(stack.pop()):
            if src not in seen:
                seen.add(src)
                stack.append(src)
    return seen


def example_inputs(graph: Graph, batch: int = 2, seed: int = 0):
    """Random inputs for the compiled model: floats from N(0, 1), token ids below each Embedding's
    vocabulary. Used by tests, benchmarks and export checks."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    tensors = []
    for node in graph:
        if node.type not in ("Input", "Noise"):
            continue
        shape = (batch, *node.params["shape"])
        if node.params.get("dtype") == "int64":
            vocab = min(  # every Embedding the ids may reach, also through Reshape, Concat...
                (graph.node(d).params["num_embeddings"] for d in graph.descendants(node.id)
                 if graph.node(d).type == "Embedding"),
                default=2,
            )
            tensors.append(torch.randint(0, vocab, shape, generator=gen))
        else:
            tensors.append(torch.randn(shape, generator=gen))
    return tuple(tensors)
