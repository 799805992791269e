"""Preprocessing that travels with a model: what it costs against writing it by hand in plain PyTorch.

Rows (ratios: hand-written plain PyTorch time / Layerloom time, so 1.0 is as fast, above 1 faster):
  - prepare: 2,000 uint8 28×28 digits → normalized N×1×28×28 (`Preprocessing.prepare` against
    `(x / 255 - mean) / std` in torch). Bar ≥ 0.8.
  - prepare with resize: 500 uint8 56×56×3 photos → grey 28×28 (antialiased bilinear, then normalized) against
    the same steps written with F.interpolate. Bar ≥ 0.8.
  - baked ONNX: onnxruntime on raw pixels (the baked-in scaling and normalization are the file's first
    operations) against the unbaked file fed inputs normalized by hand in numpy, batch 256. Bar ≥ 0.9.
Run: .venv/bin/python benchmarks/bench_preprocessing.py [--check] [--quick]
"""

from __future__ import annotations

import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from common import Results, parse_args, print_header, time_repeats  # noqa: E402


def main() -> int:
    args = parse_args(__doc__.splitlines()[0])
    import numpy as np
    import onnxruntime as ort
    import torch
    import torch.nn.functional as F

    from layerloom.core.data import load_data
    from layerloom.core.data.preprocessing import Preprocessing
    from layerloom.core.export import export, source_from
    from layerloom.core.templates import load_template

    torch.set_num_threads(1)
    print_header("Preprocessing: Layerloom's against plain PyTorch and onnxruntime")
    repeats = 5 if args.quick else 15
    info = load_data("digits", {"resize": [28, 28]}, val_fraction=0.2, seed=0).info
    pre = Preprocessing.from_info(info)
    mean, std = pre.facts["image"]["mean"][0], pre.facts["image"]["std"][0]
    rng = np.random.default_rng(0)
    results = Results("Preprocessing")

    digits = rng.integers(0, 256, (2000, 28, 28), dtype=np.uint8)

    def hand():
        return ((torch.from_numpy(digits).unsqueeze(1).float() / 255.0 - mean) / std).contiguous()

    assert torch.allclose(hand(), pre.prepare(digits), atol=1e-5)
    t_hand = time_repeats(hand, repeats).median
    t_ours = time_repeats(lambda: pre.prepare(digits), repeats).median
    results.add("prepare 2,000 digits (hand / Layerloom)", t_hand / t_ours, 0.8, "×", lower_is_better=False,
                extra=f"{t_ours * 1e3:.1f} ms against {t_hand * 1e3:.1f} ms")

    photos = rng.integers(0, 256, (500, 56, 56, 3), dtype=np.uint8)
    luma = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)

    def hand_resize():
        x = torch.from_numpy(photos).permute(0, 3, 1, 2).float() / 255.0
        x = (x * luma).sum(1, keepdim=True)
        x = F.interpolate(x, size=(28, 28), mode="bilinear", antialias=True, align_corners=False).clamp_(0, 1)
        return ((x * 255).round_() / 255 - mean) / std

    assert torch.allclose(hand_resize(), pre.prepare(photos), atol=1e-4)
    t_hand = time_repeats(hand_resize, repeats).median
    t_ours = time_repeats(lambda: pre.prepare(photos), repeats).median
    results.add("prepare 500 photos 56×56×3 → 28×28 grey", t_hand / t_ours, 0.8, "×", lower_is_better=False,
                extra=f"{t_ours * 1e3:.1f} ms against {t_hand * 1e3:.1f} ms")

    source = source_from(load_template("lenet5"), preprocessing=pre)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    with tempfile.TemporaryDirectory() as out:
        export(source, "onnx", os.path.join(out, "baked.onnx"))
        export(source, "onnx", os.path.join(out, "plain.onnx"), bake_preprocessing=False)
        baked = ort.InferenceSession(os.path.join(out, "baked.onnx"), options, providers=["CPUExecutionProvider"])
        plain = ort.InferenceSession(os.path.join(out, "plain.onnx"), options, providers=["CPUExecutionProvider"])
    raw = rng.integers(0, 256, (256, 1, 28, 28)).astype(np.float32)

    def run_plain():
        return plain.run(None, {"image": ((raw / 255.0 - mean) / std).astype(np.float32)})[0]

    def run_baked():
        return baked.run(None, {"image": raw})[0]

    np.testing.assert_allclose(run_baked(), run_plain(), atol=1e-4)
    t_plain = time_repeats(run_plain, repeats).median
    t_baked = time_repeats(run_baked, repeats).median
    results.add("baked ONNX on raw pixels (hand-normalized / baked)", t_plain / t_baked, 0.9, "×",
                lower_is_better=False, extra=f"{t_baked * 1e3:.2f} ms against {t_plain * 1e3:.2f} ms, batch 256")
    results.print_table()
    return results.exit_code(args.check)


if __name__ == "__main__":
    sys.exit(main())
