"""The `python` format: `model.py`, a readable `nn.Module` whose layers are named after the blocks, with a
`load_model(weights_path=None)` function, and `model.safetensors` beside it. It needs only PyTorch: the
composite blocks' module classes are copied in, and the weights are read by a few lines of plain Python
(the safetensors format is a JSON header and raw bytes), so not even the safetensors package is needed.
Checked by running it in a fresh Python in which Layerloom cannot be imported.
"""

from __future__ import annotations

import inspect
import os
import re
import textwrap

from layerloom.core.export.base import ExportError, Staged
from layerloom.core.export.source import Source

SHADOWED = frozenset({"torch", "nn", "os", "json", "re", "F", "self", "model", "load_model", "load_safetensors",
                      "preprocess", "predict", "prepare", "tokenize"})

_LOADER = '''
_DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
    "BOOL": torch.bool,
}


def load_safetensors(path):
    """The tensors of a .safetensors file, read with PyTorch alone: an 8-byte header length, a JSON header
    (name → dtype, shape, byte range), then the raw little-endian data."""
    with open(path, "rb") as f:
        data = f.read()
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + n])
    body = memoryview(data)[8 + n:]
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        dtype = _DTYPES[info["dtype"]]
        if end == start:
            tensors[name] = torch.zeros(info["shape"], dtype=dtype)
        else:
            tensors[name] = torch.frombuffer(bytearray(body[start:end]), dtype=dtype).reshape(info["shape"])
    return tensors
'''


def _v(value) -> str:
    """A parameter value as Python source (lists as tuples, as PyTorch writes them)."""
    if isinstance(value, list):
        return repr(tuple(value)) if len(value) != 1 else repr(value[0])
    return repr(value)


def _opts(pairs) -> str:
    """', stride=2, bias=False' for the (name, value, default) triples whose value is not the default."""
    parts = [f"{name}={_v(value)}" for name, value, default in pairs if value != default and value != [default]]
    return "".join(f", {p}" for p in parts)


# --- constructors: block → the torch module it compiles to, as source --------------------------------------


def _conv(n):
    def ctor(p, ins):
        opts = _opts([("stride", p["stride"], 1), ("padding", p["padding"], 0), ("dilation", p["dilation"], 1),
                      ("groups", p["groups"], 1), ("bias", p["bias"], True)])
        return f"nn.Conv{n}d({ins[0].shape[0]}, {p['out_channels']}, kernel_size={_v(p['kernel_size'])}{opts})"
    return ctor


def _pool(name):
    def ctor(p, ins):
        opts = _opts([("stride", p["stride"], None), ("padding", p["padding"], 0)])
        return f"nn.{name}(kernel_size={_v(p['kernel_size'])}{opts})"
    return ctor


def _plain(name, *keys):
    def ctor(p, ins):
        return f"nn.{name}({', '.join(f'{k}={_v(p[k])}' for k in keys)})"
    return ctor


def _rnn(kind):
    def ctor(p, ins):
        opts = _opts([("num_layers", p["num_layers"], 1), ("bidirectional", p["bidirectional"], False),
                      ("dropout", p["dropout"] if p["num_layers"] > 1 else 0.0, 0.0)])
        return f"nn.{kind}({ins[0].shape[-1]}, {p['hidden_size']}{opts}, batch_first=True)"
    return ctor


