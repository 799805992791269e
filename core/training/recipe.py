"""What a run learns and how it is measured: a recipe owns its losses, its training step, the training accuracy
sampled between steps, its validation metrics and the metric it watches by default. The loop, checkpoints,
device and live services are shared by every recipe.

    recipe = recipe_for(graph, model, data_info)      # SupervisedRecipe, VAERecipe (vae_recipe.py), GANRecipe
    loss = recipe.loss_fn(model(*xs), ys)

The supervised step (forward, the recipe's loss, backward, the optimizer's step) is written out in the loop
itself, where one more call per step would cost at thousands of steps per second; a recipe with a step of
its own (a GAN's two optimizers) sets `step` to a callable `(xs, ys) → (outputs, loss)` the loop calls instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import torch

from layerloom.core.data.base import REGRESSION
from layerloom.core.training.losses import class_logits, loss_function, output_losses
from layerloom.core.training.metrics import ClassificationMeter, RegressionMeter


class Recipe(Protocol):
    """What the loop and validation ask of a recipe."""

    losses: list[str]  # the loss of each Output, by name (written into the run's settings)
    loss_fn: Callable  # (outputs, targets) → the scalar training loss
    step: Callable | None  # its own training step, or None for the loop's (forward, loss, backward, optimizer)
    classifier: bool
    num_classes: int | None
    val_metrics: tuple[str, ...]  # the validation metrics it reports besides val_loss, in their order
    # None, or look(xs, labels, step, epoch) → an event (VAELook): what the model makes of a fixed batch `xs`
    # (inputs on the run's device; labels: numpy class indices or None), called under torch.no_grad() in eval mode
    look: Callable | None

    def default_metric(self, settings, has_val: bool) -> str: ...

    def sample(self, outputs, targets) -> tuple[torch.Tensor, int] | None: ...

    def val_tally(self, device: torch.device, distributed: bool) -> Any: ...


def recipe_for(graph, model, info, settings=None) -> Recipe:
    """The recipe that trains `model` (built from `graph`) on data described by `info` with TrainingSettings
    `settings` (the defaults when None): a GAN's when the graph has a Noise block, a VAE's when it has a Sample
    block, else the supervised one. Called once per run."""
    if any(node.type == "Noise" for node in graph):
        from layerloom.core.settings import TrainingSettings
        from layerloom.core.training.gan_recipe import GANRecipe

        return GANRecipe(graph, model, info, settings if settings is not None else TrainingSettings())
    if any(node.type == "Sample" for node in graph):
        from layerloom.core.training.vae_recipe import VAERecipe

        return VAERecipe(graph, model, info)
    return SupervisedRecipe(graph, model, info)


class SupervisedRecipe:
    """Inputs to outputs against targets, each Output with its loss: a classifier (cross entropy, or yes/no
    with bce_with_logits, unless the data is a regression) measured by accuracy and a confusion matrix, or a
    regression measured by MAE and R²."""

    def __init__(self, graph, model, info):
        self.step = None  # the loop's own step
        self.look = None  # no generative look
        self.losses = output_losses(graph, model.output_names)
        self.loss_fn = loss_function(self.losses)
        primary = self.losses[0]
        self.classifier = primary in ("cross_entropy", "bce_with_logits") and info.task != REGRESSION
        self.binary = primary == "bce_with_logits"
        self.num_classes = info.num_classes
        if self.classifier and not self.binary and not self.num_classes:
            self.num_classes = _guess_classes(graph, model)
        self.val_metrics = ("val_accuracy",) if self.classifier else ("val_mae", "val_r2")

    def default_metric(self, settings, has_val: bool) -> str:
        """The metric the run watches (for the best checkpoint and early stopping)."""
        metric = "val_accuracy" if self.classifier else "val_loss"
        if settings.early_stopping:
            metric = settings.early_stopping_metric
            if metric == "val_accuracy" and not self.classifier:
                metric = "val_loss"
        if not has_val and metric.startswith("val_"):
            metric = "train_loss"
        return metric

    def sample(self, outputs, targets) -> tuple[torch.Tensor, int] | None:
        """The training accuracy on one batch (a classifier's): (correct, as a tensor not fetched yet; seen)."""
        if not self.classifier:
            return None
        o = (outputs[0] if isinstance(outputs, tuple) else outputs).detach()
        y = targets[0]
        if self.binary:
            match = (o > 0) == (y > 0.5).reshape(o.shape)
        elif y.dtype.is_floating_point and y.shape == o.shape:  # class probabilities
            match = o.argmax(1) == y.argmax(1)
        else:
            match = class_logits(o, y).argmax(1) == y
        return match.sum(), match.numel()

    def val_tally(self, device: torch.device, distributed: bool) -> SupervisedTally:
        """An empty tally of the validation metrics."""
        return SupervisedTally(self, device, distributed)


class SupervisedTally:
    """Validation metrics of the first output, accumulated on the device: confusion counts (and which samples
    were wrong, in one process) for a classifier, MAE and R² for a regression."""

    def __init__(self, recipe: SupervisedRecipe, device: torch.device, distributed: bool):
        self.device = device
        self.track_wrong = not distributed
        self.classes = ClassificationMeter(recipe.num_classes or 2, device, binary=recipe.binary) \
            if recipe.classifier else None
        self.regression = None if recipe.classifier else RegressionMeter(device)

    def update(self, outputs, targets) -> None:
        o = outputs[0] if isinstance(outputs, tuple) else outputs
        if self.classes is not None:
            self.classes.update(o.float(), targets[0], track_wrong=self.track_wrong)
        else:
            self.regression.update(o.float(), targets[0])

    def all_reduce(self) -> None:
        """Sum the counts of every process (distributed)."""
        from layerloom.core.training.distributed import all_reduce_sum

        if self.classes is not None:
            all_reduce_sum(self.classes.confusion)
        else:
            reg = self.regression
            counts = torch.tensor([float(reg.count)], dtype=reg.sums.dtype, device=self.device)
            both = all_reduce_sum(torch.cat([reg.sums, counts]))
            reg.sums, reg.count = both[:4], int(both[4].item())

    def results(self) -> dict[str, Any]:
        if self.classes is not None:
            r = self.classes.result()
            return {"val_accuracy": r["accuracy"], "confusion": r["confusion"], "misclassified": r["misclassified"]}
        r = self.regression.result()
        return {"val_mae": r["mae"], "val_r2": r["r2"]}


def _guess_classes(graph, model) -> int:
    """The width of the first output, from the graph's inference."""
    from layerloom.core import infer

    report = infer(graph)
    for node in graph:
        if node.type == "Output" and node.name == model.output_names[0]:
            src = graph.in_edges(node.id)[0].src
            shape = report[src].output_shape
            return int(shape[-1] if len(shape) == 2 else shape[0])
    return 2
