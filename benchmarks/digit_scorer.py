"""A small CNN digit classifier trained on the real built-in digits, to score generated 28×28 digit images.

The generative-models issue reports a GAN's samples as "the share a classifier trained on the real data calls
a digit with ≥ 0.9 confidence, and how many classes they spread over". This module is that classifier:

    from digit_scorer import score, trained_scorer
    share, classes, histogram = score(samples)   # samples: N×1×28×28, pixel values 0–1
    trained_scorer().accuracy                    # held-out accuracy on the real digits' validation split

The data are exactly what the digit templates train on: the built-in digits (1,797 grey 8×8 images) resized to
1×28×28, pixel values 0–1, not normalized (`DataSettings("digits", {"resize": [28, 28], "task":
"classification", "normalize": False})` through `load_data`, validation fraction 0.2, seed 0). The network:
conv 16@3×3 → ReLU → max-pool 2 → conv 32@3×3 → ReLU → max-pool 2 → dense 64 → ReLU → dense 10, Adam, batch 64,
each training batch shifted by up to 2 pixels at random. To keep it from calling anything a digit with high
confidence (an image classifier trained only on digits can be sure of itself on noise), every training batch
also carries as many non-digit images (uniform noise, blurred noise, blank or flat grey images, random
blobs), whose target is the uniform distribution over the ten classes (outlier exposure, Hendrycks et al.
2019). Seeded; it trains in about 10 s on one CPU thread, in its own torch random state (the global one is
left as it was, so a GAN run after it draws the same noise).

Run alone it trains, prints the held-out accuracy and scores real digits, noise and blank images:
.venv/bin/python benchmarks/digit_scorer.py
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

CONFIDENCE = 0.9
CLASSES = 10
SEED = 0
EPOCHS = 20


def digits_data():
    """The built-in digits as the templates load them: (train x, train y, val x, val y); x N×1×28×28 in 0–1."""
    from layerloom.core.data import load_data
    from layerloom.core.settings import DataSettings

    ds = DataSettings("digits", {"resize": [28, 28], "task": "classification", "normalize": False})
    prepared = load_data(ds.source, dict(ds.options), val_fraction=0.2, seed=SEED)
    (xt,), (yt,) = prepared.train.inputs, prepared.train.targets
    (xv,), (yv,) = prepared.val.inputs, prepared.val.targets
    return xt, yt, xv, yv


class DigitNet(nn.Module):
    """conv 16 → pool → conv 32 → pool → dense 64 → dense 10 on 1×28×28."""

    def __init__(self):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(1, 16, 3, padding=1), nn.Conv2d(16, 32, 3, padding=1)
        self.fc1, self.fc2 = nn.Linear(32 * 7 * 7, 64), nn.Linear(64, CLASSES)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc2(F.relu(self.fc1(x.flatten(1))))


def shifted(x: torch.Tensor, gen: torch.Generator, most: int = 2) -> torch.Tensor:
    """The batch moved by one random (dy, dx) in −most…most, zeros shifted in."""
    dy, dx = (int(v) for v in torch.randint(-most, most + 1, (2,), generator=gen))
    padded = F.pad(x, (most, most, most, most))
    h, w = x.shape[-2:]
    return padded[..., most - dy:most - dy + h, most - dx:most - dx + w]


def non_digits(n: int, gen: torch.Generator) -> torch.Tensor:
    """n images that are no digit: uniform noise, blurred noise, flat grey, random blobs (a quarter each)."""
    parts = []
    k = n // 4
    parts.append(torch.rand(k, 1, 28, 28, generator=gen))
    blurred = F.avg_pool2d(torch.rand(k, 1, 28, 28, generator=gen), 5, stride=1, padding=2)
    parts.append((blurred - blurred.amin((2, 3), keepdim=True)) /
                 (blurred.amax((2, 3), keepdim=True) - blurred.amin((2, 3), keepdim=True) + 1e-6))
    parts.append(torch.rand(k, 1, 1, 1, generator=gen).expand(k, 1, 28, 28).clone())
    rest = n - 3 * k
    coarse = (torch.rand(rest, 1, 7, 7, generator=gen) > 0.6).float()
    parts.append(F.interpolate(coarse, size=(28, 28), mode="bilinear", align_corners=False))
    return torch.cat(parts)


@dataclass
class DigitScorer:
    """A trained DigitNet and its held-out accuracy on the real digits' validation split."""

    model: DigitNet
    accuracy: float
    train_seconds: float

    @torch.no_grad()
    def probabilities(self, samples: torch.Tensor) -> torch.Tensor:
        """Class probabilities (N×10) of N×1×28×28 images with pixel values 0–1."""
        if samples.dim() != 4 or tuple(samples.shape[1:]) != (1, 28, 28):
            raise ValueError(f"the scorer takes N×1×28×28 images, got {tuple(samples.shape)}")
        self.model.eval()
        return F.softmax(self.model(samples.detach().float().cpu()), dim=1)

    def score(self, samples: torch.Tensor) -> tuple[float, int, list[int]]:
        """(share of samples classified with ≥ 0.9 confidence, number of distinct classes among those confident
        ones, histogram of the confident ones' classes: ten counts)."""
        conf, cls = self.probabilities(samples).max(dim=1)
        sure = cls[conf >= CONFIDENCE]
        histogram = torch.bincount(sure, minlength=CLASSES).tolist()
        share = len(sure) / max(1, len(samples))
        return share, sum(1 for c in histogram if c), histogram


