"""Optimizers, learning-rate schedules and weight initialisation from TrainingSettings."""

from __future__ import annotations

import contextlib

import torch
from torch import nn

from layerloom.core.blocks.recurrent import FORGET_BIAS_ATTRIBUTE, set_forget_bias

# Schedules stepped after every optimizer step; the others after every epoch.
PER_STEP_SCHEDULERS = ("one_cycle",)


def build_optimizer(settings, params) -> torch.optim.Optimizer:
    """The optimizer named by `settings.optimizer` over `params` (a model's parameters, or parameter groups:
    dicts of "params" and the settings of their own, such as "lr").

    SGD, Adam and AdamW use torch's fused kernels (one kernel updates every parameter, on the CPU as on a
    GPU: about a third less time per step than the foreach kernels for a small network on the CPU); RMSprop,
    which has none, and parameters the fused kernels do not take use the foreach kernels."""
    groups = list(params)
    if groups and isinstance(groups[0], dict):  # parameter groups with settings of their own (a GAN's two networks)
        groups = [{**g, "params": [p for p in g["params"] if p.requires_grad]} for g in groups]
        groups = [g for g in groups if g["params"]]
        params = [p for g in groups for p in g["params"]]
    else:
        groups = params = [p for p in groups if p.requires_grad]
    name = settings.optimizer
    lr, wd = float(settings.lr), float(settings.weight_decay)
    betas = (float(settings.beta1), 0.999)
    if name == "sgd":
        cls, options = torch.optim.SGD, dict(momentum=settings.momentum, nesterov=bool(settings.nesterov))
    elif name == "adam":
        cls, options = torch.optim.Adam, {"betas": betas}
    elif name == "adamw":
        cls, options = torch.optim.AdamW, {"betas": betas}
    elif name == "rmsprop":
        return torch.optim.RMSprop(groups, lr=lr, momentum=settings.momentum, weight_decay=wd, foreach=True)
    else:
        raise ValueError(f"unknown optimizer {name!r}; choose sgd, adam, adamw or rmsprop")
    if fused_supported(params):
        try:
            return cls(groups, lr=lr, weight_decay=wd, fused=True, **options)
        except (RuntimeError, ValueError):  # a device or dtype this torch build has no fused kernel for
            pass
    return cls(groups, lr=lr, weight_decay=wd, foreach=True, **options)


def fused_supported(params) -> bool:
    """Whether torch's fused optimizer kernels take these parameters: floating point, dense, one device
    of a kind that has the kernels."""
    from torch.utils._foreach_utils import _get_fused_kernels_supported_devices

    devices = {p.device for p in params}
    return (len(devices) == 1 and next(iter(devices)).type in _get_fused_kernels_supported_devices()
            and all(p.is_floating_point() and not p.is_sparse for p in params))


def build_scheduler(settings, optimizer, *, epochs: int, steps_per_epoch: int, mode: str = "min"):
    """The schedule named by `settings.scheduler` (None for "none"). `mode` is "min" or "max": how the
    plateau schedule reads the validation metric it is given."""
    name = settings.scheduler
    if name == "none":
        return None
    if name == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=settings.step_size, gamma=settings.gamma)
    if name == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, epochs))
    if name == "one_cycle":
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=float(settings.lr), total_steps=max(1, epochs * steps_per_epoch)
        )
    if name == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode=mode, factor=settings.gamma, patience=settings.patience
        )
    raise ValueError(f"unknown scheduler {name!r}; choose none, step, cosine, one_cycle or plateau")


def is_per_step(scheduler_name: str) -> bool:
    return scheduler_name in PER_STEP_SCHEDULERS


def rescale_lr(optimizer, scheduler, new_lr: float, base_lr: float) -> float:
    """Set the learning rate live: every group's rate (and a schedule's base and peak) is multiplied by
    new_lr / base_lr, so a schedule keeps its shape. Returns the new base rate."""
    if base_lr <= 0:
        return base_lr
    ratio = new_lr / base_lr
    for group in optimizer.param_groups:
        for key in ("lr", "initial_lr", "max_lr", "min_lr"):
            if key in group and isinstance(group[key], float | int):
                group[key] = group[key] * ratio
    if scheduler is not None:
        if hasattr(scheduler, "base_lrs"):
            scheduler.base_lrs = [b * ratio for b in scheduler.base_lrs]
        if hasattr(scheduler, "_last_lr"):
            scheduler._last_lr = [g["lr"] for g in optimizer.param_groups]
        if hasattr(scheduler, "min_lrs"):
            scheduler.min_lrs = [m * ratio for m in scheduler.min_lrs]
    return new_lr


_WEIGHTED = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d,
             nn.ConvTranspose3d)
_RECURRENT = (nn.RNN, nn.LSTM, nn.GRU)


def init_weights(model: nn.Module, mode: str, seed: int | None = None) -> None:
    """Re-initialise weights: "default" keeps PyTorch's; "xavier" (Glorot uniform) and "kaiming"
    (He normal, for ReLU) set the weight matrices of dense, convolution and recurrent layers and zero
    their biases (an LSTM block's forget gates start at its forget_bias again). With `seed`, the result does
    not depend on the global random state (left untouched)."""
    if mode == "default":
        return
    if mode not in ("xavier", "kaiming"):
        raise ValueError(f"unknown weight initialisation {mode!r}; choose default, xavier or kaiming")

    def fill(weight: torch.Tensor) -> None:
        if mode == "xavier":
            nn.init.xavier_uniform_(weight)
        else:
            nn.init.kaiming_normal_(weight, nonlinearity="relu")

    # blocks holding pretrained weights (a backbone with ImageNet weights) keep them
    pretrained = {id(m) for top in model.modules() if getattr(top, "keeps_pretrained_weights", False)
                  for m in top.modules()}
    rng = torch.random.fork_rng(devices=[]) if seed is not None else contextlib.nullcontext()
    with rng, torch.no_grad():
        if seed is not None:
            torch.manual_seed(seed + 1)
        for module in model.modules():
            if id(module) in pretrained:
                continue
            if isinstance(module, _WEIGHTED):
                fill(module.weight)
                if module.bias is not None:
                    module.bias.zero_()
            elif isinstance(module, _RECURRENT):
                for name, p in module.named_parameters():
                    if name.startswith("weight"):
                        fill(p)
                    elif name.startswith("bias"):
                        p.zero_()
                forget_bias = getattr(module, FORGET_BIAS_ATTRIBUTE, None)
                if forget_bias is not None:  # an LSTM block's forget_bias outlives the new start
                    set_forget_bias(module, forget_bias)


def freeze_blocks(model: nn.Module, names) -> list[str]:
    """Freeze the blocks called `names` (submodules of a compiled model): their parameters stop
    requiring gradients, so `build_optimizer` leaves them out and they keep their values, and their
    BatchNorm layers stay in evaluation mode (running statistics kept) while the rest trains.
    Blocks without a module (Flatten, Add…) have nothing to freeze. Returns the names frozen."""
    frozen = []
    for name in names:
        module = getattr(model, name, None)
        if not isinstance(module, nn.Module):
            continue
        for p in module.parameters():
            p.requires_grad_(False)
        for m in module.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.register_forward_pre_hook(_keep_eval)
        frozen.append(name)
    return frozen


def _keep_eval(module: nn.Module, args) -> None:
    module.training = False  # model.train() sets it back; every forward puts it in eval mode again
