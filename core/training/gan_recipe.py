"""The GAN recipe: a generator G (a Noise block and the blocks after it) and a discriminator D (the rest, see
core/gan.py) trained against each other with the non-saturating loss.

    recipe = GANRecipe(graph, model, info, settings)   # recipe_for picks it when the graph has a Noise block
    optimizer = build_optimizer(settings, recipe.param_groups(settings))   # G's group first, then D's
    recipe.bind(parts, step=position.step)             # then recipe.step(xs, ys) trains on one real batch

One step, on a batch of n real samples x: D learns to tell x from G(z), z ~ N(0, 1) drawn by the global torch
generator (so a checkpoint's random state resumes it exactly): d_loss = BCE(D(x), 1) + BCE(D(G(z)), 0), with
G(z) made without gradients. After every `d_steps`-th batch G takes `g_steps` steps to fool D:
g_loss = BCE(D(G(z)), 1) (non-saturating: a strong gradient while D still wins), with D's weights held.
One optimizer holds both networks as two parameter groups (their own learning rates); a step of one network
leaves the other's gradients unset, so the optimizer does not move it.

The loss of a step is d_loss + g_loss; the recipe also sums d_loss, g_loss and the mean D(x) and D(G(z))
on the device, for the epoch's metrics and the live look (core/training/gan_look.py).
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch
import torch.nn.functional as F

from layerloom.core.training.losses import output_losses
from layerloom.core.training.metrics import accumulation_dtype

STATS = ("d_loss", "g_loss", "d_real", "d_fake")


class GANRecipe:
    """Alternating discriminator and generator steps; see the module text."""

    def __init__(self, graph, model, info, settings):
        from layerloom.core.gan import gan_layout
        from layerloom.core.training.gan_networks import shared_networks

        self.layout = layout = gan_layout(graph)
        self.graph, self.model = graph, model
        self.losses = output_losses(graph, model.output_names)
        self.classifier, self.binary, self.num_classes = False, False, None
        self.val_metrics = ("val_d_loss", "val_g_loss", "val_d_real", "val_d_fake")
        self.generator, self.discriminator = shared_networks(graph, model)
        self.noise_shape = tuple(graph.node(layout.noise).params["shape"])
        self.real_index = list(model.output_names).index(graph.node(layout.real).name)
        self.d_steps, self.g_steps = int(settings.d_steps), int(settings.g_steps)
        self.grad_clip = settings.grad_clip
        self.step = None  # set by bind(), once the optimizer exists
        self.look = None  # set by bind(): the live look (gan_look.py)
        self.d_train, self.g_train = self.discriminator, self.generator  # DDP wrappers in a distributed run
        self.sync_buffers = None  # set by distribute(): rank 0's BatchNorm statistics to every process
        self.sums: torch.Tensor | None = None  # d_loss, g_loss, d_real, d_fake, steps: since the epoch began
        self.window: torch.Tensor | None = None  # the same since the last look

    # --- what the trainer asks ----------------------------------------------------------------------

    def param_groups(self, settings) -> list[dict]:
        """The optimizer's groups: the generator's (lr) first, then the discriminator's (discriminator_lr)."""
        return [{"params": list(self.generator.parameters()), "lr": float(settings.lr)},
                {"params": list(self.discriminator.parameters()), "lr": float(settings.discriminator_lr)}]

    def distribute(self, device: torch.device):
        """Under torchrun: each network in its own DistributedDataParallel (their gradients averaged over the
        processes); returns what the trainer keeps as `parts.forward`."""
        from torch.nn.parallel import DistributedDataParallel

        ids = [device.index] if device.type == "cuda" else None
        self.g_train = DistributedDataParallel(self.generator, device_ids=ids)
        self.d_train = DistributedDataParallel(self.discriminator, device_ids=ids)
        self.sync_buffers = buffer_sync(self.generator, self.discriminator)
        return self.generator

    def bind(self, parts, step: int) -> None:
        """Make the training step over `parts`' optimizer and precision; `step` is the run's step count (a
        resumed run goes on with the same turns)."""
        from layerloom.core.training.gan_look import GANLooker

        device = parts.device
        dtype = accumulation_dtype(device)
        self.sums = torch.zeros(5, dtype=dtype, device=device)
        self.window = torch.zeros(5, dtype=dtype, device=device)
        self.step = self._training_step(parts.optimizer, parts.precision, device, step)
        self.look = GANLooker(self.generator, self.discriminator, self.noise_shape, device,
                              window=self.take_window).look

    def model_inputs(self, xs: tuple) -> tuple:
        """The whole model's arguments for data inputs `xs` (the real samples): seeded noise in the Noise
        block's place (for feature maps of any block)."""
        from layerloom.core.training.gan_networks import whole_model_inputs

        return whole_model_inputs(self.graph, self.model, xs)

    def loss_fn(self, outputs, targets) -> torch.Tensor:
        """The whole model's outputs (samples, D's logits on real samples): D's loss on the real half (what a
        gradient look at a block of the discriminator follows)."""
        logits = outputs[self.real_index] if isinstance(outputs, tuple) else outputs
        return F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))

    def default_metric(self, settings, has_val: bool) -> str:
        """The generator's loss against the discriminator: GAN losses do not say which weights are best, so
        `best` is only the epoch whose generator fooled its discriminator most."""
        metric = "val_g_loss"
        if settings.early_stopping and settings.early_stopping_metric in ("train_loss", "val_loss"):
            metric = settings.early_stopping_metric
        return metric if has_val or not metric.startswith("val_") else "train_loss"

    def sample(self, outputs, targets) -> None:
        """No training accuracy: a GAN is not a classifier."""
        return None

    def val_tally(self, device: torch.device, distributed: bool) -> GANTally:
        return GANTally(self, device)

    def epoch_metrics(self) -> dict[str, float]:
        """The means of the epoch's steps (train_d_loss, train_g_loss, d_real, d_fake); the sums start again."""
        if self.sums is None:
            return {}
        values = self.sums.tolist()
        self.sums.zero_()
        return _means(values, ("train_d_loss", "train_g_loss", "d_real", "d_fake"))

    def take_window(self) -> dict[str, float]:
        """The means since the last call (d_loss, g_loss, d_real, d_fake); empty when no step was taken."""
        if self.window is None:
            return {}
        values = self.window.tolist()
        self.window.zero_()
        return _means(values, STATS)

    # --- the step -----------------------------------------------------------------------------------

    def _training_step(self, opt, precision, device: torch.device, step: int):
        G, D, g_train, d_train = self.generator, self.discriminator, self.g_train, self.d_train
        shape, d_steps, g_steps, clip = self.noise_shape, self.d_steps, self.g_steps, self.grad_clip
        d_params = [p for p in D.parameters() if p.requires_grad]
        g_params = [p for p in G.parameters() if p.requires_grad]
        scaler = precision.scaler
        amp = precision.autocast(device)
        autocast = (lambda: amp) if amp is not None else contextlib.nullcontext
        bce = F.binary_cross_entropy_with_logits
        sums, window, sync_buffers = self.sums, self.window, self.sync_buffers
        one = torch.ones((), dtype=sums.dtype, device=device)
        count = [step]
        last_g = [torch.zeros((), device=device)]

        def update(loss, params) -> None:
            opt.zero_grad(set_to_none=True)
            if scaler is not None:
                scaler.scale(loss).backward()
                if clip:
                    scaler.unscale_(opt)
                    torch.nn.utils.clip_grad_norm_(params, clip, foreach=True)
                scaler.step(opt)
                scaler.update()
            else:
                loss.backward()
                if clip:
                    torch.nn.utils.clip_grad_norm_(params, clip, foreach=True)
                opt.step()

        def train_step(xs, ys):
            real = xs[0]
            n = real.shape[0]
            with autocast():
                with torch.no_grad():
                    fake = G(torch.randn((n, *shape), device=device))
                real_logits = d_train(real)
                fake_logits = d_train(fake)
                d_loss = bce(real_logits, torch.ones_like(real_logits)) + \
                    bce(fake_logits, torch.zeros_like(fake_logits))
            if d_params:  # (a discriminator frozen whole: only the generator learns)
                update(d_loss, d_params)
            count[0] += 1
            if count[0] % d_steps == 0 and g_params:
                for p in d_params:
                    p.requires_grad_(False)
                try:
                    for _ in range(g_steps):
                        with autocast():
                            logits = D(g_train(torch.randn((n, *shape), device=device)))
                            g_loss = bce(logits, torch.ones_like(logits))
                        update(g_loss, g_params)
                finally:
                    for p in d_params:
                        p.requires_grad_(True)
                last_g[0] = g_loss = g_loss.detach()
            else:
                g_loss = last_g[0]
            d_loss = d_loss.detach()
            stats = torch.stack((d_loss.to(sums.dtype), g_loss.to(sums.dtype),
                                 real_logits.detach().float().sigmoid().mean().to(sums.dtype),
                                 fake_logits.detach().float().sigmoid().mean().to(sums.dtype), one))
            sums.add_(stats)
            window.add_(stats)
            if sync_buffers is not None:
                sync_buffers()
            return None, d_loss + g_loss

        return train_step


