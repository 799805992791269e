"""A GAN project: one graph that holds two networks. The generator is a Noise block and every block after it,
ending in one Output (the generated samples); the discriminator is every other block: one Input (real
samples, of the generator's output shape) to one Output with one number per sample (the logit that the sample
is real).

    layout = gan_layout(graph)            # GanLayout, or None when the graph has no Noise block
    layout.generator, layout.fake         # the generator's block ids, its Output's id
    problems = gan_problems(graph, reports)   # [(block id or None, plain words)] for inference
"""

from __future__ import annotations

from dataclasses import dataclass

NOISE = "Noise"
GENERATOR, DISCRIMINATOR = "generator", "discriminator"


@dataclass(frozen=True)
class GanLayout:
    """Which block belongs to which network. `fake` and `real` are None, and `image` too, when the graph does
    not have them yet (the problems say so)."""

    noise: str
    generator: frozenset[str]
    discriminator: frozenset[str]
    fake: str | None  # the generator's Output
    image: str | None  # the discriminator's Input
    real: str | None  # the discriminator's Output

    def network_of(self, node_id: str) -> str:
        """"generator" or "discriminator"."""
        return GENERATOR if node_id in self.generator else DISCRIMINATOR


def is_gan(graph) -> bool:
    """Whether the graph is a GAN's (it has a Noise block)."""
    return any(n.type == NOISE for n in graph)


def gan_layout(graph) -> GanLayout | None:
    """The two networks of a GAN graph (the first Noise block's); None without a Noise block."""
    noises = [n for n in graph if n.type == NOISE]
    if not noises:
        return None
    noise = noises[0].id
    generator = frozenset({noise, *graph.descendants(noise)})
    discriminator = frozenset(n.id for n in graph if n.id not in generator)
    fakes = [i for i in generator if graph.node(i).type == "Output"]
    images = [n.id for n in graph if n.id in discriminator and n.type == "Input"]
    reals = [n.id for n in graph if n.id in discriminator and n.type == "Output"]
    return GanLayout(noise, generator, discriminator, fakes[0] if len(fakes) == 1 else None,
                     images[0] if len(images) == 1 else None, reals[0] if len(reals) == 1 else None)


def gan_problems(graph, reports) -> list[tuple[str | None, str]]:
    """What stops a GAN graph from training, each on the block concerned (None: the whole graph), in plain
    words. `reports` maps block ids to inference's NodeReport (their shapes). Empty for other graphs."""
    layout = gan_layout(graph)
    if layout is None:
        return []
    out: list[tuple[str | None, str]] = []
    noise = graph.node(layout.noise)
    for extra in [n for n in graph if n.type == NOISE and n.id != layout.noise]:
        out.append((extra.id, f"{extra.label()} is a second Noise block; a GAN has one generator, which starts at "
                              f"{noise.label()}"))
    for nid in layout.generator:
        for e in graph.in_edges(nid):
            if e.src not in layout.generator:
                out.append((nid, f"{graph.node(nid).label()} takes the output of {graph.node(e.src).label()}, which "
                                 "is in the discriminator; the generator can only start from its Noise block"))
    fakes = [i for i in layout.generator if graph.node(i).type == "Output"]
    if not fakes:
        out.append((layout.noise, f"{noise.label()} starts a generator that has no Output; end it with an "
                                  "Output (its generated samples)"))
    elif len(fakes) > 1:
        out.append((layout.noise, f"{noise.label()} starts a generator that reaches {len(fakes)} Outputs; it must "
                                  "end in one (its generated samples)"))
    images = [n for n in graph if n.id in layout.discriminator and n.type == "Input"]
    reals = [n for n in graph if n.id in layout.discriminator and n.type == "Output"]
    if not images:
        out.append((None, "the GAN has no discriminator: add an Input for the real samples, layers, and an Output "
                          "with one number per sample (real or generated)"))
    elif len(images) > 1:
        out.append((None, f"the discriminator has {len(images)} Inputs ({', '.join(n.label() for n in images)}); a "
                          "GAN's discriminator takes one, the real samples"))
    if images and not reals:
        out.append((images[0].id, f"{images[0].label()} starts a discriminator that has no Output; end it with "
                                  "an Output of one number per sample"))
    elif len(reals) > 1:
        out.append((None, f"the discriminator has {len(reals)} Outputs; it must end in one (one number per "
                          "sample: the logit that the sample is real)"))
    out.extend(_shape_problems(graph, layout, reports))
    return out


def _shape_problems(graph, layout: GanLayout, reports) -> list[tuple[str | None, str]]:
    """The generator's samples must fit the discriminator's Input; the discriminator gives one logit each."""
    from layerloom.core.blocks.spec import fmt_shape

    out: list[tuple[str | None, str]] = []
    made = _source_shape(graph, layout.fake, reports)
    if layout.fake is not None and layout.image is not None and made is not None:
        image = graph.node(layout.image)
        want = tuple(image.params.get("shape") or ())
        if tuple(made) != want:
            fake = graph.node(layout.fake).label()
            out.append((layout.fake, f"{fake} gets samples of {fmt_shape(made)} from the generator but the "
                                     f"discriminator's {image.label()} takes {fmt_shape(want)}; change the generator's "
                                     f"last layers so that it makes {fmt_shape(want)}"))
    logit = _source_shape(graph, layout.real, reports)
    if logit is not None and tuple(logit) != (1,):
        real = graph.node(layout.real).label()
        out.append((layout.real, f"{real} gets {fmt_shape(logit)} per sample, but a discriminator gives one number "
                                 "(the logit that its input is real): end it with Flatten and a Dense with 1 output"))
    return out


def _source_shape(graph, output_id: str | None, reports):
    if output_id is None:
        return None
    edges = graph.in_edges(output_id)
    if not edges:
        return None
    report = reports.get(edges[0].src)
    return report.output_shape if report is not None and report.ok else None


def network_graph(graph, part: str):
    """The generator (its Noise block as an Input of the same name and shape) or the discriminator of a GAN
    graph, as a new Graph with the same block names."""
    from layerloom.core.graph import Graph

    layout = gan_layout(graph)
    if layout is None:
        raise ValueError("the graph has no Noise block, so it is not a GAN")
    keep = layout.generator if part == GENERATOR else layout.discriminator
    data = graph.to_dict()
    nodes = []
    for n in data["nodes"]:
        if n["id"] not in keep:
            continue
        if n["type"] == NOISE:
            n = {**n, "type": "Input", "params": {"shape": list(n["params"]["shape"]), "dtype": "float32"}}
        nodes.append(n)
    edges = [e for e in data["edges"] if e["dst"]["node"] in keep and e["src"]["node"] in keep]
    return Graph.from_dict({"nodes": nodes, "edges": edges})


def with_plain_inputs(graph):
    """The graph with its Noise block as an Input (the whole GAN as a model of two inputs, noise and real
    samples, for the export formats other than the bundle)."""
    from layerloom.core.graph import Graph

    data = graph.to_dict()
    for n in data["nodes"]:
        if n["type"] == NOISE:
            n["type"] = "Input"
            n["params"] = {"shape": list(n["params"]["shape"]), "dtype": "float32"}
    return Graph.from_dict(data)

