"""Opening a trained model for predictions: a `.layerloom` bundle, a run folder, or an export (an ONNX
file, or an export folder holding one, or a Python export's folder). Nothing is unpickled and no exported
Python is executed: Python exports are rebuilt from the project their weights file carries."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

import numpy as np

from layerloom.core.errors import LayerloomError


class PredictError(LayerloomError):
    """A model or input that cannot be used for predictions; the message names the file and what to do."""


@dataclass
class Prediction:
    """What the model says of one input: the top classes with their probabilities, or its output values."""

    input: str
    top: list[tuple[str, float]] = field(default_factory=list)
    values: list[float] | None = None
    tokens: list[str] | None = None

    def to_dict(self) -> dict:
        out: dict = {"input": self.input}
        if self.top:
            out["top"] = [{"class": c, "probability": round(p, 6)} for c, p in self.top]
        if self.values is not None:
            out["values"] = [round(v, 6) for v in self.values]
        if self.tokens is not None:
            out["tokens"] = self.tokens
        return out

    def text(self) -> str:
        if self.top:
            return f"{self.input}: " + ", ".join(f"{c} ({p * 100:.1f} %)" for c, p in self.top)
        return f"{self.input}: " + ", ".join(f"{v:.6g}" for v in self.values or [])


def class_probabilities(out: np.ndarray, loss: str) -> np.ndarray | None:
    """Probabilities from a classifier's first output by its loss: softmax of cross_entropy logits (rows sum to
    1), sigmoid of bce_with_logits ones ([1 − p, p] for a single output); None for other losses."""
    out = out.reshape(out.shape[0], -1).astype(np.float64)
    if loss == "bce_with_logits":
        p = 1.0 / (1.0 + np.exp(-out))
        return np.concatenate([1.0 - p, p], axis=1) if p.shape[1] == 1 else p
    if loss != "cross_entropy":
        return None
    e = np.exp(out - out.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


class TrainedModel:
    """A trained model and its preprocessing. `run(x)` takes the preprocessed input and gives the first
    output as numpy; `predict(raw, names)` does the whole way from raw data."""

    latent: list[int] | None = None  # a generator (a VAE's decoder, a GAN's generator): the shape of its latent code

    def __init__(self, preprocessing, where: str, loss: str | None = None):
        self.preprocessing = preprocessing
        self.where = where
        self.loss = loss

    def run(self, x) -> np.ndarray:  # pragma: no cover - every kind of model overrides it
        raise NotImplementedError

    def probabilities(self, out: np.ndarray) -> np.ndarray | None:
        """Class probabilities from the first output, or None for a model that does not classify."""
        pre = self.preprocessing
        names = pre.class_names or []
        if pre.facts.get("task") != "classification" or not names:
            return None
        single = out.reshape(out.shape[0], -1).shape[1] == 1
        bce = self.loss == "bce_with_logits" or (self.loss is None and single)
        return class_probabilities(out, "bce_with_logits" if bce else "cross_entropy")

    def predict(self, raw, names: list[str], top: int = 3) -> list[Prediction]:
        from layerloom.core.data.preprocessing import PreprocessError

        pre = self.preprocessing
        try:
            x = pre.prepare(raw)
        except PreprocessError as err:
            raise PredictError(str(err)) from None
        out = self.run(x)
        probs = self.probabilities(out)
        tokens = None
        if pre.kind == "text":
            tokens = [" ".join(pre.tokens(str(t))[: pre.facts["text"]["seq_len"]]) for t in raw]
        results = []
        for i, name in enumerate(names):
            tok = [tokens[i]] if tokens is not None else None
            if probs is not None:
                labels = pre.class_names if len(pre.class_names) == probs.shape[1] else \
                    [str(k) for k in range(probs.shape[1])]
                order = np.argsort(-probs[i])[:max(1, top)]
                results.append(Prediction(name, [(labels[k], float(probs[i, k])) for k in order], tokens=tok))
            else:
                values = pre.to_units(_torch(out[i:i + 1])).reshape(-1).tolist()
                results.append(Prediction(name, values=[float(v) for v in values], tokens=tok))
        return results


def _torch(a):
    import torch

    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))


class SourceModel(TrainedModel):
    """A bundle or run folder: the compiled graph with its trained weights."""

    def __init__(self, source):
        loss = next((str(n.params.get("loss")) for n in source.graph if n.type == "Output"), None)
        super().__init__(source.preprocessing, source.path or "model", loss)
        self.source = source

    def run(self, x) -> np.ndarray:
        import torch

        model = self.source.live_model()
        with torch.no_grad():
            out = model(x)
        out = out[0] if isinstance(out, tuple | list) else out
        return out.float().cpu().numpy()


def as_decoder(model: TrainedModel, latent: list[int]) -> TrainedModel:
    """`model` as a generator: it takes latent codes of shape `latent`, not data (no preprocessing)."""
    model.preprocessing = None
    model.latent = [int(s) for s in latent]
    return model


def is_decoder_project(project) -> bool:
    """A project written by the decoder export (core/export/decoder.py records `"part": "decoder"`)."""
    return project.meta.get("part") in ("decoder", "generator")  # the meta Source.part reads


def _decoder_source(source, where: str) -> TrainedModel:
    from layerloom.core.export.decoder import latent_shape

    try:
        latent = latent_shape(source)
    except (ValueError, KeyError, TypeError):
        raise PredictError(f"{where}: says it is a decoder but does not have a single Input (the latent code z)") \
            from None
    return as_decoder(SourceModel(source), latent)


class OnnxModel(TrainedModel):
    """An ONNX export run with onnxruntime; when its preprocessing is baked in, it is fed raw values."""

    def __init__(self, path: str, preprocessing, baked: bool):
        super().__init__(preprocessing, path)
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        except Exception as err:
            raise PredictError(f"{path}: onnxruntime cannot load it ({err})") from None
        self.baked = baked

    def run(self, x) -> np.ndarray:
        if self.baked:
            from layerloom.core.export.preprocessing_export import to_raw

            x = to_raw(self.preprocessing, x)
        name = self.session.get_inputs()[0].name
        return np.asarray(self.session.run(None, {name: x.numpy()})[0])


# --- opening ------------------------------------------------------------------------------------------


def open_model(path: str | os.PathLike, checkpoint: str = "best") -> TrainedModel:
    """A bundle, a run folder, an export folder or an ONNX file as a TrainedModel; PredictError says why
    not (and what is missing: the preprocessing facts, a text model's vocabulary). From a run folder the
    weights are those of `checkpoint` ("best" or "last")."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise PredictError(f"{path}: does not exist; give a .layerloom bundle, a run folder or an export folder")
    if os.path.isdir(path):
        if os.path.isfile(os.path.join(path, "project.json")):
            return _from_source(path, checkpoint)
        return _from_export_folder(path)
    from layerloom.core.export.bundle import is_bundle
    from layerloom.core.resources import not_regular

    odd = not_regular(path, "model file")  # a pipe or a device could block or never end
    if odd is not None:
        raise PredictError(str(odd))
    if is_bundle(path):
        return _from_source(path)
    if path.lower().endswith(".onnx"):
        return _from_onnx(path)
    if path.lower().endswith(".safetensors"):
        return _from_weights(path, os.path.dirname(path) or ".")
    raise PredictError(f"{path}: is not a model Layerloom can predict with; give a .layerloom bundle, a run folder, "
                       "an ONNX file or an export folder")


def _from_source(path: str, checkpoint: str = "best") -> TrainedModel:
    from layerloom.core.export.base import ExportError
    from layerloom.core.export.reading import open_source

    try:
        source = open_source(path, checkpoint)
    except ExportError as err:
        raise PredictError(str(err)) from None
    if is_decoder_project(source.project):
        return _decoder_source(source, path)
    if source.preprocessing is None:
        raise PredictError(f"{path}: does not say how its data was prepared (it was trained before Layerloom "
                           "recorded that); train it again or export it from the window with its data loaded")
    _require_vocabulary(source.preprocessing, path)
    return SourceModel(source)


def _from_export_folder(folder: str) -> TrainedModel:
    entries = sorted(os.listdir(folder))
    onnx_files = [e for e in entries if e.lower().endswith(".onnx")]
    if onnx_files:
        return _from_onnx(os.path.join(folder, onnx_files[0]))
    weights = [e for e in entries if e.lower().endswith(".safetensors")]
    if "model.safetensors" in weights:
        return _from_weights(os.path.join(folder, "model.safetensors"), folder)
    if weights:
        return _from_weights(os.path.join(folder, weights[0]), folder)
    raise PredictError(f"{folder}: holds no model Layerloom can predict with (an .onnx file, or the weights "
                       "(.safetensors) of a Python or safetensors export)")


def _read_facts(file: str):
    from layerloom.core.data.preprocessing import Preprocessing, PreprocessingError

    try:
        with open(file, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError) as err:
        raise PredictError(f"{file}: cannot be read ({err})") from None
    try:
        pre = Preprocessing.from_dict(data, file)
    except PreprocessingError as err:
        raise PredictError(str(err)) from None
    return pre, data


def _attach_vocabulary(pre, data: dict, folder: str, candidates: list[str]) -> None:
    """A text model's vocabulary from the file the facts name (or a usual name) beside the model."""
    if pre.kind != "text" or pre.vocabulary:
        return
    names = [data.get("vocabulary_file"), *candidates]
    for name in [n for n in names if isinstance(n, str)]:
        file = os.path.join(folder, os.path.basename(name))
        if os.path.isfile(file):
            try:
                with open(file, encoding="utf-8") as f:
                    vocab = json.load(f)
            except (OSError, ValueError) as err:
                raise PredictError(f"{file}: the vocabulary cannot be read ({err})") from None
            if not isinstance(vocab, list) or not all(isinstance(t, str) for t in vocab):
                raise PredictError(f"{file}: is not a vocabulary (a JSON list of tokens)")
            pre.facts["text"]["vocabulary"] = vocab
            return


def _require_vocabulary(pre, where: str) -> None:
    if pre.kind == "text" and not pre.vocabulary:
        wanted = pre.facts.get("vocabulary_file") or "vocabulary.json"
        raise PredictError(f"{where}: the text model's vocabulary is missing ({wanted} is not beside it); copy the "
                           "vocabulary file that was exported with the model into the same folder")


def _from_onnx(path: str) -> TrainedModel:
    folder = os.path.dirname(os.path.abspath(path))
    side = path + ".preprocessing.json"
    stem = os.path.splitext(path)[0]
    if os.path.isfile(side):
        pre, data = _read_facts(side)
        baked = bool(data.get("baked"))
    else:
        pre, data, baked = _onnx_metadata(path)
        if pre is None:  # a decoder
            return _onnx_decoder(path)
    _attach_vocabulary(pre, data, folder, [os.path.basename(stem) + ".vocabulary.json", "vocabulary.json"])
    _require_vocabulary(pre, path)
    return OnnxModel(path, pre, baked)


def _onnx_metadata(path: str):
    from layerloom.core.data.preprocessing import Preprocessing, PreprocessingError
    from layerloom.core.export.preprocessing_export import ONNX_KEY, PART_KEY

    try:
        import onnx

        meta = {p.key: p.value for p in onnx.load(path, load_external_data=False).metadata_props}
    except Exception as err:
        raise PredictError(f"{path}: cannot be read as an ONNX model ({err})") from None
    if meta.get(PART_KEY) in ("decoder", "generator"):
        return None, {}, False
    if ONNX_KEY not in meta:
        raise PredictError(f"{path}: says nothing of its preprocessing ({os.path.basename(path)}.preprocessing.json "
                           "is not beside it and the file has no Layerloom metadata); export it again with Layerloom")
    try:
        data = json.loads(meta[ONNX_KEY])
        return Preprocessing.from_dict(data, path), data, bool(data.get("baked"))
    except (ValueError, PreprocessingError) as err:
        raise PredictError(f"{path}: its preprocessing metadata is damaged ({err})") from None


def _onnx_decoder(path: str) -> TrainedModel:
    model = OnnxModel(path, None, False)
    inputs = model.session.get_inputs()
    shape = list(inputs[0].shape[1:]) if len(inputs) == 1 else []
    if not shape or not all(isinstance(s, int) and s > 0 for s in shape):
        raise PredictError(f"{path}: says it is a decoder but does not take one latent code of a fixed size")
    return as_decoder(model, shape)


def _from_weights(weights: str, folder: str) -> TrainedModel:
    """A Python or safetensors export: the weights file carries the project; the facts are beside it."""
    from layerloom.core.export.safetensors_header import HeaderError, metadata, read_header
    from layerloom.core.export.source import source_from
    from layerloom.core.project import Project

    try:
        meta = metadata(read_header(weights))
    except HeaderError as err:
        raise PredictError(f"{weights}: is not a readable safetensors file ({err})") from None
    except OSError as err:
        from layerloom.core.errors_text import describe

        raise PredictError(describe(err, weights)) from None
    project_text = meta.get("layerloom_project")
    if not project_text:
        raise PredictError(f"{weights}: does not carry its network (exports made before Layerloom wrote it); "
                           "predict with the bundle or the run folder instead")
    try:
        project = Project.loads(project_text.encode("utf-8"), f"{weights} (its project)")
    except LayerloomError as err:
        raise PredictError(str(err)) from None
    decoder = is_decoder_project(project)
    pre = None
    if not decoder:
        pre = _facts_beside(weights, folder)
    try:
        from safetensors.torch import load_file

        state = load_file(weights)
    except Exception as err:  # safetensors' own errors for a damaged file
        raise PredictError(f"{weights}: is not a readable safetensors file ({err})") from None
    source = source_from(project, state, path=weights, kind="run", preprocessing=pre)
    try:
        source.live_model()
    except Exception as err:
        raise PredictError(f"{weights}: the weights do not fit the network it carries ({err})") from None
    return _decoder_source(source, weights) if decoder else SourceModel(source)


def _facts_beside(weights: str, folder: str):
    """The preprocessing facts written beside a Python or safetensors export (its vocabulary attached)."""
    candidates = [weights + ".preprocessing.json", os.path.join(folder, "preprocessing.json")]
    side = next((c for c in candidates if os.path.isfile(c)), None)
    if side is None:
        raise PredictError(f"{folder}: the preprocessing facts are missing (preprocessing.json); they are written "
                           "beside every export")
    pre, data = _read_facts(side)
    _attach_vocabulary(pre, data, folder, ["vocabulary.json",
                                           os.path.splitext(os.path.basename(weights))[0] + ".vocabulary.json"])
    _require_vocabulary(pre, folder)
    return pre
