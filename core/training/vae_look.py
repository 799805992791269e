"""What a VAE makes of a fixed batch, as one VAELook event: input and reconstruction pairs, samples decoded from a
fixed random z, the latent means of the batch (for a scatter coloured by class) and a traversal grid (decodes of
a lattice of latent points over ±TRAVERSAL_EXTENT in the first two latent dimensions, the others 0).

    looker = VAELooker(model)                       # VAERecipe.look: a callable (xs, labels, step, epoch) → VAELook
    with torch.no_grad(), eval_mode(model):
        event = looker(xs, labels, step, epoch)
    event = vae_look(model, prepared)               # the same for a trained model, with no run going

Decoding a latent code runs the model's own fx graph from the Sample block on (`decoder_module`): the nodes after
the Sample block's call, with a placeholder z in its place and the model's very submodules (no weights copied).
"""

from __future__ import annotations

import numpy as np
import torch

from layerloom.core.blocks.sample_module import SampleModule
from layerloom.core.training import events as ev

PAIRS = 8  # input and reconstruction pairs
SAMPLES = 16  # samples decoded from the fixed z
GRID = 8  # the traversal is GRID × GRID decodes
TRAVERSAL_EXTENT = 2.5  # the lattice spans ±this in the first two latent dimensions
SEED = 0  # the fixed z's seed
BATCH = 512  # the fixed batch's samples at most


class DecoderError(ValueError):
    """The model has no part after a Sample block that runs on z alone; the message says why in plain words."""


def sample_node(model):
    """The fx node of the model's first Sample block call, and its module's name."""
    modules = dict(model.named_modules())
    for node in model.graph.nodes:
        if node.op == "call_module" and isinstance(modules.get(node.target), SampleModule):
            return node
    raise DecoderError("the model has no Sample block")


def decoder_module(model) -> tuple[torch.fx.GraphModule, int]:
    """The part of `model` (a compiled fx GraphModule) after its Sample block, as a GraphModule z → the first
    Output that z leads to, sharing the model's submodules; and that Output's index among the model's outputs."""
    node = sample_node(model)
    after = {node}
    for n in model.graph.nodes:  # nodes come in topological order
        if n is not node and any(a in after for a in n.all_input_nodes) and n.op != "output":
            after.add(n)
    graph = torch.fx.Graph()
    env = {node: graph.placeholder("z")}
    for n in model.graph.nodes:
        if n in after and n is not node:
            outside = [a.name for a in n.all_input_nodes if a not in after]
            if outside:
                raise DecoderError(f"{n.name} also takes {', '.join(outside)}, which does not come after the Sample "
                                   "block: the decoder cannot run on z alone")
            env[n] = graph.node_copy(n, lambda a: env[a])
    (out,) = [n for n in model.graph.nodes if n.op == "output"]
    results = out.args[0] if isinstance(out.args[0], tuple | list) else (out.args[0],)
    index = next((i for i, r in enumerate(results) if r in env and r is not node), None)
    if index is None:
        raise DecoderError("no Output comes after the Sample block: there is nothing to decode z into")
    graph.output(env[results[index]])
    return torch.fx.GraphModule(model, graph, class_name="Decoder"), index


def lattice(k: int = GRID, extent: float = TRAVERSAL_EXTENT) -> np.ndarray:
    """The traversal's latent points, k×k×2: point [r, c] = (grid[c], grid[r]) with grid = linspace(−extent,
    extent, k) — columns go along the first latent dimension, rows along the second (row 0 the lowest)."""
    grid = np.linspace(-extent, extent, k, dtype=np.float32)
    return np.stack(np.meshgrid(grid, grid, indexing="xy"), axis=-1)


def _is_image(shape: tuple[int, ...]) -> bool:
    return len(shape) == 2 or (len(shape) == 3 and shape[0] in (1, 3, 4))


def _first(out, index: int) -> torch.Tensor:
    return out[index] if isinstance(out, tuple | list) else out


def _numpy(t: torch.Tensor, images: bool) -> np.ndarray:
    a = t.detach().float().cpu().numpy()
    return a if images else a.reshape(len(a), -1)


