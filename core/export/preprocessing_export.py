"""Exports carry their preprocessing: a JSON file beside every export (`lenet.onnx.preprocessing.json`, and
`lenet.vocabulary.json` for a text model), the same facts in an ONNX file's metadata, `preprocess()` in
model.py, and — on by default for ONNX, TorchScript and torch.export — scaling and normalization baked into
the exported graph as its first operations, so the file takes raw pixels (0–255) or raw feature values.

    baked = baked_source(source)        # a Source whose live_model() takes raw values
    baked.live_model()(pixels_0_255)    # == source.live_model()(source.preprocessing.prepare(pixels_uint8))
"""

from __future__ import annotations

import dataclasses
import json
import os

from layerloom.core.export.base import ExportError
from layerloom.core.export.source import Source

BAKE_FORMATS = ("onnx", "torchscript", "torch-export")
SIDECAR_SUFFIX = ".preprocessing.json"
VOCAB_SUFFIX = ".vocabulary.json"
ONNX_KEY = "layerloom.preprocessing"
PART_KEY = "layerloom.part"  # "decoder" in the ONNX file of a VAE's decoder


# --- baking -------------------------------------------------------------------------------------------


def _affine(pre):
    """(scale, shift, view shape) with raw × scale + shift = what the model was trained on, for the first
    Input; None when there is nothing to bake."""
    import torch

    f = pre.facts
    shape = list(f["input_shape"])
    if pre.kind == "image":
        im = f["image"]
        mean = torch.tensor(im["mean"], dtype=torch.float64)
        std = torch.tensor(im["std"], dtype=torch.float64)
        scale, shift = 1.0 / (255.0 * std), -mean / std
        if im.get("flatten"):
            per = im["height"] * im["width"]
            return scale.repeat_interleave(per), shift.repeat_interleave(per), [1, -1]
        return scale, shift, [1, -1, 1, 1]
    if pre.kind == "series":
        s = f["series"]
        return (torch.tensor([1.0 / s["std"]], dtype=torch.float64),
                torch.tensor([-s["mean"] / s["std"]], dtype=torch.float64), [1, 1, 1])
    if pre.kind in ("vector", "sequence", "signal"):
        mean = torch.tensor(f["features"]["mean"], dtype=torch.float64)
        std = torch.tensor(f["features"]["std"], dtype=torch.float64)
        view = [1] * (len(shape) + 1)
        view[1 if pre.kind == "signal" else -1] = -1
        return 1.0 / std, -mean / std, view
    return None


def to_raw(pre, x):
    """Preprocessed input back to raw values (what a baked export takes): the inverse of `raw × scale + shift`."""
    scale, shift, view = _affine(pre)
    return ((x.double() - shift.view(view)) / scale.view(view)).to(x.dtype)


def can_bake(source: Source) -> bool:
    pre = source.preprocessing
    inputs = [n for n in source.graph if n.type == "Input"]
    return pre is not None and pre.bakeable and len(inputs) == 1 and _affine(pre) is not None


def bake(model, pre):
    """A copy of the compiled GraphModule whose first operations turn raw input into normalized input
    (`raw × scale + shift`, per channel or feature), and whose first output is scaled back to the data's
    units for a regression trained on scaled targets."""
    import copy

    import torch

    scale, shift, view = _affine(pre)
    gm = copy.deepcopy(model)
    for name in ("input_names", "output_names", "block_nodes"):
        setattr(gm, name, copy.copy(getattr(model, name)))
    gm.register_buffer("raw_input_scale", scale.to(torch.float32).view(view))
    gm.register_buffer("raw_input_shift", shift.to(torch.float32).view(view))
    graph = gm.graph
    first = next(n for n in graph.nodes if n.op == "placeholder")
    with graph.inserting_after(first):
        a = graph.get_attr("raw_input_scale")
    with graph.inserting_after(a):
        b = graph.get_attr("raw_input_shift")
    with graph.inserting_after(b):
        normalized = graph.call_function(torch.addcmul, (b, first, a))
    first.replace_all_uses_with(normalized, delete_user_cb=lambda user: user is not normalized)
    target = pre.facts.get("target")
    if target and pre.facts.get("task") == "regression":
        gm.register_buffer("target_std", torch.tensor(target["std"], dtype=torch.float32).view(1, -1))
        gm.register_buffer("target_mean", torch.tensor(target["mean"], dtype=torch.float32).view(1, -1))
        out = next(n for n in graph.nodes if n.op == "output")
        result = out.args[0]
        first_out = result[0] if isinstance(result, tuple | list) else result
        with graph.inserting_before(out):
            s, m = graph.get_attr("target_std"), graph.get_attr("target_mean")
            units = graph.call_function(torch.addcmul, (m, first_out, s))
        out.args = ((units, *result[1:]),) if isinstance(result, tuple | list) else (units,)
    graph.lint()
    gm.recompile()
    return gm.eval()


