"""Bringing existing PyTorch models in as graphs: a Python file plus a class name, or a `torch.export` `.pt2`.

    classes = list_module_classes("net.py")                  # read without running the file
    result = import_python_model("net.py", "Net", input_shapes=[(1, 28, 28)], confirm=True)
    result.project, result.state      # the graph (a Project) and its weights, named after the blocks
    result.unsupported                # ["attn (MultiheadAttention): …"] — what has no block
    result.difference                 # the imported graph against the original module on a sample batch

A Python file runs when it is imported, so `import_python_model` refuses to import it unless `confirm` is
True or a callable that returns True for the path (the window asks the user first); nothing else in
Layerloom ever imports a user's file, and opening a project or a bundle never does. A `.pt2` is read
without unpickling (`torch_export.load_program`) and without running anything of the file's.

Both are traced with torch.fx through `torch.export` (non-strict, evaluation mode): each ATen operation
becomes a block (conv, linear, pooling, activations, normalisation, embedding, RNN/LSTM/GRU, add,
multiply, concatenate, flatten, reshape, permute), named after the module it came from (`features.0` →
`features_0`), with its weights. Whatever has no block is listed by name with the reason. This module is
the front door; the walk over the program is `import_walk.py`, the table of operations `import_ops.py`.
"""

from __future__ import annotations

import ast
import contextlib
import importlib.util
import os
import re
import sys
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from layerloom.core.errors import LayerloomError
from layerloom.core.export.base import TOLERANCE, ExportError, ModelImportError
from layerloom.core.export.import_ops import Converter
from layerloom.core.export.import_walk import EXAMPLE_BATCH, concrete_size


class ImportRefused(ModelImportError):
    """The user did not confirm running the file's code."""


@dataclass
class ImportResult:
    """An imported model: its project and weights, what had no block, and how well it matches the original."""

    project: Any
    state: dict
    unsupported: list[str] = field(default_factory=list)
    difference: float | None = None  # None when the graph could not be compared (unsupported layers)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.unsupported and self.difference is not None and self.difference <= TOLERANCE

    def message(self) -> str:
        n = sum(1 for node in self.project.graph if node.type not in ("Input", "Output"))
        lines = [f"Imported {n} block{'s' if n != 1 else ''}."]
        if self.unsupported:
            lines.append(f"{len(self.unsupported)} layer(s) have no Layerloom block and were left out (their "
                         "places are left unconnected):")
            lines += [f"  - {u}" for u in self.unsupported]
        if self.difference is not None:
            verdict = "matches" if self.difference <= TOLERANCE else "does NOT match"
            lines.append(f"The graph {verdict} the original model: largest difference {self.difference:.2g}.")
        lines += self.notes
        return "\n".join(lines)


# --- reading a file without running it ----------------------------------------------------------------------


def list_module_classes(path: str | os.PathLike) -> list[str]:
    """The classes a Python file defines that derive from a torch Module (read as text, never run)."""
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read(), path)
    except (OSError, UnicodeDecodeError, SyntaxError, ValueError) as err:
        raise ModelImportError(f"{path}: cannot be read as Python ({err})") from None
    found = []
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            bases = [ast.unparse(b) for b in node.bases]
            if any(re.search(r"(^|\.)(Module|Sequential)$", b) for b in bases):
                found.append(node.name)
    return found


def _confirmed(confirm, path: str) -> bool:
    if callable(confirm):
        return bool(confirm(path))
    return confirm is True


# --- the two entry points ------------------------------------------------------------------------------------


def import_python_model(path: str | os.PathLike, class_name: str, *, confirm: bool | Callable[[str], bool] = False,
                        input_shapes, input_dtypes=None, init_kwargs: dict | None = None,
                        name: str | None = None) -> ImportResult:
    """Import `class_name` from the Python file `path`, built with `init_kwargs` and traced on random inputs
    of `input_shapes` (one per forward argument, batch left out; `input_dtypes` "float32" or "int64").

    The file's code runs: ImportRefused unless `confirm` is True or returns True for the path."""
    import torch

    path = os.path.abspath(os.fspath(path))
    if not os.path.isfile(path):
        raise ModelImportError(f"{path}: the file does not exist")
    if not _confirmed(confirm, path):
        raise ImportRefused(f"{path}: importing a Python file runs its code; it was not confirmed, so nothing was "
                            "run")
    shapes = [tuple(int(s) for s in shape) for shape in input_shapes]
    dtypes = list(input_dtypes or ["float32"] * len(shapes))
    if len(dtypes) != len(shapes) or any(d not in ("float32", "int64") for d in dtypes):
        raise ModelImportError("give one dtype per input, float32 or int64")
    module = _load_file(path)
    cls = getattr(module, class_name, None)
    if cls is None:
        raise ModelImportError(f"{path}: defines no class {class_name!r}")
    if not (isinstance(cls, type) and issubclass(cls, torch.nn.Module)):
        raise ModelImportError(f"{path}: {class_name} is not a torch.nn.Module")
    try:
        model = cls(**(init_kwargs or {})).eval()
    except Exception as err:
        raise ModelImportError(f"{class_name}() failed: {type(err).__name__}: {err}") from None
    gen = torch.Generator().manual_seed(0)
    inputs = tuple(torch.randint(0, 2, (EXAMPLE_BATCH, *s), generator=gen) if d == "int64"
                   else torch.randn((EXAMPLE_BATCH, *s), generator=gen) for s, d in zip(shapes, dtypes))
    if any(d == "int64" for d in dtypes):
        inputs = _token_inputs(model, inputs, dtypes)
    try:
        with torch.no_grad():
            model(*inputs)
    except Exception as err:
        raise ModelImportError(f"{class_name} does not run on inputs of {_shapes_text(shapes)}: "
                               f"{type(err).__name__}: {err}") from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.export.export(model, inputs, strict=False)
    except Exception as err:
        raise ModelImportError(f"{class_name} cannot be traced: {type(err).__name__}: {str(err).splitlines()[0]}") \
            from None
    return _convert(program, model, inputs, name or class_name)