def train_scorer(seed: int = SEED, epochs: int = EPOCHS, batch: int = 64) -> DigitScorer:
    """Train the classifier (seeded; the global torch random state is left untouched)."""
    xt, yt, xv, yv = digits_data()
    t0 = time.perf_counter()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = DigitNet()
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    uniform = torch.full((batch, CLASSES), 1.0 / CLASSES)
    model.train()
    for _ in range(epochs):
        for idx in torch.randperm(len(xt), generator=gen).split(batch):
            x = shifted(xt[idx], gen)
            junk = non_digits(len(idx), gen)
            logits = model(torch.cat([x, junk]))
            loss = (F.cross_entropy(logits[:len(idx)], yt[idx])
                    + F.cross_entropy(logits[len(idx):], uniform[:len(idx)]))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    seconds = time.perf_counter() - t0
    model.eval()
    with torch.no_grad():
        accuracy = (model(xv).argmax(1) == yv).float().mean().item()
    return DigitScorer(model, accuracy, seconds)


@functools.lru_cache(maxsize=1)
def trained_scorer() -> DigitScorer:
    """The scorer with the default seed, trained once per process."""
    return train_scorer()


def score(samples: torch.Tensor) -> tuple[float, int, list[int]]:
    """(share classified with ≥ 0.9 confidence, distinct classes among those, class histogram) of N×1×28×28
    images with pixel values 0–1, by the default scorer (trained on first use)."""
    return trained_scorer().score(samples)


def main() -> None:
    torch.set_num_threads(1)
    scorer = trained_scorer()
    _, _, xv, _ = digits_data()
    print(f"digit scorer: held-out accuracy {scorer.accuracy:.4f} on {len(xv)} real digits "
          f"(trained in {scorer.train_seconds:.1f} s)")
    gen = torch.Generator().manual_seed(1)
    for name, images in (("real held-out digits", xv), ("uniform noise", torch.rand(500, 1, 28, 28, generator=gen)),
                         ("blank (all 0)", torch.zeros(50, 1, 28, 28)),
                         ("real digits, inverted", 1 - xv)):
        share, classes, histogram = scorer.score(images)
        print(f"  {name:>24}: confident share {share:.3f}, classes {classes}, histogram {histogram}")


if __name__ == "__main__":
    main()
