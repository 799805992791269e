"""The long_memory data set and the rnn_long_memory lesson: the label is the first word of 50, a simple
RNN stays at chance, the same graph with a GRU or an LSTM (forget_bias 5, as the lesson says) learns it."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from layerloom.core import Graph
from layerloom.core.data import load_data
from layerloom.core.data.base import DataError
from layerloom.core.data.options import Options
from layerloom.core.data.synthetic import long_memory
from layerloom.core.templates import load_template
from layerloom.core.training import Trainer


def test_shapes_labels_vocabulary_and_notes():
    data = load_data("long_memory", {"n": 300})
    info = data.info
    assert info.input_shapes == [(50,)] and info.input_dtypes == ["int64"]
    assert info.train_size + info.val_size == 300 and info.class_names == ["red", "green"]
    assert sorted(info.vocabulary) == sorted(["<pad>", "<unk>", "red", "green", "blue", "gold", "pink"])
    xs = torch.cat([data.train.inputs[0], data.val.inputs[0]])
    ys = torch.cat([data.train.targets[0], data.val.targets[0]])
    assert xs.dtype == torch.int64 and xs.shape == (300, 50) and set(ys.tolist()) == {0, 1}
    assert not (xs <= 1).any()  # neither padding nor unknown words: exactly 50 words each
    first = [info.vocabulary[i] for i in xs[:, 0].tolist()]
    assert first == [info.class_names[y] for y in ys.tolist()]  # the label is the first word
    later = {info.vocabulary[i] for i in xs[:, 1:].flatten().tolist()}
    assert later == {"blue", "gold", "pink"}  # the noise never holds a key word
    assert "the label is the FIRST word (red, green)" in info.notes[0]
    assert 0.4 < ys.float().mean().item() < 0.6  # balanced: chance is one half


def test_options_length_words_classes():
    raw = long_memory(Options({"n": 40, "seq_len": 80, "vocab_size": 10, "classes": 3}, "long_memory"))
    assert raw.class_names == ["red", "green", "blue"] and set(raw.y.tolist()) <= {0, 1, 2}
    words = [t.split() for t in raw.x]
    assert all(len(w) == 80 for w in words)
    assert {w for ws in words for w in ws[1:]} <= {"gold", "pink", "grey", "lime", "teal"}
    assert load_data("long_memory", {"n": 40, "seq_len": 80}).info.input_shapes == [(80,)]
    with pytest.raises(DataError, match="classes"):
        load_data("long_memory", {"n": 40, "classes": 5})  # 5 words: at least one must be noise


def test_the_same_seed_gives_the_same_data_and_another_seed_other_data():
    a = long_memory(Options({"n": 100, "data_seed": 3}, "long_memory"))
    b = long_memory(Options({"n": 100, "data_seed": 3}, "long_memory"))
    c = long_memory(Options({"n": 100, "data_seed": 4}, "long_memory"))
    assert a.x == b.x and np.array_equal(a.y, b.y)
    assert a.x != c.x


def test_the_label_is_a_function_of_the_first_word_only():
    raw = long_memory(Options({"n": 500, "data_seed": 1}, "long_memory"))
    words = [t.split() for t in raw.x]
    by_first = {}
    for w, y in zip(words, raw.y.tolist(), strict=True):
        assert by_first.setdefault(w[0], y) == y  # one label per first word
    assert by_first == {"red": 0, "green": 1}
    # the same first word with every other word changed (another seed's noise) keeps its label; a
    # different first word with the same noise changes it
    other = long_memory(Options({"n": 500, "data_seed": 2}, "long_memory"))
    rows = [w[0] for w in words], [t.split()[1:] for t in other.x]
    changed = [" ".join([first, *rest]) for first, rest in zip(*rows, strict=True)]
    assert sum(a != b for a, b in zip(changed, raw.x, strict=True)) >= 495
    assert [by_first[t.split()[0]] for t in changed] == raw.y.tolist()


def _with_cell(graph: Graph, cell: str) -> Graph:
    """The graph with its RNN block swapped for `cell`, parameters kept (as on the canvas)."""
    d = graph.to_dict()
    for node in d["nodes"]:
        if node["type"] == "RNN":
            node["type"] = cell
    return Graph.from_dict(d)


def test_the_lesson_template_reads_its_data_and_keeps_the_parameters_when_swapped():
    project = load_template("rnn_long_memory")
    assert [n.type for n in project.graph] == ["Input", "Embedding", "RNN", "Dense", "Output"]
    assert project.data.source == "long_memory" and project.training.grad_clip is not None
    assert "LSTM" in project.description
    lesson = project.meta["lesson"]  # the steps the student follows, with the names the window shows
    for words in ("50%", "Gradients tab", "Replace With → LSTM", "forget_bias to 5", "Inside RNN tab"):
        assert words in lesson, words
    gru = _with_cell(project.graph, "GRU")
    assert [n.params for n in gru] == [n.params for n in project.graph]


def test_a_simple_rnn_stays_at_chance_where_the_same_graph_with_a_gru_or_an_lstm_learns():
    """The template's own data and settings (10 epochs of 1,600 sequences; a few seconds each)."""
    project = load_template("rnn_long_memory")
    data = load_data(project.data.source, project.data.options, seed=0)
    settings = dataclasses.replace(project.training, device="cpu", threads=1, seed=0)
    accuracy = {}
    for cell in ("RNN", "GRU", "LSTM"):
        graph = _with_cell(project.graph, cell)
        if cell == "LSTM":  # the lesson's step 3
            graph.set_params(graph.find("rnn"), forget_bias=5.0)
        result = Trainer(graph, data, settings=settings, run_root=None).run()
        assert result.status == "finished", result.status
        accuracy[cell] = result.final["val_accuracy"]
    assert accuracy["RNN"] < 0.6, accuracy  # chance is 0.5
    assert accuracy["GRU"] > 0.95 and accuracy["LSTM"] > 0.95, accuracy
    assert graph.node(graph.find("rnn")).params["forget_bias"] == 5.0
