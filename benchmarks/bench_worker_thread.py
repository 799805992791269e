"""Training in a worker thread (as the window does) against the main thread (as `layerloom train`), no Qt at all.

Each run is a fresh process training lenet5 on the built-in digits for EPOCHS epochs with `Trainer` (run_root=None):
  main      the Trainer in the process's main thread
  worker    the Trainer in a plain worker thread; the main thread imports torch but runs no tensor work (as the
            window's GUI thread), and the data is loaded in the worker
  nice      the same, the worker stepped back first (core/training/threads.py run_in_background: nice +5)
Rounds run the three in turn; the figures are the medians of the per-round ratios to `main`. No bar: this splits
the window's gap to the command line (bench_training_window.py) into what threads cost and what drawing costs.

    .venv/bin/python benchmarks/bench_worker_thread.py [--quick]
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
EPOCHS, ROUNDS = 30, 7
MODES = ("main", "worker", "nice")

CHILD = r"""
import json, sys, threading
from layerloom.core.data import load_data
from layerloom.core.templates import load_template
from layerloom.core.training import TrainControl, Trainer

mode, epochs = sys.argv[1], int(sys.argv[2])
project = load_template("lenet5")
s = project.training
settings = type(s)(**{**s.to_dict(), "epochs": epochs, "device": "cpu"})


def run():
    data = load_data(project.data.source, dict(project.data.options), val_fraction=s.val_fraction, seed=s.seed)
    trainer = Trainer(project, data, settings=settings, run_root=None)
    result = trainer.run(lambda event: None, TrainControl())
    return result.samples_per_s, trainer.threads.threads


if mode == "main":
    rate = run()
else:
    from layerloom.core.training.threads import run_in_background

    out = {}

    def work():
        if mode == "nice":
            run_in_background()
        out["rate"] = run()

    worker = threading.Thread(target=work)
    worker.start()
    worker.join()
    rate = out["rate"]
print(json.dumps(rate))
"""


def one(mode: str, epochs: int) -> tuple[float, int]:
    done = subprocess.run([sys.executable, "-c", CHILD, mode, str(epochs)], capture_output=True, text=True,
                          cwd=os.path.dirname(HERE), timeout=600)
    if done.returncode != 0:
        raise SystemExit(f"the {mode} run failed:\n{done.stderr[-3000:]}")
    rate, threads = json.loads(done.stdout.strip().splitlines()[-1])
    return float(rate), int(threads)


def main() -> int:
    sys.path.insert(0, HERE)
    from common import Results, environment_line, parse_args

    args = parse_args(__doc__.splitlines()[0])
    rounds, epochs = (2, 5) if args.quick else (ROUNDS, EPOCHS)
    print(environment_line())
    got: dict[str, list[tuple[float, int]]] = {m: [] for m in MODES}
    for r in range(rounds):
        for mode in MODES:
            got[mode].append(one(mode, epochs))
        print(f"  round {r + 1}: " + "; ".join(f"{m} {got[m][-1][0]:,.0f}/s ({got[m][-1][1]} thr)" for m in MODES),
              flush=True)
    results = Results(f"lenet5, {epochs} epochs, {rounds} rounds: a worker thread against the main thread")
    results.add("main thread (as the command line)", statistics.median(r for r, _ in got["main"]), None, "samples/s",
                lower_is_better=False)
    for mode in ("worker", "nice"):
        ratios = [w / m for (w, _), (m, _) in zip(got[mode], got["main"], strict=True)]
        results.add(f"{mode} / main", statistics.median(ratios), None, "×", lower_is_better=False,
                    extra=" ".join(f"{x:.3f}" for x in ratios))
    results.print_table()
    return 0


if __name__ == "__main__":
    sys.exit(main())