def buffer_sync(*modules):
    """A function that gives every process rank 0's buffers of `modules` (BatchNorm's running statistics), one
    broadcast per dtype; None when they have no buffers. DDP broadcasts them before each forward of a wrapped
    network, but a GAN step also runs each network unwrapped (G under no_grad for D's step, D for G's), and
    the last forward's update is local: without this the processes would end with different statistics."""
    import torch.distributed as dist
    from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors

    seen, by_dtype = set(), {}
    for module in modules:
        for b in module.buffers():
            if id(b) not in seen:
                seen.add(id(b))
                by_dtype.setdefault(b.dtype, []).append(b)
    if not by_dtype:
        return None

    def sync() -> None:
        for group in by_dtype.values():
            flat = _flatten_dense_tensors(group)
            dist.broadcast(flat, src=0)
            for b, synced in zip(group, _unflatten_dense_tensors(flat, group), strict=True):
                b.copy_(synced)

    return sync


class GANTally:
    """Validation: D on the real samples and on as many generated ones, from noise seeded the same at every
    validation (so epochs compare): the two losses and the mean D(x), D(G(z)). Validation sample i of the whole
    split meets noise vector i of one seeded draw, so the figures do not depend on the batch size or on how a
    distributed run shares the split out. `start(n, indices)` comes before the batches."""

    SEED = 12345

    def __init__(self, recipe: GANRecipe, device: torch.device):
        self.recipe = recipe
        self.device = torch.device(device)
        self.sums = torch.zeros(5, dtype=accumulation_dtype(self.device), device=self.device)
        self.noise: torch.Tensor | None = None
        self.order: torch.Tensor | None = None
        self.done = 0

    def start(self, n: int, indices=None) -> None:
        """The split has `n` samples; this process validates `indices` of them in that order (None: all)."""
        gen = torch.Generator(device=self.device).manual_seed(self.SEED)
        self.noise = torch.randn((n, *self.recipe.noise_shape), generator=gen, device=self.device)
        self.order = (torch.arange(n) if indices is None else torch.as_tensor(indices)).to(self.device)
        self.done = 0

    def evaluate(self, xs, ys):
        """(D's logits on real and on generated samples, d_loss + g_loss) of one validation batch."""
        recipe, real = self.recipe, xs[0]
        n = real.shape[0]
        if self.noise is None:
            raise RuntimeError("GANTally.start(n, indices) must come before the validation batches")
        z = self.noise[self.order[self.done:self.done + n]]
        self.done += n
        real_logits = recipe.discriminator(real)
        fake_logits = recipe.discriminator(recipe.generator(z))
        bce = F.binary_cross_entropy_with_logits
        d_loss = bce(real_logits, torch.ones_like(real_logits)) + bce(fake_logits, torch.zeros_like(fake_logits))
        g_loss = bce(fake_logits, torch.ones_like(fake_logits))
        self._last = (d_loss, g_loss)
        return (real_logits, fake_logits), d_loss + g_loss

    def update(self, outputs, targets) -> None:
        real_logits, fake_logits = outputs
        d_loss, g_loss = self._last
        n = real_logits.shape[0]
        dt = self.sums.dtype
        self.sums += torch.stack((d_loss.to(dt) * n, g_loss.to(dt) * n, real_logits.float().sigmoid().sum().to(dt),
                                  fake_logits.float().sigmoid().sum().to(dt),
                                  torch.tensor(float(n), dtype=dt, device=self.sums.device)))

    def all_reduce(self) -> None:
        """Sum the sums of every process (distributed)."""
        from layerloom.core.training.distributed import all_reduce_sum

        self.sums = all_reduce_sum(self.sums)

    def results(self) -> dict[str, Any]:
        return _means(self.sums.tolist(), ("val_d_loss", "val_g_loss", "val_d_real", "val_d_fake"))


def _means(values: list[float], names: tuple[str, ...]) -> dict[str, float]:
    *totals, count = values
    if not count:
        return {}
    return {name: total / count for name, total in zip(names, totals, strict=True)}
