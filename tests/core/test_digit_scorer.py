"""benchmarks/digit_scorer.py: the classifier that scores generated digits knows real digits from noise."""

from __future__ import annotations

import importlib.util
import os
import sys

import pytest
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _module():
    if "digit_scorer" in sys.modules:
        return sys.modules["digit_scorer"]
    spec = importlib.util.spec_from_file_location("digit_scorer", os.path.join(ROOT, "benchmarks", "digit_scorer.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("digit_scorer", module)  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def ds():
    return _module()


@pytest.fixture(scope="module")
def trained(ds):
    torch.manual_seed(99)
    before = torch.random.get_rng_state()
    scorer = ds.train_scorer()
    return scorer, before, torch.random.get_rng_state()


def test_held_out_real_digits_are_classified(ds, trained):
    scorer, _, _ = trained
    _, _, xv, yv = ds.digits_data()
    assert tuple(xv.shape[1:]) == (1, 28, 28) and float(xv.min()) >= 0.0 and float(xv.max()) <= 1.0
    probs = scorer.probabilities(xv)
    accuracy = (probs.argmax(1) == yv).float().mean().item()
    assert accuracy >= 0.9
    assert scorer.accuracy == pytest.approx(accuracy)
    share, classes, histogram = scorer.score(xv)
    assert share >= 0.8 and classes == 10
    # the histogram counts exactly the confident samples, by their class
    conf, cls = probs.max(1)
    expected = [int(((conf >= 0.9) & (cls == c)).sum()) for c in range(10)]
    assert histogram == expected
    assert sum(histogram) == round(share * len(xv))


def test_noise_and_blank_images_get_low_confidence(trained):
    scorer, _, _ = trained
    noise = torch.rand(400, 1, 28, 28, generator=torch.Generator().manual_seed(5))
    share, classes, histogram = scorer.score(noise)
    assert share <= 0.05
    assert sum(histogram) == round(share * 400) and classes == sum(1 for c in histogram if c)
    share, _, _ = scorer.score(torch.zeros(20, 1, 28, 28))
    assert share <= 0.05


def test_training_is_seeded_and_leaves_the_global_rng_alone(ds, trained):
    _, before, after = trained
    assert torch.equal(before, after)
    again = ds.train_scorer(epochs=1)
    once_more = ds.train_scorer(epochs=1)
    for a, b in zip(again.model.parameters(), once_more.model.parameters()):
        assert torch.equal(a, b)


def test_wrong_shape_is_refused(trained):
    scorer, _, _ = trained
    with pytest.raises(ValueError, match="N×1×28×28"):
        scorer.score(torch.rand(3, 28, 28))