CONSTRUCTORS = {
    "Sample": lambda p, ins: f"SampleModule({float(p['beta'])!r})",
    "Conv1d": _conv(1),
    "Conv2d": _conv(2),
    "ConvTranspose2d": lambda p, ins: (
        f"nn.ConvTranspose2d({ins[0].shape[0]}, {p['out_channels']}, kernel_size={_v(p['kernel_size'])}, "
        f"stride={_v(p['stride'])}"
        f"{_opts([('padding', p['padding'], 0), ('output_padding', p['output_padding'], 0)])})"),
    "MaxPool1d": _pool("MaxPool1d"),
    "MaxPool2d": _pool("MaxPool2d"),
    "AvgPool1d": _pool("AvgPool1d"),
    "AvgPool2d": _pool("AvgPool2d"),
    "AdaptiveAvgPool2d": lambda p, ins: f"nn.AdaptiveAvgPool2d({_v(p['output_size'])})",
    "Dense": lambda p, ins: f"nn.Linear({ins[0].shape[-1]}, {p['out_features']}{_opts([('bias', p['bias'], True)])})",
    "Embedding": lambda p, ins: f"nn.Embedding({p['num_embeddings']}, {p['embedding_dim']})",
    "BatchNorm": lambda p, ins: f"nn.BatchNorm{2 if ins[0].rank == 3 else 1}d({ins[0].shape[0]})",
    "LayerNorm": lambda p, ins: f"nn.LayerNorm({ins[0].shape[-1]})",
    "Dropout": lambda p, ins: f"nn.Dropout({_v(p['p'])})",
    "ReLU": _plain("ReLU"),
    "LeakyReLU": _plain("LeakyReLU", "negative_slope"),
    "ELU": _plain("ELU", "alpha"),
    "GELU": lambda p, ins: "nn.GELU()" if p["approximate"] == "none" else f"nn.GELU(approximate={p['approximate']!r})",
    "Tanh": _plain("Tanh"),
    "Sigmoid": _plain("Sigmoid"),
    "Softmax": _plain("Softmax", "dim"),
    "RNN": _rnn("RNN"),
    "LSTM": _rnn("LSTM"),
    "GRU": _rnn("GRU"),
    "Inception": lambda p, ins: (
        f"Inception({ins[0].shape[0]}, {p['ch1x1']}, {p['ch3x3red']}, {p['ch3x3']}, {p['ch5x5red']}, "
        f"{p['ch5x5']}, {p['pool_proj']})"),
    "Residual": lambda p, ins: (
        f"Residual({ins[0].shape[0]}, {p['out_channels']}{_opts([('stride', p['stride'], 1)])}"
        f"{_opts([('bottleneck', p['bottleneck'], False)])})"),
}


def _module_sources(type_id: str) -> list[tuple[str, str]]:
    """(class name, source) of the module classes a block type needs copied into model.py."""
    if type_id in ("Inception", "Residual"):
        from layerloom.core.blocks import modules

        cls = getattr(modules, type_id)
        return [(type_id, inspect.getsource(cls))]
    if type_id == "Sample":  # plain PyTorch (core/blocks/sample_module.py): copied as it is
        from layerloom.core.blocks.sample_module import SampleModule

        return [("SampleModule", inspect.getsource(SampleModule))]
    from layerloom.core.blocks import pretrained

    if type_id in pretrained.BACKBONES:
        classes = pretrained.backbone_classes()
        return [(name, textwrap.dedent(inspect.getsource(classes[name]))) for name in pretrained.SOURCES[type_id]]
    return []


def _forget_bias_source() -> str:
    """The source of set_forget_bias, less the line that marks the module for Layerloom's own re-initialisation."""
    from layerloom.core.blocks.recurrent import FORGET_BIAS_ATTRIBUTE, set_forget_bias

    lines = inspect.getsource(set_forget_bias).splitlines(keepends=True)
    return "".join(line for line in lines if FORGET_BIAS_ATTRIBUTE not in line)


def _constructor(node, ins) -> str:
    ctor = CONSTRUCTORS.get(node.type)
    if ctor is None:
        from layerloom.core.blocks import pretrained

        if node.type in pretrained.BACKBONES:
            return pretrained.source_constructor(node.type, node.params, ins)
        raise ExportError(f"the python format cannot write {node.type} blocks yet ({node.label()})")
    return ctor(node.params, ins)


# --- forward statements --------------------------------------------------------------------------------


