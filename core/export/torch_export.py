"""The `torch-export` format: a `.pt2` program from `torch.export` (batch dimension free, sequence length
free where torch.export keeps it so — recurrent layers fix it), checked against the live model.

`load_program(path)` reads a `.pt2` without unpickling anything, unlike `torch.export.load` (whose weights
and sample inputs go through pickle): the archive is read like a bundle (sizes checked, nothing
extracted), weights come from their raw bytes, the program from its JSON, and files holding pickled
objects are refused. The checks and the importer use it.
"""

from __future__ import annotations

import json
import os
import warnings
import zipfile

from layerloom.core.export.base import TRACE_BATCH, ExportError, Staged
from layerloom.core.export.source import Source

MAX_PT2 = 4 * 2**30
MAX_RECORD = 2 * 2**30


def export_torch_export(source: Source, path: str, staging, tolerance: float) -> Staged:
    import torch
    from torch.export import Dim

    from layerloom.core.export.parity import (
        free_sequence_dims,
        max_difference,
        run_model,
        sequence_checks,
    )

    model = source.live_model()
    graph = source.graph
    candidates = free_sequence_dims(graph, model)
    n_inputs = len(model.input_names)
    dynamic = tuple({0: Dim.AUTO, **{d: Dim.AUTO for d in candidates.get(i, [])}} for i in range(n_inputs))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.export.export(model, source.sample_inputs(TRACE_BATCH, seed=7), dynamic_shapes=dynamic,
                                          strict=False)
            staged = "model.pt2"
            torch.export.save(program, staging.file(staged))
    except Exception as err:
        raise ExportError(f"torch.export failed: {type(err).__name__}: {err}") from None
    free_dims = _free_dims(program)
    batch_free = all(0 in dims for dims in free_dims)
    free = {i: [d for d in dims if d != 0] for i, dims in enumerate(free_dims) if any(d != 0 for d in dims)}
    loaded = load_program(staging.file(staged)).module()
    diff = 0.0
    checks = []
    for sizes in [{}, *sequence_checks(graph, free)]:
        inputs = source.sample_inputs(3 if batch_free else TRACE_BATCH, sizes=sizes)
        diff = max(diff, max_difference(run_model(model, inputs), run_model(loaded, inputs), "the exported program"))
        checks.append(f"the reloaded program on a batch of {inputs[0].shape[0]}"
                      + (f" at sequence length {next(iter(sizes.values()))}" if sizes else ""))
    names = list(model.input_names)
    words = {names[i]: (["batch"] if 0 in dims else []) + [f"dim {d} (sequence length)" for d in dims if d != 0]
             for i, dims in enumerate(free_dims) if dims}
    notes = ["torch.export.export (non-strict)"]
    fixed = [f"{names[i]} dim {d}" for i, dims in candidates.items() for d in dims if d not in free_dims[i]]
    if fixed:
        notes.append(f"torch.export fixed the sequence length ({', '.join(fixed)}) at the traced size")
    return Staged({staged: path}, diff, checks, words, notes)


def _free_dims(program) -> list[list[int]]:
    """For each user input of an ExportedProgram, the dimensions left symbolic."""
    from torch.fx.experimental.symbolic_shapes import is_concrete_int

    user = list(program.graph_signature.user_inputs)
    nodes = {n.name: n for n in program.graph.nodes if n.op == "placeholder"}
    out = []
    for name in user:
        val = nodes[name].meta.get("val") if name in nodes else None
        shape = getattr(val, "shape", ())
        out.append([i for i, s in enumerate(shape) if not is_concrete_int(s)])
    return out


# --- reading a .pt2 without pickle ------------------------------------------------------------------------


def _archive_records(path: str) -> dict[str, bytes]:
    """The records of a .pt2 archive (name without its top folder → bytes), with the bundle's safety checks."""
    from layerloom.core.export.bundle import _read_limited, _unsafe_name
    from layerloom.core.resources import size_text

    where = f"{path}:"
    try:
        zf = zipfile.ZipFile(path)
    except FileNotFoundError:
        raise ExportError(f"{path}: does not exist") from None
    except (zipfile.BadZipFile, OSError, ValueError) as err:
        raise ExportError(f"{where} is not a torch.export .pt2 file ({err})") from None
    records: dict[str, bytes] = {}
    with zf:
        infos = [i for i in zf.infolist() if not i.is_dir()]
        if len(infos) > 100_000:
            raise ExportError(f"{where} holds too many files to be a model")
        total = 0
        for info in infos:
            if _unsafe_name(info.filename):
                raise ExportError(f"{where} holds an entry named {info.filename!r}, a path that points outside the "
                                  "archive; refused")
            if info.file_size > MAX_RECORD or info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise ExportError(f"{where} {info.filename} would decompress to {size_text(info.file_size)}; refused")
            total += info.file_size
            if total > MAX_PT2:
                raise ExportError(f"{where} would decompress to more than {size_text(MAX_PT2)}; refused")
        for info in infos:
            name = info.filename.split("/", 1)[1] if "/" in info.filename else info.filename
            records[name] = _read_limited(zf, info, info.file_size, where)
    return records


