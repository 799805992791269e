"""The GAN recipe: the trainer on dcgan_digits against a hand-written loop of the same algorithm, and what it learns.

Bars (generative-models issue):
  throughput, trainer (GAN recipe) / hand-written GAN loop (gan_hand.py), same generator and discriminator,
  initial weights, data, batch size, optimizer and step ratio, same process, interleaved rounds    ≥ 0.95
  per epoch (reported): D loss, G loss, mean D(real), mean D(fake), and the generator's 64 samples from a fixed
  noise batch scored by digit_scorer.py (share classified with ≥ 0.9 confidence, how many distinct classes)

Throughput is training samples (real images) per second of CPU time of the training thread (`time.thread_time`;
the trainer's `result.train_cpu_s`), the median of the per-round ratios, as in bench_trainer.py and bench_vae.py;
the wall-clock ratio, best of the rounds, is shown beside it. The hand loop (gan_hand.py's `gan_epochs`, keeping
nothing per step) starts from the trainer's initial weights. The trainer writes its run folder as in normal use.

Run: .venv/bin/python benchmarks/bench_gan.py [--check] [--quick] [--threads N]
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import digit_scorer
import gan_hand
import torch
from common import Results, environment_line, parse_args

RATIO_BAR = 0.95
TEMPLATE = "dcgan_digits"


def load():
    from layerloom.core.data import load_data
    from layerloom.core.templates import load_template

    project = load_template(TEMPLATE)
    s = project.training
    prepared = load_data(project.data.source, dict(project.data.options), val_fraction=s.val_fraction, seed=s.seed)
    return project, prepared


def networks(project):
    """The compiled model, its generator and discriminator (sharing its weights), as the trainer builds them."""
    from layerloom.core import build_model
    from layerloom.core.training.gan_networks import shared_networks

    model = build_model(project.graph, seed=project.training.seed)
    return (model, *shared_networks(project.graph, model))


def hand_setup(project):
    """The hand-written G, D and optimizer with the trainer's initial weights and settings."""
    s = project.training
    _, g_compiled, d_compiled = networks(project)
    g, d = gan_hand.HandG(), gan_hand.HandD()
    gan_hand.copy_weights(g, g_compiled)
    gan_hand.copy_weights(d, d_compiled)
    return g, d, gan_hand.hand_optimizer(g, d, lr=s.lr, d_lr=s.discriminator_lr, beta1=s.beta1)


def hand_run(project, prepared, epochs: int, *, tally: bool = False, on_epoch=None, rng_state=None):
    """The hand loop from the trainer's start: its weights, global seed (or `rng_state`, the global generator's
    state to start from) and shuffling seed."""
    s = project.training
    assert prepared.train.transform is None, "the hand loop has no augmentation"
    g, d, opt = hand_setup(project)
    torch.manual_seed(s.seed)  # the trainer seeds the global generator (the noise) so
    if rng_state is not None:
        torch.random.set_rng_state(rng_state)
    gen = torch.Generator().manual_seed(s.seed)  # and its shuffling generator so
    result = gan_hand.gan_epochs(g, d, opt, prepared.train.inputs[0], epochs, gen, batch=s.batch_size,
                                 d_steps=s.d_steps, g_steps=s.g_steps, tally=tally,
                                 on_epoch=None if on_epoch is None else (lambda e, st: on_epoch(e, st, g)))
    return result, g, d


def trainer_run(project, prepared, epochs: int, root: str | None, threads: int, sink=None):
    from layerloom.core.training import TrainControl, Trainer

    settings = type(project.training)(**{**project.training.to_dict(), "epochs": epochs, "threads": threads,
                                          "device": "cpu"})
    events = []
    trainer = Trainer(project, prepared, settings=settings, run_root=root)
    result = trainer.run(sink or events.append, TrainControl())
    if result.status != "finished":
        raise SystemExit(f"the trainer failed: {result.message}")
    return result, events, trainer


def same_as_hand(project, prepared, threads: int) -> float:
    """The largest difference between any weight after one epoch of the trainer and of the hand loop from
    the same start (0 when the hand loop is the recipe's algorithm, random numbers and all). The global
    generator is taken as it is when the trainer starts its first step: setting the run up draws from it
    (shared_networks builds each network once unseeded before it takes the whole model's blocks)."""
    from layerloom.core.training import RunStarted

    state = {}

    def sink(event):  # the global generator's state when the first step is about to be taken
        if isinstance(event, RunStarted):
            state["rng"] = torch.random.get_rng_state()

    _, _, trainer = trainer_run(project, prepared, 1, None, threads, sink=sink)
    _, g, d = hand_run(project, prepared, 1, rng_state=state["rng"])
    from layerloom.core.training.gan_networks import shared_networks

    g_t, d_t = shared_networks(project.graph, trainer.model)
    diff = 0.0
    for hand, theirs in ((g, g_t), (d, d_t)):
        for a, b in zip(hand.state_dict().values(), theirs.state_dict().values(), strict=True):
            diff = max(diff, float((a.double() - b.double()).abs().max()))
    return diff


