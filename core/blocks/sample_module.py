"""The torch module behind the Sample block. Plain PyTorch, no Layerloom imports, so exported source can carry
it as it is."""

from __future__ import annotations

import torch
from torch import nn


class SampleModule(nn.Module):
    """z = mean + exp(½·log_var)·ε with ε ~ N(0, 1) in training mode (the reparameterization trick), z = mean
    in eval mode.

    Per-forward state: every forward sets `kl`, a scalar tensor (still in the autograd graph) holding the KL
    divergence of N(mean, exp(log_var)) from N(0, 1) for that forward's batch,
    −½ · mean over the batch of Σ (1 + log_var − mean² − exp(log_var)); a VAE recipe reads it right after
    the forward and adds `beta`·kl to the loss. It is None before the first forward and is not saved.
    """

    def __init__(self, beta: float = 1.0):
        super().__init__()
        self.beta = float(beta)
        self.kl: torch.Tensor | None = None

    def forward(self, mean: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
        terms = 1 + log_var - mean * mean - log_var.exp()
        self.kl = -0.5 * terms.reshape(terms.shape[0], -1).sum(1).mean()
        if self.training:
            return mean + torch.exp(0.5 * log_var) * torch.randn_like(mean)
        return mean

    def __getstate__(self):
        state = self.__dict__.copy()
        state["kl"] = None  # per-forward state: a copy (or a pickle) starts without it
        return state
