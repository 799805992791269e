"""A VAE's decoder or a GAN's generator on its own: the part of the graph after its Sample block, with an
Input "z" (the latent code) in the Sample block's place, or the blocks after a GAN's Noise block (core/gan.py),
the Noise block an Input of its name; the trained weights of the blocks kept.

    decoder = decoder_source(source)       # a Source: model(z) → what the VAE's Outputs give for that z
    export(source, "onnx", "dec.onnx", part="decoder")
    export(source, "onnx", "gen.onnx", part="generator")

Block names (and so weight names) stay as they are. The input is a latent code, not data: the decoder has no
preprocessing (the data's scaling, and the training history and checkpoint of the whole VAE, are dropped).
Every export of it records what it is: `"part": "decoder"` (or "generator") in its project's meta (carried by
bundles and by the weights of Python and safetensors exports) and the ONNX metadata `layerloom.part`.
"""

from __future__ import annotations

from layerloom.core.export.base import ExportError
from layerloom.core.export.source import Source

PARTS = ("model", "decoder", "generator")
GENERATIVE_PARTS = ("decoder", "generator")  # parts that take a latent code and make samples


def _sample_block(graph, name: str):
    samples = [n for n in graph if n.type == "Sample"]
    if not samples:
        raise ExportError(f"{name} has no Sample block: only a VAE's decoder can be exported alone")
    if len(samples) > 1:
        names = ", ".join(f"'{n.name}'" for n in samples)
        raise ExportError(f"{name} has several Sample blocks ({names}); a decoder can be exported alone only "
                          "from a VAE with one")
    return samples[0]


def decoder_graph(graph, name: str = "the model"):
    """The decoder part of `graph` as a new Graph: an Input "z" in place of the Sample block, then every
    block downstream of it. ExportError in plain words when there is no such part."""
    from layerloom.core.graph import Graph
    from layerloom.core.inference import infer

    sample = _sample_block(graph, name)
    report = infer(graph)
    spec = report[sample.id].output
    if spec is None:
        raise ExportError(f"{sample.label()} has no known output shape; fix the model's problems first")
    kept = graph.descendants(sample.id)
    if not any(graph.node(i).type == "Output" for i in kept):
        raise ExportError(f"nothing after {sample.label()} leads to an Output: there is no decoder to export")
    for nid in graph.topological_order():
        if nid not in kept:
            continue
        for e in graph.in_edges(nid):
            if e.src != sample.id and e.src not in kept:
                raise ExportError(f"{graph.node(nid).label()} also takes the output of {graph.node(e.src).label()}, "
                                  f"which is not after {sample.label()}: the decoder cannot run on z alone")
    names = {graph.node(i).name for i in kept}
    input_name = "z" if "z" not in names else sample.name
    data = graph.to_dict()
    nodes = []
    for n in data["nodes"]:
        if n["id"] == sample.id:
            nodes.append({"id": n["id"], "type": "Input", "name": input_name,
                          "params": {"shape": list(spec.shape), "dtype": "float32"}, "ui": n["ui"]})
        elif n["id"] in kept:
            nodes.append(n)
    edges = [e for e in data["edges"] if e["dst"]["node"] in kept]
    return Graph.from_dict({"nodes": nodes, "edges": edges})


def generator_graph(graph, name: str = "the model"):
    """The generator of a GAN graph as a new Graph (its Noise block an Input); ExportError in plain words when
    the graph is not a GAN's or its generator cannot run alone."""
    from layerloom.core.gan import GENERATOR, gan_layout, gan_problems, network_graph
    from layerloom.core.inference import infer

    if gan_layout(graph) is None:
        raise ExportError(f"{name} has no Noise block: only a GAN's generator can be exported as a generator")
    report = infer(graph)
    problems = [message for _, message in gan_problems(graph, {n.id: report[n.id] for n in graph})]
    if problems:
        raise ExportError(f"{name}: the GAN has problems to fix first: {problems[0]}")
    return network_graph(graph, GENERATOR)


def decoder_source(source: Source, part: str = "decoder") -> Source:
    """The decoder of a VAE, or with part="generator" the generator of a GAN (a Source with its own graph and
    the weights of its blocks): see the module text."""
    from layerloom.core.project import Project

    project = source.project
    where = f"'{source.name}'"
    graph = generator_graph(source.graph, where) if part == "generator" else decoder_graph(source.graph, where)
    prefixes = tuple(n.name + "." for n in graph)
    state = {k: v for k, v in source.state.items() if k.startswith(prefixes)}
    meta = dict(project.meta)
    meta["name"] = f"{source.name} ({part})"
    meta["part"] = part  # what `layerloom predict` recognizes a generator by (bundle, Python, safetensors)
    decoder = Project(graph, project.training, project.data, meta)
    return Source(decoder, state, settings=dict(source.settings), path=source.path, kind=source.kind,
                  weights_from=source.weights_from, weights=dict(source.weights))


def latent_shape(source: Source) -> list[int]:
    """The shape of one latent code (the decoder's only Input)."""
    (node,) = [n for n in source.graph if n.type == "Input"]
    return list(node.params["shape"])


def sample_lines(source: Source) -> list[str]:
    """model.py's `sample(n, model=None, seed=None)` for a decoder or a generator."""
    shape = ", ".join(str(s) for s in latent_shape(source))
    return [
        "",
        "def sample(n, model=None, seed=None):",
        f'    """n new samples: latent codes z ~ N(0, 1) of shape n × {" × ".join(map(str, latent_shape(source)))}, '
        "decoded by `model`",
        "    (default: load_model()); the same `seed` gives the same samples."
        '"""',
        "    if model is None:",
        "        model = load_model()",
        "    generator = torch.Generator()",
        "    if seed is None:",
        "        generator.seed()",
        "    else:",
        "        generator.manual_seed(seed)",
        f"    z = torch.randn(n, {shape}, generator=generator)",
        "    with torch.no_grad():",
        "        return model.eval()(z)",
        "",
    ]


def plain_inputs_source(source: Source) -> Source:
    """A whole GAN for the formats other than the bundle: its Noise block an Input, so the exported model takes
    (noise, real samples) and returns (generated samples, the discriminator's logits on the real ones)."""
    from layerloom.core.gan import with_plain_inputs
    from layerloom.core.project import Project

    project = source.project
    plain = Project(with_plain_inputs(source.graph), project.training, project.data, dict(project.meta))
    return Source(plain, source.state, settings=dict(source.settings), path=source.path, kind=source.kind,
                  weights_from=source.weights_from, weights=dict(source.weights))


def available_parts(graph) -> list[str]:
    """The parts of `graph` that export alone: always "model" (the whole network); "decoder" with exactly one
    Sample block (a VAE); "generator" with exactly one Noise block (a GAN)."""
    types = [n.type for n in graph]
    parts = ["model"]
    if types.count("Sample") == 1:
        parts.append("decoder")
    if types.count("Noise") == 1:
        parts.append("generator")
    return parts
