"""`layerloom summary` on long networks: the time for 2,000, 8,000 and 32,000 blocks and how it grows.

What is timed is the command's work without starting Python: reading the project file (load_project, which
checks every block and connection), inference and the table (summarize + format_summary). The network is a
chain Input → (Dense → ReLU)… → Output, stored in the order it was built and, as a second case, back to
front (the connections listed from the Output up), which once made loading quadratic.

Bar (issue 12): the time per doubling of the blocks, (t(32k) / t(8k)) ** (1/2) from the fastest runs, below
3.0: linear work doubles (2.0; a little more with the garbage collector's passes over many objects), quadratic
work quadruples (4.0). Before the fix: 8k 2.8 s, 16k 9.2 s, 32k 45.9 s.
Run: .venv/bin/python benchmarks/bench_summary.py [--check] [--quick]
"""

from __future__ import annotations

import itertools
import json
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from common import Results, parse_args, print_header, time_repeats  # noqa: E402

SIZES = (2_000, 8_000, 32_000)
BAR = 3.0


def chain_project(blocks: int, back_to_front: bool) -> dict:
    """A project file's data: Input, Dense/ReLU pairs, Output; `blocks` blocks in all."""
    nodes = [{"id": "n0", "type": "Input", "name": "x", "params": {"shape": [16]}}]
    for i in range(1, blocks - 1):
        kind = "Dense" if i % 2 else "ReLU"
        params = {"out_features": 16} if kind == "Dense" else {}
        nodes.append({"id": f"n{i}", "type": kind, "name": f"{kind.lower()}_{i}", "params": params})
    nodes.append({"id": f"n{blocks - 1}", "type": "Output", "name": "y", "params": {"loss": "mse"}})
    edges = [{"src": {"node": f"n{i}"}, "dst": {"node": f"n{i + 1}"}} for i in range(blocks - 1)]
    if back_to_front:
        nodes.reverse()
        edges.reverse()
    return {"format": "layerloom-project", "schema_version": 1, "data": {"source": "iris"}, "training": {},
            "nodes": nodes, "edges": edges}


def summary_of(path: str) -> str:
    from layerloom.core.cli import format_summary, summarize
    from layerloom.core.project import load_project

    return format_summary(summarize(load_project(path), path))


def main() -> int:
    args = parse_args(__doc__.splitlines()[0])
    print_header("layerloom summary on long chains of blocks")
    results = Results("Summary: load, infer and tabulate a long network (seconds)")
    with tempfile.TemporaryDirectory() as tmp:
        for back_to_front in (False, True):
            order = "stored back to front" if back_to_front else "stored in order"
            seconds = {}
            for n in SIZES:
                path = os.path.join(tmp, f"chain-{n}-{int(back_to_front)}.json")
                with open(path, "w", encoding="utf-8") as f:
                    json.dump(chain_project(n, back_to_front), f)
                repeats = 1 if args.quick else 3
                timing = time_repeats(lambda p=path: summary_of(p), repeats, warmup=0 if n >= 32_000 else 1)
                seconds[n] = timing.min  # the least disturbed run: the machine is shared
                results.add(f"{n:,} blocks, {order}", timing.median, None, "s",
                            extra=f"min {timing.min:.3f} s, {repeats} run{'s' if repeats > 1 else ''}")
            for a, b in itertools.pairwise(SIZES):
                growth = (seconds[b] / seconds[a]) ** (1 / 2)  # b = 4 a: two doublings
                results.add(f"growth per doubling {a // 1000}k → {b // 1000}k, {order}", growth,
                            BAR if b == SIZES[-1] else None, "×", extra="linear 2.0, quadratic 4.0")
    results.print_table()
    return results.exit_code(args.check)


if __name__ == "__main__":
    sys.exit(main())
