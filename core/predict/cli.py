"""`layerloom predict MODEL INPUT… [--text "…"] [--top K] [--checkpoint best|last] [--json]`
`layerloom predict GENERATOR --samples N [--seed S] -o grid.png`

    MODEL: a .layerloom bundle, a run folder, an export folder or an ONNX file.
    INPUT: image files or folders of them, .npz/.npy arrays, CSV rows, text files (a text a line),
           a time series CSV — whatever kind of data the model was trained on; `--text` for a message.
Prints the top classes by name with their probabilities (or the outputs, in the data's units, for a
regression), one input a line; `--json` prints one JSON object for programs. A generator (a VAE's decoder or
a GAN's generator, exported with `--part decoder` or `--part generator`) takes no inputs: it decodes N latent
codes z ~ N(0, 1) into a PNG grid (core/predict/grid.py).
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
    p.add_argument("--samples", type=int, default=None, metavar="N",
                   help="a generator (the decoder or generator export of a VAE or GAN): how many images to draw "
                        "(default 16)")
    p.add_argument("--seed", type=int, default=None, metavar="S",
                   help="a generator: the seed of the latent codes (the same seed gives the same images)")
    p.add_argument("-o", "--output", default=None, metavar="PNG", help="a generator: the PNG grid to write")


@subcommand("predict", "predict with a trained model (bundle, run folder or export) on raw files or texts",
            _configure)
def run_predict(args: argparse.Namespace) -> int:
    from layerloom.core.predict import open_model, read_inputs

    if args.top < 1:
        from layerloom.core.cli import UsageError

        raise UsageError("--top must be 1 or more")
    model = open_model(args.model, args.checkpoint)
    if model.latent is not None:
        return _generate(model, args)
    if args.samples is not None or args.output is not None or args.seed is not None:
        from layerloom.core.predict import PredictError

        raise PredictError(f"{args.model}: is not a generator (the decoder or generator export of a VAE or GAN), so "
                           "--samples, --seed and -o do not apply; give it files to predict on")
    names, raw = read_inputs(list(args.inputs), model.preprocessing, args.text)
    results = model.predict(raw, names, top=args.top)
    if args.json:
        print(json.dumps({"model": model.where, "kind": model.preprocessing.kind,
                          "predictions": [r.to_dict() for r in results]}, ensure_ascii=False))
    else:
        for r in results:
            print(r.text())
    return 0


def _generate(model, args: argparse.Namespace) -> int:
    """A generator: --samples latent codes decoded into a PNG grid at -o."""
    from layerloom.core.cli import UsageError
    from layerloom.core.predict import PredictError
    from layerloom.core.predict.grid import grid_layout, sample_images, write_grid

    if args.inputs or args.text:
        raise PredictError(f"{args.model}: is a generator (a VAE's decoder or a GAN's generator): it takes no inputs, "
                           "it draws its own latent codes; drop the inputs and give --samples N -o grid.png")
    if args.output is None:
        raise PredictError(f"{args.model}: is a generator (a VAE's decoder or a GAN's generator): its predictions are "
                           "images; give the PNG to write them to with -o grid.png")
    n = 16 if args.samples is None else args.samples
    if n < 1:
        raise UsageError("--samples must be 1 or more")
    width, height = write_grid(sample_images(model, n, args.seed), args.output)
    rows, cols = grid_layout(n)
    seed = "a random seed" if args.seed is None else f"seed {args.seed}"
    print(f"wrote {args.output}: {n} samples ({rows} × {cols} grid, {width} × {height} pixels, {seed})")
    return 0
