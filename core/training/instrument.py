"""Looking inside a training model cheaply: per-layer gradient and weight norms, and feature maps.

GradientMonitor groups parameters by block (the submodule name before the first dot, as the compiler
names them) and computes every norm with one `torch._foreach_norm` per list plus one scatter-add, on
the device, fetched in one transfer; the trainer calls it every N steps.

FeatureTap derives a small fx GraphModule from the compiled model whose outputs are the values of the
requested blocks (`model.block_nodes` maps block name → fx node name; dead code is removed, so only
what those blocks need is computed). It shares the model's submodules, runs in eval mode under
no_grad on one fixed probe sample, and returns small float16 arrays.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.fx
import torch.nn.functional as F

from layerloom.core.model_modes import eval_mode

VANISHING = 1e-6
EXPLODING = 1e3
MAX_SIDE = 64  # feature maps larger than this are average-pooled down
MAX_FILTER_VALUES = 64 * 16 * 11 * 11  # Conv2d weights larger than this are not sent


class GradientMonitor:
    def __init__(self, model: torch.nn.Module):
        layers: list[str] = []
        index: list[int] = []
        self.params: list[torch.nn.Parameter] = []
        for name, p in model.named_parameters():
            if not p.requires_grad:
                continue
            block = name.split(".", 1)[0]
            if block not in layers:
                layers.append(block)
            index.append(layers.index(block))
            self.params.append(p)
        self.layers = tuple(layers)
        device = self.params[0].device if self.params else torch.device("cpu")
        n = len(layers)
        # gradient norms add into slots 0..n-1, weight norms into n..2n-1
        self._index = torch.tensor(index, dtype=torch.long, device=device)
        self._index2 = torch.cat([self._index, self._index + n])

    def norms(self) -> tuple[np.ndarray, np.ndarray]:
        """(gradient norms, weight norms) per layer as float32 arrays: one foreach norm over gradients and
        weights together, one scatter-add, one device→host transfer."""
        n = len(self.layers)
        if not n:
            return np.zeros(0, np.float32), np.zeros(0, np.float32)
        with torch.no_grad():
            grads = [p.grad for p in self.params]
            if all(g is not None for g in grads):
                tensors, index = [*grads, *self.params], self._index2
            else:  # layers without a gradient this step count as 0
                have = [i for i, g in enumerate(grads) if g is not None]
                tensors = [grads[i] for i in have] + list(self.params)
                index = torch.cat([self._index[have], self._index + n]) if have else self._index + n
            norms = torch.stack(torch._foreach_norm(tensors)).float()
            sums = torch.zeros(2 * n, device=norms.device).index_add_(0, index, norms * norms)
            both = sums.sqrt().cpu().numpy()
        return both[:n].astype(np.float32), both[n:].astype(np.float32)

    @staticmethod
    def classify(layers, grad_norms) -> tuple[tuple[str, ...], tuple[str, ...]]:
        vanishing = tuple(name for name, v in zip(layers, grad_norms) if v < VANISHING)
        exploding = tuple(name for name, v in zip(layers, grad_norms) if not v <= EXPLODING)  # NaN counts
        return vanishing, exploding


class FeatureTap:
    """Values of named blocks on a probe input, computed by a pruned copy of the model's fx graph."""

    def __init__(self, model: torch.fx.GraphModule):
        self.model = model
        self._blocks: tuple[str, ...] = ()
        self._probe_module: torch.fx.GraphModule | None = None

    def known(self, names) -> tuple[str, ...]:
        block_nodes = getattr(self.model, "block_nodes", {})
        return tuple(n for n in names if n in block_nodes)

    def _build(self, blocks: tuple[str, ...]) -> torch.fx.GraphModule:
        block_nodes = self.model.block_nodes
        graph = torch.fx.Graph()
        env: dict = {}
        for node in self.model.graph.nodes:
            if node.op == "output":
                break
            env[node.name] = graph.node_copy(node, lambda n: env[n.name])
        graph.output(tuple(env[name] for name in (block_nodes[b] for b in blocks)))
        probe = torch.fx.GraphModule(self.model, graph, class_name="LayerloomProbe")
        probe.graph.eliminate_dead_code()  # compute only what the requested blocks need
        probe.recompile()
        return probe

    def capture(self, blocks: tuple[str, ...], inputs: tuple[torch.Tensor, ...]) -> dict[str, torch.Tensor]:
        """The value of each block on `inputs` (a batch of one), eval mode, no gradients. The model's
        training flags are restored afterwards."""
        blocks = self.known(blocks)
        if not blocks:
            return {}
        if blocks != self._blocks or self._probe_module is None:
            self._probe_module = self._build(blocks)
            self._blocks = blocks
        with eval_mode(self.model), torch.no_grad():
            values = self._probe_module(*inputs)
        return dict(zip(blocks, values))


def probe_sample(data, index: int = 0):
    """The probe sample of a PreparedData: (its index, its inputs as a batch of one, its targets as a batch of one
    (what a loss takes), its first target as a number or list (what a view shows)). From the validation split, or
    the training split when there is none."""
    split = data.val if len(data.val) else data.train
    i = min(max(0, int(index)), len(split) - 1)
    xs, ys = next(split.batches(1, indices=[i]))
    y = ys[0][0]
    return i, tuple(xs), tuple(ys), (y.item() if y.numel() == 1 else y.tolist())


def feature_map_events(tap: FeatureTap, blocks, inputs, *, sample_index: int, label=None, step: int = 0,
                       epoch: int = 0) -> list:
    """The FeatureMaps events of `blocks` (those the model has) on the probe `inputs`."""
    from layerloom.core.training.events import FeatureMaps

    values = tap.capture(tuple(blocks), inputs)
    modules = dict(tap.model.named_children())
    out = []
    for name, value in values.items():
        maps, shape = small_maps(value)
        out.append(FeatureMaps(step=step, epoch=epoch, block=name, sample_index=sample_index, maps=maps, shape=shape,
                               filters=small_filters(modules.get(name)), label=label))
    return out


def small_maps(value) -> tuple[np.ndarray, tuple[int, ...]]:
    """A block's value on one sample as a small float16 array (batch dimension removed), and its shape."""
    if isinstance(value, tuple | list):  # a block with several results: show the first
        value = value[0]
    t = value.detach()[0].float()
    shape = tuple(t.shape)
    if t.dim() == 3 and (t.shape[1] > MAX_SIDE or t.shape[2] > MAX_SIDE):
        t = F.adaptive_avg_pool2d(t.unsqueeze(0), (min(MAX_SIDE, t.shape[1]), min(MAX_SIDE, t.shape[2])))[0]
    elif t.dim() == 2 and t.shape[0] > 4 * MAX_SIDE:
        t = F.adaptive_avg_pool1d(t.t().unsqueeze(0), 4 * MAX_SIDE)[0].t()
    return t.cpu().numpy().astype(np.float16), shape


def small_filters(module) -> np.ndarray | None:
    w = getattr(module, "weight", None)
    if not isinstance(module, torch.nn.Conv2d) or w is None or w.numel() > MAX_FILTER_VALUES:
        return None
    return w.detach().float().cpu().numpy().astype(np.float16)
