"""Freezing blocks and the course's transfer-learning recipe, end to end with the real trainer: train a
small network, replace its head, freeze the base, train the new head (base unchanged, head changed),
unfreeze the top blocks, train together."""

from __future__ import annotations

import pytest
import torch

from layerloom.core import Graph
from layerloom.core.data.base import DataInfo, PreparedData, TensorSplit
from layerloom.core.edits import SetFrozen
from layerloom.core.settings import TrainingSettings
from layerloom.core.training import EventBuffer, Trainer

BASE = ("base1", "bn", "base2")


def network(head_classes: int) -> Graph:
    g = Graph()
    prev = g.add("Input", shape=[8])
    for type_id, name, params in [("Dense", "base1", {"out_features": 16}), ("BatchNorm", "bn", {}),
                                  ("ReLU", "relu1", {}), ("Dense", "base2", {"out_features": 16}),
                                  ("ReLU", "relu2", {}), ("Dense", "head", {"out_features": head_classes})]:
        n = g.add(type_id, name=name, **params)
        g.connect(prev, n)
        prev = n
    g.connect(prev, g.add("Output"))
    return g


def data(classes: int, seed: int) -> PreparedData:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(128, 8, generator=gen)
    y = (x @ torch.randn(8, classes, generator=gen)).argmax(1)
    info = DataInfo("generated", "classification", [(8,)], ["float32"], [()], num_classes=classes, train_size=96,
                    val_size=32)
    return PreparedData(info, TensorSplit((x[:96],), (y[:96],)), TensorSplit((x[96:],), (y[96:],)))


def train(graph, prepared, weights=None, epochs=2, sink=None):
    settings = TrainingSettings(epochs=epochs, batch_size=16, device="cpu", threads=1, optimizer="adam", lr=0.01,
                                init="xavier")
    trainer = Trainer(graph, prepared, settings=settings, run_root=None, weights=weights)
    result = trainer.run(sink)
    assert result.status == "finished", result.message
    return {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}


def block(state, name):
    return {k: v for k, v in state.items() if k.startswith(name + ".")}


def same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_the_transfer_learning_recipe():
    # 1. train a small network on the first task
    g = network(3)
    trained = train(g, data(3, seed=0))

    # 2. replace its head for a new task with 2 classes
    head = g.find("head")
    out = g.out_edges(head)[0].dst
    g.remove(head)
    new_head = g.add("Dense", name="new_head", out_features=2)
    g.connect(g.find("relu2"), new_head)
    g.connect(new_head, out)

    # 3. freeze the base and train the new head, starting from the trained weights
    SetFrozen([g.find(n) for n in BASE], True).apply(g)
    events = EventBuffer()
    tuned = train(g, data(2, seed=1), weights=trained, sink=events)
    notes = " ".join(n for e in events.drain() if e.kind == "run_started" for n in e.notes)
    assert "new_head: has no weights in the file (kept its own weights)" in notes
    assert "head: is in the weights but not in the model (ignored)" in notes
    for name in BASE:  # frozen: weights and BatchNorm statistics exactly as trained
        assert same(block(tuned, name), block(trained, name)), name
    start_head = block(trainer_start_weights(g, trained), "new_head")
    assert not same(block(tuned, "new_head"), start_head)  # the head learned

    # 4. unfreeze the top block of the base and train it together with the head
    SetFrozen([g.find("base2")], False).apply(g)
    together = train(g, data(2, seed=1), weights=tuned)
    assert not same(block(together, "base2"), block(tuned, "base2"))
    assert not same(block(together, "new_head"), block(tuned, "new_head"))
    assert same(block(together, "base1"), block(trained, "base1"))
    assert same(block(together, "bn"), block(trained, "bn"))


def trainer_start_weights(graph, weights):
    """The weights a run on `graph` starts from (fresh where `weights` do not fit)."""
    from layerloom.core import build_model
    from layerloom.core.export import apply_weights
    from layerloom.core.training.optim import init_weights

    seed = TrainingSettings().seed
    model = build_model(graph, seed=seed)
    init_weights(model, "xavier", seed=seed)
    apply_weights(model, weights)
    return model.state_dict()


def test_frozen_blocks_are_left_out_of_the_optimizer_and_their_batchnorm_stays_in_eval_mode():
    from layerloom.core import build_model
    from layerloom.core.training.optim import build_optimizer, freeze_blocks

    g = network(3)
    model = build_model(g, seed=0)
    assert freeze_blocks(model, ["base1", "bn", "relu1", "nothing"]) == ["base1", "bn", "relu1"]
    opt = build_optimizer(TrainingSettings(optimizer="sgd"), model.parameters())
    in_opt = {id(p) for group in opt.param_groups for p in group["params"]}
    assert all(id(p) not in in_opt for p in model.base1.parameters())
    assert all(id(p) in in_opt for p in model.head.parameters())
    model.train()
    before = model.bn.running_mean.clone()
    model(torch.randn(16, 8) * 5 + 3)
    assert torch.equal(model.bn.running_mean, before) and not model.bn.training
    model.train()
    assert model.bn.training  # until the next forward


def test_a_network_frozen_everywhere_has_nothing_to_train():
    g = network(3)
    SetFrozen([n.id for n in g if n.type == "Dense"] + [g.find("bn")], True).apply(g)
    settings = TrainingSettings(epochs=1, batch_size=16, device="cpu", threads=1)
    result = Trainer(g, data(3, 0), settings=settings, run_root=None).run()
    assert result.status == "failed" and "every block with weights is frozen" in result.message


def test_frozen_is_saved_undone_and_announced():
    from layerloom.core.project import Project

    g = network(3)
    seen = []
    g.subscribe(lambda e: seen.append((e.kind, e.node, e.old, e.new)))
    edit = SetFrozen([g.find("base1"), g.find("base2")], True)
    edit.apply(g)
    assert [s[0] for s in seen] == ["frozen_changed", "frozen_changed"]
    data_ = g.to_dict()
    frozen = [n["name"] for n in data_["nodes"] if n.get("frozen")]
    assert frozen == ["base1", "base2"]
    assert all("frozen" not in n for n in data_["nodes"] if n["name"] not in frozen)  # only written when set
    again = Project.loads(Project(g).to_json())
    assert [n.name for n in again.graph if n.frozen] == ["base1", "base2"]
    edit.revert(g)
    assert not any(n.frozen for n in g)
    assert edit.text == "Freeze"
    assert g.set_frozen(g.find("head"), False) is False  # no change, no event
    assert len(seen) == 4
    bad = g.to_dict()
    bad["nodes"][1]["frozen"] = "yes"
    from layerloom.core.errors import ProjectError

    with pytest.raises(ProjectError, match="'frozen' must be true or false"):
        Graph.from_dict(bad)
