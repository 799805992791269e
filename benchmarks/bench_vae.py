"""The VAE recipe: the trainer on vae_digits against a hand-written VAE loop, and what it learns per epoch.

Bars (generative-models issue):
  throughput, trainer (VAE recipe) / hand-written VAE loop, same architecture, weights, data, batch size,
  optimizer and β, same process, interleaved rounds                              ≥ 0.95
  per-epoch reconstruction error (the validation mse) and KL term of vae_digits on digits 28×28 (reported:
  one line per epoch, read from the run's EpochEnd events, metrics val_reconstruction and val_kl)

Throughput is training samples per second of CPU time of the training thread (`time.thread_time`; the
trainer's `result.train_cpu_s`), the median of the per-round ratios, as in bench_trainer.py (whose docstring
says why CPU time and not wall time); the wall-clock ratio, best of the rounds, is shown beside it. The hand
loop is a plain `nn.Module` VAE (Linear layers, the reparameterization and the closed-form KL written out),
its weights copied from the trainer's initial model:

    opt = torch.optim.Adam(model.parameters(), lr=lr, fused=True)  # what the trainer uses
    for idx in torch.randperm(len(X), generator=gen).split(bs):
        x = X[idx]
        out, mean, log_var = model(x)           # z = mean + exp(½·log_var)·ε inside
        kl = (-0.5 * (1 + log_var - mean**2 - log_var.exp()).sum(1)).mean()
        loss = F.mse_loss(out, x) + beta * kl
        opt.zero_grad(set_to_none=True); loss.backward(); opt.step()

The trainer writes its run folder (checkpoints, CSV/JSONL, TensorBoard) as in normal use and validates every
epoch (validation is outside the timed steps, for both).

Run: .venv/bin/python benchmarks/bench_vae.py [--check] [--quick] [--threads N]
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch
import torch.nn.functional as F
from common import Results, environment_line, parse_args
from torch import nn

from layerloom.core import build_model
from layerloom.core.data import load_data
from layerloom.core.templates import load_template
from layerloom.core.training import EpochEnd, TrainControl, Trainer

RATIO_BAR = 0.95
TEMPLATE = "vae_digits"


class HandVAE(nn.Module):
    """vae_digits written by hand: 784 → 256 → (mean, log_var) 2 → z → 256 → 784 → sigmoid → 1×28×28."""

    def __init__(self):
        super().__init__()
        self.enc, self.mean, self.log_var = nn.Linear(784, 256), nn.Linear(256, 2), nn.Linear(256, 2)
        self.dec1, self.dec2 = nn.Linear(2, 256), nn.Linear(256, 784)

    def forward(self, x):
        h = F.relu(self.enc(x.flatten(1)))
        mean, log_var = self.mean(h), self.log_var(h)
        if self.training:
            z = mean + torch.exp(0.5 * log_var) * torch.randn_like(mean)
        else:
            z = mean
        return torch.sigmoid(self.dec2(F.relu(self.dec1(z)))).reshape(-1, 1, 28, 28), mean, log_var


def hand_model(project) -> HandVAE:
    """The hand VAE with the trainer's initial weights (the template's seed)."""
    compiled = build_model(project.graph, seed=project.training.seed)
    hand = HandVAE()
    for mine, theirs in (("enc", "enc_hidden"), ("mean", "mean"), ("log_var", "log_var"), ("dec1", "dec_hidden"),
                         ("dec2", "dec_pixels")):
        getattr(hand, mine).load_state_dict(compiled.get_submodule(theirs).state_dict())
    return hand


def beta_of(project) -> float:
    return next(n.params["beta"] for n in project.graph if n.type == "Sample")


def load():
    project = load_template(TEMPLATE)
    s = project.training
    prepared = load_data(project.data.source, dict(project.data.options), val_fraction=s.val_fraction, seed=s.seed)
    return project, prepared


def hand_loop(project, prepared, epochs: int) -> tuple[float, float]:
    """(samples per wall second, samples per CPU second) of the hand-written VAE loop."""
    s = project.training
    beta = beta_of(project)
    model = hand_model(project)
    opt = torch.optim.Adam(model.parameters(), lr=s.lr, fused=True)
    gen = torch.Generator().manual_seed(s.seed)
    (X,), (Y,) = prepared.train.inputs, prepared.train.targets
    assert prepared.train.transform is None, "the hand loop has no augmentation"
    bs = s.batch_size
    model.train()
    n = 0
    t0, c0 = time.perf_counter(), time.thread_time()
    for _ in range(epochs):
        perm = torch.randperm(len(X), generator=gen)
        for idx in perm.split(bs):
            x, y = X[idx], Y[idx]
            out, mean, log_var = model(x)
            kl = (-0.5 * (1 + log_var - mean * mean - log_var.exp()).sum(1)).mean()
            loss = F.mse_loss(out, y) + beta * kl
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            n += x.shape[0]
        loss.item()
    return n / (time.perf_counter() - t0), n / (time.thread_time() - c0)


def trainer_run(project, prepared, epochs: int, root: str, threads: int):
    settings = type(project.training)(**{**project.training.to_dict(), "epochs": epochs, "threads": threads,
                                          "device": "cpu"})
    events = []
    result = Trainer(project, prepared, settings=settings, run_root=root).run(events.append, TrainControl())
    if result.status != "finished":
        raise SystemExit(f"the trainer failed: {result.message}")
    return result, events


def throughput(results: Results, epochs: int, rounds: int, threads: int, root: str) -> None:
    project, prepared = load()
    hand_loop(project, prepared, 1)  # warm-up
    trainer_run(project, prepared, 1, root, threads)
    samples = epochs * len(prepared.train)
    wall, cpu, ratios = {"hand": [], "trainer": []}, {"hand": [], "trainer": []}, []
    for _ in range(rounds):  # interleaved: hand, trainer, hand, trainer …
        hw, hc = hand_loop(project, prepared, epochs)
        result, _ = trainer_run(project, prepared, epochs, root, threads)
        tc = samples / result.train_cpu_s
        wall["hand"].append(hw)
        cpu["hand"].append(hc)
        wall["trainer"].append(result.samples_per_s)
        cpu["trainer"].append(tc)
        ratios.append(tc / hc)
    med = {k: statistics.median(v) for k, v in cpu.items()}
    best = {k: max(v) for k, v in wall.items()}
    results.add(f"{TEMPLATE}: trainer (VAE recipe) / hand-written VAE loop", statistics.median(ratios), RATIO_BAR,
                "×", lower_is_better=False,
                extra=f"CPU: hand {med['hand']:,.0f}, trainer {med['trainer']:,.0f} samples/s (median of {rounds}, "
                      f"per-round ratios {min(ratios):.3f}–{max(ratios):.3f}); wall, best of {rounds}: "
                      f"{best['trainer'] / best['hand']:.3f} ({best['hand']:,.0f} vs {best['trainer']:,.0f} "
                      f"samples/s); {epochs} epochs a run, batch {project.training.batch_size}")


def learn(results: Results, epochs: int, threads: int, root: str) -> None:
    project, prepared = load()
    t0 = time.perf_counter()
    _, events = trainer_run(project, prepared, epochs, root, threads)
    wall = time.perf_counter() - t0
    ends = [e for e in events if isinstance(e, EpochEnd)]
    print(f"\n{TEMPLATE} on {prepared.info.name} (β = {beta_of(project)}), per epoch:")
    print(f"  {'epoch':>5}  {'train loss':>10}  {'val reconstruction (mse)':>24}  {'val KL':>7}  {'val loss':>9}")
    for e in ends:
        print(f"  {e.epoch + 1:>5}  {e.train_loss:>10.4f}  {e.metrics['val_reconstruction']:>24.4f}  "
              f"{e.metrics['val_kl']:>7.3f}  {e.val_loss:>9.4f}")
    first, last = ends[0].metrics, ends[-1].metrics
    results.add(f"{TEMPLATE}: validation reconstruction error (mse), last epoch", last["val_reconstruction"], None,
                "", extra=f"first epoch {first['val_reconstruction']:.4f}; {epochs} epochs in {wall:.1f} s")
    results.add(f"{TEMPLATE}: validation KL term, last epoch", last["val_kl"], None, "nats",
                extra=f"first epoch {first['val_kl']:.3f} (2-D latent space)")


def main() -> int:
    args = parse_args(__doc__.splitlines()[0], threads=True)
    torch.set_num_threads(args.threads)
    print(environment_line())
    print(f"torch threads for the runs: {args.threads}; load average {os.getloadavg()[0]:.2f} "
          "(other work on the machine makes every figure noisier)")
    results = Results("VAE recipe: throughput against a hand-written VAE loop, what it learns")
    with tempfile.TemporaryDirectory() as root:
        throughput(results, 2 if args.quick else 20, 3 if args.quick else 15, args.threads, root)
        learn(results, 5 if args.quick else 30, args.threads, root)
    results.print_table()
    return results.exit_code(args.check)


if __name__ == "__main__":
    sys.exit(main())
