"""Shared fixtures of the test suite. Kept free of top-level torch and Qt imports: tests that check
what `layerloom.core` imports at start-up must see a clean process."""

from __future__ import annotations

import pytest


def _chain(input_shape, *blocks, dtype="float32", loss="mse"):
    """Input → blocks… → Output; `blocks` are (type_id, params) pairs. Returns (graph, [block ids])."""
    from layerloom.core import Graph

    g = Graph()
    prev = g.add("Input", shape=list(input_shape), dtype=dtype)
    ids = [prev]
    for type_id, params in blocks:
        nid = g.add(type_id, **params)
        g.connect(prev, nid)
        ids.append(nid)
        prev = nid
    out = g.add("Output", loss=loss)
    g.connect(prev, out)
    ids.append(out)
    return g, ids


def _one_block(type_id, params, inputs, loss="mse"):
    """Inputs (each (shape, dtype)) → one block → Output. Returns (graph, block id)."""
    from layerloom.core import Graph

    g = Graph()
    ins = [g.add("Input", shape=list(shape), dtype=dtype) for shape, dtype in inputs]
    nid = g.add(type_id, **params)
    for i in ins:
        g.connect(i, nid)
    out = g.add("Output", loss=loss)
    g.connect(nid, out)
    return g, nid


def _block_values(model, inputs):
    """Run `model` and return (its result, {block name: the tensor that block produced})."""
    import torch.fx

    values = {}

    class Recorder(torch.fx.Interpreter):
        def run_node(self, n):
            out = super().run_node(n)
            values[n.name] = out
            return out

    result = Recorder(model).run(*inputs)
    return result, {block: values[fx_name] for block, fx_name in model.block_nodes.items()}


def _block_params(model, name):
    """Trainable parameters of one block of a compiled model (0 for blocks without a module)."""
    if name not in dict(model.named_children()):
        return 0
    return sum(p.numel() for p in model.get_submodule(name).parameters())


@pytest.fixture
def chain():
    return _chain


@pytest.fixture
def one_block():
    return _one_block


@pytest.fixture
def block_values():
    return _block_values


@pytest.fixture
def block_params():
    return _block_params


def pytest_configure(config):
    try:
        from hypothesis import settings
    except ImportError:  # pragma: no cover
        return
    # CI machines are slow and shared: no per-example deadline; example counts are set per test.
    settings.register_profile("layerloom", deadline=None, print_blob=True)
    settings.load_profile("layerloom")