class VAELooker:
    """VAERecipe.look: the VAELook of a fixed batch; run it under torch.no_grad() with the model in eval mode. The
    decoder and the fixed z are made at the first look."""

    def __init__(self, model, seed: int = SEED):
        self.model = model
        self.seed = seed
        self.decoder: torch.fx.GraphModule | None = None
        self.output_index = 0
        self.decoder_note = ""
        self.sampler: SampleModule | None = None
        self._z: dict = {}  # device → the fixed z

    def _prepare(self) -> None:
        if self.sampler is not None:
            return
        node = sample_node(self.model)
        self.sampler = self.model.get_submodule(node.target)
        try:
            self.decoder, self.output_index = decoder_module(self.model)
        except DecoderError as err:
            self.decoder_note = f"Samples and the traversal cannot be decoded: {err}."

    def fixed_z(self, latent_shape: tuple[int, ...], device) -> torch.Tensor:
        """SAMPLES latent codes z ~ N(0, 1) from `seed`, the same at every look."""
        key = (tuple(latent_shape), str(device))
        if key not in self._z:
            generator = torch.Generator().manual_seed(self.seed)
            self._z[key] = torch.randn(SAMPLES, *latent_shape, generator=generator).to(device)
        return self._z[key]

    def __call__(self, xs: tuple, labels: np.ndarray | None, step: int, epoch: int) -> ev.VAELook:
        self._prepare()
        means: list[torch.Tensor] = []
        hook = self.sampler.register_forward_hook(lambda _m, args, _out: means.append(args[0]))
        try:
            out = self.model(*xs)
        finally:
            hook.remove()
        mean = means[-1]
        recon = _first(out, self.output_index)
        shape = tuple(recon.shape[1:])
        images = _is_image(shape)
        notes = [] if images else [f"The output is not an image (shape {'×'.join(map(str, shape))}): samples and "
                                   "the traversal are shown as vectors."]
        flat = mean.reshape(len(mean), -1)
        dims = flat.shape[1]
        latent = flat[:, :2].float().cpu().numpy()
        if dims < 2:
            notes.append("The latent space has 1 dimension: the scatter and the traversal show it along one axis.")
        samples = traversal = None
        e = TRAVERSAL_EXTENT
        extent = (-e, e, -e, e) if dims >= 2 else (-e, e, 0.0, 0.0)
        if self.decoder is not None:
            z = self.fixed_z(tuple(mean.shape[1:]), mean.device).to(mean.dtype)
            samples = _numpy(self.decoder(z), images)
            points = lattice() if dims >= 2 else lattice()[:1]  # one row along the only dimension
            codes = torch.zeros(points.shape[0] * points.shape[1], dims, dtype=mean.dtype, device=mean.device)
            codes[:, :min(dims, 2)] = torch.from_numpy(points.reshape(-1, 2)[:, :min(dims, 2)]).to(codes)
            decoded = _numpy(self.decoder(codes.reshape(len(codes), *mean.shape[1:])), images)
            traversal = decoded.reshape(points.shape[0], points.shape[1], *decoded.shape[1:])
        else:
            notes.append(self.decoder_note)
        n = min(PAIRS, len(recon))
        return ev.VAELook(step=step, epoch=epoch, inputs=_numpy(xs[0][:n], _is_image(tuple(xs[0].shape[1:]))),
                          reconstructions=_numpy(recon[:n], images), samples=samples, latent=latent,
                          labels=None if labels is None else np.asarray(labels, dtype=np.int64)[:len(latent)],
                          traversal=traversal, traversal_extent=extent, note=" ".join(notes))


def fixed_batch(data, n: int = BATCH) -> tuple[tuple, np.ndarray | None]:
    """The first `n` samples of the validation split (the training split when there is none): their inputs, and
    their class labels as numpy when the data has them (the split's `labels`, else integer class targets)."""
    split = data.val if len(data.val) else data.train
    xs, ys = next(split.batches(min(n, len(split))))
    labels = getattr(split, "labels", None)
    if labels is not None:
        labels = np.asarray(labels[:len(xs[0])], dtype=np.int64)
    elif ys and ys[0].dim() == 1 and not ys[0].dtype.is_floating_point:
        labels = ys[0].cpu().numpy().astype(np.int64)
    return tuple(xs), labels


def label_names(data) -> list[str] | None:
    """The names of the classes `fixed_batch`'s labels index, when the data has them."""
    return getattr(data, "label_names", None) or data.info.class_names


def vae_look(model, data, *, step: int = 0, epoch: int = 0, looker: VAELooker | None = None) -> ev.VAELook:
    """The VAELook of a trained model on `data`'s fixed batch (eval mode, no gradients, each module's mode kept)."""
    from layerloom.core.model_modes import eval_mode

    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    xs, labels = fixed_batch(data)
    looker = looker or VAELooker(model)
    with torch.no_grad(), eval_mode(model):
        return looker(tuple(x.to(device) for x in xs), labels, step, epoch)