def _statements(node, var: str, args: list[str], ins, out_spec) -> list[str]:
    t, p = node.type, node.params
    name = node.name
    if t in ("RNN", "LSTM", "GRU"):
        lines = [f"{var}, _ = self.{name}({args[0]})"]
        if not p["return_sequences"]:
            if p["bidirectional"]:
                h = p["hidden_size"]
                lines.append(f"{var} = torch.cat([{var}[:, -1, :{h}], {var}[:, 0, {h}:]], dim=-1)"
                             "  # last step forwards, first step backwards")
            else:
                lines.append(f"{var} = {var}[:, -1]  # the last time step")
        return lines
    if t == "Flatten":
        return [f"{var} = torch.flatten({args[0]}, 1)"]
    if t == "Reshape":
        return [f"{var} = {args[0]}.reshape(-1, {', '.join(str(s) for s in out_spec.shape)})"]
    if t == "Permute":
        return [f"{var} = {args[0]}.permute({', '.join(str(d) for d in p['dims'])})"]
    if t == "GlobalAvgPool":
        dims = tuple(range(2, ins[0].rank + 1))
        return [f"{var} = {args[0]}.mean({dims!r})"]
    if t == "Add":
        return [f"{var} = {' + '.join(args)}"]
    if t == "Multiply":
        return [f"{var} = {' * '.join(args)}"]
    if t == "Concat":
        return [f"{var} = torch.cat([{', '.join(args)}], dim={p['dim']})"]
    return [f"{var} = self.{name}({', '.join(args)})"]


MODULE_FREE = ("Flatten", "Reshape", "Permute", "GlobalAvgPool", "Add", "Multiply", "Concat")


def class_name(project_name: str) -> str:
    words = re.findall(r"[A-Za-z0-9]+", project_name or "")
    name = "".join(w[:1].upper() + w[1:] for w in words)
    if not name or not name[0].isalpha():
        name = "Model" + name
    return name


