"""check_against_graph: every mismatch between data and a network gives a message that says what to change."""

from __future__ import annotations

import pytest
from data_fixtures import forecaster, image_classifier, text_classifier

from layerloom.core import Graph
from layerloom.core.data import check_against_graph, load_data
from layerloom.core.data.base import DataInfo


@pytest.fixture(scope="module")
def digits():
    return load_data("digits").info


@pytest.fixture(scope="module")
def text():
    return load_data("synthetic_text", {"n": 100}).info


def test_fitting_data_gives_no_messages(digits, text):
    assert check_against_graph(digits, image_classifier((1, 8, 8))) == []
    assert check_against_graph(load_data("digits", {"resize": [28, 28]}).info, image_classifier()) == []
    assert check_against_graph(load_data("digits", {"flatten": True}).info, image_classifier((64,))) == []
    assert check_against_graph(text, text_classifier()) == []
    assert check_against_graph(load_data("sine").info, forecaster()) == []


def test_image_size_says_resize(digits):
    msgs = check_against_graph(digits, image_classifier((1, 28, 28)))
    assert msgs == ["the data gives 1×8×8 images; the Input block 'image' expects 1×28×28 — change the Input's "
                    "shape to [1, 8, 8] or resize the data (option resize: [28, 28])"]


def test_vector_input_says_flatten(digits):
    (msg,) = check_against_graph(digits, image_classifier((64,)))
    assert "expects 64" in msg and "set the option flatten: true" in msg
    (msg,) = check_against_graph(digits, image_classifier((784,)))
    assert "options resize: [28, 28] and flatten: true" in msg
    flat = load_data("digits", {"flatten": True}).info
    (msg,) = check_against_graph(flat, image_classifier((1, 8, 8)))
    assert msg.startswith("the data gives vectors of 64 values (flattened 1×8×8 images)")
    assert "remove the option flatten" in msg


def test_channels_say_color(digits):
    (msg,) = check_against_graph(digits, image_classifier((3, 8, 8)))
    assert "give the data 3 channel(s) (option color: rgb)" in msg


def test_text_into_float_input_says_int64(text):
    msgs = check_against_graph(text, text_classifier(dtype="float32"))
    assert any("the data gives token ids (int64)" in m and "set the Input's dtype to int64" in m for m in msgs)


def test_numbers_into_int_input_say_float32(digits):
    msgs = check_against_graph(load_data("iris").info, text_classifier(seq_len=4, classes=3))
    assert msgs == ["the data gives float32 numbers; the Input block 'tokens' expects token ids (int64) — set the "
                    "Input's dtype to float32 (int64 is for text data that feeds an Embedding)"]


def test_sequence_length_says_seq_len(text):
    (msg,) = check_against_graph(text, text_classifier(seq_len=100))
    assert "sequences of 64 token ids" in msg and "option seq_len: 100" in msg


def test_vocabulary_larger_than_embedding(text):
    vocab = len(text.vocabulary)
    (msg,) = check_against_graph(text, text_classifier(vocab=50))
    assert msg == (f"the data's vocabulary has {vocab:,} tokens (ids 0–{vocab - 1:,}) but Embedding 'emb' has "
                   f"num_embeddings 50 — set num_embeddings to {vocab} or more, or make the vocabulary smaller "
                   "(option vocab_size: 50)")


def test_classes_against_last_dense(digits):
    (msg,) = check_against_graph(digits, image_classifier((1, 8, 8), classes=16))
    assert msg == ("the data has 10 classes; Output 'out' gets 16 scores from Dense 'logits' — set its out_features "
                   "to 10")


def test_classes_with_regression_loss(digits):
    (msg,) = check_against_graph(digits, image_classifier((1, 8, 8), loss="mse"))
    assert msg == ("the data has 10 classes but Output 'out' uses the mse loss, which compares numbers — set its "
                   "loss to cross_entropy")


def test_bce_with_logits(digits):
    (msg,) = check_against_graph(digits, image_classifier((1, 8, 8), loss="bce_with_logits"))
    assert "bce_with_logits, which is for yes/no targets" in msg
    cancer = load_data("breast_cancer").info
    assert check_against_graph(cancer, image_classifier((30,), classes=1, loss="bce_with_logits")) == []
    (msg,) = check_against_graph(cancer, image_classifier((30,), classes=2, loss="bce_with_logits"))
    assert "needs 1 score per sample but gets 2 from Dense 'logits'" in msg


def test_classification_output_map():
    g = Graph()
    i = g.add("Input", name="image", shape=[1, 8, 8])
    c = g.add("Conv2d", out_channels=10, kernel_size=3)
    o = g.add("Output", name="out")
    g.connect(i, c)
    g.connect(c, o)
    info = load_data("digits").info
    (msg,) = check_against_graph(info, g)
    assert "gets 10×6×6 scores per sample — end the network in a Dense with 10 outputs" in msg


def test_regression_targets(tmp_path):
    sine = load_data("sine").info
    (msg,) = check_against_graph(sine, forecaster(loss="cross_entropy", horizon=2))
    assert msg == ("the data has numeric targets (1 value per sample), not classes, but Output 'out' uses "
                   "cross_entropy — set its loss to mse or l1")
    (msg,) = check_against_graph(sine, forecaster(horizon=3))
    assert msg == ("the data has 1 target value per sample; Output 'out' gets 3 from Dense 'head' — set its "
                   "out_features to 1")


def test_forecast_window_says_window():
    sine = load_data("sine").info
    (msg,) = check_against_graph(sine, forecaster(window=50))
    assert "windows of 30×1 (steps × features)" in msg and "option window: 50" in msg


def _two_inputs():
    g = Graph()
    a = g.add("Input", name="a", shape=[4])
    b = g.add("Input", name="b", shape=[4])
    cat = g.add("Concat", dim=1)
    g.connect(a, cat)
    g.connect(b, cat)
    d = g.add("Dense", out_features=3)
    g.connect(cat, d)
    o = g.add("Output", name="out")
    g.connect(d, o)
    return g


def _two_outputs():
    g = Graph()
    i = g.add("Input", name="x", shape=[4])
    for name in ("first", "second"):
        d = g.add("Dense", out_features=3)
        g.connect(i, d)
        o = g.add("Output", name=name)
        g.connect(d, o)
    return g


def test_numbers_of_inputs_and_outputs():
    iris = load_data("iris").info
    (msg,) = check_against_graph(iris, _two_inputs())
    assert msg == ("the data gives 1 input (vectors of 4 values) but the network has 2 Input blocks ('a', 'b'); "
                   "give the network 1 Input")
    (msg,) = check_against_graph(iris, _two_outputs())
    assert msg == ("the data gives 1 target per sample but the network has 2 Output blocks ('first', 'second'); "
                   "give the network 1 Output")
    assert check_against_graph(iris, Graph()) == [
        "the network has no Input block; add one with shape [4] and dtype float32 for the data's vectors of 4 values",
        "the network has no Output block; add one after the last layer (loss cross_entropy)"]


def test_reconstruction():
    info = DataInfo(name="ae", task="reconstruction", input_shapes=[(4,)], input_dtypes=["float32"],
                    target_shapes=[(4,)], kind="vector")
    g = image_classifier((4,), classes=4, loss="mse")
    assert check_against_graph(info, g) == []
    (msg,) = check_against_graph(info, image_classifier((4,), classes=3, loss="mse"))
    assert "the target is the input itself, 4, but Output 'out' gets 3" in msg
    (msg,) = check_against_graph(info, image_classifier((4,), classes=4))
    assert "set its loss to mse or l1" in msg
