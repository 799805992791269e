"""A GAN seen from outside, live or after training: samples from a fixed noise batch, what the discriminator
says of real and generated samples, and plain words when the samples collapse or the discriminator wins.

    looker = GANLooker(generator, discriminator, noise_shape, device, window=recipe.take_window)
    event = looker.look(xs, labels, step, epoch)     # a GANLook; the caller sets eval mode and no_grad
    event = gan_look(graph, model, xs)               # the same for a trained or opened model
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from layerloom.core.training.events import GANLook

SAMPLES = 64  # the fixed noise batch: an 8×8 grid
NOISE_SEED = 2024
COLLAPSE_BELOW = 0.3  # samples' spread under this share of the real samples' spread: collapse
WARM_STEPS = 300  # no warning before (an untrained generator's samples all look alike)


class GANLooker:
    """Looks at one GAN; the fixed noise and real batch are taken once."""

    def __init__(self, generator, discriminator, noise_shape, device, window: Callable[[], dict] | None = None):
        self.generator, self.discriminator = generator, discriminator
        gen = torch.Generator(device="cpu").manual_seed(NOISE_SEED)
        self.noise = torch.randn((SAMPLES, *noise_shape), generator=gen).to(device)
        self.window = window

    def look(self, xs: tuple, labels, step: int, epoch: int) -> GANLook:
        """The GANLook at this moment: `xs` are fixed real samples (the first input); `labels` unused."""
        real = xs[0][:SAMPLES]
        samples = self.generator(self.noise).float()
        d_real = torch.sigmoid(self.discriminator(real).float()).mean()
        d_fake = torch.sigmoid(self.discriminator(samples.to(real.dtype)).float()).mean()
        diversity = spread(samples) / max(spread(real.float()), 1e-12)
        train = self.window() if self.window is not None else {}
        d_real_v, d_fake_v = float(d_real), float(d_fake)
        return GANLook(step=step, epoch=epoch, samples=samples.cpu().numpy().astype(np.float16),
                       d_real=d_real_v, d_fake=d_fake_v, train=train, diversity=diversity,
                       warning=health_warning(step, diversity, train or {"d_real": d_real_v, "d_fake": d_fake_v}))


def spread(x: torch.Tensor) -> float:
    """The mean distance between two different samples of a batch (0 for fewer than two)."""
    n = x.shape[0]
    if n < 2:
        return 0.0
    flat = x.reshape(n, -1).float()
    return float(torch.cdist(flat, flat).sum() / (n * (n - 1)))


def health_warning(step: int, diversity: float, seen: dict) -> str | None:
    """Plain words when the samples collapse to a few modes or the discriminator wins outright; None when
    neither shows (or before WARM_STEPS steps)."""
    if step < WARM_STEPS:
        return None
    d_real, d_fake = seen.get("d_real"), seen.get("d_fake")
    if d_real is not None and d_fake is not None and d_real > 0.9 and d_fake < 0.05:
        return (f"The discriminator wins outright: it rates real samples {d_real:.2f} and generated ones "
                f"{d_fake:.2f}, so the generator gets almost no signal to learn from. Lower discriminator_lr, "
                "raise g_steps, or make the discriminator smaller.")
    if diversity < COLLAPSE_BELOW:
        return (f"The samples look alike: they spread {diversity:.0%} as much as real samples do, so the "
                "generator may be collapsing to a few modes. Try a lower learning rate, more discriminator steps "
                "(d_steps), or another seed.")
    return None


def gan_look(graph, model, xs: tuple, step: int = 0, epoch: int = 0) -> GANLook:
    """The look at a trained (or opened) GAN `model` compiled from `graph`, on real samples `xs` (on the
    model's device); no training figures. The model is put in eval mode and back."""
    from layerloom.core.gan import gan_layout
    from layerloom.core.training.gan_networks import shared_networks

    generator, discriminator = shared_networks(graph, model)
    noise_shape = tuple(graph.node(gan_layout(graph).noise).params["shape"])
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            return GANLooker(generator, discriminator, noise_shape, device).look(xs, None, step, epoch)
    finally:
        model.train(was_training)
