"""Shape inference on a realistic 500-block graph: from scratch, and after one parameter edit.

Bars (foundation issue): from scratch < 100 ms; after one parameter edit in the middle < 10 ms.

The graph is a deep CNN on 3×64×64 images: a stem, four stages (32, 64, 128, 256 channels) of
residual units (conv-BN-act-conv-BN + Add), two-branch Concat units, squeeze-and-excitation gates
(GlobalAvgPool-Dense-ReLU-Dense-Sigmoid-Reshape + Multiply), Residual and Inception composite
blocks, separated by conv-BN-ReLU-pool transitions, then Flatten-Dropout-Dense-ReLU-Dense-Output.
Exactly 500 blocks, all valid.

  from scratch   a new Graph (Graph.from_dict of the data, untimed) with the shared rule cache
                 cleared; timed: the first infer(g). Also shown: from_dict + infer together.
  one edit       g.set_params(node, ...) + infer(g) on a graph inferred before, alternating between
                 two values. Two edits in the middle of the graph:
                   - "reshaping": the pool of the middle transition, kernel_size 2 <-> 3, which changes
                     the shape of every block downstream (about half the graph);
                   - "local": a 3×3 conv (padding "same") of a residual unit in the middle,
                     kernel_size 3 <-> 5, which changes no shape (only its own rule and its
                     descendants' bookkeeping).
                 cache-miss: the rule cache is cleared before each edit (untimed), so every rule that
                 is re-evaluated runs; cache-hit: both values were seen before, so rules come from the
                 cache (undo/redo, toggling a value back).

Run: .venv/bin/python benchmarks/bench_inference.py [--check] [--quick]
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import Results, parse_args, print_header, time_repeats

from layerloom.core import Graph, infer
from layerloom.core.inference import clear_cache

TARGET_BLOCKS = 500
SCRATCH_BAR_MS = 100.0
EDIT_BAR_MS = 10.0


class _Builder:
    """Adds blocks with a running count; every helper returns the id of its last block."""

    def __init__(self) -> None:
        self.g = Graph()
        self.n_acts = 0
        self.mid_pool: str | None = None
        self.local_convs: list[str] = []

    def add(self, type_id: str, src: str | list[str] | None = None, **params) -> str:
        nid = self.g.add(type_id, **params)
        for s in [src] if isinstance(src, str) else (src or []):
            self.g.connect(s, nid)
        return nid

    def act(self, x: str) -> str:
        """Mostly ReLU, with a few other activations mixed in."""
        self.n_acts += 1
        kind = self.n_acts % 9
        if kind == 3:
            return self.add("LeakyReLU", x, negative_slope=0.1)
        if kind == 6:
            return self.add("GELU", x)
        if kind == 8:
            return self.add("ELU", x)
        return self.add("ReLU", x)

    def conv_bn_act(self, x: str, c: int, k: int = 3, padding=1) -> str:
        x = self.add("Conv2d", x, out_channels=c, kernel_size=k, padding=padding, bias=False)
        x = self.add("BatchNorm", x)
        return self.act(x)

    # --- units: (blocks added, builder) ---

    def res_unit(self, x: str, c: int) -> str:  # 7 blocks
        y = self.add("Conv2d", x, out_channels=c, kernel_size=3, padding="same", bias=False)
        self.local_convs.append(y)
        y = self.add("BatchNorm", y)
        y = self.act(y)
        y = self.add("Conv2d", y, out_channels=c, kernel_size=3, padding=1, bias=False)
        y = self.add("BatchNorm", y)
        s = self.add("Add", [x, y])
        return self.act(s)

    def concat_unit(self, x: str, c: int) -> str:  # 7 blocks
        a = self.conv_bn_act(x, c // 2, k=1, padding=0)
        b = self.add("Conv2d", x, out_channels=c // 2, kernel_size=3, padding="same")
        b = self.add("Dropout", b, p=0.1)
        b = self.act(b)
        return self.add("Concat", [a, b], dim=1)

    def se_unit(self, x: str, c: int) -> str:  # 7 blocks
        s = self.add("GlobalAvgPool", x)
        s = self.add("Dense", s, out_features=max(c // 4, 4))
        s = self.add("ReLU", s)
        s = self.add("Dense", s, out_features=c)
        s = self.add("Sigmoid", s)
        s = self.add("Reshape", s, shape=[c, 1, 1])
        return self.add("Multiply", [x, s])

    def residual_block(self, x: str, c: int) -> str:  # 1 block
        return self.add("Residual", x, out_channels=c)

    def inception_unit(self, x: str, c: int) -> str:  # 4 blocks
        q = max(c // 4, 1)
        y = self.add("Inception", x, ch1x1=q, ch3x3red=q, ch3x3=q, ch5x5red=max(q // 2, 1), ch5x5=q, pool_proj=q)
        return self.conv_bn_act(y, c, k=1, padding=0)

    UNITS = (("res_unit", 7), ("concat_unit", 7), ("res_unit", 7), ("se_unit", 7),
             ("residual_block", 1), ("res_unit", 7), ("inception_unit", 4))


def build_graph() -> tuple[Graph, str, str]:
    """The 500-block graph, the id of the middle transition's pool and of a middle residual conv."""
    b = _Builder()
    x = b.add("Input", shape=[3, 64, 64])
    x = b.conv_bn_act(x, 32)  # stem: 1 + 3
    channels = (32, 64, 128, 256)
    tail = 6  # Flatten, Dropout, Dense, ReLU, Dense, Output
    transition = 4
    budget = TARGET_BLOCKS - len(b.g) - tail - transition * (len(channels) - 1)
    per_stage = [budget // len(channels) + (1 if i < budget % len(channels) else 0) for i in range(len(channels))]
    stage_of_conv: list[tuple[int, str]] = []
    for si, c in enumerate(channels):
        if si:
            x = b.conv_bn_act(x, c)
            pool = "MaxPool2d" if si % 2 else "AvgPool2d"
            x = b.add(pool, x, kernel_size=2)
            if si == len(channels) // 2:
                b.mid_pool = x
        left = per_stage[si]
        ui = 0
        while True:
            name, size = b.UNITS[ui % len(b.UNITS)]
            if size > left:
                break
            before = len(b.local_convs)
            x = getattr(b, name)(x, c)
            stage_of_conv.extend((si, nid) for nid in b.local_convs[before:])
            left -= size
            ui += 1
        for _ in range(left):  # fill up exactly with cheap blocks
            x = b.add("Dropout", x, p=0.0)
    x = b.add("Flatten", x)
    x = b.add("Dropout", x, p=0.5)
    x = b.add("Dense", x, out_features=256)
    x = b.add("ReLU", x)
    x = b.add("Dense", x, out_features=10)
    b.add("Output", x)
    assert len(b.g) == TARGET_BLOCKS, len(b.g)
    order = b.g.topological_order()
    # the residual conv nearest the middle of the topological order
    middle = len(order) // 2
    local = min((nid for _, nid in stage_of_conv), key=lambda nid: abs(order.index(nid) - middle))
    assert b.mid_pool is not None
    return b.g, b.mid_pool, local


def main() -> int:
    args = parse_args(__doc__.splitlines()[0])
    scratch_repeats, edit_repeats = (5, 10) if args.quick else (25, 60)

    g0, pool_id, conv_id = build_graph()
    data = g0.to_dict()
    order = g0.topological_order()
    n_edges = len(g0.edges)
    types = sorted({n.type for n in g0})
    report = infer(g0)
    assert report.ok, report.errors[:3]
    print_header(f"Inference benchmark: {len(g0)} blocks, {n_edges} connections, {len(types)} block types, "
                 f"{report.total_params:,} parameters")
    print(f"  edits at positions {order.index(pool_id)} ({g0.node(pool_id).label()}) and "
          f"{order.index(conv_id)} ({g0.node(conv_id).label()}) of {len(order)} in topological order; "
          f"{len(g0.descendants(pool_id))} and {len(g0.descendants(conv_id))} blocks downstream")

    results = Results("Inference on a 500-block graph (times in ms: median over repeats; min in detail)")

    # --- from scratch --------------------------------------------------------------------------------
    holder: dict[str, Graph] = {}

    def fresh() -> None:
        clear_cache()
        holder["g"] = Graph.from_dict(data)

    def scratch_infer() -> None:
        r = infer(holder["g"])
        assert r.ok

    t = time_repeats(scratch_infer, scratch_repeats, warmup=2, setup=fresh)
    results.add("from scratch: infer(g), cold cache", t.median * 1e3, SCRATCH_BAR_MS, "ms",
                extra=f"min {t.min * 1e3:.2f} ms, {len(t.samples)} repeats")

    def scratch_load_infer() -> None:
        g = Graph.from_dict(data)
        assert infer(g).ok

    t = time_repeats(scratch_load_infer, max(scratch_repeats // 2, 3), warmup=1, setup=clear_cache)
    results.add("from scratch: from_dict + infer(g)", t.median * 1e3, None, "ms",
                extra=f"min {t.min * 1e3:.2f} ms (info; from_dict is not part of the bar)")

    t = time_repeats(lambda: infer(holder["g"]), edit_repeats, warmup=2, setup=None)
    results.add("infer(g) again, nothing changed", t.median * 1e3, None, "ms", extra=f"min {t.min * 1e3:.3f} ms (info)")

    # --- one edit ------------------------------------------------------------------------------------
    g = Graph.from_dict(data)
    assert infer(g).ok
    flatten = g.find("flatten_1")

    for label, nid, key, values in (
        ("reshaping edit (pool kernel 2<->3)", pool_id, "kernel_size", (3, 2)),
        ("local edit (conv kernel 3<->5)", conv_id, "kernel_size", (5, 3)),
    ):
        state = {"i": 0}
        shapes = set()

        def edit(nid=nid, key=key, values=values, state=state, shapes=shapes) -> None:
            g.set_params(nid, **{key: values[state["i"] % 2]})
            state["i"] += 1
            r = infer(g)
            assert r.ok, r.errors[:3]
            shapes.add(r[flatten].output_shape)

        t = time_repeats(edit, edit_repeats, warmup=2, setup=clear_cache)
        results.add(f"{label}, cache-miss", t.median * 1e3, EDIT_BAR_MS, "ms",
                    extra=f"min {t.min * 1e3:.2f} ms, {len(t.samples)} repeats")
        t = time_repeats(edit, edit_repeats, warmup=2)
        results.add(f"{label}, cache-hit", t.median * 1e3, EDIT_BAR_MS, "ms",
                    extra=f"min {t.min * 1e3:.2f} ms, {len(t.samples)} repeats")
        if nid == pool_id:
            assert len(shapes) == 2, f"the reshaping edit should change Flatten's shape, saw {shapes}"
        # leave the graph as it was for the next edit
        g.set_params(nid, **{key: values[1]})

    results.print_table()
    return results.exit_code(args.check)


if __name__ == "__main__":
    sys.exit(main())
