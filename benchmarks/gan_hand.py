"""dcgan_digits written by hand: the generator, the discriminator and the GAN recipe's loop in plain PyTorch.

bench_gan.py times this loop against the trainer's GAN recipe; run alone it trains the hand-written DCGAN on the
built-in digits and prints per epoch what bench_gan.py prints for the recipe (losses, mean D(real) and D(fake),
the fixed noise batch's 64 samples scored by digit_scorer):

    .venv/bin/python benchmarks/gan_hand.py [--epochs N] [--threads N]

The algorithm (the recipe's, copied step for step): for each shuffled batch x of n real images, a discriminator
step — z = torch.randn(n, 64) (the global RNG), fake = G(z) under no_grad, d_loss = BCEWithLogits(D(x), 1) +
BCEWithLogits(D(fake), 0) (means), zero_grad(set_to_none=True), backward, step — then after every d_steps-th
batch, g_steps generator steps — z = torch.randn(n, 64), D's parameters frozen, g_loss = BCEWithLogits(D(G(z)), 1)
(the non-saturating loss), zero_grad, backward, step, D unfrozen. One Adam, fused on the CPU, two parameter
groups: G at lr, D at discriminator_lr, betas (beta1, 0.999).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass, field

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch
import torch.nn.functional as F
from torch import nn

NOISE = 64
LR, D_LR, BETA1, BATCH = 2e-4, 2e-4, 0.5, 64


class HandG(nn.Module):
    """Dense(64→3136) BN ReLU Reshape(64,7,7) ConvT(32,k4,s2,p1) BN ReLU ConvT(1,k4,s2,p1) Sigmoid."""

    def __init__(self):
        super().__init__()
        self.dense, self.bn1 = nn.Linear(NOISE, 64 * 7 * 7), nn.BatchNorm1d(64 * 7 * 7)
        self.up1, self.bn2 = nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.BatchNorm2d(32)
        self.up2 = nn.ConvTranspose2d(32, 1, 4, 2, 1)

    def forward(self, z):
        h = F.relu(self.bn1(self.dense(z))).reshape(-1, 64, 7, 7)
        return torch.sigmoid(self.up2(F.relu(self.bn2(self.up1(h)))))


class HandD(nn.Module):
    """Conv(32,k4,s2,p1) LeakyReLU(0.2) Conv(64,k4,s2,p1) BN LeakyReLU(0.2) Flatten Dense(1)."""

    def __init__(self):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(1, 32, 4, 2, 1), nn.Conv2d(32, 64, 4, 2, 1)
        self.bn, self.dense = nn.BatchNorm2d(64), nn.Linear(64 * 7 * 7, 1)

    def forward(self, x):
        h = F.leaky_relu(self.conv1(x), 0.2)
        return self.dense(F.leaky_relu(self.bn(self.conv2(h)), 0.2).flatten(1))


def hand_optimizer(g: nn.Module, d: nn.Module, lr: float = LR, d_lr: float = D_LR, beta1: float = BETA1):
    """One Adam over two groups (G at lr, D at d_lr), fused on the CPU as the trainer's build_optimizer does."""
    groups = [{"params": list(g.parameters()), "lr": lr}, {"params": list(d.parameters()), "lr": d_lr}]
    return torch.optim.Adam(groups, lr=lr, betas=(beta1, 0.999), fused=True)


def copy_weights(hand: nn.Module, compiled: nn.Module) -> None:
    """Copy `compiled`'s parameters and buffers into `hand`, in order (both list their layers in the same order;
    every shape is checked)."""
    mine, theirs = hand.state_dict(), compiled.state_dict()
    if len(mine) != len(theirs):
        raise ValueError(f"{type(hand).__name__} has {len(mine)} tensors, the compiled network {len(theirs)}")
    for (name, t), (other, v) in zip(mine.items(), theirs.items(), strict=True):
        if t.shape != v.shape:
            raise ValueError(f"{name} {tuple(t.shape)} does not match the compiled {other} {tuple(v.shape)}")
        t.copy_(v)


@dataclass
class EpochStats:
    """Per-epoch means of the GAN's figures (over the epoch's steps)."""

    d_loss: float
    g_loss: float
    d_real: float
    d_fake: float
    extra: dict = field(default_factory=dict)


