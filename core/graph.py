"""The network document: blocks (nodes), their connections (edges), and change events.

    g = Graph()
    x = g.add("Input", shape=[1, 28, 28])
    c = g.add("Conv2d", out_channels=6, kernel_size=5, padding=2)
    g.connect(x, c)

Nodes have stable ids (`n1`, `n2`, …) and unique readable names (`conv2d_1`) that become the
parameter names of the compiled model. Every change is checked first and then announced to the
subscribers as a `GraphEvent`; a refused change leaves the graph as it was.
"""

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from layerloom.core.block_names import name_problem
from layerloom.core.blocks import get_spec
from layerloom.core.blocks.spec import BlockSpec
from layerloom.core.errors import GraphError, ParamError, ProjectError
from layerloom.core.graph_parts import Edge, GraphEvent, Node

NodeRef = str | tuple[str, str]


@dataclass
class _Adjacency:
    """A node's edges in and out, in the order they were connected."""

    ins: list[Edge] = field(default_factory=list)
    outs: list[Edge] = field(default_factory=list)


class Graph:
    """A network as a directed acyclic graph of blocks."""

    def __init__(self) -> None:
        self._nodes: dict[str, Node] = {}
        self._edges: list[Edge] = []
        self._edge_set: set[Edge] = set()  # the same edges, for O(1) membership tests
        self._adj: dict[str, _Adjacency] = {}
        self._subscribers: list[Callable[[GraphEvent], None]] = []
        self._next_id = 1
        self.revision = 0  # bumped on every change; cheap "has anything changed" check

    # --- queries ----------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._nodes)

    def __contains__(self, node_id: object) -> bool:
        return node_id in self._nodes

    def __iter__(self) -> Iterator[Node]:
        return iter(self._nodes.values())

    @property
    def nodes(self) -> list[Node]:
        """All nodes in the order they were added (which orders Inputs and Outputs)."""
        return list(self._nodes.values())

    @property
    def edges(self) -> list[Edge]:
        return list(self._edges)

    def node(self, node_id: str) -> Node:
        try:
            return self._nodes[node_id]
        except KeyError:
            raise GraphError(f"there is no block with id {node_id!r}") from None

    def find(self, name: str) -> str:
        """The id of the block called `name`."""
        for n in self._nodes.values():
            if n.name == name:
                return n.id
        raise GraphError(f"there is no block named {name!r}")

    def in_edges(self, node_id: str) -> list[Edge]:
        """Edges into a node, by input port (spec order), then in the order they were connected."""
        ins = self._adj[node_id].ins
        ports = self._nodes[node_id].spec.inputs
        if len(ports) <= 1:
            return list(ins)
        order = {p.name: i for i, p in enumerate(ports)}
        return sorted(ins, key=lambda e: order.get(e.dst_port, len(order)))

    def out_edges(self, node_id: str) -> list[Edge]:
        return list(self._adj[node_id].outs)

    def predecessors(self, node_id: str) -> list[str]:
        return [e.src for e in self.in_edges(node_id)]

    def successors(self, node_id: str) -> list[str]:
        return list(dict.fromkeys(e.dst for e in self._adj[node_id].outs))

    def index_of(self, node_id: str) -> int:
        self.node(node_id)  # GraphError for an unknown id
        return list(self._nodes).index(node_id)

    def edge_index(self, edge: Edge) -> int:
        if edge not in self._edge_set:
            raise GraphError(f"{self._label(edge.src)} is not connected to {self._label(edge.dst)}")
        return self._edges.index(edge)

    def descendants(self, node_id: str) -> set[str]:
        """Every node downstream of `node_id` (not itself)."""
        seen: set[str] = set()
        stack = [node_id]
        while stack:
            for e in self._adj[stack.pop()].outs:
                if e.dst not in seen:
                    seen.add(e.dst)
                    stack.append(e.dst)
        return seen

    def topological_order(self) -> list[str]:
        """Node ids so that every edge goes forward (Kahn's algorithm, stable by insertion order).
        Nodes caught in a cycle (only possible in a broken file) are left out."""
        indegree = {nid: len(a.ins) for nid, a in self._adj.items()}
        ready = [nid for nid in self._nodes if indegree[nid] == 0]
        ready.reverse()
        order: list[str] = []
        while ready:
            nid = ready.pop()
            order.append(nid)
            for e in reversed(self._adj[nid].outs):
                indegree[e.dst] -= 1
                if indegree[e.dst] == 0:
                    ready.append(e.dst)
        return order

    # --- events -----------------------------------------------------------------------------------

    def subscribe(self, callback: Callable[[GraphEvent], None]) -> Callable[[], None]:
        """Call `callback(event)` after every change; returns a function that unsubscribes."""
        self._subscribers.append(callback)

        def unsubscribe() -> None:
            if callback in self._subscribers:
                self._subscribers.remove(callback)

        return unsubscribe

    def _emit(self, event: GraphEvent) -> None:
        self.revision += 1
        for cb in list(self._subscribers):
            cb(event)

    # --- edits ------------------------------------------------------------------------------------

    def add(
        self,
        type_id: str,
        *,
        name: str | None = None,
        pos: Iterable[float] | None = None,
        id: str | None = None,
        **params: Any,
    ) -> str:
        """Add a block of `type_id` with `params` (the rest at their defaults); returns its id."""
        spec = get_spec(type_id)
        label = f"{type_id} '{name}'" if name else type_id
        values = spec.defaults()
        values.update(self._checked_params(spec, label, params))
        if id is None:
            id = self._new_id()
        elif id in self._nodes:
            raise GraphError(f"a block with id {id!r} already exists")
        if name is None:
            name = self.unique_name(spec.name_base)
        else:
            self._check_name(name)
        node = Node(id, type_id, name, values, _pos(pos))
        self._insert_node(node, len(self._nodes))
        return id

    def insert_node(self, node: Node, index: int) -> None:
        """Put back a node (as removed before) at its former place in the order; used by undo."""
        if node.id in self._nodes:
            raise GraphError(f"a block with id {node.id!r} already exists")
        self._check_name(node.name)
        self._insert_node(copy.deepcopy(node), index)

    def _insert_node(self, node: Node, index: int) -> None:
        if index >= len(self._nodes):
            self._nodes[node.id] = node
        else:  # undo puts a node back at its former place in the order
            items = list(self._nodes.items())
            items.insert(index, (node.id, node))
            self._nodes = dict(items)
        self._adj[node.id] = _Adjacency()
        m = re.fullmatch(r"n(\d+)", node.id)
        if m:
            self._next_id = max(self._next_id, int(m.group(1)) + 1)
        self._emit(GraphEvent("node_added", node=node.id, new=node))

    def remove(self, node_id: str) -> Node:
        """Remove a block and every edge touching it; returns the removed node."""
        node = self.node(node_id)
        for e in [e for e in self._edges if node_id in (e.src, e.dst)]:
            self._remove_edge(e)
        del self._nodes[node_id]
        del self._adj[node_id]
        self._emit(GraphEvent("node_removed", node=node_id, old=node))
        return node

    def connect(self, src: NodeRef, dst: NodeRef) -> Edge:
        """Connect an output port to an input port. Plain ids mean the first port of each side."""
        edge = self._resolve(src, dst)
        self._check_edge(edge)
        self._insert_edge(edge, len(self._edges))
        return edge

    def _connect_loaded(self, edge: Edge, check_cycle: bool) -> None:
        """Used by the loader: add an edge of a file, with the cycle check left for one pass at the end
        (checking each edge walks everything downstream: quadratic for a long chain stored back to front)."""
        self._check_edge(edge, check_cycle=check_cycle)
        self._insert_edge(edge, len(self._edges))

    def _clear_edges(self) -> None:
        """Used by the loader: remove every edge at once, without events (nobody listens yet)."""
        self._edges.clear()
        self._edge_set.clear()
        for adj in self._adj.values():
            adj.ins.clear()
            adj.outs.clear()

    def can_connect(self, src: NodeRef, dst: NodeRef) -> str | None:
        """None if the connection is allowed, else the reason in plain words."""
        try:
            self._check_edge(self._resolve(src, dst))
        except GraphError as err:
            return str(err)
        return None

    def insert_edge(self, edge: Edge, index: int) -> None:
        """Insert an edge at `index` of the edge list (undo restores the exact order)."""
        self._check_edge(edge)
        self._insert_edge(edge, index)

    def _insert_edge(self, edge: Edge, index: int) -> None:
        ins, outs = self._adj[edge.dst].ins, self._adj[edge.src].outs
        if index >= len(self._edges):  # the common case (connect): append everywhere
            self._edges.append(edge)
            ins.append(edge)
            outs.append(edge)
        else:  # undo puts an edge back in the middle: keep each node's order consistent with the list
            before = self._edges[:index]
            self._edges.insert(index, edge)
            ins.insert(sum(1 for e in before if e.dst == edge.dst), edge)
            outs.insert(sum(1 for e in before if e.src == edge.src), edge)
        self._edge_set.add(edge)
        self._emit(GraphEvent("edge_added", node=edge.dst, edge=edge))

    def disconnect(self, src: NodeRef | Edge, dst: NodeRef | None = None) -> Edge:
        """Remove a connection, given as an Edge or by its two ends."""
        edge = src if isinstance(src, Edge) else self._resolve(src, dst)
        if edge not in self._edge_set:
            raise GraphError(f"{self._label(edge.src)} is not connected to {self._label(edge.dst)}")
        self._remove_edge(edge)
        return edge

    def _remove_edge(self, edge: Edge) -> None:
        self._edges.remove(edge)
        self._edge_set.discard(edge)
        self._adj[edge.dst].ins.remove(edge)
        self._adj[edge.src].outs.remove(edge)
        self._emit(GraphEvent("edge_removed", node=edge.dst, edge=edge))

    def set_params(self, node_id: str, **params: Any) -> dict[str, Any]:
        """Change parameters (all checked first); returns the old values of those that changed."""
        node = self.node(node_id)
        checked = self._checked_params(node.spec, node.label(), params)
        changed = {k: v for k, v in checked.items() if node.params.get(k) != v}
        if not changed:
            return {}
        old = {k: node.params.get(k) for k in changed}
        node.params.update(changed)
        self._emit(GraphEvent("params_changed", node=node_id, old=old, new=dict(changed)))
        return old

    def rename(self, node_id: str, name: str) -> str:
        """Give a block a new unique name; returns the old one."""
        node = self.node(node_id)
        if name == node.name:
            return name
        self._check_name(name)
        old, node.name = node.name, name
        self._emit(GraphEvent("node_renamed", node=node_id, old=old, new=name))
        return old

    def move(self, node_id: str, pos: Iterable[float]) -> tuple[float, float]:
        """Place a block on the canvas; returns the old position."""
        node = self.node(node_id)
        new = _pos(pos)
        old = node.pos
        if new != old:
            node.pos = new
            self._emit(GraphEvent("node_moved", node=node_id, old=old, new=new))
        return old

    def move_many(self, positions: dict[str, Iterable[float]]) -> dict[str, tuple[float, float]]:
        """Place several blocks at once (a whole selection dragged, an auto-layout); returns every block's old
        position. One "nodes_moved" event (old/new: id → position, the blocks that really moved) rather than
        one per block; an unknown id raises GraphError before anything moves."""
        known = self._nodes
        nodes = [(known.get(nid) or self.node(nid), _pos(pos)) for nid, pos in positions.items()]
        old_all: dict[str, tuple[float, float]] = {}
        old: dict[str, tuple[float, float]] = {}
        new: dict[str, tuple[float, float]] = {}
        for node, pos in nodes:
            old_all[node.id] = node.pos
            if pos != node.pos:
                old[node.id], new[node.id] = node.pos, pos
                node.pos = pos
        if new:
            self._emit(GraphEvent("nodes_moved", old=old, new=new))
        return old_all

    def set_frozen(self, node_id: str, frozen: bool) -> bool:
        """Freeze a block (training leaves its weights as they are) or unfreeze it; returns the old state."""
        node = self.node(node_id)
        if not isinstance(frozen, bool):
            raise GraphError(f"{node.label()}: frozen must be true or false (got {frozen!r})")
        old = node.frozen
        if frozen != old:
            node.frozen = frozen
            self._emit(GraphEvent("frozen_changed", node=node_id, old=old, new=frozen))
        return old

    # --- checks -----------------------------------------------------------------------------------

    def _new_id(self) -> str:
        while f"n{self._next_id}" in self._nodes:
            self._next_id += 1
        return f"n{self._next_id}"

    def unique_name(self, base: str) -> str:
        """`base_1`, or the next free number."""
        taken = {n.name for n in self._nodes.values()}
        i = 1
        while f"{base}_{i}" in taken:
            i += 1
        return f"{base}_{i}"

    def check_name(self, name: str, node_id: str | None = None) -> str | None:
        """None if `name` may be given to a block (other than `node_id`), else why not."""
        problem = name_problem(name)
        if problem:
            return problem
        for n in self._nodes.values():
            if n.name == name and n.id != node_id:
                return f"the name {name!r} is already used by another block"
        return None

    def _check_name(self, name: str) -> None:
        problem = self.check_name(name)
        if problem:
            raise GraphError(problem)

    @staticmethod
    def _checked_params(spec: BlockSpec, label: str, params: dict[str, Any]) -> dict[str, Any]:
        out = {}
        for key, value in params.items():
            pspec = spec.param_map.get(key)
            if pspec is None:
                import difflib

                close = difflib.get_close_matches(key, spec.param_map, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                known = ", ".join(spec.param_map) or "none"
                raise ParamError(f"{label} has no parameter {key!r}{hint} (its parameters: {known})")
            out[key] = pspec.coerce(value, label)
        return out

    def _label(self, node_id: str) -> str:
        n = self._nodes.get(node_id)
        return n.label() if n else repr(node_id)

    def _resolve(self, src: NodeRef, dst: NodeRef) -> Edge:
        s_id, s_port = self._port(src, output=True)
        d_id, d_port = self._port(dst, output=False)
        return Edge(s_id, s_port, d_id, d_port)

    def _port(self, ref: NodeRef, output: bool) -> tuple[str, str]:
        node_id, port = (ref, None) if isinstance(ref, str) else ref
        node = self.node(node_id)
        ports = node.spec.outputs if output else node.spec.inputs
        if not ports:
            what = "outputs" if output else "inputs"
            raise GraphError(f"{node.label()} has no {what}")
        if port is None:
            return node_id, ports[0].name
        if node.spec.port(port, output) is None:
            names = ", ".join(p.name for p in ports)
            raise GraphError(f"{node.label()} has no {'output' if output else 'input'} port {port!r} ({names})")
        return node_id, port

    def _check_edge(self, edge: Edge, check_cycle: bool = True) -> None:
        src, dst = self.node(edge.src), self.node(edge.dst)
        if edge.src == edge.dst:
            raise GraphError(f"{src.label()} cannot be connected to itself")
        if edge in self._edge_set:
            raise GraphError(f"{src.label()} is already connected to {dst.label()}")
        port = dst.spec.port(edge.dst_port, output=False)
        if port is None or src.spec.port(edge.src_port, output=True) is None:
            raise GraphError(f"no such port on {src.label()} → {dst.label()}")
        if not port.multi and any(e.dst_port == edge.dst_port for e in self._adj[edge.dst].ins):
            raise GraphError(
                f"{dst.label()} already has an input; use Add or Concat to combine several, "
                "or remove the existing connection first"
            )
        if check_cycle and edge.src in self.descendants(edge.dst):
            raise GraphError(
                f"connecting {src.label()} to {dst.label()} would make a cycle; "
                "a network must flow in one direction"
            )

    # --- serialization ----------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The graph as plain data: {"nodes": [...], "edges": [...]}."""
        return {
            "nodes": [
                {
                    "id": n.id,
                    "type": n.type,
                    "name": n.name,
                    "params": copy.deepcopy(n.params),
                    **({"frozen": True} if n.frozen else {}),
                    "ui": {"pos": [n.pos[0], n.pos[1]]},
                }
                for n in self._nodes.values()
            ],
            "edges": [e.to_dict() for e in self._edges],
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str | bytes | dict) -> Graph:
        """A graph from `to_json()` text (or its dict); ProjectError lists every problem found."""
        if isinstance(text, dict):
            return cls.from_dict(text)
        try:
            data = json.loads(text)
        except (ValueError, UnicodeDecodeError) as err:
            raise ProjectError(None, [f"not valid JSON: {err}"]) from None
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: Any, where: str = "") -> Graph:
        """Build and validate a graph from plain data, reporting every problem with its place."""
        from layerloom.core.graph_loader import load_graph

        return load_graph(cls(), data, where)

    def copy(self) -> Graph:
        """An independent copy (no subscribers)."""
        return Graph.from_dict(self.to_dict())

    def emit_loaded(self, node: Node) -> None:
        """Used by the loader: add a node that was already checked."""
        self._insert_node(node, len(self._nodes))


def _pos(pos: Iterable[float] | None) -> tuple[float, float]:
    if type(pos) is tuple and len(pos) == 2:  # the common case, quickly (a big move checks thousands)
        x, y = pos
        if type(x) is float and type(y) is float and math.isfinite(x) and math.isfinite(y):
            return pos
    if pos is None:
        return (0.0, 0.0)
    try:
        x, y = (float(v) for v in pos)
    except (TypeError, ValueError):
        raise GraphError(f"a position must be two numbers (x, y), got {pos!r}") from None
    if not (math.isfinite(x) and math.isfinite(y)):  # a project file cannot hold inf or nan
        raise GraphError(f"a position must be two finite numbers (x, y), got {pos!r}")
    return (x, y)
