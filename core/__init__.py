"""Layerloom's core, free of Qt: the graph, its blocks, shape inference, the compiler, projects.

    from layerloom.core import Graph, infer, build_model
"""

from layerloom.core.errors import CompileError, GraphError, LayerloomError, ParamError, ProjectError
from layerloom.core.graph import Graph
from layerloom.core.graph_parts import Edge, GraphEvent, Node
from layerloom.core.inference import NodeReport, Problem, Report, infer


def build_model(graph, *, seed=None):
    """Compile `graph` into a torch.nn.Module (a torch.fx.GraphModule). Imports torch on first use."""
    from layerloom.core.compiler import build_model as _build

    return _build(graph, seed=seed)


__all__ = [
    "CompileError",
    "Edge",
    "Graph",
    "GraphError",
    "GraphEvent",
    "LayerloomError",
    "Node",
    "NodeReport",
    "ParamError",
    "Problem",
    "ProjectError",
    "Report",
    "build_model",
    "infer",
]
