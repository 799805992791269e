"""`layerloom export`, `layerloom import` and `layerloom unbundle`.

    layerloom export SRC --format FORMAT -o PATH [--checkpoint best|last] [--part model|decoder|generator]
                     [--json]
        SRC: a run folder (runs/<project>-<time>/), a .layerloom bundle, or a project file: the weights it
        names (saved after training in the window), else its latest run in the runs folders (core/runs.py).
        Prints where the export went and its parity figure (the largest difference from the live model on a
        sample batch); above 1e-4 the export fails with that figure and nothing is written. --part decoder:
        a VAE's decoder alone; --part generator: a GAN's generator alone (their model.py has sample(n)).
    layerloom import FILE [--class NAME] [--input-shape 1,28,28 …] [--input-dtype int64 …] [--yes] -o OUT
        FILE: a Python file (its code runs: --yes, or a yes at the prompt) or a torch.export .pt2 file.
        OUT: a .layerloom bundle (graph and weights), or a project .json with the weights beside it
        (.safetensors, same name). Exit status 1 when some layers have no block (they are listed, and the
        graph is written without them).
    layerloom unbundle BUNDLE [-o DIR]
        Unpack a bundle into a new run folder: `layerloom train DIR/project.json --resume DIR` continues it.

Nothing here imports torch until a command runs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from layerloom.core.cli import UsageError, subcommand
from layerloom.core.errors import LayerloomError

FORMATS = ("bundle", "onnx", "torchscript", "torch-export", "python", "safetensors")
BAKE_FORMATS = ("onnx", "torchscript", "torch-export")


# --- export ---------------------------------------------------------------------------------------------


def _configure_export(p: argparse.ArgumentParser) -> None:
    p.add_argument("src", metavar="SRC", help="a run folder (runs/<project>-<time>/), a .layerloom bundle, or a "
                   "project .json (the run it names, else its latest run)")
    p.add_argument("--format", "-f", required=True, choices=FORMATS, metavar="FORMAT",
                   help=f"one of {', '.join(FORMATS)}")
    p.add_argument("-o", "--output", required=True, metavar="PATH",
                   help="the file to write (for python: a folder, or a file ending in .py)")
    p.add_argument("--checkpoint", choices=("best", "last"), default=None,
                   help="from a run folder: the best epoch's weights (default) or the last ones; from a project: "
                   "instead of the checkpoint it names")
    p.add_argument("--no-bake", dest="bake", action="store_false",
                   help="onnx, torchscript, torch-export: leave scaling and normalization out of the file (it then "
                        "takes the preprocessed input; the steps are in <file>.preprocessing.json)")
    p.add_argument("--part", choices=("model", "decoder", "generator"), default="model",
                   help="decoder: a VAE's decoder alone (the blocks after its Sample block, taking a latent code z); "
                        "generator: a GAN's generator alone (the blocks after its Noise block)")
    p.add_argument("--json", action="store_true", help="print one JSON object describing the result")


@subcommand("export", "export a trained model (run folder, bundle or project) as bundle, onnx, torchscript, "
            "torch-export, python or safetensors, checked against the live model", _configure_export)
def run_export(args: argparse.Namespace) -> int:
    from layerloom.core.export.base import ParityError
    from layerloom.core.export.exporter import export

    if not os.path.exists(args.src):
        raise LayerloomError(f"{args.src}: does not exist; give a run folder, a .layerloom bundle or a project file")
    src, words = args.src, None
    if os.path.isfile(src):
        from layerloom.core.opening import PROJECT, sniff

        if sniff(src) == PROJECT:
            from layerloom.core.trained import source_of_project

            src, words = source_of_project(src, args.checkpoint)
    try:
        bake = {"bake_preprocessing": args.bake} if args.format in BAKE_FORMATS else {}
        result = export(src, args.format, args.output, checkpoint=args.checkpoint or "best", part=args.part, **bake)
    except ParityError as err:
        if args.json:
            print(json.dumps({"ok": False, "format": args.format, "difference": _finite(err.difference),
                              "message": str(err)}))
        raise
    if args.json:
        print(json.dumps(result.to_dict()))
        return 0
    if words:
        print(f"Weights: {words}")
    print(f"Exported {result.format} to {result.path}")
    for extra in result.files[1:]:
        print(f"  and {extra}")
    print(f"Parity: {result.parity_text()}")
    for check in result.checks:
        print(f"  checked: {check}")
    for name, dims in result.dynamic.items():
        print(f"  free dimensions of {name}: {', '.join(dims)}")
    for note in result.notes:
        print(f"  note: {note}")
    return 0


def _finite(v):
    import math

    return v if isinstance(v, int | float) and math.isfinite(v) else None


# --- import ---------------------------------------------------------------------------------------------


def _shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(s) for s in text.replace("×", ",").replace("x", ",").split(",") if s.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a shape like 1,28,28") from None
    if not shape or any(s < 1 for s in shape):
        raise argparse.ArgumentTypeError(f"{text!r} is not a shape like 1,28,28")
    return shape


def _configure_import(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", metavar="FILE", help="a Python file defining an nn.Module, or a torch.export .pt2 file")
    p.add_argument("--class", dest="class_name", metavar="NAME",
                   help="the nn.Module class to import from a Python file (default: the only one it defines)")
    p.add_argument("--input-shape", action="append", type=_shape, metavar="SHAPE",
                   help="one sample of each forward argument, batch left out, e.g. 1,28,28 (repeat for several)")
    p.add_argument("--input-dtype", action="append", choices=("float32", "int64"), metavar="DTYPE",
                   help="float32 (default) or int64 token ids, one per --input-shape")
    p.add_argument("--yes", action="store_true", help="confirm that the Python file's code may run")
    p.add_argument("-o", "--output", required=True, metavar="OUT",
                   help="a .layerloom bundle, or a project .json (weights beside it as .safetensors)")
    p.add_argument("--json", action="store_true", help="print one JSON object describing the result")


@subcommand("import", "bring a PyTorch model in as a graph with its weights: a Python file and class name, or a "
            "torch.export .pt2", _configure_import)
def run_import(args: argparse.Namespace) -> int:
    from layerloom.core.export.base import ModelImportError
    from layerloom.core.export.importer import ImportRefused, import_program, import_python_model, list_module_classes

    path = args.file
    if not os.path.isfile(path):
        raise LayerloomError(f"{path}: the file does not exist")
    out = args.output
    if not out.endswith((".layerloom", ".json")):
        raise UsageError("-o must end in .layerloom (a bundle) or .json (a project, weights beside it)")
    try:
        if path.endswith(".pt2"):
            result = import_program(path)
        else:
            name = args.class_name
            if name is None:
                classes = list_module_classes(path)
                if len(classes) != 1:
                    found = ", ".join(classes) or "none"
                    raise UsageError(f"{path}: say which class to import with --class (nn.Module classes: {found})")
                name = classes[0]
            if not args.input_shape:
                raise UsageError("give the shape of one input sample with --input-shape, e.g. --input-shape 1,28,28")
            result = import_python_model(path, name, confirm=lambda p: _ask(p, args.yes),
                                         input_shapes=args.input_shape, input_dtypes=args.input_dtype)
    except ImportRefused as err:
        raise LayerloomError(f"{err} (add --yes to confirm)") from None
    except ModelImportError as err:
        raise LayerloomError(str(err)) from None
    written = _write_import(result, out)
    if args.json:
        print(json.dumps({"ok": result.ok, "files": written, "unsupported": result.unsupported,
                          "difference": result.difference, "notes": result.notes}))
    else:
        print(result.message())
        print("Wrote " + " and ".join(written))
    return 0 if not result.unsupported else 1


def _ask(path: str, yes: bool) -> bool:
    if yes:
        return True
    if not sys.stdin.isatty():
        return False
    print(f"Importing {path} runs the Python code in it. Only do this for files you trust.", file=sys.stderr)
    answer = input("Run it? [y/N] ").strip().lower()
    return answer in ("y", "yes")


def _write_import(result, out: str) -> list[str]:
    from layerloom.core.export.bundle import save_bundle
    from layerloom.core.export.source import Source
    from layerloom.core.project import save_project
    from layerloom.core.resources import check_target

    folder = os.path.dirname(os.path.abspath(out))
    os.makedirs(folder, exist_ok=True)
    check_target(out)
    if out.endswith(".layerloom"):
        save_bundle(Source(result.project, result.state, kind="import"), out)
        return [out]
    from safetensors.torch import save_file

    save_project(result.project, out)
    weights = os.path.splitext(out)[0] + ".safetensors"
    save_file({k: v.contiguous() for k, v in result.state.items()}, weights, metadata={"format": "pt"})
    return [out, weights]


# --- unbundle -------------------------------------------------------------------------------------------


def _configure_unbundle(p: argparse.ArgumentParser) -> None:
    p.add_argument("bundle", metavar="BUNDLE", help="a .layerloom bundle")
    p.add_argument("-o", "--out", default="runs", metavar="DIR", help="where the run folder goes (default: ./runs)")


@subcommand("unbundle", "unpack a .layerloom bundle into a run folder that `layerloom train --resume` continues",
            _configure_unbundle)
def run_unbundle(args: argparse.Namespace) -> int:
    from layerloom.core.export.bundle import bundle_to_run_folder, load_bundle

    bundle = load_bundle(args.bundle)
    run_dir = bundle_to_run_folder(bundle, args.out)
    print(f"Unpacked {args.bundle} into {run_dir}")
    print(f"Continue training with: layerloom train {os.path.join(run_dir, 'project.json')} --resume {run_dir}")
    return 0