@dataclasses.dataclass(eq=False)
class BakedSource(Source):
    """A Source whose model takes raw values: its sample inputs are raw values too (the normal samples
    the unbaked model is checked with, mapped back through the preprocessing)."""

    baked_from: Source | None = None

    def live_model(self):
        if self._model is None:
            self._model = bake(self.baked_from.live_model(), self.preprocessing)
        return self._model

    def sample_inputs(self, batch=None, seed: int = 1234, sizes=None):
        xs = list(Source.sample_inputs(self, batch, seed, sizes))
        scale, shift, view = _affine(self.preprocessing)
        x = xs[0]
        s, b = scale.to(x.dtype).view(view), shift.to(x.dtype).view(view)
        if x.dim() != len(view):  # a free length changed nothing about which axis is normalized
            raise ExportError("the baked preprocessing does not fit the model's input")
        xs[0] = (x - b) / s
        return tuple(xs)


def baked_source(source: Source) -> BakedSource:
    fields = {f.name: getattr(source, f.name) for f in dataclasses.fields(Source) if f.name != "_model"}
    return BakedSource(**fields, baked_from=source)


# --- files beside an export ---------------------------------------------------------------------------


def sidecar_facts(source: Source, fmt: str, main_file: str, baked: bool, vocab_file: str | None) -> dict:
    """The JSON written beside an export: the preprocessing facts (vocabulary in its own file), what the
    exported file takes, and the steps in words."""
    pre = source.preprocessing
    model = source.live_model()
    facts = pre.to_dict(vocabulary=False)
    facts.update({
        "model_file": os.path.basename(main_file), "export_format": fmt,
        "model_inputs": list(model.input_names), "model_outputs": list(model.output_names),
        "baked": baked,
        "model_takes": pre.raw_input_words() if baked else "the preprocessed input: apply the steps first",
        "steps": pre.describe(),
    })
    if vocab_file:
        facts["vocabulary_file"] = os.path.basename(vocab_file)
    return facts


def write_sidecars(source: Source, fmt: str, main_final: str, staging, baked: bool) -> dict[str, str]:
    """Write `<name>.preprocessing.json` (and `<name>.vocabulary.json`) in staging; returns their moves."""
    pre = source.preprocessing
    if pre is None:
        return {}
    if fmt == "python":
        folder = os.path.dirname(main_final)
        side_final, vocab_final = os.path.join(folder, "preprocessing.json"), os.path.join(folder, "vocabulary.json")
    else:
        side_final = main_final + SIDECAR_SUFFIX  # lenet.onnx.preprocessing.json: one per exported file
        vocab_final = os.path.splitext(main_final)[0] + VOCAB_SUFFIX
    moves = {}
    vocab = pre.vocabulary
    if vocab:
        with open(staging.file("vocabulary.json"), "w", encoding="utf-8") as f:
            json.dump(vocab, f, ensure_ascii=False)
        moves["vocabulary.json"] = vocab_final
    with open(staging.file("preprocessing.json"), "w", encoding="utf-8") as f:
        json.dump(sidecar_facts(source, fmt, main_final, baked, vocab_final if vocab else None), f, indent=1,
                  ensure_ascii=False)
        f.write("\n")
    moves["preprocessing.json"] = side_final
    return moves