def generate_source(source: Source, weights_name: str = "model.safetensors") -> str:
    """The text of model.py for the source's graph."""
    from layerloom import __version__
    from layerloom.core.compiler import _nodes_leading_to_outputs
    from layerloom.core.inference import infer

    graph = source.graph
    report = infer(graph)
    if report.errors:
        raise ExportError("the model has errors and cannot be exported:\n"
                          + "\n".join(f"  - {p.message}" for p in report.errors))
    keep = _nodes_leading_to_outputs(graph)
    var = {}
    inputs, outputs, ctors, body, classes = [], [], [], [], {}
    position = {n.id: i for i, n in enumerate(graph)}  # the order blocks were added, which orders the Outputs
    for nid in graph.topological_order():
        node = graph.node(nid)
        v = node.name + "_out" if node.name in SHADOWED else node.name
        var[nid] = v
        if node.type == "Input":
            inputs.append((node, v))
            continue
        if nid not in keep:
            continue
        args = [var[e.src] for e in graph.in_edges(nid)]
        if node.type == "Output":
            outputs.append((position[nid], node, args[0]))
            continue
        ins = [report[e.src].output for e in graph.in_edges(nid)]
        if node.type not in MODULE_FREE:
            ctors.append(f"self.{node.name} = {_constructor(node, ins)}")
            if node.type == "LSTM" and node.params.get("forget_bias") is not None:  # starts as Layerloom's
                ctors.append(f"set_forget_bias(self.{node.name}, {node.params['forget_bias']!r})")
                classes.setdefault("set_forget_bias", _forget_bias_source())
            for cname, text in _module_sources(node.type):
                classes.setdefault(cname, text)
        body += _statements(node, v, args, ins, report[nid].output)
    outputs.sort(key=lambda t: t[0])
    cls = class_name(source.name)
    if cls in classes or cls in ("Inception", "Residual"):
        cls += "Model"
    shapes = ", ".join(f"{n.name}: batch × {'×'.join(map(str, n.params['shape']))}"
                       + (" token ids (int64)" if n.params["dtype"] == "int64" else "") for n, _ in inputs)
    returns = [a for _, _, a in outputs]
    out_doc = ", ".join(f"{n.name}" for _, n, _ in outputs)
    lines = [
        f'"""{source.name} — a PyTorch model generated by Layerloom {__version__}.',
        "",
        "It needs only PyTorch:",
        "",
        "    from model import load_model",
        f"    model = load_model()   # with the trained weights in {weights_name} beside this file",
        f"    outputs = model(...)   # {shapes}",
        *([f"    samples = sample(16)   # a {'VAE' if source.part == 'decoder' else 'GAN'}'s {source.part}: 16 random "
           "latent codes z ~ N(0, 1), decoded (seed=…)"] if source.part in ("decoder", "generator") else []),
        "",
        "Each layer is named after its block in Layerloom; the weights file holds the state dict under those names.",
        '"""',
        "",
        "import json",
        "import os",
        "",
        "import torch",
        "from torch import nn",
        "",
    ]
    for text in classes.values():
        lines += ["", text.rstrip(), ""]
    lines += [
        "",
        f"class {cls}(nn.Module):",
        f'    """Inputs: {shapes}. Returns: {out_doc or "nothing"}."""',
        "",
        "    def __init__(self):",
        "        super().__init__()",
        *(f"        {c}" for c in ctors),
        "",
        f"    def forward(self, {', '.join(v for _, v in inputs)}):",
        *(f"        {s}" for s in body),
        f"        return {', '.join(returns) if len(returns) != 1 else returns[0]}",
        "",
    ]
    lines += _LOADER.splitlines()
    lines += [
        "",
        "",
        "def load_model(weights_path=None):",
        f'    """The model in evaluation mode, with the weights in `weights_path` (default: {weights_name} beside',
        '    this file; fresh weights when there is no such file)."""',
        f"    model = {cls}()",
        "    if weights_path is None:",
        f"        weights_path = os.path.join(os.path.dirname(os.path.abspath(__file__)), {weights_name!r})",
        "        if not os.path.exists(weights_path):",
        "            return model.eval()",
        "    model.load_state_dict(load_safetensors(weights_path))",
        "    return model.eval()",
    ]
    from layerloom.core.export.preprocessing_export import python_lines

    lines += python_lines(source)
    if source.part in ("decoder", "generator"):
        from layerloom.core.export.decoder import sample_lines

        lines += sample_lines(source)
    lines += [
        "",
        'if __name__ == "__main__":',
        "    model = load_model()",
    ]
    examples = []
    for node, v in inputs:
        shape = ", ".join(str(s) for s in (2, *node.params["shape"]))
        if node.params["dtype"] == "int64":
            vocab = _vocabulary(graph, node)
            lines.append(f"    {v} = torch.randint(0, {vocab}, ({shape},))")
        else:
            lines.append(f"    {v} = torch.randn({shape})")
        examples.append(v)
    lines += [
        "    with torch.no_grad():",
        f"        outputs = model({', '.join(examples)})",
        "    outputs = outputs if isinstance(outputs, tuple) else (outputs,)",
        "    for out in outputs:",
        '        print("output shape:", tuple(out.shape))',
        "",
    ]
    return "\n".join(lines)


def _vocabulary(graph, node) -> int:
    sizes = [graph.node(d).params["num_embeddings"] for d in graph.descendants(node.id)
             if graph.node(d).type == "Embedding"]
    return min(sizes, default=2)


