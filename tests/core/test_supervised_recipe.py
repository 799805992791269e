"""The supervised recipe against hand-built torch: its loss, the training accuracy it samples, its validation
metrics, the metric it watches; and the seam a recipe with a step of its own plugs into."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F
from data_fixtures import small_classification

from layerloom.core import Graph, build_model
from layerloom.core.data.base import DataInfo, TensorSplit
from layerloom.core.settings import TrainingSettings
from layerloom.core.training import Trainer
from layerloom.core.training import events as ev
from layerloom.core.training.device import choose_precision
from layerloom.core.training.recipe import SupervisedRecipe
from layerloom.core.training.state import RunParts
from layerloom.core.training.validation import validate


def _graph(out_features: int, loss: str):
    g = Graph()
    ids = [g.add("Input", shape=[8]), g.add("Dense", out_features=16), g.add("ReLU"),
           g.add("Dense", out_features=out_features), g.add("Output", loss=loss)]
    for a, b in itertools.pairwise(ids):
        g.connect(a, b)
    return g


def _info(task: str, num_classes=None, target_shape=()):
    return DataInfo("generated", task, [(8,)], ["float32"], [target_shape], num_classes=num_classes)


def test_a_classifiers_loss_and_sampled_accuracy_are_what_torch_computes():
    graph = _graph(3, "cross_entropy")
    model = build_model(graph, seed=1)
    recipe = SupervisedRecipe(graph, model, _info("classification", 3))
    x, y = torch.randn(20, 8), torch.randint(0, 3, (20,))
    out = model(x)
    assert recipe.classifier and recipe.num_classes == 3 and recipe.losses == ["cross_entropy"]
    assert recipe.loss_fn(out, (y,)).item() == pytest.approx(F.cross_entropy(out, y).item(), rel=1e-6)
    correct, seen = recipe.sample(out, (y,))
    assert (int(correct), seen) == (int((out.argmax(1) == y).sum()), 20)


def test_a_regressions_loss_is_the_mean_squared_error_and_it_samples_no_accuracy():
    graph = _graph(1, "mse")
    model = build_model(graph, seed=1)
    recipe = SupervisedRecipe(graph, model, _info("regression", target_shape=(1,)))
    x, y = torch.randn(20, 8), torch.randn(20, 1)
    out = model(x)
    assert not recipe.classifier and recipe.val_metrics == ("val_mae", "val_r2")
    assert recipe.loss_fn(out, (y,)).item() == pytest.approx(F.mse_loss(out, y).item(), rel=1e-6)
    assert recipe.sample(out, (y,)) is None


def test_the_watched_metric():
    graph = _graph(3, "cross_entropy")
    classifier = SupervisedRecipe(graph, build_model(graph, seed=1), _info("classification", 3))
    assert classifier.default_metric(TrainingSettings(), has_val=True) == "val_accuracy"
    assert classifier.default_metric(TrainingSettings(), has_val=False) == "train_loss"
    stopping = TrainingSettings(early_stopping=True, early_stopping_metric="val_loss")
    assert classifier.default_metric(stopping, has_val=True) == "val_loss"
    graph = _graph(1, "mse")
    regression = SupervisedRecipe(graph, build_model(graph, seed=1), _info("regression", target_shape=(1,)))
    assert regression.default_metric(TrainingSettings(), has_val=True) == "val_loss"
    on_accuracy = TrainingSettings(early_stopping=True, early_stopping_metric="val_accuracy")
    assert regression.default_metric(on_accuracy, has_val=True) == "val_loss"


def test_validation_of_a_regression_gives_the_hand_computed_loss_mae_and_r2():
    graph = _graph(1, "mse")
    model = build_model(graph, seed=2)
    recipe = SupervisedRecipe(graph, model, _info("regression", target_shape=(1,)))
    xv, yv = torch.randn(50, 8), torch.randn(50, 1)
    val = TensorSplit((xv,), (yv,))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    parts = RunParts(device=torch.device("cpu"), model=model, forward=model, recipe=recipe, optimizer=opt,
                     scheduler=None, scheduler_per_step=False, precision=choose_precision("fp32", torch.device("cpu")),
                     train=val, val=val, generator=torch.Generator(), seed=0, world=1, batch_size=16,
                     steps_per_epoch=4, epochs=1, metric="val_loss", mode="min")
    got = validate(parts, batch_size=16)
    with torch.no_grad():
        out = model(xv)
    err = out - yv
    r2 = 1 - float((err ** 2).sum()) / float(((yv - yv.mean()) ** 2).sum())
    assert got["val_loss"] == pytest.approx(F.mse_loss(out, yv).item(), rel=1e-5)
    assert got["val_mae"] == pytest.approx(err.abs().mean().item(), rel=1e-5)
    assert got["val_r2"] == pytest.approx(r2, rel=1e-5)
    assert model.training  # put back in training mode


class _OwnStep(SupervisedRecipe):
    """The supervised recipe with a step of its own: plain SGD written out, counting its calls."""

    def __init__(self, graph, model, info, lr):
        super().__init__(graph, model, info)
        self.calls = 0
        self.model = model
        self.optimizer = torch.optim.SGD(model.parameters(), lr=lr)
        self.step = self.train_step

    def train_step(self, xs, ys):
        self.calls += 1
        out = self.model(*xs)
        loss = self.loss_fn(out, ys)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return out, loss


def test_a_recipe_with_its_own_step_is_trained_by_the_same_loop(monkeypatch):
    import layerloom.core.training.trainer as trainer_module

    settings = TrainingSettings(epochs=2, batch_size=16, device="cpu", threads=1, seed=4, optimizer="sgd",
                                momentum=0.0, lr=0.05)
    plain = Trainer(_graph(3, "cross_entropy"), small_classification(), settings=settings, run_root=None)
    assert plain.run().status == "finished"

    made = []

    def own_recipe(graph, model, info, settings):
        made.append(_OwnStep(graph, model, info, lr=0.05))
        return made[-1]

    monkeypatch.setattr(trainer_module, "recipe_for", own_recipe)
    events = []
    own = Trainer(_graph(3, "cross_entropy"), small_classification(), settings=settings, run_root=None)
    result = own.run(events.append)
    assert result.status == "finished" and result.step == 12 and made[0].calls == 12  # 96 samples, 16 a batch
    assert sum(len(e.step) for e in events if isinstance(e, ev.Steps)) == 12
    expected = plain.model.state_dict()
    for name, value in own.model.state_dict().items():
        assert torch.allclose(value, expected[name], rtol=1e-4, atol=1e-6), name
