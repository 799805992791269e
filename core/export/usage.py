"""How to use an export, in a few lines of code per format (shown by the export dialog).

    usage("onnx", "/out/lenet.onnx", baked=True, preprocessing=pre)
    # import onnxruntime as ort
    # session = ort.InferenceSession("lenet.onnx")
    # …
"""

from __future__ import annotations

import os

BAKEABLE = ("onnx", "torchscript", "torch-export")  # formats that can take raw values (bake_preprocessing)


def input_words(preprocessing=None, baked: bool = False) -> str:
    """What the exported model takes, in words."""
    if baked and preprocessing is not None and preprocessing.bakeable:
        return preprocessing.raw_input_words()
    if preprocessing is None:
        return "float32 tensors shaped like the Input blocks, batch first"
    return "inputs preprocessed as listed above (float32 unless token ids), batch first"


def usage(fmt: str, path: str, *, baked: bool = False, preprocessing=None) -> str:
    """A few lines of Python (or shell, for a bundle) that load and run the export at `path`."""
    name = os.path.basename(os.path.normpath(path)) or path
    x = f"# x: {input_words(preprocessing, baked and fmt in BAKEABLE)}"
    if fmt == "onnx":
        return (f'import onnxruntime as ort\nsession = ort.InferenceSession("{name}")\n'
                f"outputs = session.run(None, {{session.get_inputs()[0].name: x}})  {x} (a numpy array)")
    if fmt == "torchscript":
        return f'import torch\nmodel = torch.jit.load("{name}")\ny = model(x)  {x}'
    if fmt == "torch-export":
        return f'import torch\nprogram = torch.export.load("{name}")\ny = program.module()(x)  {x}'
    if fmt == "python":
        return (f"# in the folder {name}: model.py, its weights and the preprocessing\n"
                "from model import load_model, preprocess\nmodel = load_model()\n"
                "y = model(preprocess(raw))  # raw: images, rows, texts or series values as they come")
    if fmt == "safetensors":
        return ("from safetensors.torch import load_file\n"
                f'model.load_state_dict(load_file("{name}"))  # model: the same network, e.g. a python export\'s')
    if fmt == "bundle":
        return (f"layerloom open {name}                # the window, with these weights live\n"
                f"layerloom train {name} --epochs 3    # train on from where it stopped\n"
                f"layerloom export {name} --format onnx -o model.onnx")
    return ""
