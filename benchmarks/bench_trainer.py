"""The trainer against a minimal hand-written PyTorch loop, its memory over ten runs, and what the templates
learn on their default data.

Bars (training-engine issue):
  throughput, trainer / hand-written loop, same model, data, batch size and optimizer, same process,
  interleaved rounds                                                             ≥ 0.97
  the same with gradient norms (every 25 steps, ≤ 10 a second) and feature maps of the first block (≤ 2 a second)
  on, their default rates                                                        ≥ 0.93
  ten runs in one process: resident memory growth                               < 50 MB
  lenet5 on digits at 28×28 and mlp on digits: validation accuracy and time (reported)
  lstm_text on synthetic_text and gru_timeseries on sine: the last epoch's training loss well below
  the first's (reported as last / first; "well below" read as < 0.5)

Throughput is training samples per second over the training steps (for the trainer: the epochs' steps
including the per-step bookkeeping, the batched loss fetches, gradient norms and feature-map captures,
excluding validation and checkpoints; for the hand loop: the same epochs of steps). The bar is judged on
CPU time of the training thread (`time.thread_time`, the trainer's `result.train_cpu_s`), the median of
the per-round ratios: on a machine shared with other work, wall time swings by ±20 % from one run to the
next while thread CPU time stays within a few per cent, and with one torch thread the CPU time is the
work. The wall-clock ratio (best of the rounds, as timeit takes the minimum) is shown beside it. The hand
loop:

    (X,), (Y,) = bundle.train.inputs, bundle.train.targets
    opt = torch.optim.Adam(model.parameters(), lr=lr, fused=True)  # what the trainer uses
    for epoch in range(E):
        perm = torch.randperm(len(X), generator=gen)
        for idx in perm.split(bs):
            loss = F.cross_entropy(model(X[idx]), Y[idx])
            opt.zero_grad(set_to_none=True); loss.backward(); opt.step()
        loss.item()

The optimizer is the one the trainer builds (fused Adam, about a third faster per step than the foreach
kernels on this CPU; `torch.optim.Adam` with no options, as a first loop would be written, is slower still).
The trainer takes its batches from `TensorSplit.batches`, which gathers many batches' samples with one
`index_select` and slices them, where the hand loop indexes every batch; a third row, shown without a bar,
runs the hand loop on `TensorSplit.batches` too, so that the trainer's own bookkeeping is seen alone.
The trainer writes its run folder (checkpoints, CSV/JSONL, TensorBoard) as in normal use.
Torch runs with --threads (default 1): on a 2-core machine shared with other work, two OpenMP threads make
tiny ops wait on each other and the figures meaningless.

Run: .venv/bin/python benchmarks/bench_trainer.py [--check] [--quick] [--threads N]
"""

from __future__ import annotations

import gc
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch
import torch.nn.functional as F
from common import Results, environment_line, parse_args

from layerloom.core import build_model
from layerloom.core.data import load_data
from layerloom.core.templates import load_template
from layerloom.core.training import EpochEnd, TrainControl, Trainer

RATIO_BAR = 0.97
RATIO_INSTRUMENTED_BAR = 0.93
MEMORY_BAR_MB = 50.0
LEARN_BAR = 0.5



def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def load(template: str):
    project = load_template(template)
    s = project.training
    prepared = load_data(project.data.source, dict(project.data.options), val_fraction=s.val_fraction, seed=s.seed)
    return project, prepared


def hand_loop(project, prepared, epochs: int, *, own_batches: bool = False) -> tuple[float, float]:
    """(samples per wall second, samples per CPU second) of the minimal loop. `own_batches`: the batches
    come from Layerloom's `TensorSplit.batches` (the trainer's data path) instead of indexing per batch."""
    s = project.training
    model = build_model(project.graph, seed=s.seed)
    opt = torch.optim.Adam(model.parameters(), lr=s.lr, fused=True)
    gen = torch.Generator().manual_seed(s.seed)
    (X,), (Y,) = prepared.train.inputs, prepared.train.targets
    assert prepared.train.transform is None, "the hand loop has no augmentation"
    bs = s.batch_size
    model.train()
    n = 0
    t0, c0 = time.perf_counter(), time.thread_time()
    for _ in range(epochs):
        if own_batches:
            batches = ((x, y) for (x,), (y,) in prepared.train.batches(bs, shuffle=True, generator=gen))
        else:
            perm = torch.randperm(len(X), generator=gen)
            batches = ((X[idx], Y[idx]) for idx in perm.split(bs))
        for x, y in batches:
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            n += x.shape[0]
        loss.item()
    return n / (time.perf_counter() - t0), n / (time.thread_time() - c0)


def first_block(project) -> str:
    g = project.graph
    inp = next(n for n in g if n.type == "Input")
    return g.node(g.out_edges(inp.id)[0].dst).name


def trainer_run(project, prepared, epochs: int, root: str, *, instrumented: bool, threads: int):
    settings = type(project.training)(**{**project.training.to_dict(), "epochs": epochs, "threads": threads,
                                          "device": "cpu"})
    control = TrainControl()
    if instrumented:
        control.set_feature_blocks([first_block(project)])
    trainer = Trainer(project, prepared, settings=settings, run_root=root, grad_every=25 if instrumented else 0)
    sink_events = []
    result = trainer.run(sink_events.append, control)
    if result.status != "finished":
        raise SystemExit(f"the trainer failed: {result.message}")
    return result, sink_events


