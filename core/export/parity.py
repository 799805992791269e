"""Checking an export against the live model: the same sample batch through both, the largest absolute
difference over every output; above the tolerance (1e-4) the export fails with that figure.

Formats meant to load without Layerloom (TorchScript, the Python source) are checked in a fresh
interpreter in which `import layerloom` fails (`run_isolated`).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
import textwrap

from layerloom.core.export.base import CHECK_BATCH, TOLERANCE, ExportError, ParityError

SEQUENCE_TYPES = ("RNN", "LSTM", "GRU", "Embedding", "Conv1d")


def sample_inputs(graph, batch: int = CHECK_BATCH, seed: int = 1234, sizes: dict | None = None):
    """Random inputs for the graph (token ids below every Embedding's vocabulary). `sizes` maps
    (input index, dimension) → a size replacing the Input's own (to check a free sequence length)."""
    import torch

    from layerloom.core.compiler import example_inputs

    xs = list(example_inputs(graph, batch, seed))
    for (i, dim), size in (sizes or {}).items():
        x = xs[i]
        shape = list(x.shape)
        shape[dim] = size
        gen = torch.Generator().manual_seed(seed + 1 + dim)
        if x.dtype == torch.int64:
            high = int(x.max().item()) + 1 if x.numel() else 2
            xs[i] = torch.randint(0, max(high, 1), shape, generator=gen)
        else:
            xs[i] = torch.randn(shape, generator=gen)
    return tuple(xs)


def as_tuple(out) -> tuple:
    if isinstance(out, list | tuple):
        return tuple(out)
    return (out,)


def run_model(model, inputs) -> tuple:
    """The outputs of `model` on `inputs`, as a tuple of CPU float tensors, without gradients."""
    import torch

    with torch.no_grad():
        return tuple(torch.as_tensor(o).detach().cpu() for o in as_tuple(model(*inputs)))


def max_difference(expected, got, what: str = "the export") -> float:
    """The largest absolute difference between two sets of outputs; ParityError when their number or
    shapes differ, or when the export gives NaN where the live model does not."""
    import torch

    expected, got = as_tuple(expected), as_tuple(got)
    if len(expected) != len(got):
        raise ParityError(f"{what} returns {len(got)} output(s) but the live model {len(expected)}", math.inf)
    worst = 0.0
    for i, (e, g) in enumerate(zip(expected, got)):
        e, g = torch.as_tensor(e).float(), torch.as_tensor(g).float()
        if tuple(e.shape) != tuple(g.shape):
            raise ParityError(f"{what}'s output {i + 1} has the shape {tuple(g.shape)} but the live model's "
                              f"{tuple(e.shape)}", math.inf)
        if e.numel() == 0:
            continue
        if bool((torch.isnan(g) & ~torch.isnan(e)).any()):
            raise ParityError(f"{what}'s output {i + 1} holds NaN where the live model's does not", math.inf)
        both = ~(torch.isnan(e) & torch.isnan(g))
        diff = (e - g).abs()[both]
        if diff.numel():
            worst = max(worst, float(diff.max()))
    return worst


def require(difference: float, fmt: str, tolerance: float = TOLERANCE) -> None:
    """Raise ParityError with the figure when `difference` is above `tolerance`."""
    if not difference <= tolerance:
        raise ParityError(f"the {fmt} export does not match the live model: its outputs differ by up to "
                          f"{difference:.3g} (the limit is {tolerance:g}); the file was not written", difference)


# --- free dimensions -----------------------------------------------------------------------------------


def free_sequence_dims(graph, model) -> dict[int, list[int]]:
    """For a sequence model (recurrent layers, Embedding, Conv1d): the dimensions of each Input (index →
    dims, batch counted as 0) whose size the network accepts changing — the sequence length wherever the
    graph allows it. Found by running the live model with each dimension changed, one at a time."""
    if not any(n.type in SEQUENCE_TYPES for n in graph):
        return {}
    inputs = [n for n in graph if n.type == "Input"]
    base = run_model(model, sample_inputs(graph, 2))
    free: dict[int, list[int]] = {}
    for i, node in enumerate(inputs):
        for dim in range(1, len(node.params["shape"]) + 1):
            size = node.params["shape"][dim - 1]
            changed = size + max(1, size // 2)
            try:
                out = run_model(model, sample_inputs(graph, 2, sizes={(i, dim): changed}))
            except Exception:  # the network needs this size: it is not free
                continue
            if len(out) == len(base):
                free.setdefault(i, []).append(dim)
    return free


def output_free_dims(graph, model, free: dict[int, list[int]]) -> list[list[int]]:
    """For each output, the dimensions whose size follows the free input dimensions."""
    base = run_model(model, sample_inputs(graph, 2))
    dims: list[set[int]] = [{0} for _ in base]
    for i, in_dims in free.items():
        for d in in_dims:
            size = graph_input_shape(graph, i)[d - 1]
            out = run_model(model, sample_inputs(graph, 2, sizes={(i, d): size + max(1, size // 2)}))
            for k, (a, b) in enumerate(zip(base, out)):
                dims[k] |= {j for j in range(a.dim()) if a.shape[j] != b.shape[j]}
    return [sorted(s) for s in dims]


def graph_input_shape(graph, index: int) -> list[int]:
    return [n for n in graph if n.type == "Input"][index].params["shape"]


def sequence_checks(graph, free: dict[int, list[int]]) -> list[dict]:
    """Extra checks for free sequence dimensions: each at a size the export was not traced with."""
    checks = []
    for i, dims in free.items():
        for d in dims:
            size = graph_input_shape(graph, i)[d - 1]
            checks.append({(i, d): size + max(1, size // 2)})
    return checks


def dim_words(graph, free: dict[int, list[int]], batch: bool = True) -> dict[str, list[str]]:
    """{input name: ["batch", "dim 1 (length)"]} for results and messages."""
    names = [n.name for n in graph if n.type == "Input"]
    out = {}
    for i, name in enumerate(names):
        words = ["batch"] if batch else []
        words += [f"dim {d} (sequence length)" for d in free.get(i, [])]
        if words:
            out[name] = words
    return out


# --- a fresh interpreter without Layerloom ---------------------------------------------------------------

_RUNNER = textwrap.dedent("""
    import sys
    sys.modules["layerloom"] = None  # `import layerloom` fails in here: the export must stand alone
    import importlib.util, json
    import torch

    job = json.loads(sys.argv[1])
    inputs = torch.load(job["inputs"], weights_only=True)
    if job["kind"] == "torchscript":
        model = torch.jit.load(job["model"], map_location="cpu")
    else:
        spec = importlib.util.spec_from_file_location("exported_model", job["model"])
        module = importlib.util.module_from_spec(spec)
        sys.modules["exported_model"] = module
        spec.loader.exec_module(module)
        model = module.load_model(job["weights"])
    model.eval()
    results = []
    with torch.no_grad():
        for batch in inputs:
            out = model(*batch)
            out = list(out) if isinstance(out, (list, tuple)) else [out]
            results.append([o.detach().cpu() for o in out])
    torch.save(results, job["outputs"])
""")


def run_isolated(kind: str, model_path: str, batches: list[tuple], weights_path: str | None = None,
                 timeout: float = 300.0) -> list[tuple]:
    """Run an exported model ("torchscript": a .pt; "python": a model.py with load_model) on each batch of
    inputs in a fresh Python in which Layerloom cannot be imported; returns the outputs of each batch."""
    import torch

    with tempfile.TemporaryDirectory(prefix="layerloom-check-") as tmp:
        inputs, outputs = os.path.join(tmp, "inputs.pt"), os.path.join(tmp, "outputs.pt")
        torch.save([tuple(b) for b in batches], inputs)
        job = {"kind": kind, "model": os.path.abspath(model_path), "inputs": inputs, "outputs": outputs,
               "weights": os.path.abspath(weights_path) if weights_path else None}
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONSTARTUP")}
        env["PYTHONNOUSERSITE"] = "1"
        env.setdefault("OMP_NUM_THREADS", "1")
        try:
            proc = subprocess.run([sys.executable, "-c", _RUNNER, json.dumps(job)], cwd=tmp, env=env,
                                  capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise ExportError(f"checking the {kind} export took more than {timeout:.0f} s; it was stopped") from None
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["(no message)"])[-1]
            raise ExportError(f"the {kind} export does not run on its own (without Layerloom): {last}")
        # written by the runner from tensors only: read back without unpickling anything else
        results = torch.load(outputs, weights_only=True)
    return [tuple(r) for r in results]