def gan_epochs(g, d, opt, X, epochs: int, gen: torch.Generator, *, batch: int = BATCH, d_steps: int = 1,
               g_steps: int = 1, tally: bool = False, on_epoch=None) -> tuple[float, float, list[EpochStats]]:
    """Train `epochs` epochs of the GAN recipe's algorithm on real images X; (samples per wall second,
    samples per thread-CPU second, per-epoch stats when `tally`). `on_epoch(epoch, stats)` runs after each
    epoch, outside the timing. Without `tally` the loop keeps nothing per step (the strictest baseline)."""
    ones = torch.ones(batch, 1)
    zeros = torch.zeros(batch, 1)
    bce = F.binary_cross_entropy_with_logits
    d_params = list(d.parameters())
    g.train()
    d.train()
    stats: list[EpochStats] = []
    n = step = 0
    wall = cpu = 0.0
    for epoch in range(epochs):
        t0, c0 = time.perf_counter(), time.thread_time()
        sums = torch.zeros(4) if tally else None
        d_count = g_count = 0
        for idx in torch.randperm(len(X), generator=gen).split(batch):
            x = X[idx]
            m = len(idx)
            z = torch.randn(m, NOISE)
            with torch.no_grad():
                fake = g(z)
            real_logit, fake_logit = d(x), d(fake)
            d_loss = bce(real_logit, ones[:m]) + bce(fake_logit, zeros[:m])
            opt.zero_grad(set_to_none=True)
            d_loss.backward()
            opt.step()
            if tally:
                with torch.no_grad():
                    sums[0] += d_loss.detach()
                    sums[2] += torch.sigmoid(real_logit).mean()
                    sums[3] += torch.sigmoid(fake_logit).mean()
                d_count += 1
            step += 1
            if step % d_steps == 0:  # counted over the run, as the recipe counts
                for _ in range(g_steps):
                    z = torch.randn(m, NOISE)
                    for p in d_params:
                        p.requires_grad_(False)
                    g_loss = bce(d(g(z)), ones[:m])
                    opt.zero_grad(set_to_none=True)
                    g_loss.backward()
                    opt.step()
                    for p in d_params:
                        p.requires_grad_(True)
                    if tally:
                        sums[1] += g_loss.detach()
                        g_count += 1
            n += m
        d_loss.item()
        wall += time.perf_counter() - t0
        cpu += time.thread_time() - c0
        if tally:
            s = sums.tolist()
            stats.append(EpochStats(s[0] / d_count, s[1] / max(1, g_count), s[2] / d_count, s[3] / d_count))
            if on_epoch is not None:
                on_epoch(epoch, stats[-1])
    return n / wall, n / cpu, stats


def fixed_noise() -> torch.Tensor:
    """The fixed noise batch of the GAN's live look (core/training/gan_look.py): 64 × 64, its seed."""
    from layerloom.core.training.gan_look import NOISE_SEED, SAMPLES

    return torch.randn((SAMPLES, NOISE), generator=torch.Generator().manual_seed(NOISE_SEED))


@torch.no_grad()
def samples_of(g: nn.Module, z: torch.Tensor) -> torch.Tensor:
    """G(z) in evaluation mode (BatchNorm on its running statistics), G left in the mode it was in."""
    was = g.training
    g.eval()
    out = g(z)
    g.train(was)
    return out


def real_images(seed: int = 0) -> torch.Tensor:
    """The built-in digits' training split at 1×28×28, pixel values 0–1 (as the digit templates load them)."""
    from layerloom.core.data import load_data

    prepared = load_data("digits", {"resize": [28, 28], "task": "classification", "normalize": False},
                         val_fraction=0.2, seed=seed)
    return prepared.train.inputs[0]


def main() -> None:
    import digit_scorer

    parser = argparse.ArgumentParser(description="Train the hand-written DCGAN on the digits; per-epoch figures.")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    scorer = digit_scorer.trained_scorer()
    print(f"digit scorer: held-out accuracy {scorer.accuracy:.4f} (trained in {scorer.train_seconds:.1f} s)")
    X = real_images()
    torch.manual_seed(args.seed)
    g, d = HandG(), HandD()
    opt = hand_optimizer(g, d)
    z = fixed_noise()
    print(f"{'epoch':>5}  {'D loss':>7}  {'G loss':>7}  {'D(real)':>7}  {'D(fake)':>7}  {'confident':>9}  classes  "
          "histogram")

    def report(epoch, st):
        share, classes, hist = scorer.score(samples_of(g, z))
        print(f"{epoch + 1:>5}  {st.d_loss:>7.3f}  {st.g_loss:>7.3f}  {st.d_real:>7.3f}  {st.d_fake:>7.3f}  "
              f"{share:>9.3f}  {classes:>7}  {hist}", flush=True)

    sps, cps, _ = gan_epochs(g, d, opt, X, args.epochs, torch.Generator().manual_seed(args.seed), tally=True,
                             on_epoch=report)
    print(f"{sps:,.0f} samples/s (wall), {cps:,.0f} samples/s (thread CPU)")


if __name__ == "__main__":
    main()
