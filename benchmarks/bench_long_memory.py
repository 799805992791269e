"""The `rnn_long_memory` lesson over several seeds: the template as shipped (a simple RNN) and the same
graph with the RNN block swapped for a GRU and for an LSTM (same hidden size), on the template's data and
training settings.

Bars (recurrent-views issue, point 6: a simple RNN stays at chance, a gated cell learns it):
  simple RNN: the median validation accuracy over the seeds                     < 60 %  (chance: 50 %)
  GRU: the median validation accuracy over the seeds                            ≥ 95 %
  LSTM: reported only (PyTorch starts its forget gate half shut; it learns the task for some seeds only)

Each seed sets the data (`data_seed`), the split and the training seed. Torch runs with one thread.
"""

from __future__ import annotations

import dataclasses
import statistics
import sys
import time

from common import Results, environment_line, parse_args

from layerloom.core import Graph
from layerloom.core.data import load_data
from layerloom.core.templates import load_template
from layerloom.core.training import Trainer

BARS = {"RNN": (60.0, True), "GRU": (95.0, False), "LSTM": (None, False)}


def with_cell(graph: Graph, cell: str) -> Graph:
    d = graph.to_dict()
    for node in d["nodes"]:
        if node["type"] == "RNN":
            node["type"] = cell
    return Graph.from_dict(d)


def main() -> int:
    import torch

    args = parse_args(__doc__.splitlines()[0])
    torch.set_num_threads(1)
    print(environment_line())
    project = load_template("rnn_long_memory")
    seeds = range(2) if args.quick else range(5)
    accuracy: dict[str, list[float]] = {cell: [] for cell in BARS}
    seconds: dict[str, list[float]] = {cell: [] for cell in BARS}
    for seed in seeds:
        data = load_data(project.data.source, {**project.data.options, "data_seed": seed}, seed=seed)
        settings = dataclasses.replace(project.training, device="cpu", threads=1, seed=seed)
        for cell in BARS:
            t0 = time.perf_counter()
            result = Trainer(with_cell(project.graph, cell), data, settings=settings, run_root=None).run()
            seconds[cell].append(time.perf_counter() - t0)
            accuracy[cell].append(result.final["val_accuracy"] * 100)
    results = Results(f"rnn_long_memory: {project.training.epochs} epochs of "
                      f"{data.info.train_size:,} sequences of 50 words, seeds 0–{len(seeds) - 1}")
    for cell, (bar, lower) in BARS.items():
        each = ", ".join(f"{a:.1f}" for a in accuracy[cell])
        results.add(f"{cell}: validation accuracy (median)", statistics.median(accuracy[cell]), bar, "%",
                    lower_is_better=lower,
                    extra=f"per seed {each}; {statistics.median(seconds[cell]):.1f} s a run (median)")
    results.print_table()
    return results.exit_code(args.check)


if __name__ == "__main__":
    sys.exit(main())
