"""Training with the recurrent views on: samples/s of the trainer looking inside its recurrent block against the same
trainer with every view off.

Bar (issue 14): instrumented training (these views on, default rates) at ≥ 0.95 of uninstrumented samples/s, for
`lstm_text` (an LSTM of 64 units over 64 tokens, on synthetic_text) and `bigru_sequence` (a 2-layer bidirectional
GRU of 64 units over 50 steps, on synthetic_sequences), each on its own data.

  off   TrainControl() with nothing asked for, grad_every=0: no gradient norms, no feature maps, no looks
  on    what the window asks for while the Inside RNN or the Gradients tab shows the selected recurrent block
        (gui/training/live_views.py `update_capture`): control.set_recurrent_block(block) (a RecurrentInside —
        states, gates, gradients through time on the probe sample — at the feature-map rate, paced by its cost:
        core/training/recurrent_looks.py) and gradient norms (every 25 steps, ≤ 10 a second): the Trainer's
        defaults. Feature maps are asked for only while their own tab shows, never at the same time.

Samples/s are training samples over the training thread's CPU time (`result.train_cpu_s`, as bench_trainer.py
judges its bars: on a shared machine wall time swings far more than thread CPU time, and the looks run on the
training thread, so they are in it); the median of the per-round ratios, off and on interleaved in the same process.
The wall-clock ratio (best of the rounds) is shown beside it. No run folder (run_root=None): the views are what is
measured. Torch runs with --threads (default 1).

Run: .venv/bin/python benchmarks/bench_recurrent_training.py [--check] [--quick] [--threads N]
"""

from __future__ import annotations

import dataclasses
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch
from common import Results, parse_args, print_header

from layerloom.core.data import load_data
from layerloom.core.templates import load_template
from layerloom.core.training import TrainControl, Trainer

BAR = 0.95
# template → (its recurrent block, epochs of a round: a run of about 4 s, several looks at the steady rate each)
CASES = {"lstm_text": ("lstm", 10), "bigru_sequence": ("bigru", 5)}


def run(project, prepared, epochs: int, block: str, *, on: bool, threads: int):
    settings = dataclasses.replace(project.training, epochs=epochs, threads=threads, device="cpu")
    control = TrainControl()
    if on:
        control.set_recurrent_block(block)
    trainer = Trainer(project, prepared, settings=settings, run_root=None, grad_every=25 if on else 0)
    events: list = []
    result = trainer.run(events.append, control)
    if result.status != "finished":
        raise SystemExit(f"the trainer failed: {result.message}")
    return result, events


def measure(results: Results, template: str, rounds: int, threads: int) -> None:
    block, epochs = CASES[template]
    project = load_template(template)
    s = project.training
    prepared = load_data(project.data.source, dict(project.data.options), val_fraction=s.val_fraction, seed=s.seed)
    run(project, prepared, 1, block, on=True, threads=threads)  # warm-up: imports, caches, the first look
    samples = epochs * len(prepared.train)
    cpu = {"off": [], "on": []}
    wall = {"off": [], "on": []}
    ratios: list[float] = []
    counts = {}
    for i in range(rounds):
        order = ("off", "on") if i % 2 == 0 else ("on", "off")  # interleaved, each side first half the time
        figures = {}
        for kind in order:
            result, events = run(project, prepared, epochs, block, on=kind == "on", threads=threads)
            figures[kind] = samples / result.train_cpu_s
            cpu[kind].append(figures[kind])
            wall[kind].append(result.samples_per_s)
            if kind == "on":
                counts = {k: sum(1 for e in events if e.kind == k)
                          for k in ("recurrent_inside", "feature_maps", "gradient_stats")}
                seconds = result.train_cpu_s
        ratios.append(figures["on"] / figures["off"])
    med = {k: statistics.median(v) for k, v in cpu.items()}
    results.add(f"{template} ({block}): views on / off", statistics.median(ratios), BAR, "×", lower_is_better=False,
                extra=f"CPU: off {med['off']:,.0f}, on {med['on']:,.0f} samples/s (median of {rounds}, per-round "
                      f"ratios {min(ratios):.3f}–{max(ratios):.3f}); wall, best of {rounds}: "
                      f"{max(wall['on']) / max(wall['off']):.3f}; a run of {epochs} epochs ({seconds:.1f} s): "
                      f"{counts['recurrent_inside']} looks inside, {counts['feature_maps']} feature-map frames, "
                      f"{counts['gradient_stats']} gradient stats")


def main() -> int:
    args = parse_args(__doc__.splitlines()[0], threads=True)
    torch.set_num_threads(args.threads)
    print_header(f"Recurrent views while training: on against off, torch threads {args.threads}; load average "
                 f"{os.getloadavg()[0]:.2f}")
    results = Results("Instrumented training / uninstrumented, training-thread CPU samples/s")
    rounds = 3 if args.quick else 6
    for template in CASES:
        measure(results, template, rounds, args.threads)
    results.print_table()
    return results.exit_code(args.check)


if __name__ == "__main__":
    sys.exit(main())