def throughput(results: Results, template: str, epochs: int, rounds: int, threads: int, root: str) -> None:
    project, prepared = load(template)
    hand_loop(project, prepared, 1)  # warm-up
    hand_loop(project, prepared, 1, own_batches=True)
    trainer_run(project, prepared, 1, root, instrumented=True, threads=threads)
    samples = epochs * len(prepared.train)
    wall = {"hand": [], "plain": [], "instr": [], "own": []}
    cpu = {"hand": [], "plain": [], "instr": [], "own": []}
    ratios = {"plain": [], "instr": [], "own": []}
    for _ in range(rounds):
        for kind in ("plain", "instr"):  # interleaved: hand, trainer, hand, instrumented trainer
            hw, hc = hand_loop(project, prepared, epochs)
            result, events = trainer_run(project, prepared, epochs, root, instrumented=kind == "instr",
                                         threads=threads)
            tc = samples / result.train_cpu_s
            wall["hand"].append(hw)
            cpu["hand"].append(hc)
            wall[kind].append(result.samples_per_s)
            cpu[kind].append(tc)
            ratios[kind].append(tc / hc)
            if kind == "instr":
                n_maps = sum(1 for e in events if e.kind == "feature_maps")
                n_grads = sum(1 for e in events if e.kind == "gradient_stats")
            else:
                ow, oc = hand_loop(project, prepared, epochs, own_batches=True)
                wall["own"].append(ow)
                cpu["own"].append(oc)
                ratios["own"].append(tc / oc)
    med = {k: statistics.median(v) for k, v in cpu.items()}
    best = {k: max(v) for k, v in wall.items()}
    for kind, label, bar in (("plain", "trainer / hand loop", RATIO_BAR),
                             ("instr", "instrumented trainer / hand loop", RATIO_INSTRUMENTED_BAR)):
        r = ratios[kind]
        extra = (f"CPU: hand {med['hand']:,.0f}, trainer {med[kind]:,.0f} samples/s (median of {rounds}, "
                 f"per-round ratios {min(r):.3f}–{max(r):.3f}); wall, best of {rounds}: "
                 f"{best[kind] / best['hand']:.3f} ({best['hand']:,.0f} vs {best[kind]:,.0f} samples/s)")
        if kind == "instr":
            extra += f"; a run: {n_grads} gradient stats, {n_maps} feature-map frames"
        results.add(f"{template}: {label}", statistics.median(r), bar, "×", lower_is_better=False, extra=extra)
    r = ratios["own"]
    results.add(f"{template}: trainer / hand loop on TensorSplit.batches", statistics.median(r), None, "×",
                lower_is_better=False,
                extra=f"the trainer's bookkeeping alone: the hand loop takes its batches from the trainer's data path "
                      f"({med['own']:,.0f} samples/s; per-round ratios {min(r):.3f}–{max(r):.3f})")


def memory(results: Results, threads: int, root: str) -> None:
    project, prepared = load("mlp")
    trainer_run(project, prepared, 2, root, instrumented=True, threads=threads)  # warm-up: imports, caches
    gc.collect()
    before = rss_mb()
    for _ in range(10):
        trainer_run(project, prepared, 2, root, instrumented=True, threads=threads)
    gc.collect()
    after = rss_mb()
    results.add("ten runs in one process: RSS growth", after - before, MEMORY_BAR_MB, "MB",
                extra=f"{before:.0f} → {after:.0f} MB (mlp on digits, 2 epochs, run folders + TensorBoard, "
                      "gradient stats and feature maps on)")


def learn(results: Results, template: str, epochs: int | None, threads: int, root: str, kind: str) -> None:
    project, prepared = load(template)
    epochs = epochs or project.training.epochs
    t0 = time.perf_counter()
    result, events = trainer_run(project, prepared, epochs, root, instrumented=False, threads=threads)
    wall = time.perf_counter() - t0
    ends = [e for e in events if isinstance(e, EpochEnd)]
    if kind == "accuracy":
        results.add(f"{template} on {prepared.info.name}: validation accuracy", result.final["val_accuracy"] * 100,
                    None, "%", lower_is_better=False,
                    extra=f"{epochs} epochs in {wall:.1f} s ({result.samples_per_s:,.0f} samples/s), "
                          f"best {result.best * 100:.1f}%")
    else:
        ratio = ends[-1].train_loss / ends[0].train_loss
        metric = (f"val_accuracy {result.final['val_accuracy']:.3f}" if "val_accuracy" in result.final
                  else f"val_r2 {result.final.get('val_r2', float('nan')):.3f}")
        results.add(f"{template} on {prepared.info.name}: last / first epoch loss", ratio, LEARN_BAR, "×",
                    extra=f"{ends[0].train_loss:.4f} → {ends[-1].train_loss:.4f}, {metric}; {epochs} epochs in "
                          f"{wall:.1f} s")


def main() -> int:
    args = parse_args(__doc__.splitlines()[0], threads=True)
    torch.set_num_threads(args.threads)
    print(environment_line())
    print(f"torch threads for the runs: {args.threads}; load average {os.getloadavg()[0]:.2f} "
          "(other work on the machine makes every figure noisier)")
    results = Results("Trainer: throughput against a hand-written loop, memory, learning")
    rounds = 3 if args.quick else 15
    with tempfile.TemporaryDirectory() as root:
        throughput(results, "mlp", 2 if args.quick else 10, rounds, args.threads, root)
        throughput(results, "lenet5", 1 if args.quick else 2, rounds, args.threads, root)
        memory(results, args.threads, root)
        learn(results, "lenet5", 3 if args.quick else None, args.threads, root, "accuracy")
        learn(results, "mlp", 5 if args.quick else None, args.threads, root, "accuracy")
        learn(results, "lstm_text", 3 if args.quick else None, args.threads, root, "loss")
        learn(results, "gru_timeseries", 4 if args.quick else None, args.threads, root, "loss")
    results.print_table()
    return results.exit_code(args.check)


if __name__ == "__main__":
    sys.exit(main())
