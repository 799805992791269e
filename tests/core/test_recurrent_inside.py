"""One look inside a recurrent block of a compiled model: the trace equals the block's own output, the
gradients are the ones gradients_through_time gives, the time axis reads the sample's words or values, and
the event carrying it turns into plain JSON."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from layerloom.core import build_model
from layerloom.core.recurrent import block_input, gradients_through_time, trace_block
from layerloom.core.recurrent.inside import PADDING_LABEL, look_inside, time_labels
from layerloom.core.recurrent.trace import unit_lines
from layerloom.core.templates import load_template
from layerloom.core.training.events import EventBuffer, RecurrentInside
from layerloom.core.training.losses import loss_function, output_losses


def _text_model():
    project = load_template("lstm_text")
    model = build_model(project.graph, seed=0)
    loss = loss_function(output_losses(project.graph, model.output_names))
    ids = torch.tensor([[5, 7, 0, 3] + [1] * 60])
    return model, loss, ids


def test_look_inside_matches_the_lstm_and_its_gradients():
    model, loss, ids = _text_model()
    target = (torch.tensor([1]),)
    vocabulary = [f"w{i}" for i in range(5000)]
    look = look_inside(model, "lstm", (ids,), target, loss, vocabulary=vocabulary)
    x = block_input(model, "lstm", (ids,))
    with torch.no_grad():
        out, (h_n, c_n) = model.get_submodule("lstm")(x)
    np.testing.assert_allclose(look.trace.final("h"), h_n[:, 0].numpy(), atol=1e-5, rtol=0)
    np.testing.assert_allclose(look.trace.output(), out[0].numpy(), atol=1e-5, rtol=0)
    np.testing.assert_allclose(look.trace.final("c"), c_n[:, 0].numpy(), atol=1e-5, rtol=0)
    by_hand = gradients_through_time(model, (ids,), target, loss, "lstm")
    np.testing.assert_allclose(look.gradients.norms, by_hand.norms, rtol=1e-9)
    assert look.gradient_note == ""
    assert look.time_labels[:4] == ("w5", "w7", PADDING_LABEL, "w3")
    assert len(look.time_labels) == 64


def test_without_a_target_the_states_still_show_and_the_note_says_why():
    model, loss, ids = _text_model()
    look = look_inside(model, "lstm", (ids,), None, loss)
    assert look.gradients is None
    assert "target" in look.gradient_note
    assert look.time_labels == tuple(str(t) for t in range(1, 65))  # no vocabulary: step numbers


def test_a_loss_that_fails_leaves_a_note_not_an_error():
    model, _loss, ids = _text_model()

    def broken(_out, _ys):
        raise ValueError("shape mismatch")

    look = look_inside(model, "lstm", (ids,), (torch.tensor([0]),), broken)
    assert look.gradients is None and "shape mismatch" in look.gradient_note
    assert look.trace.steps == 64


def test_a_block_that_is_not_recurrent_is_named():
    model, loss, ids = _text_model()
    with pytest.raises(TypeError, match="'logits'"):
        look_inside(model, "logits", (ids,), None, loss)


def test_time_labels_of_a_series_and_of_a_shortened_sequence():
    series = torch.tensor([[[0.5], [1.25], [-2.0]]])
    assert time_labels((series,), 3) == ("0.5", "1.25", "-2")
    assert time_labels((series,), 2) == ("1", "2")  # the block reads another sequence: step numbers
    wide = torch.zeros(1, 3, 4)  # several features a step: step numbers
    assert time_labels((wide,), 3) == ("1", "2", "3")
    ids = torch.tensor([[9, 1]])
    assert time_labels((ids,), 2, ["<pad>", "<unk>", "a"]) == ("?", "<unk>")


def test_unit_lines_are_the_columns_of_each_quantity():
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(3, 5, num_layers=2, bidirectional=True, batch_first=True)
    trace = trace_block(lstm, torch.randn(7, 3))
    lines = unit_lines(trace, 1, 1, 4)
    assert sorted(lines) == ["c", "f", "g", "h", "i", "o"]
    np.testing.assert_array_equal(lines["f"], trace.trace(1, 1)["f"][:, 4])
    with pytest.raises(IndexError, match="5 units"):
        unit_lines(trace, 0, 0, 5)


def test_the_event_is_plain_json_and_the_buffer_keeps_the_latest_per_block():
    model, loss, ids = _text_model()
    look = look_inside(model, "lstm", (ids,), (torch.tensor([0]),), loss)

    def event(step, block="lstm"):
        return RecurrentInside(step=step, epoch=0, block=block, sample_index=0, trace=look.trace,
                               gradients=look.gradients, time_labels=look.time_labels)

    data = json.loads(json.dumps(event(1).to_dict()))
    assert data["kind"] == "recurrent_inside"
    assert np.allclose(np.array(data["trace"]["traces"][0]["values"]["h"]), look.trace.trace(0).h)
    assert len(data["gradients"]["norms"][0][0]) == 64
    buffer = EventBuffer()
    for e in (event(1), event(2, "other"), event(3)):
        buffer(e)
    assert [(e.block, e.step) for e in buffer.drain()] == [("other", 2), ("lstm", 3)]
