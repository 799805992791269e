"""Reading a graph from plain data (a project file): every problem is collected with its place,
nothing is executed, and a graph is returned only when the whole of it is valid."""

from __future__ import annotations

import math
from typing import Any

from layerloom.core.blocks import has_spec
from layerloom.core.errors import GraphError, ParamError, ProjectError
from layerloom.core.graph_parts import Edge, Node


def load_graph(graph, data: Any, where: str = ""):
    """Fill the empty `graph` from `data`, or raise ProjectError listing every problem."""
    problems: list[str] = []
    prefix = f"{where}." if where else ""

    if not isinstance(data, dict):
        raise ProjectError(None, [f"{where or 'the graph'} must be an object with 'nodes' and 'edges'"])
    nodes = data.get("nodes")
    edges = data.get("edges", [])
    if not isinstance(nodes, list):
        problems.append(f"{prefix}nodes is missing or is not a list")
        nodes = []
    if not isinstance(edges, list):
        problems.append(f"{prefix}edges is not a list")
        edges = []

    accepted: list = []
    ids: set[str] = set()
    names: dict[str, str] = {}
    for i, raw in enumerate(nodes):
        place = f"{prefix}nodes[{i}]"
        node = _read_node(graph, raw, place, problems, ids, names)
        if node is not None:
            accepted.append(node)
            ids.add(node.id)
            names[node.name] = node.id

    by_id = {n.id: n for n in accepted}
    for node in accepted:
        graph.emit_loaded(node)

    read: list[tuple[int, object]] = []
    found: list[tuple[int, str]] = []  # edge problems by the edge's index
    for i, raw in enumerate(edges):
        mine: list[str] = []
        edge = _read_edge(raw, f"{prefix}edges[{i}]", mine, by_id)
        found += [(i, p) for p in mine]
        if edge is not None:
            read.append((i, edge))
    connected = _connect(graph, read, prefix, check_cycle=False)
    if len(graph.topological_order()) < len(graph):
        # a cycle, only in a broken file: connect again one edge at a time, as the editor does, so that the
        # problem names the edge that closes it
        graph._clear_edges()
        connected = _connect(graph, read, prefix, check_cycle=True)
    problems += [p for _, p in sorted(found + connected, key=lambda item: item[0])]

    if problems:
        raise ProjectError(None, problems)
    return graph


def _connect(graph, read, prefix: str, check_cycle: bool) -> list[tuple[int, str]]:
    """Add the edges that were read; the problems of those refused, by index."""
    found = []
    for i, edge in read:
        try:
            graph._connect_loaded(edge, check_cycle)
        except GraphError as err:
            found.append((i, f"{prefix}edges[{i}]: {err}"))
    return found


def _read_node(graph, raw, place, problems, ids, names):
    from layerloom.core.blocks import get_spec

    if not isinstance(raw, dict):
        problems.append(f"{place}: a block must be an object, got {type(raw).__name__}")
        return None
    node_id, type_id, name = raw.get("id"), raw.get("type"), raw.get("name")
    label = f"{place} ({name!r})" if isinstance(name, str) else place
    ok = True
    if not isinstance(node_id, str) or not node_id:
        problems.append(f"{label}: 'id' is missing or not a text")
        ok = False
    elif node_id in ids:
        problems.append(f"{label}: id {node_id!r} is used twice")
        ok = False
    if not isinstance(type_id, str):
        problems.append(f"{label}: 'type' is missing or not a text")
        return None
    if not has_spec(type_id):
        try:
            get_spec(type_id)
        except GraphError as err:
            problems.append(f"{label}: {err}")
        return None
    spec = get_spec(type_id)
    if not isinstance(name, str):
        problems.append(f"{label}: 'name' is missing or not a text")
        ok = False
    else:
        why = graph.check_name(name)
        if why:
            problems.append(f"{label}: {why}")
            ok = False
        elif name in names:
            problems.append(f"{label}: the name {name!r} is used by two blocks")
            ok = False
    params = raw.get("params", {})
    values = spec.defaults()
    if not isinstance(params, dict):
        problems.append(f"{label}: 'params' must be an object")
        ok = False
    else:
        for key, value in params.items():
            pspec = spec.param_map.get(key)
            if pspec is None:
                problems.append(f"{label}: {type_id} has no parameter {key!r}")
                ok = False
                continue
            try:
                values[key] = pspec.coerce(value, f"{type_id} '{name}'")
            except ParamError as err:
                problems.append(f"{label}: {err}")
                ok = False
    frozen = raw.get("frozen", False)
    if not isinstance(frozen, bool):
        problems.append(f"{label}: 'frozen' must be true or false")
        ok = False
    pos = (0.0, 0.0)
    ui = raw.get("ui", {})
    if not isinstance(ui, dict):
        problems.append(f"{label}: 'ui' must be an object")
    else:
        p = ui.get("pos", [0, 0])
        if (
            isinstance(p, list)
            and len(p) == 2
            and all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in p)
        ):
            pos = (float(p[0]), float(p[1]))
        else:
            problems.append(f"{label}: ui.pos must be two numbers [x, y]")
    if not ok:
        return None
    return Node(node_id, type_id, name, values, pos, frozen)


def _read_edge(raw, place, problems, by_id):
    if not isinstance(raw, dict):
        problems.append(f"{place}: a connection must be an object with 'src' and 'dst'")
        return None
    ends = []
    for side in ("src", "dst"):
        end = raw.get(side)
        if not isinstance(end, dict) or not isinstance(end.get("node"), str):
            problems.append(f"{place}: '{side}' must be {{\"node\": id, \"port\": name}}")
            return None
        if end["node"] not in by_id:
            problems.append(f"{place}: {side} names block id {end['node']!r}, which is missing or broken")
            return None
        node = by_id[end["node"]]
        ports = node.spec.outputs if side == "src" else node.spec.inputs
        port = end.get("port", ports[0].name if ports else None)
        if not isinstance(port, str) or node.spec.port(port, output=side == "src") is None:
            names = ", ".join(p.name for p in ports) or "none"
            problems.append(f"{place}: {node.label()} has no {side} port {port!r} (ports: {names})")
            return None
        ends.append((node.id, port))
    return Edge(ends[0][0], ends[0][1], ends[1][0], ends[1][1])