def throughput(results: Results, project, prepared, epochs: int, rounds: int, threads: int, root: str) -> None:
    hand_run(project, prepared, 1)  # warm-up
    trainer_run(project, prepared, 1, root, threads)
    samples = epochs * len(prepared.train)
    wall, cpu, ratios = {"hand": [], "trainer": []}, {"hand": [], "trainer": []}, []
    for i in range(rounds):  # interleaved; which side goes first alternates
        order = ("hand", "trainer") if i % 2 == 0 else ("trainer", "hand")
        got = {}
        for side in order:
            if side == "hand":
                (hw, hc, _), _, _ = hand_run(project, prepared, epochs)
                got["hand"] = (hw, hc)
            else:
                result, _, _ = trainer_run(project, prepared, epochs, root, threads)
                got["trainer"] = (result.samples_per_s, samples / result.train_cpu_s)
        for side, (w, c) in got.items():
            wall[side].append(w)
            cpu[side].append(c)
        ratios.append(got["trainer"][1] / got["hand"][1])
    med = {k: statistics.median(v) for k, v in cpu.items()}
    best = {k: max(v) for k, v in wall.items()}
    results.add(f"{TEMPLATE}: trainer (GAN recipe) / hand-written GAN loop", statistics.median(ratios), RATIO_BAR,
                "×", lower_is_better=False,
                extra=f"CPU: hand {med['hand']:,.0f}, trainer {med['trainer']:,.0f} samples/s (median of {rounds}, "
                      f"per-round ratios {min(ratios):.3f}–{max(ratios):.3f}); wall, best of {rounds}: "
                      f"{best['trainer'] / best['hand']:.3f} ({best['hand']:,.0f} vs {best['trainer']:,.0f} "
                      f"samples/s); {epochs} epoch(s) a run, batch {project.training.batch_size}")


def print_epochs(title: str, rows: list[tuple]) -> None:
    """One line per epoch: losses, D(real), D(fake) and the scored samples."""
    print(f"\n{title}, per epoch (training means over the epoch's steps; the 64 samples of the fixed noise batch "
          "scored by digit_scorer):")
    print(f"  {'epoch':>5}  {'D loss':>7}  {'G loss':>7}  {'D(real)':>7}  {'D(fake)':>7}  {'≥0.9 conf.':>10}  "
          f"{'classes':>7}  histogram")
    for epoch, d_loss, g_loss, d_real, d_fake, (share, classes, hist) in rows:
        print(f"  {epoch + 1:>5}  {d_loss:>7.3f}  {g_loss:>7.3f}  {d_real:>7.3f}  {d_fake:>7.3f}  {share:>10.3f}  "
              f"{classes:>7}  {hist}")


def learn(results: Results, project, prepared, epochs: int, threads: int, root: str) -> None:
    """A run of the trainer, per epoch: losses, D(real), D(fake) and its samples from a fixed noise batch scored
    (the hand loop gives the same figures: see same_as_hand; gan_hand.py prints them for a hand run alone)."""
    from layerloom.core.model_modes import eval_mode
    from layerloom.core.training import EpochEnd
    from layerloom.core.training.gan_networks import shared_networks

    scorer = digit_scorer.trained_scorer()
    noise = gan_hand.fixed_noise()
    rows: list[tuple] = []
    holder = {}

    def sink(event):  # called in the training thread, between epochs: G is not training at that moment
        if isinstance(event, EpochEnd):
            model = holder["trainer"].model
            generator, _ = shared_networks(project.graph, model)
            with torch.no_grad(), eval_mode(model):
                samples = generator(noise)
            m = event.metrics
            rows.append((event.epoch, m["train_d_loss"], m["train_g_loss"], m["d_real"], m["d_fake"],
                         scorer.score(samples)))

    from layerloom.core.training import TrainControl, Trainer

    settings = type(project.training)(**{**project.training.to_dict(), "epochs": epochs, "threads": threads,
                                          "device": "cpu"})
    holder["trainer"] = trainer = Trainer(project, prepared, settings=settings, run_root=root)
    t0 = time.perf_counter()
    result = trainer.run(sink, TrainControl())
    wall = time.perf_counter() - t0
    if result.status != "finished":
        raise SystemExit(f"the trainer failed: {result.message}")
    print_epochs(f"{TEMPLATE} with the trainer (GAN recipe)", rows)
    share, classes, _ = rows[-1][-1]
    best = max(rows, key=lambda r: r[-1][0])
    results.add(f"{TEMPLATE}: samples ≥ 0.9 confident, last epoch", share, None, "", lower_is_better=False,
                extra=f"{classes} distinct classes; best: epoch {best[0] + 1}, {best[-1][0]:.3f} over {best[-1][1]} "
                      f"classes; {epochs} epochs in {wall:.1f} s (the scorer's held-out accuracy "
                      f"{scorer.accuracy:.3f})")
    results.add(f"{TEMPLATE}: mean D(real) / D(fake), last epoch", rows[-1][3], None, "", lower_is_better=False,
                extra=f"D(fake) {rows[-1][4]:.3f}; D loss {rows[-1][1]:.3f}, G loss {rows[-1][2]:.3f}")


def main() -> int:
    args = parse_args(__doc__.splitlines()[0], threads=True)
    torch.set_num_threads(args.threads)
    print(environment_line())
    print(f"torch threads for the runs: {args.threads}; load average {os.getloadavg()[0]:.2f} "
          "(other work on the machine makes every figure noisier)")
    results = Results("GAN recipe: throughput against a hand-written GAN loop, what it learns")
    project, prepared = load()
    diff = same_as_hand(project, prepared, args.threads)
    results.add(f"{TEMPLATE}: one epoch, trainer vs hand loop from the same start: largest weight difference", diff,
                None, "", extra="the same algorithm, batches and random numbers (0 up to float rounding)")
    with tempfile.TemporaryDirectory() as root:
        throughput(results, project, prepared, 1 if args.quick else 2, 3 if args.quick else 9, args.threads, root)
        learn(results, project, prepared, 3 if args.quick else project.training.epochs, args.threads, root)
    results.print_table()
    return results.exit_code(args.check)


if __name__ == "__main__":
    sys.exit(main())
