"""The VAE recipe: the Outputs' reconstruction loss plus β·KL of every Sample block.

    recipe = VAERecipe(graph, model, info)        # recipe_for picks it when the graph has a Sample block
    loss = recipe.loss_fn(model(*xs), ys)         # reconstruction + Σ β·KL, the KL of this very forward

Each Sample module keeps the KL term of its last forward (see `SampleModule`), so the loss must be taken right
after the forward, as the loop and validation do. Validation reports val_reconstruction and val_kl (the KL of
the encoder's distribution, counted in eval mode too, where z is the mean) and val_loss, their weighted sum.
"""

from __future__ import annotations

from typing import Any

import torch

from layerloom.core.blocks.sample_module import SampleModule
from layerloom.core.training.losses import loss_function, output_losses
from layerloom.core.training.metrics import accumulation_dtype
from layerloom.core.training.vae_look import VAELooker


class VAERecipe:
    """Reconstruct the target (the input, for a reconstruction task) through a sampled latent code."""

    def __init__(self, graph, model, info):
        self.step = None  # the loop's own step
        self.losses = output_losses(graph, model.output_names)
        self.reconstruction_fn = loss_function(self.losses)
        self.samplers = tuple(m for m in model.modules() if isinstance(m, SampleModule))
        self.classifier = False
        self.binary = False
        self.num_classes = None
        self.val_metrics = ("val_reconstruction", "val_kl")
        self.loss_fn = self._loss_function()
        self.look = VAELooker(model)  # (xs, labels, step, epoch) → VAELook, under no_grad in eval mode

    def _loss_function(self):
        recon, samplers = self.reconstruction_fn, self.samplers

        def loss(outputs, targets):
            total = recon(outputs, targets)
            for m in samplers:
                total = total + m.beta * m.kl
            return total

        return loss

    def kl(self) -> torch.Tensor | float:
        """The KL terms of the last forward, unweighted, summed over the Sample blocks."""
        total: torch.Tensor | float = 0.0
        for m in self.samplers:
            total = total + m.kl
        return total

    def default_metric(self, settings, has_val: bool) -> str:
        """val_loss unless early stopping watches another loss; train_loss without validation data."""
        metric = "val_loss"
        if settings.early_stopping and settings.early_stopping_metric in ("train_loss", *self.val_metrics):
            metric = settings.early_stopping_metric
        if not has_val and metric.startswith("val_"):
            metric = "train_loss"
        return metric

    def sample(self, outputs, targets) -> None:
        """No training accuracy: a VAE is not a classifier."""
        return None

    def val_tally(self, device: torch.device, distributed: bool) -> VAETally:
        return VAETally(self, device)


class VAETally:
    """The reconstruction loss and the KL term over the validation set, as per-sample sums on the device."""

    def __init__(self, recipe: VAERecipe, device: torch.device):
        self.recipe = recipe
        self.sums = torch.zeros(3, dtype=accumulation_dtype(torch.device(device)), device=device)  # recon, kl, count

    def update(self, outputs, targets) -> None:
        n = targets[0].shape[0]
        recon = self.recipe.reconstruction_fn(outputs, targets).detach()
        kl = torch.as_tensor(self.recipe.kl(), device=self.sums.device).detach()
        self.sums += torch.stack([recon.to(self.sums.dtype) * n, kl.to(self.sums.dtype) * n,
                                  torch.tensor(float(n), dtype=self.sums.dtype, device=self.sums.device)])

    def all_reduce(self) -> None:
        """Sum the sums of every process (distributed)."""
        from layerloom.core.training.distributed import all_reduce_sum

        self.sums = all_reduce_sum(self.sums)

    def results(self) -> dict[str, Any]:
        recon, kl, count = (float(v) for v in self.sums.tolist())
        if not count:
            return {}
        return {"val_reconstruction": recon / count, "val_kl": kl / count}
