"""Reversible edits of a project, free of Qt: the GUI's undo commands wrap these, so undo and redo are
tested without a window. `apply` does the edit, `revert` restores the graph exactly as it was (node
order and edge order included, since they order the model's inputs, outputs and Concat branches).

    edit = SetParams(node_id, {"kernel_size": 3})
    edit.apply(graph); edit.revert(graph)

Graph edits apply to a Graph; `SetSettings` applies to the Project (its training or data settings).
`edit.subject(project)` says which, so whoever holds a project applies any edit the same way:

    edit.apply(edit.subject(project))
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from layerloom.core.block_swap import carried_params, swap_problem, swapped_name
from layerloom.core.errors import GraphError, LayerloomError
from layerloom.core.graph import Graph
from layerloom.core.graph_parts import Edge, Node

SETTINGS_SECTIONS = ("training", "data")


class Edit:
    """One reversible change. `text` says what it does, for an Undo menu."""

    text = "Edit"
    # Whether the edit changes the network (refused while it trains); moving blocks and settings do not.
    structural = True

    def apply(self, graph: Graph) -> None:
        raise NotImplementedError

    def revert(self, graph: Graph) -> None:
        raise NotImplementedError

    def merge(self, other: Edit) -> bool:
        """Absorb a following edit of the same kind (a run of edits to one parameter); True if merged."""
        return False

    @staticmethod
    def subject(project) -> Any:
        """What `apply` and `revert` take in `project`: its graph (every graph edit) or the project itself."""
        return project.graph


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
class ReplaceBlock(Edit):
    """Turn a block into another type of its kind (RNN → LSTM) in one step: same id, place in the order,
    position, wires and frozen state; the parameters both types have (see core/block_swap.py); a name
    made from the old type follows the new one. A swap that cannot be made raises GraphError saying why."""

    node_id: str
    new_type: str
    _old: Node | None = None
    _index: int = 0
    _edges: list[tuple[int, Edge]] = field(default_factory=list)

    @property
    def text(self) -> str:
        return f"Replace {self._old.name} with {self.new_type}" if self._old else f"Replace with {self.new_type}"

    def apply(self, graph: Graph) -> None:
        problem = swap_problem(graph, self.node_id, self.new_type)
        if problem:
            raise GraphError(problem)
        old = graph.node(self.node_id)
        new = Node(old.id, self.new_type, swapped_name(graph, old.id, self.new_type),
                   carried_params(old, self.new_type), old.pos, old.frozen)
        self._old = copy.deepcopy(old)
        self._index = graph.index_of(old.id)
        self._edges = [(i, e) for i, e in enumerate(graph.edges) if old.id in (e.src, e.dst)]
        self._put(graph, new)

    def revert(self, graph: Graph) -> None:
        self._put(graph, self._old)

    def _put(self, graph: Graph, node: Node) -> None:
        """Remove the block and put `node` in its place, its wires back where they were in the edge order."""
        graph.remove(self.node_id)
        graph.insert_node(node, self._index)
        for index, edge in self._edges:
            graph.insert_edge(edge, index)


@dataclass
class Move(Edit):
    """Move blocks to new positions (a whole drag is one Move): one graph event however many blocks move
    (Graph.move_many), and revert puts every one back in one step too."""

    positions: dict[str, tuple[float, float]]
    old: dict[str, tuple[float, float]] = field(default_factory=dict)
    text = "Move"
    structural = False

    def apply(self, graph: Graph) -> None:
        old = graph.move_many(self.positions)
        if not self.old:
            self.old = old
            return
        for nid, pos in old.items():
            self.old.setdefault(nid, pos)

    def revert(self, graph: Graph) -> None:
        graph.move_many(self.old)


@dataclass
class Macro(Edit):
    """Several edits as one step (a multi-delete, a paste, an auto-layout)."""

    edits: list[Edit]
    label: str = "Edit"

    @property
    def text(self) -> str:
        return self.label

    @property
    def structural(self) -> bool:
        return any(e.structural for e in self.edits)

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


@dataclass
class SetSettings(Edit):
    """Change fields of the project's training or data settings (`section` "training" or "data"), e.g.
    `SetSettings("training", {"lr": 0.01})`. It applies to the Project (`subject`), not to its graph.
    A value the setting refuses raises LayerloomError in the words a project file's check uses
    ("training.lr must be a positive number (got -1)") and changes nothing. Consecutive changes of the
    same fields merge into one (typing a number is one undo step). Allowed while a network trains."""

    section: str
    new: dict[str, Any]
    old: dict[str, Any] | None = None
    structural = False

    @property
    def text(self) -> str:
        return f"Set {self.section} {', '.join(self.new)}"

    @staticmethod
    def subject(project) -> Any:
        return project

    def apply(self, project) -> None:
        settings = self._settings(project)
        values = self._checked(settings)
        old = {k: copy.deepcopy(getattr(settings, k)) for k in values}
        for key, value in values.items():
            setattr(settings, key, value)
        if self.old is None:
            self.old = old

    def revert(self, project) -> None:
        settings = self._settings(project)
        for key, value in self.old.items():
            setattr(settings, key, copy.deepcopy(value))

    def merge(self, other: Edit) -> bool:
        if isinstance(other, SetSettings) and other.section == self.section and other.new.keys() == self.new.keys():
            self.new = dict(other.new)
            return True
        return False

    def _settings(self, project) -> Any:
        if self.section not in SETTINGS_SECTIONS:
            raise LayerloomError(f"a project has no settings called {self.section!r} (only training and data)")
        return getattr(project, self.section)

    def _checked(self, settings) -> dict[str, Any]:
        """The new values in their canonical form, checked as a project file's settings are."""
        problems: list[str] = []
        merged = {**settings.to_dict(), **self.new}
        checked = type(settings).from_dict(merged, problems, self.section)
        places = tuple(f"{self.section}.{k}{end}" for k in self.new for end in (" ", ".", "["))
        mine = [p for p in problems if p.startswith(places)]
        if mine:
            raise LayerloomError("; ".join(mine))
        return {k: copy.deepcopy(getattr(checked, k)) for k in self.new}


def remove_nodes(graph: Graph, node_ids: list[str]) -> Macro:
    """A macro deleting several blocks; edges between them are restored exactly on revert."""
    return Macro([RemoveNode(nid) for nid in node_ids], label=f"Delete {len(node_ids)} blocks")
