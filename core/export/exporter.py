"""One entry point for every format:

    result = export("runs/lenet5-20250101-120000", "onnx", "lenet5.onnx")   # or a bundle, or a Source
    result.difference      # 2.4e-07: the largest difference from the live model on a sample batch
    result.summary()

The files are written in a staging folder beside the destination, checked against the live model, and
moved into place only when the check passed: an export that fails leaves nothing behind.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from layerloom.core.export.base import (
    FORMATS,
    SUFFIXES,
    TOLERANCE,
    ExportError,
    ExportResult,
    Staging,
)
from layerloom.core.export.reading import open_source
from layerloom.core.export.source import Source


def _exporter(fmt: str) -> Callable:
    if fmt == "bundle":
        from layerloom.core.export.bundle import export_bundle as fn
    elif fmt == "onnx":
        from layerloom.core.export.onnx_export import export_onnx as fn
    elif fmt == "torchscript":
        from layerloom.core.export.torchscript import export_torchscript as fn
    elif fmt == "torch-export":
        from layerloom.core.export.torch_export import export_torch_export as fn
    elif fmt == "python":
        from layerloom.core.export.python_source import export_python as fn
    elif fmt == "safetensors":
        from layerloom.core.export.safetensors_export import export_safetensors as fn
    else:
        raise ExportError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    return fn


def default_path(fmt: str, folder: str, name: str) -> str:
    """Where an export of `fmt` goes by default: `<folder>/<name><suffix>` (a folder for python)."""
    from layerloom.core.training.run_folder import slug

    base = os.path.join(folder, slug(name or "model"))
    return base + "-python" if fmt == "python" else base + SUFFIXES[fmt]


def export(src, fmt: str, path: str | os.PathLike, *, tolerance: float = TOLERANCE, checkpoint: str = "best",
           part: str = "model", **options) -> ExportResult:
    """Export `src` (a Source, a run folder or a bundle) as `fmt` to `path`, check it against the live model,
    and return the result with its figure. `part="decoder"`: a VAE's decoder alone, `part="generator"` a GAN's
    generator (core/export/decoder.py).
    ParityError when the export differs by more than `tolerance` (nothing is left on disk then); ExportError
    for anything else that goes wrong."""
    from layerloom.core.export import preprocessing_export as pe
    from layerloom.core.export.decoder import GENERATIVE_PARTS, PARTS, decoder_source, plain_inputs_source

    fn = _exporter(fmt)
    if part not in PARTS:
        raise ExportError(f"unknown part {part!r}; choose one of {', '.join(PARTS)}")
    if not isinstance(src, Source):
        src = open_source(src, checkpoint)
    if part in GENERATIVE_PARTS:
        src = decoder_source(src, part)
    elif fmt != "bundle" and any(n.type == "Noise" for n in src.graph):  # a whole GAN: its noise an input
        src = plain_inputs_source(src)
    path = os.path.abspath(os.fspath(path))
    if fmt != "python" and os.path.isdir(path):
        raise ExportError(f"{path}: is a folder; give the name of the {fmt} file to write")
    from layerloom.core.resources import NotRegularFile, check_target

    try:
        check_target(path, f"{fmt} file")
    except NotRegularFile as err:
        raise ExportError(str(err)) from None
    bake = options.pop("bake_preprocessing", None)
    if bake and fmt not in pe.BAKE_FORMATS:
        raise ExportError(f"baking the preprocessing into the file works for {', '.join(pe.BAKE_FORMATS)}, not {fmt}")
    if bake is None:
        bake = fmt in pe.BAKE_FORMATS
    notes = []
    if part in GENERATIVE_PARTS:  # it takes latent codes, not data: nothing to bake
        bake = False
        whose = "a VAE's decoder" if part == "decoder" else "a GAN's generator"
        notes.append(f"{whose} alone: it takes a latent code z, not data (no preprocessing)")
    baked = bool(bake) and pe.can_bake(src)
    if bake and not baked:
        notes.append("the preprocessing was not baked in: " + (
            "it is unknown (trained before Layerloom recorded it)" if src.preprocessing is None else
            "token ids come from the tokenizer (see the vocabulary file)" if src.preprocessing.kind == "text" else
            "the model has several inputs"))
    t0 = time.perf_counter()
    from layerloom.core.errors import CompileError
    from layerloom.core.export.parity import require

    with Staging(path) as staging:
        try:
            src.live_model()
            target = pe.baked_source(src) if baked else src
            staged = fn(target, path, staging, tolerance, **options)
        except CompileError as err:
            raise ExportError(str(err)) from None
        except ExportError:
            raise
        except Exception as err:  # memory, disk, text: one sentence (core/errors_text.py); a bug goes on
            from layerloom.core.errors_text import plain

            text = plain(err, path)
            if text is None:
                raise
            raise ExportError(text) from None
        require(staged.difference, fmt, tolerance)
        main_final = next((f for f in staged.moves.values() if f.endswith(".py")), None) if fmt == "python" else \
            next(iter(staged.moves.values()))
        moves = dict(staged.moves)
        if fmt != "bundle":
            moves.update(pe.write_sidecars(src, fmt, main_final, staging, baked))
        files = staging.commit(moves)
    main = next((f for f in files if f.endswith(".py")), files[0]) if fmt == "python" else files[0]
    if baked:
        notes.append(f"preprocessing baked in: the file takes {src.preprocessing.raw_input_words()}")
    return ExportResult(fmt, main, files, staged.difference, tolerance, staged.checks, staged.dynamic,
                        staged.notes + notes, time.perf_counter() - t0, baked=baked)