def add_onnx_metadata(path: str, source: Source, baked: bool) -> None:
    """Put the preprocessing facts (vocabulary included) and class names in the ONNX file's metadata; a
    decoder (no preprocessing) gets `layerloom.part` = "decoder" instead."""
    import onnx

    pre = source.preprocessing
    part = source.part
    if pre is None and part == "model":
        return
    model = onnx.load(path)
    if pre is None:  # a decoder: it takes latent codes, not data
        prop = model.metadata_props.add()
        prop.key, prop.value = PART_KEY, part
        onnx.save(model, path)
        return
    facts = pre.to_dict()
    facts["baked"] = baked
    entries = {ONNX_KEY: json.dumps(facts, ensure_ascii=False), "layerloom.baked": "true" if baked else "false",
               "layerloom.model_takes": pre.raw_input_words() if baked else "the preprocessed input"}
    if pre.class_names:
        entries["layerloom.class_names"] = json.dumps(pre.class_names, ensure_ascii=False)
    for key, value in entries.items():
        prop = model.metadata_props.add()
        prop.key, prop.value = key, value
    onnx.save(model, path)


# --- model.py -----------------------------------------------------------------------------------------


def runtime_source() -> str:
    """The code of preprocess_runtime without its module text and imports (model.py has its own)."""
    from layerloom.core.data import preprocess_runtime

    with open(preprocess_runtime.__file__, encoding="utf-8") as f:
        text = f.read()
    body = text.split('\n_WORD = ', 1)[1]
    return "_WORD = " + body


def python_lines(source: Source) -> list[str]:
    """model.py's preprocessing part: PREPROCESSING, CLASS_NAMES, preprocess(), tokenize() for text, and
    predict(); empty when the preprocessing is unknown."""
    pre = source.preprocessing
    if pre is None:
        return ["", "", "CLASS_NAMES = None", "PREPROCESSING = None", ""]
    facts = pre.to_dict(vocabulary=False)
    text = pre.kind == "text"
    lines = [
        "",
        "",
        "# --- preprocessing: raw data → what the model takes, exactly as Layerloom trained it -------------------",
        "",
        f"CLASS_NAMES = {pre.class_names!r}",
        f"PREPROCESSING = json.loads({json.dumps(json.dumps(facts, ensure_ascii=False), ensure_ascii=False)})",
        "",
        "import re  # noqa: E402",
        "import torch.nn.functional as F  # noqa: E402",
        "",
        runtime_source().rstrip(),
        "",
    ]
    if text:
        lines += [
            "",
            "_VOCABULARY = None",
            "",
            "",
            "def vocabulary():",
            '    """Token id → token, read once from vocabulary.json beside this file."""',
            "    global _VOCABULARY",
            "    if _VOCABULARY is None:",
            "        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'vocabulary.json')",
            "        with open(path, encoding='utf-8') as f:",
            "            _VOCABULARY = json.load(f)",
            "    return _VOCABULARY",
            "",
            "",
            "def tokenize(texts):",
            '    """Texts → the N×seq_len token ids the model takes (the training vocabulary, cut and padded)."""',
            "    return encode_texts(texts, PREPROCESSING, vocabulary())",
            "",
            "",
            "def preprocess(texts):",
            '    """Raw texts → the model\'s input (the same as tokenize)."""',
            "    return tokenize(texts)",
        ]
    else:
        what = {"image": "Images (uint8 pixels or 0–1 floats, any size; H×W, H×W×C, C×H×W or batches of them)",
                "series": "The series' values (the last window of them are used)",
                }.get(pre.kind, "Feature values as in the training data (one row per sample)")
        lines += [
            "",
            "def preprocess(data):",
            f'    """{what} → the tensor the model takes."""',
            "    return prepare(data, PREPROCESSING)",
        ]
    lines += [
        "",
        "",
        "def predict(data, model=None):",
        '    """Raw data → class probabilities (classifiers: rows sum to 1) or outputs in the data\'s units."""',
        "    model = model if model is not None else load_model()",
        "    with torch.no_grad():",
        "        out = model(preprocess(data))",
        "    out = out[0] if isinstance(out, tuple) else out",
        "    if CLASS_NAMES and out.shape[-1] == 1:  # one sigmoid output: [P(class 0), P(class 1)]",
        "        p = torch.sigmoid(out)",
        "        return torch.cat([1 - p, p], dim=-1)",
        "    if CLASS_NAMES:",
        "        return torch.softmax(out, dim=-1)",
        "    return to_units(out, PREPROCESSING)",
        "",
    ]
    return lines
