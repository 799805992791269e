"""Training speed of compiled models against hand-written PyTorch modules, in the same process.

Bar (foundation issue): speed ratio ≥ 0.98 for LeNet-5 and a mini ResNet, where
ratio = hand-written step time / Layerloom step time (> 1 means the Layerloom model is faster).

For each network the same architecture is built twice: with the Graph API and `build_model`, and as
an idiomatic hand-written `nn.Module` (functional ReLU/pooling like the PyTorch tutorials; the mini
ResNet's residual blocks use `layerloom.core.blocks.modules.Residual`, the module the Residual block
compiles to). The compiled model's weights and buffers are copied into the hand-written one and the
outputs are checked to be equal. A training step is: zero_grad, forward, cross-entropy loss,
backward, SGD step (momentum 0.9), on one fixed batch, in train mode (LeNet-5: batch 64 of 1×28×28;
mini ResNet: batch 32 of 3×32×32).

Interleaved timing: after warm-up, each of N rounds runs k steps of one model then k steps of the
other (which goes first alternates); a round gives ratio = baseline time / Layerloom time. The
figure is the median ratio over rounds, with a distribution-free 95 % confidence interval of that
median. Rounds are short (LeNet-5: 300 × 2 steps; mini ResNet: 150 × 1 step) because step times
drift slowly, so adjacent runs share most of the drift. On a busy machine (other processes
competing for the 2 cores) rounds are added, up to a time cap, until the CI is within ±0.01.
Threads: torch.set_num_threads(os.cpu_count()).

Run: .venv/bin/python benchmarks/bench_compiled_speed.py [--check] [--quick]
"""

from __future__ import annotations

import itertools
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch
import torch.nn.functional as F
from common import Results, median_ci, parse_args, print_header
from torch import nn

from layerloom.core import Graph, build_model
from layerloom.core.blocks.modules import Residual

RATIO_BAR = 0.98
CI_HALF_WIDTH = 0.01  # stop adding rounds once the median ratio is known to ±1 %


# --- LeNet-5 ------------------------------------------------------------------------------------------

def lenet_graph() -> Graph:
    g = Graph()
    chain = [
        g.add("Input", shape=[1, 28, 28]),
        g.add("Conv2d", out_channels=6, kernel_size=5, padding=2),
        g.add("ReLU"),
        g.add("MaxPool2d", kernel_size=2),
        g.add("Conv2d", out_channels=16, kernel_size=5),
        g.add("ReLU"),
        g.add("MaxPool2d", kernel_size=2),
        g.add("Flatten"),
        g.add("Dense", out_features=120),
        g.add("ReLU"),
        g.add("Dense", out_features=84),
        g.add("ReLU"),
        g.add("Dense", out_features=10),
        g.add("Output", loss="cross_entropy"),
    ]
    for a, b in itertools.pairwise(chain):
        g.connect(a, b)
    return g


class LeNet5(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


# --- mini ResNet ----------------------------------------------------------------------------------------

def resnet_graph() -> Graph:
    g = Graph()
    chain = [
        g.add("Input", shape=[3, 32, 32]),
        g.add("Conv2d", out_channels=16, kernel_size=3, padding=1, bias=False),
        g.add("BatchNorm"),
        g.add("ReLU"),
        g.add("Residual", out_channels=16, stride=1),
        g.add("Residual", out_channels=32, stride=2),
        g.add("Residual", out_channels=64, stride=2),
        g.add("GlobalAvgPool"),
        g.add("Dense", out_features=10),
        g.add("Output", loss="cross_entropy"),
    ]
    for a, b in itertools.pairwise(chain):
        g.connect(a, b)
    return g


class MiniResNet(nn.Module):
    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.layer1 = Residual(16, 16, 1)
        self.layer2 = Residual(16, 32, 2)
        self.layer3 = Residual(32, 64, 2)
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        return self.fc(x)


# --- helpers ---------------------------------------------------------------------------------------------

def copy_weights(src: nn.Module, dst: nn.Module) -> None:
    """Copy every parameter and buffer of `src` into `dst`, matched by order (names differ)."""
    s, d = src.state_dict(), dst.state_dict()
    if len(s) != len(d):
        raise AssertionError(f"state dicts differ in length: {len(s)} vs {len(d)}")
    new = {}
    for (sk, sv), (dk, dv) in zip(s.items(), d.items()):
        if sv.shape != dv.shape:
            raise AssertionError(f"{sk} {tuple(sv.shape)} does not match {dk} {tuple(dv.shape)}")
        new[dk] = sv.clone()
    dst.load_state_dict(new)


def check_same(a: nn.Module, b: nn.Module, x: torch.Tensor) -> float:
    """Max abs difference of the outputs in eval mode (train mode would move BN's running stats)."""
    a.eval()
    b.eval()
    with torch.no_grad():
        diff = (a(x) - b(x)).abs().max().item()
    a.train()
    b.train()
    if diff > 1e-5:
        raise AssertionError(f"the compiled and hand-written models differ by {diff}")
    return diff


class Stepper:
    """k training steps of one model on a fixed batch."""

    def __init__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor):
        self.model = model.train()
        self.x, self.y = x, y
        self.opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def steps(self, k: int) -> float:
        """Run k steps; the mean seconds per step."""
        model, opt, x, y = self.model, self.opt, self.x, self.y
        t0 = time.perf_counter()
        for _ in range(k):
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
        return (time.perf_counter() - t0) / k


