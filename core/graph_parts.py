"""The parts a graph document is made of: its blocks (`Node`), their connections (`Edge`) and the change
events a Graph announces (`GraphEvent`, one of EVENT_KINDS). They hold data only; the Graph in
core/graph.py checks and makes every change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from layerloom.core.blocks import get_spec
from layerloom.core.blocks.spec import BlockSpec

EVENT_KINDS = (
    "node_added",
    "node_removed",
    "edge_added",
    "edge_removed",
    "params_changed",
    "node_renamed",
    "node_moved",
    "nodes_moved",  # several blocks at once (Graph.move_many): old/new map id → position, `node` is None
    "frozen_changed",
)


@dataclass
class Node:
    """One block in the graph. Change it through the Graph, never directly."""

    id: str
    type: str
    name: str
    params: dict[str, Any]
    pos: tuple[float, float] = (0.0, 0.0)
    frozen: bool = False  # a frozen block keeps its weights while the rest of the network trains

    @property
    def spec(self) -> BlockSpec:
        return get_spec(self.type)

    def label(self) -> str:
        """`Conv2d 'conv2d_1'`, the way messages name a block."""
        return f"{self.type} '{self.name}'"


@dataclass(frozen=True)
class Edge:
    """A connection from an output port to an input port."""

    src: str
    src_port: str
    dst: str
    dst_port: str

    def to_dict(self) -> dict:
        return {"src": {"node": self.src, "port": self.src_port}, "dst": {"node": self.dst, "port": self.dst_port}}


@dataclass(frozen=True)
class GraphEvent:
    """A change that happened: `kind` is one of EVENT_KINDS; old/new carry what changed."""

    kind: str
    node: str | None = None
    edge: Edge | None = None
    old: Any = None
    new: Any = None