def import_program(path: str | os.PathLike, *, name: str | None = None) -> ImportResult:
    """Import a `torch.export` `.pt2` program (read without unpickling; nothing of the file runs)."""
    import torch

    from layerloom.core.export.torch_export import load_program

    path = os.fspath(path)
    try:
        program = load_program(path)
    except ExportError as err:
        raise ModelImportError(str(err)) from None
    gen = torch.Generator().manual_seed(0)
    inputs = []
    nodes = {n.name: n for n in program.graph.nodes if n.op == "placeholder"}
    for user in program.graph_signature.user_inputs:
        val = nodes[user].meta.get("val")
        if val is None:
            raise ModelImportError(f"{path}: the program does not say the shape of its input {user!r}")
        shape = [EXAMPLE_BATCH if i == 0 and not isinstance(s, int) else concrete_size(s)
             for i, s in enumerate(val.shape)]
        if val.dtype in (torch.int64, torch.int32):
            inputs.append(torch.randint(0, 2, shape, generator=gen, dtype=val.dtype))
        else:
            inputs.append(torch.randn(shape, generator=gen, dtype=val.dtype))
    reference = program.module()
    base = name or os.path.splitext(os.path.basename(path))[0]
    return _convert(program, reference, tuple(inputs), base)


def _shapes_text(shapes) -> str:
    return ", ".join("×".join(map(str, s)) for s in shapes)


def _load_file(path: str):
    """Import a Python file under a private module name, with its folder on sys.path while it imports."""
    name = f"layerloom_user_model_{uuid.uuid4().hex[:8]}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ModelImportError(f"{path}: cannot be imported as a Python file")
    module = importlib.util.module_from_spec(spec)
    folder = os.path.dirname(path)
    sys.path.insert(0, folder)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as err:
        sys.modules.pop(name, None)
        raise ModelImportError(f"{path}: importing it failed: {type(err).__name__}: {err}") from None
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(folder)
    return module


def _token_inputs(model, inputs, dtypes):
    """Token ids below the smallest Embedding's vocabulary."""
    import torch

    vocab = min((m.num_embeddings for m in model.modules() if isinstance(m, torch.nn.Embedding)), default=2)
    gen = torch.Generator().manual_seed(1)
    return tuple(torch.randint(0, vocab, x.shape, generator=gen) if d == "int64" else x
                 for x, d in zip(inputs, dtypes))


def _convert(program, reference, inputs, name: str) -> ImportResult:
    from layerloom.core.compiler import build_model
    from layerloom.core.export.parity import max_difference, run_model
    from layerloom.core.export.weights import apply_weights
    from layerloom.core.inference import infer

    conv = Converter(program, name)
    try:
        conv.run()
    except ModelImportError:
        raise
    except Exception as err:  # a graph Layerloom refuses (a shape rule, a name): say which
        raise ModelImportError(f"the model cannot be turned into a graph: {err}") from None
    result = ImportResult(conv.project, conv.state, conv.unsupported, None, conv.notes)
    report = infer(conv.graph)
    if conv.unsupported:
        return result
    if report.errors:
        result.notes += [f"the graph has a problem: {p.message}" for p in report.errors]
        return result
    model = build_model(conv.graph, seed=0)
    fit = apply_weights(model, conv.state)
    if not fit.ok:
        result.notes += fit.messages()
    model.eval()
    try:
        result.difference = max_difference(run_model(reference, inputs), run_model(model, inputs),
                                           "the imported graph")
    except LayerloomError as err:
        result.notes.append(str(err))
    return result