def export_python(source: Source, path: str, staging, tolerance: float, *, isolated: bool = True) -> Staged:
    """Write model.py and its weights. `path` is a folder (model.py and model.safetensors go in it) or a
    file ending in .py (its weights beside it, same name with .safetensors)."""
    from safetensors.torch import save_file

    from layerloom.core.export.parity import max_difference, run_isolated, run_model, sample_inputs

    if path.endswith(".py"):
        py_final = path
        weights_final = os.path.splitext(path)[0] + ".safetensors"
    else:
        os.makedirs(path, exist_ok=True)
        py_final, weights_final = os.path.join(path, "model.py"), os.path.join(path, "model.safetensors")
    weights_name = os.path.basename(weights_final)
    text = generate_source(source, weights_name)
    try:
        compile(text, py_final, "exec")
    except SyntaxError as err:  # a bug here, never the user's: say so plainly
        raise ExportError(f"the generated source is not valid Python (line {err.lineno}): {err.msg}") from None
    with open(staging.file("model.py"), "w", encoding="utf-8") as f:
        f.write(text)
    state = {k: v.detach().cpu().contiguous().clone() for k, v in source.state.items()}
    import json

    meta = {"format": "pt", "producer": "layerloom",
            "layerloom_project": json.dumps(source.project.to_dict(), separators=(",", ":"))}
    save_file(state, staging.file("model.safetensors"), metadata=meta)
    inputs = sample_inputs(source.graph)
    live = run_model(source.live_model(), inputs)
    if isolated:
        got = run_isolated("python", staging.file("model.py"), [inputs], staging.file("model.safetensors"))[0]
        where = "in a fresh Python without Layerloom"
    else:
        import importlib.util

        spec = importlib.util.spec_from_file_location("layerloom_exported_model", staging.file("model.py"))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        got = run_model(module.load_model(staging.file("model.safetensors")), inputs)
        where = "in this process"
    diff = max_difference(live, got, "the generated model.py")
    checks = [f"ran model.py {where} on a batch of 3"]
    if source.preprocessing is not None:
        diff = max(diff, _check_preprocess(source, staging))
        checks.append("model.py's preprocess() gives Layerloom's inputs on raw samples")
    return Staged({"model.py": py_final, "model.safetensors": weights_final}, diff, checks)


def _raw_samples(pre):
    """A few raw samples of the kind the model was trained on (uint8 images of another size, rows, texts)."""
    import numpy as np

    rng = np.random.default_rng(5)
    f = pre.facts
    if pre.kind == "image":
        c, h, w = f["image"]["channels"], f["image"]["height"], f["image"]["width"]
        return rng.integers(0, 256, (2, h + 3, w + 5, 3 if c == 3 else 1), dtype=np.uint8).squeeze(-1) \
            if c == 1 else rng.integers(0, 256, (2, h + 3, w + 5, 3), dtype=np.uint8)
    if pre.kind == "text":
        vocab = pre.vocabulary or ["<pad>", "<unk>"]
        words = [vocab[int(i)] for i in rng.integers(2, max(3, len(vocab)), 12)] if len(vocab) > 2 else []
        return [" ".join(words) + " unheard-of-word", ""]
    if pre.kind == "series":
        return rng.normal(size=f["series"]["window"] + 4)
    return rng.normal(size=(2, *f["input_shape"])).astype(np.float32)


def _check_preprocess(source: Source, staging) -> float:
    """The largest difference between model.py's preprocess() and Layerloom's on raw samples."""
    import importlib.util
    import json

    pre = source.preprocessing
    if pre.vocabulary:  # model.py reads it beside itself (write_sidecars writes the same file again)
        with open(staging.file("vocabulary.json"), "w", encoding="utf-8") as f:
            json.dump(pre.vocabulary, f)
    spec = importlib.util.spec_from_file_location("layerloom_exported_preprocess", staging.file("model.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    raw = _raw_samples(pre)
    expected, got = pre.prepare(raw), module.preprocess(raw)
    if expected.dtype != got.dtype or expected.shape != got.shape:
        raise ExportError(f"model.py's preprocess() gives {got.dtype} {tuple(got.shape)}; Layerloom gives "
                          f"{expected.dtype} {tuple(expected.shape)}")
    return float((expected.double() - got.double()).abs().max()) if expected.numel() else 0.0
