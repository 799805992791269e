"""Auto-layout: blocks in layers from left to right, in the spirit of Sugiyama's layered drawing.

Each block goes one column right of its furthest predecessor; within a column blocks are ordered by
the mean row of their predecessors (a barycentre pass), which keeps most wires straight. A long network
can be wrapped into bands of at most `max_columns` columns, read like lines of text, so that it fits a
window at a readable zoom. A GAN's two networks (core/gan.py) are laid out apart, the generator above the
discriminator, so that the canvas can frame each one.
"""

from __future__ import annotations

import math

from layerloom.core.graph import Graph

COLUMN_WIDTH = 240.0
ROW_HEIGHT = 150.0


NETWORK_GAP = 1.0  # rows between a GAN's generator and its discriminator


def layered_positions(graph: Graph, column_width: float = COLUMN_WIDTH, row_height: float = ROW_HEIGHT,
                      max_columns: int | None = None) -> dict[str, tuple[float, float]]:
    """Positions for every block: column = longest path from a source, rows centred on 0; with
    `max_columns`, columns are wrapped into bands of (nearly) equal width stacked top to bottom. A GAN's
    generator and discriminator are laid out each on its own, the discriminator below."""
    from layerloom.core.gan import DISCRIMINATOR, GENERATOR, gan_layout, network_graph

    layout = gan_layout(graph)
    if layout is None or not layout.discriminator:
        return _layered(graph, column_width, row_height, max_columns)
    out: dict[str, tuple[float, float]] = {}
    top = 0.0
    for part in (GENERATOR, DISCRIMINATOR):
        placed = _layered(network_graph(graph, part), column_width, row_height, max_columns)
        low = min(y for _x, y in placed.values())
        out.update({nid: (x, y - low + top) for nid, (x, y) in placed.items()})
        top = max(y for _x, y in out.values()) + (1 + NETWORK_GAP) * row_height
    return out


def _layered(graph: Graph, column_width: float, row_height: float,
             max_columns: int | None) -> dict[str, tuple[float, float]]:
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
    n_columns = max(column.values(), default=-1) + 1
    if not max_columns or n_columns <= max_columns:
        return {nid: (column[nid] * column_width, row.get(nid, 0.0) * row_height) for nid in column}
    per_band = math.ceil(n_columns / math.ceil(n_columns / max_columns))
    band_rows: dict[int, list[float]] = {}
    for nid, c in column.items():
        band_rows.setdefault(c // per_band, []).append(row.get(nid, 0.0))
    band_top: dict[int, float] = {}
    top = 0.0
    for band in sorted(band_rows):
        lo, hi = min(band_rows[band]), max(band_rows[band])
        band_top[band] = top - lo  # the band's lowest row sits at `top`
        top += (hi - lo + 1) + 0.6  # a gap between bands for the wire that wraps
    return {
        nid: ((c % per_band) * column_width, (band_top[c // per_band] + row.get(nid, 0.0)) * row_height)
        for nid, c in column.items()
    }


def auto_layout(graph: Graph) -> None:
    """Move every block to its layered position (one move event per block that moves)."""
    for nid, pos in layered_positions(graph).items():
        graph.move(nid, pos)
