"""Auto-layout: blocks in layers from left to right, in the spirit of Sugiyama's layered drawing.

Each block goes one column right of its furthest predecessor; within a column blocks are ordered by
the mean row of their predecessors (a barycentre pass), which keeps most wires straight.
"""

from __future__ import annotations

from layerloom.core.graph import Graph

COLUMN_WIDTH = 240.0
ROW_HEIGHT = 150.0


def layered_positions(graph: Graph, column_width: float = COLUMN_WIDTH,
                      row_height: float = ROW_HEIGHT) -> dict[str, tuple[float, float]]:
    """Positions for every block: column = longest path from a source, rows centred on 0."""
    order = graph.topological_order()
    column: dict[str, int] = {}
    for nid in order:
        preds = graph.predecessors(nid)
        column[nid] = 1 + max((column[p] for p in preds), default=-1)
    for node in graph:  # blocks in a cycle (never made by the Graph) go last
        column.setdefault(node.id, 0)

    columns: dict[int, list[str]] = {}
    for nid in order:
        columns.setdefault(column[nid], []).append(nid)

    row: dict[str, float] = {}
    for c in sorted(columns):
        members = columns[c]
        first_seen = {nid: i for i, nid in enumerate(members)}

        def barycentre(nid: str, first_seen=first_seen) -> float:
            preds = [row[p] for p in graph.predecessors(nid) if p in row]
            return sum(preds) / len(preds) if preds else float(first_seen[nid])

        members.sort(key=barycentre)
        offset = (len(members) - 1) / 2
        for i, nid in enumerate(members):
            row[nid] = i - offset
    return {nid: (column[nid] * column_width, row.get(nid, 0.0) * row_height) for nid in column}


def auto_layout(graph: Graph) -> None:
    """Move every block to its layered position (one move event per block that moves)."""
    for nid, pos in layered_positions(graph).items():
        graph.move(nid, pos)
