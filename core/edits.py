"""Reversible edits of a Graph, free of Qt: the GUI's undo commands wrap these, so undo and redo are
tested without a window. `apply` does the edit, `revert` restores the graph exactly as it was (node
order and edge order included, since they order the model's inputs, outputs and Concat branches).

    edit = SetParams(node_id, {"kernel_size": 3})
    edit.apply(graph); edit.revert(graph)
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from layerloom.core.graph import Graph
from layerloom.core.graph_parts import Edge, Node


class Edit:
    """One reversible change. `text` says what it does, for an Undo menu."""

    text = "Edit"

    def apply(self, graph: Graph) -> None:
        raise NotImplementedError

    def revert(self, graph: Graph) -> None:
        raise NotImplementedError

    def merge(self, other: Edit) -> bool:
        """Absorb a following edit of the same kind (a run of edits to one parameter); True if merged."""
        return False


@dataclass
class AddNode(Edit):
    """Add a block. After `apply`, `node_id` holds its id (kept for redo)."""

    type_id: str
    params: dict[str, Any] = field(default_factory=dict)
    name: str | None = None
    pos: tuple[float, float] = (0.0, 0.0)
    node_id: str | None = None

    @property
    def text(self) -> str:
        return f"Add {self.type_id}"

    def apply(self, graph: Graph) -> None:
        self.node_id = graph.add(self.type_id, name=self.name, pos=self.pos, id=self.node_id, **self.params)
        self.name = graph.node(self.node_id).name

    def revert(self, graph: Graph) -> None:
        graph.remove(self.node_id)


@dataclass
class RemoveNode(Edit):
    """Remove a block and its connections; revert puts both back in their former places."""

    node_id: str
    _node: Node | None = None
    _index: int = 0
    _edges: list[tuple[int, Edge]] = field(default_factory=list)

    @property
    def text(self) -> str:
        return f"Delete {self._node.name}" if self._node else "Delete block"

    def apply(self, graph: Graph) -> None:
        self._index = graph.index_of(self.node_id)
        self._edges = [(i, e) for i, e in enumerate(graph.edges) if self.node_id in (e.src, e.dst)]
        self._node = copy.deepcopy(graph.node(self.node_id))
        graph.remove(self.node_id)

    def revert(self, graph: Graph) -> None:
        graph.insert_node(self._node, self._index)
        for index, edge in self._edges:
            graph.insert_edge(edge, index)


@dataclass
class Connect(Edit):
    src: Any
    dst: Any
    edge: Edge | None = None
    text = "Connect"

    def apply(self, graph: Graph) -> None:
        self.edge = graph.connect(self.src, self.dst)

    def revert(self, graph: Graph) -> None:
        graph.disconnect(self.edge)


@dataclass
class Disconnect(Edit):
    edge: Edge
    _index: int = 0
    text = "Disconnect"

    def apply(self, graph: Graph) -> None:
        self._index = graph.edge_index(self.edge)
        graph.disconnect(self.edge)

    def revert(self, graph: Graph) -> None:
        graph.insert_edge(self.edge, self._index)


@dataclass
class SetParams(Edit):
    """Change parameters of one block; consecutive changes of the same parameters merge into one."""

    node_id: str
    new: dict[str, Any]
    old: dict[str, Any] | None = None

    @property
    def text(self) -> str:
        return "Change " + ", ".join(self.new)

    def apply(self, graph: Graph) -> None:
        params = graph.node(self.node_id).params
        old = {k: copy.deepcopy(params.get(k)) for k in self.new}  # set_params refuses unknown keys
        graph.set_params(self.node_id, **self.new)
        if self.old is None:
            self.old = old

    def revert(self, graph: Graph) -> None:
        graph.set_params(self.node_id, **self.old)

    def merge(self, other: Edit) -> bool:
        if isinstance(other, SetParams) and other.node_id == self.node_id and other.new.keys() == self.new.keys():
            self.new = dict(other.new)
            return True
        return False


@dataclass
class Rename(Edit):
    node_id: str
    name: str
    old: str | None = None
    text = "Rename"

    def apply(self, graph: Graph) -> None:
        self.old = graph.rename(self.node_id, self.name)

    def revert(self, graph: Graph) -> None:
        graph.rename(self.node_id, self.old)


@dataclass
class SetFrozen(Edit):
    """Freeze or unfreeze blocks (one toggle in the inspector, or a whole base at once)."""

    node_ids: list[str] | str
    frozen: bool
    old: dict[str, bool] = field(default_factory=dict)

    def __post_init__(self):
        if isinstance(self.node_ids, str):
            self.node_ids = [self.node_ids]

    @property
    def text(self) -> str:
        return "Freeze" if self.frozen else "Unfreeze"

    def apply(self, graph: Graph) -> None:
        for nid in self.node_ids:
            graph.node(nid)  # GraphError for an unknown id before anything changes
        for nid in self.node_ids:
            old = graph.set_frozen(nid, self.frozen)
            self.old.setdefault(nid, old)

    def revert(self, graph: Graph) -> None:
        for nid, old in self.old.items():
            graph.set_frozen(nid, old)


@dataclass
class Move(Edit):
    """Move blocks to new positions (a whole drag is one Move)."""

    positions: dict[str, tuple[float, float]]
    old: dict[str, tuple[float, float]] = field(default_factory=dict)
    text = "Move"

    def apply(self, graph: Graph) -> None:
        for nid, pos in self.positions.items():
            old = graph.move(nid, pos)
            self.old.setdefault(nid, old)

    def revert(self, graph: Graph) -> None:
        for nid, pos in self.old.items():
            graph.move(nid, pos)


@dataclass
class Macro(Edit):
    """Several edits as one step (a multi-delete, a paste, an auto-layout)."""

    edits: list[Edit]
    label: str = "Edit"

    @property
    def text(self) -> str:
        return self.label

    def apply(self, graph: Graph) -> None:
        done = []
        try:
            for e in self.edits:
                e.apply(graph)
                done.append(e)
        except Exception:
            for e in reversed(done):
                e.revert(graph)
            raise

    def revert(self, graph: Graph) -> None:
        for e in reversed(self.edits):
            e.revert(graph)


def remove_nodes(graph: Graph, node_ids: list[str]) -> Macro:
    """A macro deleting several blocks; edges between them are restored exactly on revert."""
    return Macro([RemoveNode(nid) for nid in node_ids], label=f"Delete {len(node_ids)} blocks")
