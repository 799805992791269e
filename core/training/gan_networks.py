"""A compiled GAN graph as its two networks, sharing the whole model's blocks.

    generator, discriminator = shared_networks(graph, model)     # model = build_model(graph)
"""

from __future__ import annotations

from layerloom.core.compiler import build_model
from layerloom.core.gan import DISCRIMINATOR, GENERATOR, network_graph


def shared_networks(graph, model):
    """The generator and the discriminator of a compiled GAN graph as two modules that share the blocks (and
    so the weights) of `model`, the whole graph compiled: training either trains the model."""
    parts = []
    for part in (GENERATOR, DISCRIMINATOR):
        net = build_model(network_graph(graph, part))
        for name, _ in list(net.named_children()):
            setattr(net, name, getattr(model, name))
        parts.append(net)
    return parts[0], parts[1]
