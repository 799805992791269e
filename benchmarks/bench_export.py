"""Export of the templates in every format: the parity figure against the live model and the time taken.

Bars (export issue): every export within 1e-4 of the live model on a sample batch (the export refuses
otherwise, so a miss shows as a failure). Times are shown, not judged: TorchScript and the Python source
include starting a fresh Python to check them without Layerloom.

Templates: lenet5 (CNN), lstm_text (embedding + LSTM), resnet_mini (residual blocks), inception_mini.
Run: .venv/bin/python benchmarks/bench_export.py [--check] [--quick]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from common import Results, environment_line, parse_args  # noqa: E402

FORMATS = ("bundle", "safetensors", "onnx", "torchscript", "torch-export", "python")
SUFFIX = {"bundle": ".layerloom", "safetensors": ".safetensors", "onnx": ".onnx", "torchscript": ".pt",
          "torch-export": ".pt2", "python": "-python"}


def main() -> int:
    args = parse_args(__doc__.splitlines()[0])
    import torch

    from layerloom.core.export import ExportError, export, source_from
    from layerloom.core.templates import load_template

    torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
    print(environment_line())
    templates = ["lenet5", "lstm_text"] if args.quick else ["lenet5", "lstm_text", "resnet_mini", "inception_mini"]
    results = Results("Export: parity against the live model, and time")
    with tempfile.TemporaryDirectory() as out:
        for name in templates:
            project = load_template(name)
            source = source_from(project)
            for fmt in FORMATS:
                t0 = time.perf_counter()
                try:
                    r = export(source, fmt, os.path.join(out, name + SUFFIX[fmt]))
                except ExportError as err:
                    results.add(f"{name} {fmt}", float("inf"), 1e-4, "", extra=str(err).splitlines()[0][:60])
                    continue
                seconds = time.perf_counter() - t0
                size = sum(os.path.getsize(f) for f in r.files)
                free = "; ".join(f"{k}: {', '.join(v)}" for k, v in r.dynamic.items())
                results.add(f"{name} {fmt}", r.difference, 1e-4, "",
                            extra=f"largest difference {r.difference:.2g}, {seconds:.2f} s, {size / 2**20:.2f} MB"
                            + (f", free {free}" if free else ""))
    results.print_table()
    return results.exit_code(args.check)


if __name__ == "__main__":
    sys.exit(main())
