"""A compiled GAN graph as its two networks, sharing the whole model's blocks.

    generator, discriminator = shared_networks(graph, model)     # model = build_model(graph)
    inputs = whole_model_inputs(graph, model, (images,))         # (noise, images): the whole model's arguments
"""

from __future__ import annotations

from layerloom.core.compiler import build_model
from layerloom.core.gan import DISCRIMINATOR, GENERATOR, network_graph


def shared_networks(graph, model):
    """The generator and the discriminator of a compiled GAN graph as two modules that share the blocks (and
    so the weights) of `model`, the whole graph compiled: training either trains the model."""
    parts = []
    for part in (GENERATOR, DISCRIMINATOR):
        net = build_model(network_graph(graph, part), seed=0)  # seeded: the global random stream is left alone
        for name, _ in list(net.named_children()):
            setattr(net, name, getattr(model, name))
        parts.append(net)
    return parts[0], parts[1]


def whole_model_inputs(graph, model, xs: tuple) -> tuple:
    """The whole GAN model's arguments for its data inputs `xs` (the real samples): noise seeded the same every
    time in the Noise block's place (for feature maps of any block of either network)."""
    import torch

    from layerloom.core.gan import gan_layout

    noise = graph.node(gan_layout(graph).noise)
    n = xs[0].shape[0]
    z = torch.randn((n, *noise.params["shape"]), generator=torch.Generator(device=xs[0].device).manual_seed(0),
                    device=xs[0].device)
    rest = iter(xs)
    return tuple(z if name == noise.name else next(rest) for name in model.input_names)
