"""`layerloom predict MODEL INPUT… [--text "…"] [--top K] [--checkpoint best|last] [--json]`

    MODEL: a .layerloom bundle, a run folder, an export folder or an ONNX file.
    INPUT: image files or folders of them, .npz/.npy arrays, CSV rows, text files (a text a line),
           a time series CSV — whatever kind of data the model was trained on; `--text` for a message.
Prints the top classes by name with their probabilities (or the outputs, in the data's units, for a
regression), one input a line; `--json` prints one JSON object for programs.
"""

from __future__ import annotations

import argparse
import json

from layerloom.core.cli import subcommand


def _configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL",
                   help="a .layerloom bundle, a run folder, an export folder or an .onnx file")
    p.add_argument("inputs", metavar="INPUT", nargs="*",
                   help="image files or folders, .npz/.npy arrays, CSV rows, text files (a text a line), "
                        "a series CSV")
    p.add_argument("--text", action="append", default=[], metavar="TEXT", help="a text to classify (repeatable)")
    p.add_argument("--checkpoint", choices=("best", "last"), default="best",
                   help="from a run folder: the best epoch's weights (default) or the last ones")
    p.add_argument("--top", type=int, default=3, metavar="K", help="how many classes to show per input (default 3)")
    p.add_argument("--json", action="store_true", help="print one JSON object with every prediction")


@subcommand("predict", "predict with a trained model (bundle, run folder or export) on raw files or texts",
            _configure)
def run_predict(args: argparse.Namespace) -> int:
    from layerloom.core.predict import open_model, read_inputs

    if args.top < 1:
        from layerloom.core.cli import UsageError

        raise UsageError("--top must be 1 or more")
    model = open_model(args.model, args.checkpoint)
    names, raw = read_inputs(list(args.inputs), model.preprocessing, args.text)
    results = model.predict(raw, names, top=args.top)
    if args.json:
        print(json.dumps({"model": model.where, "kind": model.preprocessing.kind,
                          "predictions": [r.to_dict() for r in results]}, ensure_ascii=False))
    else:
        for r in results:
            print(r.text())
    return 0