def load_program(path: str | os.PathLike):
    """A torch.export ExportedProgram from a .pt2 file, read without unpickling (see the module's text)."""
    import torch
    from torch._export.serde import schema
    from torch._export.serde.serialize import ExportedProgramDeserializer, _bytes_to_dataclass
    from torch.export.pt2_archive.constants import (
        CONSTANTS_CONFIG_FILENAME_FORMAT,
        CONSTANTS_DIR,
        MODELS_FILENAME_FORMAT,
        WEIGHTS_CONFIG_FILENAME_FORMAT,
        WEIGHTS_DIR,
    )

    path = os.fspath(path)
    records = _archive_records(path)
    model_file = MODELS_FILENAME_FORMAT.format("model")
    if model_file not in records:
        raise ExportError(f"{path}: is not a torch.export .pt2 file ({model_file} is missing)")
    if records.get("byteorder", b"little").strip() not in (b"little", b""):
        raise ExportError(f"{path}: was written on a big-endian machine; it cannot be read here")
    state = _payloads(records, WEIGHTS_CONFIG_FILENAME_FORMAT.format("model"), WEIGHTS_DIR, path)
    constants = _payloads(records, CONSTANTS_CONFIG_FILENAME_FORMAT.format("model"), CONSTANTS_DIR, path)
    try:
        serialized = _bytes_to_dataclass(schema.ExportedProgram, records[model_file])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ExportedProgramDeserializer().deserialize(serialized, state, constants, None)
    except ExportError:
        raise
    except Exception as err:
        raise ExportError(f"{path}: this torch.export program cannot be read by PyTorch {torch.__version__} "
                          f"({type(err).__name__}: {err})") from None


def _payloads(records: dict[str, bytes], config_name: str, folder: str, path: str) -> dict:
    import torch
    from torch._export.serde.serialize import (
        deserialize_scalar_type,
        deserialize_size,
        deserialize_storage_offset,
        deserialize_stride,
    )

    if config_name not in records:
        if any(name.startswith(folder) for name in records):
            raise ExportError(f"{path}: was written by an older torch.export whose weights are pickled; Layerloom "
                              "never unpickles files — export it again with a recent PyTorch")
        return {}
    try:
        config = json.loads(records[config_name]).get("config", {})
    except (ValueError, AttributeError) as err:
        raise ExportError(f"{path}: {config_name} is damaged ({err})") from None
    out = {}
    from torch._export.serde import schema
    from torch._export.serde.serialize import _dict_to_dataclass

    for fqn, raw in config.items():
        meta = _dict_to_dataclass(schema.PayloadMeta, raw)
        if meta.use_pickle or meta.tensor_meta is None or not meta.path_name.startswith(("weight_", "tensor_")):
            raise ExportError(f"{path}: {fqn!r} is stored as a pickled object; Layerloom never unpickles files, so "
                              "the program is refused")
        tm = meta.tensor_meta
        dtype = deserialize_scalar_type(tm.dtype)
        data = records.get(folder + meta.path_name)
        if data is None:
            raise ExportError(f"{path}: the weight {fqn!r} is missing from the archive")
        if len(data) % max(1, torch.empty(0, dtype=dtype).element_size()):
            raise ExportError(f"{path}: the weight {fqn!r} is damaged")
        flat = torch.frombuffer(bytearray(data), dtype=dtype) if data else torch.zeros(0, dtype=dtype)
        size, stride = deserialize_size(tm.sizes), deserialize_stride(tm.strides)
        offset = deserialize_storage_offset(tm.storage_offset)
        needed = offset + sum((s - 1) * st for s, st in zip(size, stride)) + 1 if all(size) else 0
        if needed > flat.numel():
            raise ExportError(f"{path}: the weight {fqn!r} is damaged (its data is too short)")
        tensor = flat.as_strided(size, stride, offset) if all(size) else torch.zeros(size, dtype=dtype)
        out[fqn] = torch.nn.Parameter(tensor, requires_grad=tm.requires_grad) if meta.is_param else tensor
    return out