def compare(results: Results, title: str, graph: Graph, baseline: nn.Module, batch: int, rounds: int, k: int,
            warmup: int, max_seconds: float) -> None:
    """Time `rounds` interleaved rounds (more while the median's CI is wide, within max_seconds)."""
    compiled = build_model(graph, seed=0)
    copy_weights(compiled, baseline)
    in_shape = tuple(graph.node(graph.nodes[0].id).params["shape"])
    gen = torch.Generator().manual_seed(0)
    x = torch.randn((batch, *in_shape), generator=gen)
    y = torch.randint(0, 10, (batch,), generator=gen)
    diff = check_same(compiled, baseline, x)

    ll, base = Stepper(compiled, x, y), Stepper(baseline, x, y)
    ll.steps(warmup)
    base.steps(warmup)
    ratios, t_ll, t_base = [], [], []
    start = time.perf_counter()
    r = 0
    while True:
        if r % 2 == 0:
            tb = base.steps(k)
            tl = ll.steps(k)
        else:
            tl = ll.steps(k)
            tb = base.steps(k)
        t_base.append(tb)
        t_ll.append(tl)
        ratios.append(tb / tl)
        r += 1
        if r >= rounds and r % 2 == 0:
            # On a busy machine keep going (up to max_seconds) until the median is known to ±CI_HALF_WIDTH.
            lo, hi = median_ci(ratios)
            if (hi - lo) / 2 <= CI_HALF_WIDTH or time.perf_counter() - start > max_seconds:
                break
    med = statistics.median(ratios)
    lo, hi = median_ci(ratios)
    n_params = sum(p.numel() for p in compiled.parameters())
    print(f"  {title}: {n_params:,} parameters, outputs equal (max diff {diff:.1e}); {len(ratios)} rounds × {k} "
          f"steps, batch {batch}, {time.perf_counter() - start:.1f} s; per-step median (min): hand-written "
          f"{statistics.median(t_base) * 1e3:.2f} ms ({min(t_base) * 1e3:.2f}), Layerloom "
          f"{statistics.median(t_ll) * 1e3:.2f} ms ({min(t_ll) * 1e3:.2f})")
    results.add(f"{title}: speed ratio (hand-written / Layerloom)", med, RATIO_BAR, "", lower_is_better=False,
                extra=f"95% CI {lo:.3f}-{hi:.3f}, {len(ratios)} rounds (range {min(ratios):.2f}-{max(ratios):.2f})")
    results.add(f"{title}: step time, hand-written", statistics.median(t_base) * 1e3, None, "ms",
                extra=f"min {min(t_base) * 1e3:.2f} ms")
    results.add(f"{title}: step time, Layerloom", statistics.median(t_ll) * 1e3, None, "ms",
                extra=f"min {min(t_ll) * 1e3:.2f} ms")


def main() -> int:
    args = parse_args(__doc__.splitlines()[0])
    torch.set_num_threads(os.cpu_count() or 1)
    torch.manual_seed(0)
    print_header("Compiled-model training speed vs hand-written PyTorch (forward + cross-entropy + backward + "
                 "SGD step), device cpu")
    results = Results("Compiled vs hand-written, same process, interleaved (ratio: median over rounds)")
    q = args.quick
    # Short rounds: step times drift slowly (neighbouring steps are strongly correlated on a shared
    # 2-core machine), so comparing adjacent short runs cancels most of the drift.
    compare(results, "LeNet-5", lenet_graph(), LeNet5(), batch=64,
            rounds=20 if q else 300, k=2, warmup=10 if q else 40, max_seconds=3 if q else 30)
    compare(results, "mini ResNet", resnet_graph(), MiniResNet(), batch=32,
            rounds=10 if q else 150, k=1, warmup=3 if q else 10, max_seconds=3 if q else 30)
    results.print_table()
    return results.exit_code(args.check)


if __name__ == "__main__":
    sys.exit(main())
