"""The settings edit (core/edits.py `SetSettings`), without Qt: it changes a project's training or data
settings, reverts them exactly, merges a run of changes of the same fields, and refuses values a project
file would refuse, in the same words, changing nothing."""

from __future__ import annotations

import pytest

from layerloom.core import Graph
from layerloom.core.edits import Move, SetParams, SetSettings
from layerloom.core.errors import LayerloomError
from layerloom.core.project import Project


def project() -> Project:
    g = Graph()
    g.add("Dense", name="fc", out_features=4)
    return Project(g)


def test_apply_and_revert_change_the_project_not_its_graph():
    p = project()
    graph_before = p.graph.to_json()
    edit = SetSettings("training", {"lr": 0.05, "epochs": 3})
    assert edit.subject(p) is p
    edit.apply(edit.subject(p))
    assert (p.training.lr, p.training.epochs) == (0.05, 3)
    assert p.graph.to_json() == graph_before
    edit.revert(p)
    assert (p.training.lr, p.training.epochs) == (1e-3, 10)
    edit.apply(p)  # redo
    assert p.training.lr == 0.05


def test_data_settings_and_a_deep_copy_of_options():
    p = project()
    options = {"resize": [16, 16]}
    edit = SetSettings("data", {"source": "iris", "options": options})
    edit.apply(p)
    options["resize"].append(3)  # the caller's dict is not the project's
    assert p.data.source == "iris" and p.data.options == {"resize": [16, 16]}
    edit.revert(p)
    assert p.data.source == "digits" and p.data.options == {}
    assert edit.text == "Set data source, options"


def test_values_take_their_canonical_form():
    p = project()
    SetSettings("training", {"epochs": 4.0}).apply(p)
    assert p.training.epochs == 4 and isinstance(p.training.epochs, int)


def test_consecutive_changes_of_the_same_fields_merge_and_revert_to_the_first_value():
    p = project()
    first = SetSettings("training", {"lr": 0.1})
    first.apply(p)
    second = SetSettings("training", {"lr": 0.2})
    second.apply(p)
    assert first.merge(second)
    assert first.new == {"lr": 0.2}
    first.revert(p)
    assert p.training.lr == 1e-3
    first.apply(p)
    assert p.training.lr == 0.2
    assert not first.merge(SetSettings("training", {"epochs": 2}))  # another field
    assert not first.merge(SetSettings("data", {"source": "iris"}))  # another section
    assert not first.merge(SetParams("x", {"lr": 1}))  # another kind of edit


@pytest.mark.parametrize(("section", "values", "words"), [
    ("training", {"lr": -1}, "training.lr must be a positive number (got -1)"),
    ("training", {"epochs": 0}, "training.epochs must be"),
    ("training", {"lrr": 0.1}, "training.lrr is not a setting; did you mean 'lr'?"),
    ("training", {"optimizer": "sgd", "nesterov": True, "momentum": 0}, "nesterov needs a momentum above 0"),
    ("data", {"source": "  "}, "data.source must be a data set name"),
    ("data", {"options": {"resize": {"h": 1}}}, "data.options.resize must be"),
    ("model", {"lr": 0.1}, "no settings called 'model'"),
])
def test_refused_values_change_nothing_and_say_why(section, values, words):
    p = project()
    before = p.to_dict()
    edit = SetSettings(section, values)
    with pytest.raises(LayerloomError, match=words.replace("(", r"\(").replace(")", r"\)").replace("?", r"\?")):
        edit.apply(p)
    assert p.to_dict() == before
    assert edit.old is None


def test_a_problem_of_another_setting_does_not_refuse_this_one():
    p = project()
    p.training.optimizer, p.training.nesterov = "sgd", True
    SetSettings("training", {"momentum": 0.0}).apply(p)  # the form refuses it on nesterov, not on momentum
    assert p.training.momentum == 0.0


def test_settings_edits_and_moves_are_not_structural():
    assert not SetSettings("training", {"lr": 0.1}).structural
    assert not Move({"a": (0.0, 0.0)}).structural
    assert SetParams("a", {"x": 1}).structural
    assert SetParams.subject(project()).__class__ is Graph
