"""Big graphs for the canvas benchmarks: a Dense/ReLU chain and a branched CNN of any size, laid out
in a wrapped layered drawing of about the window's aspect (so that the fitted view shows every block).

    text = project_text(chain_graph(5000))
"""

from __future__ import annotations

import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_inference import _Builder

from layerloom.core.graph import Graph
from layerloom.core.layout import layered_positions
from layerloom.core.project import Project
from layerloom.gui.commands import LAYOUT_COLUMN, LAYOUT_ROW


def chain_graph(n: int) -> Graph:
    """Input → Dense/ReLU … → Output, `n` blocks in all."""
    g = Graph()
    prev = g.add("Input", shape=[64])
    for i in range(n - 2):
        nid = g.add("Dense", out_features=64) if i % 2 == 0 else g.add("ReLU")
        g.connect(prev, nid)
        prev = nid
    out = g.add("Output", loss="cross_entropy")
    g.connect(prev, out)
    return g


def cnn_graph(n: int) -> Graph:
    """A branched CNN of `n` blocks: bench_inference's realistic units (residual, concat,
    squeeze-excitation, Residual, Inception) repeated at 32 channels on 3×32×32 inputs."""
    b = _Builder()
    x = b.add("Input", shape=[3, 32, 32])
    x = b.conv_bn_act(x, 32)
    tail = 6
    ui = 0
    while True:
        name, size = b.UNITS[ui % len(b.UNITS)]
        if len(b.g) + size + tail > n:
            break
        x = getattr(b, name)(x, 32)
        ui += 1
    while len(b.g) + tail < n:
        x = b.add("Dropout", x, p=0.0)
    x = b.add("GlobalAvgPool", x)
    x = b.add("Dropout", x, p=0.5)
    x = b.add("Dense", x, out_features=64)
    x = b.add("ReLU", x)
    x = b.add("Dense", x, out_features=10)
    b.add("Output", x)
    assert len(b.g) == n, len(b.g)
    return b.g


def lay_out(g: Graph, aspect: float = 1.6) -> None:
    """Wrapped layered positions whose bounding box has about `aspect` (width / height)."""
    plain = layered_positions(g, column_width=LAYOUT_COLUMN, row_height=LAYOUT_ROW)
    n_cols = len({x for x, _ in plain.values()})
    n_rows = len({y for _, y in plain.values()})
    # bands of m columns: width m·col, height (n_cols/m)·(n_rows + 0.6)·row
    m = max(1, round(math.sqrt(aspect * n_cols * (n_rows + 0.6) * LAYOUT_ROW / LAYOUT_COLUMN)))
    for nid, pos in layered_positions(g, column_width=LAYOUT_COLUMN, row_height=LAYOUT_ROW,
                                      max_columns=m).items():
        g.move(nid, pos)


def project_text(g: Graph, name: str = "big") -> str:
    lay_out(g)
    return Project(g, meta={"name": name}).to_json()
